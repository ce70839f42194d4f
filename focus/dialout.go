package focus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"confab/mixer"
)

// Dial-out: the Focus calls someone into its conference, for C3P addUser
// with a dialed-out endpoint (MS-CONFBAS 2.2.3.15) and RFC 4579 §5.5 REFER.
// The MCU makes the SDP offer, the SIP front places the call, and the
// callee joins as a member whose leg is the outgoing call.

// Dialer places outgoing calls; the SIP front implements it.
type Dialer interface {
	// Dial calls the invitee with offer and returns the callee's answer
	// and the call once it is up.
	Dial(ctx context.Context, invitee Invitee, offer []byte) (answer []byte, call DialedCall, err error)
}

// DialedCall is an outgoing call that is up. Hangup ends it with BYE.
type DialedCall interface {
	Leg
	CallID() string
	// Done is closed when the call has ended, from either side.
	Done() <-chan struct{}
}

// Invitee is who a dial-out calls.
type Invitee struct {
	// URI is whom to call: a SIP URI, or a telephone number (digits with
	// an optional +) for a trunk.
	URI         string
	DisplayName string
	// Username and Password answer the challenge of a trunk the call goes
	// out on.
	Username, Password string
	// Role is what the callee joins as: RoleAttendee (the zero value means
	// that) or RolePresenter; only an administrator may make an organizer.
	Role Role
}

// offerer is an MCU that can make the first offer; *mixer.Conference is
// one (mixer.Conference.Offer).
type offerer interface {
	Offer(opts mixer.AddOptions) (mixer.ParticipantID, []byte, error)
	Answer(id mixer.ParticipantID, answer []byte) error
}

// dialTimeout bounds a dial-out from the INVITE to the answer: a phone
// rings for about this long before its owner gives up.
const dialTimeout = 60 * time.Second

// DialOut has the Focus of the conference target names (a number, a
// Focus ID or URI) call invitee, on behalf of sender, who needs a leader's
// privileges (presenter, organizer, administrator): bringing someone in is
// like admitting them. The conference starts if it is not running.
//
// DialOut returns once the privilege check has passed and the MCU has made
// its offer; refusals come back as errors (ErrForbidden, ErrEnded,
// ErrUnknownConference, ErrUnavailable when the MCU cannot make offers).
// The call then goes on in the background; done, if not nil, is called
// with its outcome: nil once the callee has answered and joined, else the
// Dialer's or the MCU's error. The callee joins admitted (a lobby does not
// hold it) and leaves when its call ends.
func (fa *Factory) DialOut(ctx context.Context, target string, sender Sender, invitee Invitee, dialer Dialer,
	done func(error)) error {
	if dialer == nil {
		return fmt.Errorf("%w: no way to place calls", ErrUnavailable)
	}
	if invitee.Role == 0 {
		invitee.Role = RoleAttendee
	}
	if !invitee.Role.valid() {
		return fmt.Errorf("%w: role %d", ErrInvalidCommand, int(invitee.Role))
	}
	c, err := fa.Resolve(ctx, target)
	if err != nil {
		return err
	}
	f, fresh, err := fa.reserve(c)
	if err != nil {
		return err
	}
	if !fresh {
		f.apply(c, true)
	}
	return f.dialOut(sender, invitee, dialer, done)
}

