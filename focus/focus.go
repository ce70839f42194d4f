package focus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

// errFocusEnded tells the Factory that a Focus it still lists has ended
// and a new one must be started.
var errFocusEnded = errors.New("focus: focus has ended")

// Focus is one active conference: its roster, roles, lock and waiting
// room. It admits calls (PIN, lock, size, lobby, wait for the leader),
// checks and relays every command to the MCU, runs the DTMF menu and
// publishes every change as an Event.
//
// A Focus serialises its state under one mutex. It calls the MCU with the
// mutex held (the MCU's control calls are quick and never call back), but
// hangs up calls, writes call records and tells the Factory it has ended
// only after releasing it, since a Leg's Hangup may call back into Leave.
type Focus struct {
	fa    *Factory
	mcu   MCU
	mcuID string // the MCU conference id: the Focus ID it started with
	id    int64  // the conference's database id
	log   *slog.Logger

	events hub

	mu        sync.Mutex
	conf      store.Conference // as last stored
	startedAt time.Time
	started   bool // ConferenceStarted has been published
	locked    bool
	muteAll   bool
	ending    bool // no new joins; the members left are being hung up
	endReason string
	ended     bool
	pending   int // joins the Factory has reserved but not finished
	members   []*member
	byID      map[string]*member
	byPID     map[mixer.ParticipantID]*member
	onDone    map[promptKey]promptWait
	seq       uint64
}

// promptKey names a prompt played to one participant. The participant is
// part of it because prompt ids are per MCU conference and a conference
// started again gets a new MCU under the same id: a late PromptDone from
// the old one must not end a new prompt. Participant ids are never reused.
type promptKey struct {
	pid mixer.ParticipantID
	id  uint64
}

// promptWait is what to do when a prompt ends, and the timer that does it
// anyway should the MCU's PromptDone event be lost.
type promptWait struct {
	then  func(d *deferred)
	timer Timer
}

// deferred collects what must happen after f.mu is released: hang-ups,
// call-record writes and telling the Factory the Focus has ended.
type deferred []func()

func (d *deferred) add(fn func()) { *d = append(*d, fn) }

func newFocus(fa *Factory, c store.Conference, mcu MCU) *Focus {
	return &Focus{
		fa:        fa,
		mcu:       mcu,
		mcuID:     c.FocusID,
		id:        c.ID,
		log:       fa.log.With("conference", c.Number, "focus", c.FocusID),
		conf:      c,
		startedAt: fa.clock.Now(),
		locked:    c.Locked,
		byID:      make(map[string]*member),
		byPID:     make(map[mixer.ParticipantID]*member),
		onDone:    make(map[promptKey]promptWait),
	}
}

// update runs fn with f.mu held, then what fn deferred.
func (f *Focus) update(fn func(d *deferred)) {
	var d deferred
	f.mu.Lock()
	fn(&d)
	f.mu.Unlock()
	for _, g := range d {
		g()
	}
}

// ConferenceID is the conference's database id.
func (f *Focus) ConferenceID() int64 { return f.id }

// FocusID is the conference's Focus ID as stored now.
func (f *Focus) FocusID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conf.FocusID
}

// URI is the Focus URI (Factory.FocusURI).
func (f *Focus) URI() string {
	f.mu.Lock()
	c := f.conf
	f.mu.Unlock()
	return f.fa.FocusURI(c)
}

// Subscribe returns this conference's events from now on, buffered by buf,
// and a function that ends the subscription. The channel is closed after
// ConferenceEnded. A subscriber that falls buf events behind misses events
// (see Event.Seq); it never slows the Focus down.
func (f *Focus) Subscribe(buf int) (<-chan Event, func()) { return f.events.subscribe(buf) }

// DroppedEvents counts events subscribers of this Focus missed.
func (f *Focus) DroppedEvents() uint64 { return f.events.dropped.Load() }

// Snapshot returns the conference's state and roster.
func (f *Focus) Snapshot() ConferenceState {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := ConferenceState{
		ConferenceID:   f.id,
		FocusID:        f.conf.FocusID,
		URI:            f.fa.FocusURI(f.conf),
		Number:         f.conf.Number,
		Name:           f.conf.Name,
		Subject:        f.conf.Subject,
		Organizer:      f.conf.Organizer,
		Locked:         f.locked,
		MutedAttendees: f.muteAll,
		StartedAt:      f.startedAt,
		Ended:          f.ended,
		Seq:            f.seq,
		Members:        make([]MemberInfo, 0, len(f.members)),
	}
	for _, m := range f.members {
		s.Members = append(s.Members, m.info())
	}
	return s
}

