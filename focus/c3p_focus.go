package focus

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"confab/focus/c3p"
	"confab/focus/confinfo"
	"confab/focus/store"
)

// Focus commands: C3P to the Focus (MS-CONFBAS 3.x) and RFC 4579 REFER.
// Each becomes one or more Focus.Do commands with the sender's privileges.

// focusFor finds the conference a Focus command is about and who sends
// it: the member of the dialog the command came in, else the
// authenticated user. Keys that name another conference than the dialog
// are refused.
func (c *Control) focusFor(ctx context.Context, o Origin, k *c3p.Keys) (store.Conference, *Focus, Sender, error) {
	var keyed string
	if k != nil {
		keyed = k.ConfEntity
		if keyed == "" && k.ConferenceID != "" {
			keyed = FocusTargetPrefix + k.ConferenceID
		}
	}
	if mm, ok := o.Member.(*member); ok {
		f := mm.f
		f.mu.Lock()
		conf := f.conf
		f.mu.Unlock()
		if keyed != "" {
			if kc, err := c.fa.Resolve(ctx, keyed); err != nil || kc.ID != conf.ID {
				return conf, nil, Sender{}, fmt.Errorf("%w: the command names another conference than the call", ErrForbidden)
			}
		}
		return conf, f, Sender{Member: mm.id, Name: o.From}, nil
	}
	target := o.Target
	if target == "" {
		target = keyed
	}
	if target == "" {
		return store.Conference{}, nil, Sender{}, fmt.Errorf("%w: the command names no conference", ErrInvalidCommand)
	}
	conf, err := c.fa.Resolve(ctx, target)
	if err != nil {
		return conf, nil, Sender{}, err
	}
	if keyed != "" && keyed != target {
		if kc, err := c.fa.Resolve(ctx, keyed); err != nil || kc.ID != conf.ID {
			return conf, nil, Sender{}, fmt.Errorf("%w: the command names another conference than the dialog", ErrForbidden)
		}
	}
	f, _ := c.fa.FocusByConference(conf.ID)
	return conf, f, Sender{User: o.User, Name: o.From}, nil
}

func (c *Control) focusCommand(ctx context.Context, o Origin, req *c3p.Request) (*c3p.Response, error) {
	keys := keysOf(req.Command)
	conf, f, sender, err := c.focusFor(ctx, o, keys)
	if err != nil {
		return nil, err
	}
	res := req.Answer(c3p.Success, "")
	res.Keys = keys
	if add, ok := req.Command.(c3p.AddUser); ok {
		return c.addUser(ctx, o, conf, f, sender, add, res)
	}
	if f == nil {
		return nil, fmt.Errorf("%w: conference %s is not active", ErrEnded, conf.Number)
	}
	var cmds []Command
	switch cmd := req.Command.(type) {
	case c3p.DeleteUser:
		ids, err := c.members(f, cmd.Keys)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			cmds = append(cmds, Command{Kind: Kick, Member: id})
		}
	case c3p.ModifyUserRoles:
		role, err := roleOf(cmd.Roles)
		if err != nil {
			return nil, err
		}
		ids, err := c.members(f, cmd.Keys)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			cmds = append(cmds, Command{Kind: SetRole, Member: id, Role: role})
		}
	case c3p.ModifyEndpointMedia:
		if cmd.Keys.MediaID != "" && cmd.Keys.MediaID != audioMediaID || cmd.Media.ID != "" && cmd.Media.ID != audioMediaID {
			return nil, fmt.Errorf("%w: an endpoint has one medium, id %s", errNoMedia, audioMediaID)
		}
		ids, err := c.members(f, cmd.Keys)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			switch cmd.Media.IngressFilter {
			case confinfo.FilterBlock:
				cmds = append(cmds, Command{Kind: Mute, Member: id})
			case confinfo.FilterUnblock:
				cmds = append(cmds, Command{Kind: Unmute, Member: id})
			}
			switch cmd.Media.EgressFilter {
			case confinfo.FilterBlock:
				cmds = append(cmds, Command{Kind: Deaf, Member: id})
			case confinfo.FilterUnblock:
				cmds = append(cmds, Command{Kind: Undeaf, Member: id})
			}
		}
		if len(cmds) == 0 {
			return nil, fmt.Errorf("%w: modifyEndpointMedia changes neither filter", ErrInvalidCommand)
		}
	case c3p.ModifyConferenceLock:
		kind := Unlock
		if cmd.Locked {
			kind = Lock
		}
		cmds = append(cmds, Command{Kind: kind})
	case c3p.SetLobbyAccess:
		ids, err := c.members(f, cmd.Keys)
		if err != nil {
			return nil, err
		}
		kind := Admit
		if cmd.Access == c3p.AccessDenied {
			kind = Deny
		}
		for _, id := range ids {
			cmds = append(cmds, Command{Kind: kind, Member: id})
		}
	}
	// The first refusal stops the rest: privileges do not differ between
	// the members of one user, so that is the first command.
	for _, cmd := range cmds {
		if err := f.Do(ctx, sender, cmd); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// members returns the members keys name: one endpoint, or every endpoint
// of a user.
func (c *Control) members(f *Focus, k c3p.Keys) ([]string, error) {
	if k.UserEntity == "" && k.EndpointEntity == "" {
		return nil, fmt.Errorf("%w: no user named", ErrInvalidCommand)
	}
	var ids []string
	for _, m := range f.Snapshot().Members {
		user := c.fa.userEntity(m)
		switch {
		case k.EndpointEntity != "" && k.EndpointEntity == endpointEntity(user, m.ID):
			return []string{m.ID}, nil
		case k.UserEntity != "" && (sameEntity(k.UserEntity, user) || sameEntity(k.UserEntity, m.URI)):
			ids = append(ids, m.ID)
		}
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrUnknownMember, strings.TrimSpace(k.UserEntity+" "+k.EndpointEntity))
	}
	return ids, nil
}

