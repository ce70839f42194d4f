package confinfo

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
)

// Errors of Apply (RFC 4575 §4.6: how a subscriber treats versions).
var (
	// ErrStale means the document's version is not above the one held: a
	// duplicate or reordered NOTIFY, to be ignored.
	ErrStale = errors.New("confinfo: stale version")
	// ErrVersionGap means a partial document skips a version: notifications
	// were lost, and the subscriber should refresh its subscription to get
	// the full state again.
	ErrVersionGap = errors.New("confinfo: version gap")
	// ErrNotFull means a partial document arrived before any full one.
	ErrNotFull = errors.New("confinfo: no full state to apply a partial document to")
)

// Diff returns the partial document that turns the full document old into
// the full document now, or nil if they hold the same state. Its Version
// is left 0 for the caller to number. A changed description is sent whole;
// of the conference state only the fields that changed; a user that is new
// or changed is sent whole (state "full") and one that is gone as
// state "deleted" (RFC 4575 §4.6).
func Diff(old, now *Document) *Document {
	out := &Document{Entity: now.Entity, State: Partial}
	changed := false
	if !reflect.DeepEqual(old.Description, now.Description) && now.Description != nil {
		out.Description = now.Description.clone()
		changed = true
	}
	if cs := diffState(old.ConfState, now.ConfState); cs != nil {
		out.ConfState = cs
		changed = true
	}
	var oldUsers, newUsers []User
	if old.Users != nil {
		oldUsers = old.Users.Users
	}
	if now.Users != nil {
		newUsers = now.Users.Users
	}
	var users []User
	for i := range newUsers {
		u := &newUsers[i]
		j := slices.IndexFunc(oldUsers, func(o User) bool { return o.Entity == u.Entity })
		if j >= 0 && reflect.DeepEqual(oldUsers[j], *u) {
			continue
		}
		c := u.clone()
		c.State = Full
		users = append(users, c)
	}
	for _, o := range oldUsers {
		if !slices.ContainsFunc(newUsers, func(u User) bool { return u.Entity == o.Entity }) {
			users = append(users, User{Entity: o.Entity, State: Deleted})
		}
	}
	if len(users) > 0 {
		out.Users = &Users{State: Partial, Users: users}
		changed = true
	}
	if !changed {
		return nil
	}
	return out
}

func diffState(old, now *ConferenceState) *ConferenceState {
	if now == nil {
		return nil
	}
	if old == nil {
		old = &ConferenceState{}
	}
	out := &ConferenceState{}
	changed := false
	if now.UserCount != nil && !reflect.DeepEqual(old.UserCount, now.UserCount) {
		out.UserCount, changed = Ptr(*now.UserCount), true
	}
	if now.Active != nil && !reflect.DeepEqual(old.Active, now.Active) {
		out.Active, changed = Ptr(*now.Active), true
	}
	if now.Locked != nil && !reflect.DeepEqual(old.Locked, now.Locked) {
		out.Locked, changed = Ptr(*now.Locked), true
	}
	if !changed {
		return nil
	}
	return out
}

// Apply merges doc, as received in a NOTIFY, into have, the state held so
// far (nil before the first), and returns the new state; have is not
// modified. A full document replaces what is held. A partial one must be
// numbered one above have (else ErrVersionGap); one at or below have's
// version gives ErrStale.
func Apply(have, doc *Document) (*Document, error) {
	if have != nil && doc.Version <= have.Version {
		return nil, fmt.Errorf("%w: %d after %d", ErrStale, doc.Version, have.Version)
	}
	if doc.State == "" || doc.State == Full {
		out := doc.Clone()
		out.State = Full
		return out, nil
	}
	if have == nil {
		return nil, ErrNotFull
	}
	if doc.State == Deleted {
		out := have.Clone()
		out.State, out.Version = Deleted, doc.Version
		return out, nil
	}
	if doc.Version != have.Version+1 {
		return nil, fmt.Errorf("%w: %d after %d", ErrVersionGap, doc.Version, have.Version)
	}
	out := have.Clone()
	out.Version = doc.Version
	if doc.Description != nil {
		out.Description = doc.Description.clone()
	}
	if s := doc.ConfState; s != nil {
		if out.ConfState == nil {
			out.ConfState = &ConferenceState{}
		}
		if s.UserCount != nil {
			out.ConfState.UserCount = Ptr(*s.UserCount)
		}
		if s.Active != nil {
			out.ConfState.Active = Ptr(*s.Active)
		}
		if s.Locked != nil {
			out.ConfState.Locked = Ptr(*s.Locked)
		}
	}
	if doc.Users != nil {
		if out.Users == nil || doc.Users.State == Full || doc.Users.State == "" {
			out.Users = &Users{State: Full}
		}
		for _, u := range doc.Users.Users {
			out.Users.Users = mergeUser(out.Users.Users, u)
		}
	}
	return out, nil
}