func (f *Focus) emitLocked(kind EventKind, m *member, reason string) {
	f.seq++
	ev := Event{
		Kind:         kind,
		ConferenceID: f.id,
		FocusID:      f.conf.FocusID,
		Seq:          f.seq,
		At:           f.fa.clock.Now(),
		Reason:       reason,
	}
	if m != nil {
		ev.Member = m.info()
	}
	f.events.publish(ev)
	f.fa.events.publish(ev)
}

// reserve holds the Focus open for a join the Factory is about to make.
func (f *Focus) reserve() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case f.ended:
		return errFocusEnded
	case f.ending:
		return fmt.Errorf("%w: conference %s is ending", ErrEnded, f.conf.Number)
	}
	f.pending++
	return nil
}

// mediaFunc gives a joining call its participant in the Focus's MCU: a
// new one from the call's offer (Add), or one moved in from the attendant
// (attendant.go). It runs with f.mu held.
type mediaFunc func(opts mixer.AddOptions) (mixer.ParticipantID, []byte, error)

// join admits a call the Factory has reserved the Focus for.
func (f *Focus) join(ctx context.Context, call Call, leg Leg) (Member, []byte, error) {
	m, answer, err := f.joinWith(ctx, call, leg, func(opts mixer.AddOptions) (mixer.ParticipantID, []byte, error) {
		return f.mcu.Add(call.Offer, opts)
	})
	if err != nil {
		return nil, nil, err // not a typed nil *member
	}
	return m, answer, nil
}

// joinWith admits a call whose media media provides.
func (f *Focus) joinWith(ctx context.Context, call Call, leg Leg, media mediaFunc) (*member, []byte, error) {
	var (
		m      *member
		answer []byte
		err    error
	)
	f.update(func(d *deferred) {
		m, answer, err = f.joinLocked(call, leg, media, d)
		f.pending--
		f.maybeEndLocked(d)
	})
	if err != nil {
		f.log.Info("call refused", "call-id", call.CallID, "from", call.From, "err", err)
		return nil, nil, err
	}
	f.startCallRecord(ctx, m)
	return m, answer, nil
}

func (f *Focus) joinLocked(call Call, leg Leg, media mediaFunc, d *deferred) (*member, []byte, error) {
	if f.ending || f.ended {
		return nil, nil, fmt.Errorf("%w: conference %s", ErrEnded, f.conf.Number)
	}
	role := RoleAttendee
	if sameUser(call.User, f.conf.Organizer) {
		role = RoleOrganizer
	}
	needPIN := f.needsPINLocked(role)
	if !needPIN {
		// Known before answering: refuse with a SIP error, not a prompt.
		if err := f.refusalLocked(role); err != nil {
			return nil, nil, err
		}
	}
	name := call.DisplayName
	if name == "" {
		name = call.From
	}
	pid, answer, err := media(mixer.AddOptions{Name: name, Unmixed: true})
	if err != nil {
		return nil, nil, fmt.Errorf("focus: add %s to conference %s: %w", call.CallID, f.conf.Number, err)
	}
	m := &member{
		f:        f,
		id:       f.fa.newMemberID(),
		pid:      pid,
		call:     call,
		leg:      leg,
		joinedAt: f.fa.clock.Now(),
		role:     role,
	}
	f.refreshCodecLocked(m)
	m.start = startRecord{role: role.String(), codec: m.codec}
	f.members = append(f.members, m)
	f.byID[m.id] = m
	f.byPID[pid] = m
	f.log.Info("call joined", "member", m.id, "call-id", call.CallID, "from", call.From, "role", role.String(),
		"pin", needPIN)
	if !f.started {
		f.started = true
		f.emitLocked(ConferenceStarted, nil, "")
	}
	if needPIN {
		m.state = StatePINEntry
		f.emitLocked(MemberJoined, m, "")
		f.startPINLocked(m)
	} else {
		f.placeLocked(m, MemberJoined, d)
	}
	m.early = m.state != StateInConference
	return m, answer, nil
}

func (f *Focus) refreshCodecLocked(m *member) {
	q, err := f.mcu.Quality(m.pid)
	if err != nil || q.Codec == "" || q.Codec == m.codec {
		return
	}
	first := m.codec == ""
	m.codec = q.Codec
	if !first && !m.gone {
		f.emitLocked(MemberUpdated, m, "")
	}
}

// dropLocked ends a member's call from the Focus's side: out at once, and
// hung up once the lock is released.
func (f *Focus) dropLocked(m *member, reason string, d *deferred) {
	if m.gone {
		return
	}
	f.leaveLocked(m, reason, d)
	d.add(func() { m.leg.Hangup(reason) })
}

