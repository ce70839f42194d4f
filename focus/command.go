package focus

import (
	"context"
	"errors"
	"fmt"
)

// ErrInvalidCommand means a command is malformed: an unknown kind or role,
// a gain out of range, admitting someone not in the lobby (HTTP 400).
var ErrInvalidCommand = errors.New("focus: invalid command")

// CommandKind says what a Command does.
type CommandKind int

// Command kinds.
const (
	Mute             CommandKind = iota + 1 // block the member's audio into the mix
	Unmute                                  // unblock it
	Deaf                                    // block the mix to the member
	Undeaf                                  // unblock it
	SetGain                                 // set the member's talk and listen gain
	Kick                                    // hang up on the member
	SetRole                                 // make the member an attendee, presenter or organizer
	Admit                                   // let the member out of the lobby
	Lock                                    // refuse attendees who have not joined yet
	Unlock                                  // end a Lock
	MuteAllAttendees                        // mute every attendee, and those who join, until UnmuteAll
	UnmuteAll                               // unmute everyone and end mute-all
	EndConference                           // say goodbye to everyone and hang up
	Deny                                    // send the member in the lobby away (C3P setLobbyAccess denied)
)

func (k CommandKind) String() string {
	switch k {
	case Mute:
		return "mute"
	case Unmute:
		return "unmute"
	case Deaf:
		return "deaf"
	case Undeaf:
		return "undeaf"
	case SetGain:
		return "set-gain"
	case Kick:
		return "kick"
	case SetRole:
		return "set-role"
	case Admit:
		return "admit"
	case Lock:
		return "lock"
	case Unlock:
		return "unlock"
	case MuteAllAttendees:
		return "mute-all-attendees"
	case UnmuteAll:
		return "unmute-all"
	case EndConference:
		return "end-conference"
	case Deny:
		return "deny"
	}
	return fmt.Sprintf("CommandKind(%d)", int(k))
}

// onMember reports whether the command is about one member (Command.Member).
func (k CommandKind) onMember() bool { return k >= Mute && k <= Admit || k == Deny }

// onSelf reports whether an attendee may send the command about itself.
func (k CommandKind) onSelf() bool { return k >= Mute && k <= SetGain }

// Gain limits in dB (focus.MCU.SetGain).
const (
	MinGainDB = -12
	MaxGainDB = 12
)

// Command is one conference-control request.
type Command struct {
	Kind CommandKind
	// Member is the member ID the command is about (Mute ... Admit).
	Member string
	// Role is the new role (SetRole).
	Role Role
	// TalkDB and ListenDB are the new gains, MinGainDB..MaxGainDB (SetGain).
	TalkDB, ListenDB int
}

// Sender is who sends a command. A member's privileges are those of its
// role in the roster when the command arrives; a role is deliberately not
// part of Sender, so that no client can claim one it does not hold.
type Sender struct {
	// Member is the sending member's ID: DTMF, or a participant's own web
	// or C3P session.
	Member string
	// Admin marks an administrator of the appliance (web page, HTTP API,
	// confabctl), who may do everything.
	Admin bool
	// Name says who it was in logs, e.g. "admin" or "dtmf".
	Name string
	// User is an authenticated SIP user speaking for itself without a
	// call of its own in the dialog (C3P from a Focus control dialog or
	// the Focus Factory); used when Member is empty. The Focus gives it
	// the privileges of the organizer if it is the conference's organizer,
	// else those of its own highest-ranking member in the roster, else
	// none; "itself" is then any of its own members.
	User string
}

// AdminSender returns the Sender of an appliance administrator called name.
func AdminSender(name string) Sender { return Sender{Admin: true, Name: name} }

// MemberSender returns the Sender of the member with the given ID.
func MemberSender(id string) Sender { return Sender{Member: id} }

func (s Sender) String() string {
	switch {
	case s.Admin && s.Name != "":
		return "admin " + s.Name
	case s.Admin:
		return "admin"
	case s.Name != "":
		return "member " + s.Member + " (" + s.Name + ")"
	}
	return "member " + s.Member
}