func mergeUser(users []User, u User) []User {
	i := slices.IndexFunc(users, func(x User) bool { return x.Entity == u.Entity })
	switch {
	case u.State == Deleted:
		if i >= 0 {
			users = slices.Delete(users, i, i+1)
		}
		return users
	case i < 0 || u.State == Full || u.State == "":
		c := u.clone()
		c.State = "" // held state is full by default (RFC 4575 §5.6)
		if i < 0 {
			return append(users, c)
		}
		users[i] = c
		return users
	}
	have := &users[i]
	if u.DisplayText != "" {
		have.DisplayText = u.DisplayText
	}
	if u.Roles != nil {
		have.Roles = slices.Clone(u.Roles)
	}
	for _, e := range u.Endpoints {
		j := slices.IndexFunc(have.Endpoints, func(x Endpoint) bool { return x.Entity == e.Entity })
		switch {
		case e.State == Deleted:
			if j >= 0 {
				have.Endpoints = slices.Delete(have.Endpoints, j, j+1)
			}
		case j < 0:
			c := e.clone()
			c.State = ""
			have.Endpoints = append(have.Endpoints, c)
		default:
			// A partial endpoint is taken whole here: Diff never sends one,
			// and its fields have no per-field deletion.
			c := e.clone()
			c.State = ""
			have.Endpoints[j] = c
		}
	}
	return users
}

// Clone returns a deep copy of d.
func (d *Document) Clone() *Document {
	if d == nil {
		return nil
	}
	out := &Document{Entity: d.Entity, State: d.State, Version: d.Version, Description: d.Description.clone()}
	if d.ConfState != nil {
		s := *d.ConfState
		s.UserCount, s.Active, s.Locked = clonePtr(s.UserCount), clonePtr(s.Active), clonePtr(s.Locked)
		out.ConfState = &s
	}
	if d.Users != nil {
		us := &Users{State: d.Users.State}
		for i := range d.Users.Users {
			us.Users = append(us.Users, d.Users.Users[i].clone())
		}
		out.Users = us
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	return Ptr(*p)
}

func (ds *Description) clone() *Description {
	if ds == nil {
		return nil
	}
	c := *ds
	c.ConfURIs = slices.Clone(ds.ConfURIs)
	c.ServiceURIs = slices.Clone(ds.ServiceURIs)
	c.AvailableMedia = slices.Clone(ds.AvailableMedia)
	c.MaxUserCount = clonePtr(ds.MaxUserCount)
	c.ExpiryTime = clonePtr(ds.ExpiryTime)
	return &c
}

func (u *User) clone() User {
	c := *u
	c.Roles = slices.Clone(u.Roles)
	c.Endpoints = nil
	for i := range u.Endpoints {
		c.Endpoints = append(c.Endpoints, u.Endpoints[i].clone())
	}
	return c
}

func (e *Endpoint) clone() Endpoint {
	c := *e
	c.JoiningInfo = clonePtr(e.JoiningInfo)
	c.DisconnectionInfo = clonePtr(e.DisconnectionInfo)
	c.Media = slices.Clone(e.Media)
	c.CallInfo = clonePtr(e.CallInfo)
	return c
}