// leaveLocked takes a member out of the MCU and the roster and deals with
// what its going means for the others.
func (f *Focus) leaveLocked(m *member, reason string, d *deferred) {
	if m.gone {
		return
	}
	if m.leaving && m.leaveReason != "" {
		reason = m.leaveReason // hung up during its goodbye: the goodbye's reason stands
	}
	m.gone = true
	f.stopTimersLocked(m)
	wasIn := m.state == StateInConference
	q, err := f.mcu.Remove(m.pid)
	if err != nil && !errors.Is(err, mixer.ErrUnknownParticipant) && !errors.Is(err, mixer.ErrClosed) {
		f.log.Warn("remove from MCU", "member", m.id, "err", err)
	}
	f.members = slices.DeleteFunc(f.members, func(x *member) bool { return x == m })
	delete(f.byID, m.id)
	delete(f.byPID, m.pid)
	f.log.Info("call left", "member", m.id, "call-id", m.call.CallID, "reason", reason)
	f.emitLocked(MemberLeft, m, reason)
	end := recordEnd{at: f.fa.clock.Now(), reason: reason, quality: q}
	d.add(func() { f.finishCallRecord(m, end) })

	if !f.ending && wasIn {
		f.announceLeaveLocked()
		if m.role.leader() && !f.leaderPresentLocked() {
			f.leaderGoneLocked(d)
		}
	}
	f.maybeEndLocked(d)
}

// endLocked ends the conference: with goodbye, everyone hears the goodbye
// prompt before being hung up; without, everyone is hung up at once.
func (f *Focus) endLocked(reason string, goodbye bool, d *deferred) {
	if f.ended {
		return
	}
	f.ending = true
	f.endReason = reason
	f.log.Info("conference ending", "reason", reason)
	for _, m := range slices.Clone(f.members) {
		if goodbye {
			f.refuseLocked(m, PromptGoodbye, reason, d)
		} else {
			f.dropLocked(m, reason, d)
		}
	}
	f.maybeEndLocked(d)
}

// terminate ends the conference at once (deleted, shutdown).
func (f *Focus) terminate(reason string) {
	f.update(func(d *deferred) { f.endLocked(reason, false, d) })
}

// maybeEndLocked ends the Focus once nobody is in it or on the way in.
func (f *Focus) maybeEndLocked(d *deferred) {
	if f.ended || len(f.members) > 0 || f.pending > 0 {
		return
	}
	f.ended = true
	for id, w := range f.onDone {
		w.timer.Stop()
		delete(f.onDone, id)
	}
	reason := f.endReason
	if reason == "" {
		reason = ReasonEmpty
	}
	if f.started {
		f.log.Info("conference ended", "reason", reason)
		f.emitLocked(ConferenceEnded, nil, reason)
	}
	f.events.close()
	d.add(func() { f.fa.focusEnded(f) })
}

// apply takes in the conference as now stored. A change of the stored lock
// locks or unlocks the running conference; turning off the lobby or the
// wait for the leader lets those held in; the rest applies to the next
// joins. Only a newer record applies when onlyNewer is set.
func (f *Focus) apply(c store.Conference, onlyNewer bool) {
	f.update(func(d *deferred) {
		if f.ended || (onlyNewer && !c.UpdatedAt.After(f.conf.UpdatedAt)) {
			return
		}
		old := f.conf
		f.conf = c
		f.emitLocked(ConferenceUpdated, nil, "")
		if c.Locked != old.Locked {
			f.setLockLocked(c.Locked)
		}
		if old.Admission == store.AdmissionLobby && c.Admission != store.AdmissionLobby {
			for _, m := range slices.Clone(f.members) {
				if m.state == StateLobby && !m.leaving && !m.gone {
					f.admitLocked(m, d)
				}
			}
		}
		if old.WaitForLeader && !c.WaitForLeader {
			f.releaseWaitingLocked()
		}
	})
}

// handleEvent takes an MCU event for this conference.
func (f *Focus) handleEvent(ev mixer.Event) {
	f.update(func(d *deferred) {
		if f.ended {
			return
		}
		if ev.Kind == mixer.EventPromptDone {
			f.promptDoneLocked(promptKey{ev.Participant, ev.PromptID}, d)
			return
		}
		m := f.byPID[ev.Participant]
		if m == nil {
			return
		}
		switch ev.Kind {
		case mixer.EventDTMF:
			f.digitLocked(m, ev.Digit, d)
		case mixer.EventTalking:
			if m.talking != ev.Talking {
				m.talking = ev.Talking
				f.emitLocked(MemberUpdated, m, "")
			}
		case mixer.EventTimeout:
			f.dropLocked(m, ReasonMediaTimeout, d)
		case mixer.EventQuality:
			m.quality = ev.Quality
			if ev.Quality.Codec != "" && ev.Quality.Codec != m.codec {
				m.codec = ev.Quality.Codec
				f.emitLocked(MemberUpdated, m, "")
			}
		case mixer.EventRemoteChanged:
			f.log.Info("media source changed", "member", m.id)
		}
	})
}