// Do checks that sender may give cmd and carries it out, through the MCU
// where it touches media. It is the one command path: DTMF menus, the web
// page, the HTTP API and C3P all come here.
//
// Privileges:
//
//	command                      attendee          presenter, organizer   admin
//	Mute, Unmute, Deaf, Undeaf   itself only       anyone                 anyone
//	SetGain                      itself only       anyone                 anyone
//	Kick, Admit, Deny            -                 anyone                 anyone
//	SetRole                      -                 anyone but the         anyone
//	                                               organizer; never to
//	                                               organizer
//	Lock, Unlock                 -                 yes                    yes
//	MuteAllAttendees, UnmuteAll  -                 yes                    yes
//	EndConference                -                 yes                    yes
//
// A member still entering its PIN has no privileges. A command refused for
// privilege returns ErrForbidden and changes nothing; an unknown target
// returns ErrUnknownMember; a malformed one ErrInvalidCommand; a Focus that
// has ended ErrEnded.
//
// Lock and Unlock act on the running conference only; the stored
// conference's Locked flag (Factory.UpdateConference) is what a conference
// starts with.
func (f *Focus) Do(ctx context.Context, sender Sender, cmd Command) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var err error
	f.update(func(d *deferred) { err = f.doLocked(sender, cmd, d) })
	if err != nil {
		f.log.Debug("command refused", "sender", sender.String(), "command", cmd.Kind.String(),
			"member", cmd.Member, "err", err)
		return err
	}
	f.log.Info("command", "sender", sender.String(), "command", cmd.Kind.String(), "member", cmd.Member)
	return nil
}

// doLocked is Do with f.mu held; the DTMF menu calls it too.
func (f *Focus) doLocked(sender Sender, cmd Command, d *deferred) error {
	if f.ended {
		return fmt.Errorf("%w: conference %s", ErrEnded, f.conf.Number)
	}
	self, privileged, err := f.senderLocked(sender)
	if err != nil {
		return err
	}
	if !cmd.Kind.onMember() {
		return f.conferenceCommandLocked(sender, privileged, cmd, d)
	}

	if !privileged && !(cmd.Kind.onSelf() && f.isSelfLocked(sender, self, cmd.Member)) {
		return fmt.Errorf("%w: %s may only %s itself", ErrForbidden, sender, cmd.Kind)
	}
	t := f.byID[cmd.Member]
	if t == nil || t.gone {
		return fmt.Errorf("%w: %q", ErrUnknownMember, cmd.Member)
	}
	switch cmd.Kind {
	case Mute, Unmute:
		return f.setMutedLocked(t, cmd.Kind == Mute)
	case Deaf, Undeaf:
		return f.setDeafLocked(t, cmd.Kind == Deaf)
	case SetGain:
		return f.setGainLocked(t, cmd.TalkDB, cmd.ListenDB)
	case Kick:
		f.dropLocked(t, ReasonKicked, d)
		return nil
	case SetRole:
		if !cmd.Role.valid() {
			return fmt.Errorf("%w: role %d", ErrInvalidCommand, int(cmd.Role))
		}
		if !sender.Admin && (t.role == RoleOrganizer || cmd.Role == RoleOrganizer) && t.role != cmd.Role {
			return fmt.Errorf("%w: only an administrator may change who is the organizer", ErrForbidden)
		}
		f.setRoleLocked(t, cmd.Role, d)
		return nil
	case Admit:
		if t.state != StateLobby || t.leaving {
			return fmt.Errorf("%w: %s is not in the lobby", ErrInvalidCommand, t.id)
		}
		f.admitLocked(t, d)
		return nil
	case Deny:
		if t.state != StateLobby || t.leaving {
			return fmt.Errorf("%w: %s is not in the lobby", ErrInvalidCommand, t.id)
		}
		f.refuseLocked(t, PromptGoodbye, ReasonNotAdmitted, d)
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidCommand, cmd.Kind)
}