// roleOf takes C3P roles: the highest of attendee, presenter, organizer.
func roleOf(roles []string) (Role, error) {
	var r Role
	for _, name := range roles {
		x, err := ParseRole(name)
		if err != nil {
			return 0, fmt.Errorf("%w: %q", errBadRole, name)
		}
		r = max(r, x)
	}
	if r == 0 {
		return 0, fmt.Errorf("%w: no role given", errBadRole)
	}
	return r, nil
}

// addUser is the sender joining (INVITE to the Focus: the response grants
// a role) or, for someone else or a dialed-out endpoint, a dial-out.
func (c *Control) addUser(ctx context.Context, o Origin, conf store.Conference, f *Focus, sender Sender, cmd c3p.AddUser,
	res *c3p.Response) (*c3p.Response, error) {
	u := cmd.User
	dialed := slices.ContainsFunc(u.Endpoints, func(e confinfo.Endpoint) bool { return e.JoiningMethod == "dialed-out" })
	own := u.Entity == "" || sameEntity(u.Entity, o.From) || (o.User != "" && sameEntity(u.Entity, c.organizer(o.User)))
	if dialed || !own {
		invitee, err := c.invitee(ctx, u)
		if err != nil {
			return nil, err
		}
		if err := c.fa.DialOut(ctx, FocusTargetPrefix+conf.FocusID, sender, invitee, o.Dialer, nil); err != nil {
			return nil, err
		}
		granted := u
		granted.Roles = roleNames(invitee.Role)[:1]
		res.User = &granted
		return res, nil
	}
	// Joining: the role is the one the Focus gives this user, whatever the
	// request asks for (MS-CONFBAS 2.2.3.6).
	role := RoleAttendee
	switch {
	case sameUser(o.User, conf.Organizer):
		role = RoleOrganizer
	case f != nil:
		f.mu.Lock()
		if m, _ := f.userSenderLocked(o.User); m != nil {
			role = m.role
		}
		locked := f.locked
		f.mu.Unlock()
		if locked && !role.leader() {
			return nil, fmt.Errorf("%w: conference %s", ErrLocked, conf.Number)
		}
	case conf.Locked:
		return nil, fmt.Errorf("%w: conference %s", ErrLocked, conf.Number)
	}
	if o.User == "" && o.Member == nil {
		return nil, fmt.Errorf("%w: joining needs an authenticated user", errUnauthenticated)
	}
	entity := u.Entity
	if entity == "" {
		entity = o.From
	}
	res.User = &confinfo.User{Entity: entity, Roles: roleNames(role)[:1]}
	return res, nil
}

// invitee turns an addUser or REFER target into whom to call: the
// endpoint's URI if it gives one, else the user's. A telephone number
// (tel: URI or digits) goes out on the first trunk that registers
// outbound, with its credentials.
func (c *Control) invitee(ctx context.Context, u confinfo.User) (Invitee, error) {
	inv := Invitee{URI: u.Entity, DisplayName: u.DisplayText}
	for _, e := range u.Endpoints {
		if isSIPURI(e.Entity) {
			inv.URI = e.Entity
			break
		}
	}
	if r, err := roleOf(u.Roles); err == nil {
		inv.Role = min(r, RolePresenter)
	}
	if inv.URI == "" {
		return inv, fmt.Errorf("%w: nobody to call", ErrInvalidCommand)
	}
	if number, ok := telephoneNumber(inv.URI); ok {
		return c.viaTrunk(ctx, inv, number)
	}
	if !isSIPURI(inv.URI) {
		return inv, fmt.Errorf("%w: cannot call %q", ErrInvalidCommand, inv.URI)
	}
	return inv, nil
}

