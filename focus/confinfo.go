package focus

import (
	"context"
	"strings"

	"confab/focus/confinfo"
	"confab/focus/store"
)

// The conference's state as RFC 4575 conference-info, for the conference
// event package and C3P's getConference.
//
// Users are keyed by their address: the authenticated user's address of
// record, else the caller's From URI without parameters. A user who calls
// in twice is one user with two endpoints (RFC 4575 §5.6, §5.7). Each
// endpoint is one member, named by the user's URI with a member parameter,
// so a command can address one call of a user.

// C3P admission policies (MS-CONFBAS) and the store's policies they map to:
// anonymous lets anyone in, openAuthenticated holds callers who have not
// authenticated in the lobby, closedAuthenticated lets in only moderators.
const (
	PolicyAnonymous           = "anonymous"
	PolicyOpenAuthenticated   = "openAuthenticated"
	PolicyClosedAuthenticated = "closedAuthenticated"
)

// admissionPolicy maps a store admission to the C3P policy.
func admissionPolicy(a store.Admission) string {
	switch a {
	case store.AdmissionLobby:
		return PolicyOpenAuthenticated
	case store.AdmissionClosed:
		return PolicyClosedAuthenticated
	}
	return PolicyAnonymous
}

// storeAdmission maps a C3P policy to the store's admission.
func storeAdmission(policy string) (store.Admission, bool) {
	switch policy {
	case PolicyAnonymous:
		return store.AdmissionOpen, true
	case PolicyOpenAuthenticated:
		return store.AdmissionLobby, true
	case PolicyClosedAuthenticated:
		return store.AdmissionClosed, true
	}
	return "", false
}

// ConferenceInfo returns the conference's full state, numbered by version
// 0 for the caller (a subscription) to number: from its Focus when it is
// active, from the conferencing database (inactive, nobody in it)
// otherwise. An unknown conference gives ErrUnknownConference.
func (fa *Factory) ConferenceInfo(ctx context.Context, id int64) (*confinfo.Document, error) {
	if f, ok := fa.FocusByConference(id); ok {
		f.mu.Lock()
		c := f.conf
		ended := f.ended
		f.mu.Unlock()
		if !ended {
			s := f.Snapshot()
			return fa.conferenceDocument(c, &s), nil
		}
	}
	c, err := fa.db.GetConference(ctx, id)
	if err != nil {
		return nil, storeErr(err, "conference")
	}
	return fa.conferenceDocument(c, nil), nil
}

// conferenceDocument writes c and, if it is active, its state s.
func (fa *Factory) conferenceDocument(c store.Conference, s *ConferenceState) *confinfo.Document {
	d := &confinfo.Document{
		Entity: fa.FocusURI(c),
		State:  confinfo.Full,
		Description: &confinfo.Description{
			DisplayText: c.Name,
			Subject:     c.Subject,
			ConfURIs: []confinfo.URI{{
				URI: "sip:" + c.Number + "@" + fa.domain, DisplayText: "dial-in number " + c.Number, Purpose: "participation",
			}},
			AvailableMedia:  []confinfo.AvailableMedia{{Label: "audio", Type: "audio", Status: "sendrecv"}},
			ConferenceID:    c.FocusID,
			AdmissionPolicy: admissionPolicy(c.Admission),
			ExpiryTime:      c.Expiry,
		},
		Users: &confinfo.Users{State: confinfo.Full},
	}
	if c.MaxMembers > 0 {
		d.Description.MaxUserCount = confinfo.Ptr(uint32(c.MaxMembers))
	}
	locked := c.Locked
	active := false
	if s != nil {
		locked, active = s.Locked, !s.Ended
		for _, m := range s.Members {
			fa.addMember(d.Users, m)
		}
	}
	d.ConfState = &confinfo.ConferenceState{
		UserCount: confinfo.Ptr(uint32(len(d.Users.Users))),
		Active:    confinfo.Ptr(active),
		Locked:    confinfo.Ptr(locked),
	}
	return d
}