// senderLocked finds who sends a command and whether it has a leader's
// privileges: an administrator; a member by its ID; or, for a Sender with
// only a User, the organizer or that user's highest-ranking member.
func (f *Focus) senderLocked(sender Sender) (self *member, privileged bool, err error) {
	if sender.Admin {
		return nil, true, nil
	}
	if sender.Member == "" && sender.User != "" {
		self, privileged = f.userSenderLocked(sender.User)
		if self == nil && !privileged {
			return nil, false, fmt.Errorf("%w: %s is not in the conference", ErrForbidden, sender)
		}
		return self, privileged, nil
	}
	self = f.byID[sender.Member]
	if self == nil || self.gone || sender.Member == "" {
		return nil, false, fmt.Errorf("%w: %s is not in the conference", ErrForbidden, sender)
	}
	if self.state == StatePINEntry {
		return nil, false, fmt.Errorf("%w: %s has not entered its PIN", ErrForbidden, sender)
	}
	return self, self.role.leader(), nil
}

func (f *Focus) conferenceCommandLocked(sender Sender, privileged bool, cmd Command, d *deferred) error {
	switch cmd.Kind {
	case Lock, Unlock, MuteAllAttendees, UnmuteAll, EndConference:
	default:
		return fmt.Errorf("%w: %s", ErrInvalidCommand, cmd.Kind)
	}
	if !privileged {
		return fmt.Errorf("%w: %s may not %s the conference", ErrForbidden, sender, cmd.Kind)
	}
	switch cmd.Kind {
	case Lock, Unlock:
		f.setLockLocked(cmd.Kind == Lock)
		return nil
	case MuteAllAttendees:
		f.muteAll = true
		var errs []error
		for _, m := range f.members {
			if m.role == RoleAttendee && !m.gone {
				errs = append(errs, f.setMutedLocked(m, true))
			}
		}
		return errors.Join(errs...)
	case UnmuteAll:
		f.muteAll = false
		var errs []error
		for _, m := range f.members {
			if m.muted && !m.gone {
				errs = append(errs, f.setMutedLocked(m, false))
			}
		}
		return errors.Join(errs...)
	default: // EndConference
		f.endLocked(ReasonConferenceEnded, true, d)
		return nil
	}
}

func (f *Focus) setMutedLocked(m *member, muted bool) error {
	if err := f.mcu.SetMuted(m.pid, muted); err != nil {
		return fmt.Errorf("focus: mute %s: %w", m.id, err)
	}
	if m.muted != muted {
		m.muted = muted
		f.emitLocked(MemberUpdated, m, "")
	}
	return nil
}

func (f *Focus) setDeafLocked(m *member, deaf bool) error {
	if err := f.mcu.SetDeaf(m.pid, deaf); err != nil {
		return fmt.Errorf("focus: deafen %s: %w", m.id, err)
	}
	if m.deaf != deaf {
		m.deaf = deaf
		f.emitLocked(MemberUpdated, m, "")
	}
	return nil
}

func (f *Focus) setGainLocked(m *member, talkDB, listenDB int) error {
	for _, g := range []int{talkDB, listenDB} {
		if g < MinGainDB || g > MaxGainDB {
			return fmt.Errorf("%w: gain %d dB is outside %d..%d", ErrInvalidCommand, g, MinGainDB, MaxGainDB)
		}
	}
	if err := f.mcu.SetGain(m.pid, talkDB, listenDB); err != nil {
		return fmt.Errorf("focus: set gain of %s: %w", m.id, err)
	}
	if m.talkDB != talkDB || m.listenDB != listenDB {
		m.talkDB, m.listenDB = talkDB, listenDB
		f.emitLocked(MemberUpdated, m, "")
	}
	return nil
}

func (f *Focus) setLockLocked(locked bool) {
	if f.locked == locked {
		return
	}
	f.locked = locked
	if locked {
		f.emitLocked(Locked, nil, "")
	} else {
		f.emitLocked(Unlocked, nil, "")
	}
}

// setRoleLocked changes a member's role. A new leader in the conference
// ends the wait for the leader; one who was waiting goes in. Demoting the
// last leader leaves everyone where they are: only a leader leaving ends a
// conference or sends attendees back to wait.
func (f *Focus) setRoleLocked(m *member, role Role, d *deferred) {
	if m.role == role {
		return
	}
	m.role = role
	switch {
	case !role.leader() || m.leaving:
		f.emitLocked(MemberUpdated, m, "")
	case m.state == StateLobby || m.state == StateWaiting:
		f.placeLocked(m, MemberUpdated, d)
	default:
		f.emitLocked(MemberUpdated, m, "")
		if m.state == StateInConference {
			f.releaseWaitingLocked()
		}
	}
}