// trunkLister is the part of the conferencing database (*store.Store)
// that dial-out to telephone numbers uses.
type trunkLister interface {
	ListTrunks(ctx context.Context) ([]store.Trunk, error)
}

func (c *Control) viaTrunk(ctx context.Context, inv Invitee, number string) (Invitee, error) {
	tl, ok := c.fa.db.(trunkLister)
	if !ok {
		return inv, fmt.Errorf("%w: no trunk to call %s", ErrUnavailable, number)
	}
	trunks, err := tl.ListTrunks(ctx)
	if err != nil {
		return inv, fmt.Errorf("%w: trunks: %w", ErrUnavailable, err)
	}
	for _, t := range trunks {
		if t.OutboundRegistrar == "" {
			continue
		}
		host := strings.TrimPrefix(strings.TrimPrefix(t.OutboundRegistrar, "sips:"), "sip:")
		if i := strings.IndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		inv.URI = "sip:" + url.PathEscape(number) + "@" + host
		inv.Username, inv.Password = t.OutboundUsername, t.OutboundPassword
		return inv, nil
	}
	return inv, fmt.Errorf("%w: no trunk registers outbound to call %s", ErrUnavailable, number)
}

func isSIPURI(s string) bool {
	l := strings.ToLower(s)
	return (strings.HasPrefix(l, "sip:") || strings.HasPrefix(l, "sips:")) && strings.Contains(s, "@")
}

// telephoneNumber takes a tel: URI (RFC 3966) or a bare number.
func telephoneNumber(s string) (string, bool) {
	n := s
	if len(n) > 4 && strings.EqualFold(n[:4], "tel:") {
		n = n[4:]
		if i := strings.IndexByte(n, ';'); i >= 0 {
			n = n[:i]
		}
	}
	n = strings.NewReplacer("-", "", ".", "", " ", "", "(", "", ")", "").Replace(n)
	digits := strings.TrimPrefix(n, "+")
	if digits == "" || len(digits) > 20 || !isDigits(digits) {
		return "", false
	}
	return n, true
}

// Refer carries out an RFC 4579 REFER to the Focus of o.Target (or of
// o.Member's call): with bye false the Focus calls participant into the
// conference (§5.5), with bye true it removes the participant (§5.6).
// Refusals come back at once; done gets the outcome of a call, as
// Factory.DialOut describes (for a removal, nil once it is done).
func (c *Control) Refer(ctx context.Context, o Origin, participant string, bye bool, done func(error)) error {
	if o.User == "" && o.Member == nil {
		return fmt.Errorf("%w: REFER needs an authenticated sender or its own call", errUnauthenticated)
	}
	conf, f, sender, err := c.focusFor(ctx, o, nil)
	if err != nil {
		return err
	}
	if !bye {
		inv, err := c.invitee(ctx, confinfo.User{Entity: participant})
		if err != nil {
			return err
		}
		return c.fa.DialOut(ctx, FocusTargetPrefix+conf.FocusID, sender, inv, o.Dialer, done)
	}
	if f == nil {
		return fmt.Errorf("%w: conference %s is not active", ErrEnded, conf.Number)
	}
	ids, err := c.members(f, c3p.Keys{UserEntity: participant, EndpointEntity: participant})
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := f.Do(ctx, sender, Command{Kind: Kick, Member: id}); err != nil {
			return err
		}
	}
	if done != nil {
		done(nil)
	}
	return nil
}

// userSenderLocked finds an authenticated user's standing in the
// conference: its highest-ranking member past PIN entry, and whether it
// has a leader's privileges (as that member, or as the organizer).
func (f *Focus) userSenderLocked(user string) (*member, bool) {
	if user == "" {
		return nil, false
	}
	var best *member
	for _, m := range f.members {
		if m.gone || m.state == StatePINEntry || m.call.User != user {
			continue
		}
		if best == nil || m.role > best.role {
			best = m
		}
	}
	privileged := sameUser(user, f.conf.Organizer) || best != nil && best.role.leader()
	return best, privileged
}

// isSelfLocked reports whether the command's target is the sender itself:
// its own member, or for a user sender any of its members.
func (f *Focus) isSelfLocked(sender Sender, self *member, target string) bool {
	if self != nil && target == self.id {
		return true
	}
	if sender.Member == "" && sender.User != "" {
		t := f.byID[target]
		return t != nil && t.call.User == sender.User
	}
	return false
}