// addMember adds m as an endpoint of its user, adding the user if it is
// the first.
func (fa *Factory) addMember(us *confinfo.Users, m MemberInfo) {
	entity := fa.userEntity(m)
	var u *confinfo.User
	for i := range us.Users {
		if us.Users[i].Entity == entity {
			u = &us.Users[i]
		}
	}
	if u == nil {
		us.Users = append(us.Users, confinfo.User{Entity: entity, DisplayText: m.DisplayName})
		u = &us.Users[len(us.Users)-1]
	}
	if roles := roleNames(m.Role); len(roles) > len(u.Roles) {
		u.Roles = roles // a user's roles are its highest-ranking call's
	}
	u.Endpoints = append(u.Endpoints, endpoint(entity, m))
}

func roleNames(r Role) []string {
	switch r {
	case RoleOrganizer:
		return []string{RolePresenter.String(), RoleOrganizer.String()}
	case RolePresenter:
		return []string{RolePresenter.String()}
	}
	return []string{RoleAttendee.String()}
}

func endpoint(user string, m MemberInfo) confinfo.Endpoint {
	e := confinfo.Endpoint{
		Entity:        endpointEntity(user, m.ID),
		DisplayText:   m.DisplayName,
		JoiningMethod: "dialed-in",
		JoiningInfo:   &confinfo.ExecInfo{When: m.JoinedAt},
	}
	if m.DialedOut {
		e.JoiningMethod, e.JoiningInfo.By = "dialed-out", m.By
	}
	// RFC 4575 §5.7.1: pending until the Focus lets the call into the mix.
	switch m.State {
	case StatePINEntry:
		e.Status, e.JoiningInfo.Reason = "pending", "entering the PIN"
	case StateLobby:
		e.Status, e.JoiningInfo.Reason = "pending", "waiting in the lobby"
	case StateWaiting:
		e.Status, e.JoiningInfo.Reason = "pending", "waiting for a presenter"
	case StateInConference:
		e.Status = "connected"
		if m.Muted {
			e.Status = "muted-via-focus"
		}
	}
	media := confinfo.Media{ID: audioMediaID, Type: "audio", Label: "audio", Status: "sendrecv",
		IngressFilter: confinfo.FilterUnblock, EgressFilter: confinfo.FilterUnblock}
	// The status is the direction the endpoint has in the conference.
	switch {
	case m.Muted && m.Deaf:
		media.Status = "inactive"
	case m.Muted:
		media.Status = "recvonly"
	case m.Deaf:
		media.Status = "sendonly"
	}
	if m.Muted {
		media.IngressFilter = confinfo.FilterBlock
	}
	if m.Deaf {
		media.EgressFilter = confinfo.FilterBlock
	}
	e.Media = []confinfo.Media{media}
	if m.CallID != "" {
		e.CallInfo = &confinfo.SIPDialog{CallID: m.CallID}
	}
	return e
}

// audioMediaID is the id of an endpoint's one medium.
const audioMediaID = "1"

// endpointEntity names one member of a user.
func endpointEntity(user, memberID string) string { return user + ";member=" + memberID }

// userEntity is the URI a member is known by as a user: its authenticated
// address of record, else its From URI without parameters or headers.
func (fa *Factory) userEntity(m MemberInfo) string {
	if m.User != "" {
		return "sip:" + m.User + "@" + fa.domain
	}
	return bareURI(m.URI)
}

// bareURI cuts the parameters and headers off a SIP URI (RFC 3261
// §19.1.1), keeping scheme, user and host.
func bareURI(u string) string {
	u = strings.TrimSpace(u)
	if i := strings.IndexByte(u, '<'); i >= 0 {
		u = u[i+1:]
		if j := strings.IndexByte(u, '>'); j >= 0 {
			u = u[:j]
		}
	}
	at := strings.LastIndexByte(u, '@')
	if i := strings.IndexAny(u[max(at, 0):], ";?"); i >= 0 {
		u = u[:max(at, 0)+i]
	}
	return u
}

// sameEntity reports whether two user URIs name the same user: scheme and
// host compare case-insensitively, the user part exactly (RFC 3261
// §19.1.4).
func sameEntity(a, b string) bool {
	a, b = bareURI(a), bareURI(b)
	ua, ha, _ := strings.Cut(a, "@")
	ub, hb, _ := strings.Cut(b, "@")
	return strings.EqualFold(ha, hb) && strings.EqualFold(schemeOf(ua), schemeOf(ub)) && userOf(ua) == userOf(ub)
}

func schemeOf(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[:i]
	}
	return ""
}

func userOf(s string) string {
	if i := strings.IndexByte(s, ':'); i >= 0 {
		return s[i+1:]
	}
	return s
}