// dialOut runs a dial-out on a Focus the Factory has reserved.
func (f *Focus) dialOut(sender Sender, invitee Invitee, dialer Dialer, done func(error)) error {
	if done == nil {
		done = func(error) {}
	}
	var (
		pid   mixer.ParticipantID
		offer []byte
		err   error
	)
	off, canOffer := f.mcu.(offerer)
	f.update(func(d *deferred) {
		defer func() {
			if err != nil {
				f.pending--
				f.maybeEndLocked(d)
			}
		}()
		if f.ending || f.ended {
			err = fmt.Errorf("%w: conference %s", ErrEnded, f.conf.Number)
			return
		}
		_, privileged, e := f.senderLocked(sender)
		switch {
		case e != nil:
			err = e
			return
		case !privileged:
			err = fmt.Errorf("%w: %s may not call others in", ErrForbidden, sender)
			return
		case invitee.Role == RoleOrganizer && !sender.Admin:
			err = fmt.Errorf("%w: only an administrator may make someone the organizer", ErrForbidden)
			return
		case !canOffer:
			err = fmt.Errorf("%w: the MCU cannot place calls", ErrUnavailable)
			return
		}
		name := invitee.DisplayName
		if name == "" {
			name = invitee.URI
		}
		pid, offer, err = off.Offer(mixer.AddOptions{Name: name, Unmixed: true})
		if err != nil {
			err = fmt.Errorf("focus: offer for %s: %w", invitee.URI, err)
		}
	})
	if err != nil {
		f.log.Info("dial-out refused", "sender", sender.String(), "target", invitee.URI, "err", err)
		return err
	}
	f.log.Info("dialing out", "sender", sender.String(), "target", invitee.URI)
	go f.runDialOut(sender, invitee, dialer, off, pid, offer, done)
	return nil
}

func (f *Focus) runDialOut(sender Sender, invitee Invitee, dialer Dialer, off offerer, pid mixer.ParticipantID,
	offer []byte, done func(error)) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	answer, call, err := dialer.Dial(ctx, invitee, offer)
	cancel()
	if err == nil {
		if err = off.Answer(pid, answer); err != nil {
			err = fmt.Errorf("focus: answer from %s: %w", invitee.URI, err)
		}
	}
	var m *member
	f.update(func(d *deferred) {
		f.pending--
		if err == nil && (f.ending || f.ended) {
			err = fmt.Errorf("%w: conference %s", ErrEnded, f.conf.Number)
		}
		if err != nil {
			if _, rerr := f.mcu.Remove(pid); rerr != nil && !errors.Is(rerr, mixer.ErrUnknownParticipant) &&
				!errors.Is(rerr, mixer.ErrClosed) {
				f.log.Warn("remove from MCU", "participant", uint64(pid), "err", rerr)
			}
			f.maybeEndLocked(d)
			return
		}
		m = f.addDialedLocked(call, invitee, pid, sender, d)
	})
	if err != nil {
		f.log.Info("dial-out failed", "target", invitee.URI, "err", err)
		if call != nil {
			call.Hangup(ReasonConferenceEnded)
		}
		done(err)
		return
	}
	f.startCallRecord(context.Background(), m)
	done(nil)
	<-call.Done()
	m.Leave(ReasonBye) // does nothing if the Focus ended the call itself
}

// addDialedLocked makes a member of an answered dial-out.
func (f *Focus) addDialedLocked(call DialedCall, invitee Invitee, pid mixer.ParticipantID, sender Sender,
	d *deferred) *member {
	by := sender.Name
	if by == "" {
		by = sender.String()
	}
	m := &member{
		f:        f,
		id:       f.fa.newMemberID(),
		pid:      pid,
		call:     Call{CallID: call.CallID(), From: invitee.URI, DisplayName: invitee.DisplayName},
		leg:      call,
		joinedAt: f.fa.clock.Now(),
		role:     invitee.Role,
		admitted: true, // invited by a leader: the lobby does not hold it
		dialedBy: by,
	}
	f.refreshCodecLocked(m)
	m.start = startRecord{role: m.role.String(), codec: m.codec}
	f.members = append(f.members, m)
	f.byID[m.id] = m
	f.byPID[pid] = m
	f.log.Info("call joined", "member", m.id, "call-id", m.call.CallID, "to", invitee.URI, "role", m.role.String(),
		"dialed-by", by)
	if !f.started {
		f.started = true
		f.emitLocked(ConferenceStarted, nil, "")
	}
	f.placeLocked(m, MemberJoined, d)
	return m
}
