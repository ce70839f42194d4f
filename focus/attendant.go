package focus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

// The conferencing attendant. A call whose dialled number does not name a
// conference — a trunk DID routed to no conference ("asks the caller" on
// the Trunks page) — is answered by the attendant, which asks for the
// conference number ("please enter the conference number, followed by
// the pound key"), collects the digits (RFC 4733 or SIP INFO) up to '#',
// and puts the caller into that conference as if it had dialled it: PIN,
// lobby, wait for the leader and roles all apply. A number that names no
// conference is answered "that conference number is not valid" and asked
// again; after three tries the caller hears goodbye and is hung up. This
// is the Conferencing Attendant of OCS 2007 R2 dial-in conferencing.
//
// The caller is answered once and keeps its SIP dialog and its media: the
// attendant holds it on a participant of an MCU conference of its own,
// and the Focus of the conference it asks for takes that participant over
// through the Conferencing Server Factory (Mover, mixer.Engine.Move) —
// same port, RTP session and codec, no re-INVITE.

// AttendantTarget is the Joiner target of a call the attendant is to ask
// for its conference number. The daemon's trunk directory gives it for a
// DID that routes to no conference.
const AttendantTarget = "attendant"

// Prompts the attendant plays.
const (
	PromptEnterNumber    = "enter-number"
	PromptNumberNotValid = "number-not-valid"
	PromptFull           = "full"
)

// ReasonNoNumber is why a call leaves the attendant after three numbers
// that lead nowhere (or none at all).
const ReasonNoNumber = "no valid conference number"

// Attendant timing and limits, as for PIN entry.
const (
	numberInterDigit = 5 * time.Second
	numberOverall    = 20 * time.Second
	numberMaxTries   = 3
	numberMaxDigits  = 16 // conference numbers have at most 15
	numberLookup     = 10 * time.Second
)

// Mover is a ServerFactory that can move a participant from one of its
// MCUs to another, keeping its media flow, RTP session and codec state
// (serverfactory.Local over mixer.Engine.Move). The attendant needs it.
type Mover interface {
	Move(id mixer.ParticipantID, from, to string, opts mixer.AddOptions) error
}

// attendState is where a call is with the attendant.
type attendState int

const (
	attendCollecting attendState = iota // prompting, collecting digits
	attendChecking                      // a number is being looked up and the call moved
	attendMoved                         // in its conference: the Focus's member now
	attendEnded
)

// attendantCall is one call held by the attendant. It is the Member the
// SIP front holds for the whole call: until the call is moved it answers
// for itself, then it passes everything to the Focus's member.
type attendantCall struct {
	fa    *Factory
	mcuID string
	mcu   MCU
	pid   mixer.ParticipantID
	call  Call
	leg   Leg
	log   *slog.Logger

	mu         sync.Mutex
	state      attendState
	leaving    bool // hearing a last prompt before the hang-up
	digits     []byte
	tries      int
	started    time.Time // of the current try
	timer      Timer
	gen        uint64
	onDone     map[uint64]promptWait
	member     Member // once moved
	left       bool   // Leave came while the call was being moved
	leftReason string
}

var (
	_ Member     = (*attendantCall)(nil)
	_ EarlyMedia = (*attendantCall)(nil)
)

// EarlyMedia implements focus.EarlyMedia: the attendant's caller hears the
// question first.
func (a *attendantCall) EarlyMedia() bool { return true }

// attend answers a call for the attendant: an MCU conference of its own,
// the caller unmixed in it, and the prompt.
func (fa *Factory) attend(call Call, leg Leg) (Member, []byte, error) {
	if _, ok := fa.servers.(Mover); !ok {
		return nil, nil, fmt.Errorf("%w: the MCU cannot move calls, so there is no attendant", ErrUnavailable)
	}
	id := "attendant-" + strconv.FormatUint(fa.attendSeq.Add(1), 10) // not a Focus ID: those are alphanumeric
	fa.mu.Lock()
	closed := fa.closed
	fa.mu.Unlock()
	if closed {
		return nil, nil, fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	mcu, err := fa.servers.Allocate(id)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: no MCU for the attendant: %w", ErrUnavailable, err)
	}
	name := call.DisplayName
	if name == "" {
		name = call.From
	}
	pid, answer, err := mcu.Add(call.Offer, mixer.AddOptions{Name: name, Unmixed: true})
	if err != nil {
		fa.servers.Release(id)
		return nil, nil, fmt.Errorf("focus: attendant: add %s: %w", call.CallID, err)
	}
	a := &attendantCall{fa: fa, mcuID: id, mcu: mcu, pid: pid, call: call, leg: leg,
		log: fa.log.With("attendant", id, "call-id", call.CallID), onDone: make(map[uint64]promptWait)}
	fa.mu.Lock()
	if fa.closed {
		fa.mu.Unlock()
		fa.servers.Release(id)
		return nil, nil, fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	fa.held[id] = a
	fa.mu.Unlock()
	a.log.Info("call held by the attendant", "from", call.From, "trunk", call.Trunk)
	a.update(func(*deferred) {
		a.playLocked(PromptEnterNumber)
		a.started = fa.clock.Now()
		a.armLocked(numberOverall)
	})
	return a, answer, nil
}

// Attending is how many calls the attendant holds now.
func (fa *Factory) Attending() int {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return len(fa.held)
}

// attendantDone forgets a held call and releases its MCU conference.
func (fa *Factory) attendantDone(a *attendantCall) {
	fa.mu.Lock()
	mine := fa.held[a.mcuID] == a
	delete(fa.held, a.mcuID)
	fa.mu.Unlock()
	if mine {
		fa.servers.Release(a.mcuID)
	}
}

// attendantFor finds the held call whose MCU conference is id.
func (fa *Factory) attendantFor(id string) *attendantCall {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	return fa.held[id]
}

// closeAttendant hangs up every call the attendant holds (shutdown).
func (fa *Factory) closeAttendant() {
	fa.mu.Lock()
	held := make([]*attendantCall, 0, len(fa.held))
	for _, a := range fa.held {
		held = append(held, a)
	}
	fa.mu.Unlock()
	for _, a := range held {
		a.update(func(d *deferred) {
			if a.state == attendCollecting {
				a.hangupLocked(ReasonShutdown, d)
			}
		})
	}
}

// update runs fn with a.mu held, then what fn deferred.
func (a *attendantCall) update(fn func(d *deferred)) {
	var d deferred
	a.mu.Lock()
	fn(&d)
	a.mu.Unlock()
	for _, g := range d {
		g()
	}
}

// DTMF implements Member: a digit by SIP INFO.
func (a *attendantCall) DTMF(digit byte) {
	var m Member
	a.update(func(d *deferred) {
		if a.state == attendMoved {
			m = a.member
			return
		}
		a.digitLocked(digit, d)
	})
	if m != nil {
		m.DTMF(digit)
	}
}

// Reoffer implements Member: a re-INVITE (hold, resume, codec change).
func (a *attendantCall) Reoffer(offer []byte) ([]byte, error) {
	a.mu.Lock()
	state, m := a.state, a.member
	a.mu.Unlock()
	switch state {
	case attendMoved:
		return m.Reoffer(offer)
	case attendCollecting:
		return a.mcu.Update(a.pid, offer)
	}
	return nil, fmt.Errorf("%w: the call is being put through", ErrUnavailable)
}

// Leave implements Member: the call has ended (BYE, CANCEL, timers).
func (a *attendantCall) Leave(reason string) {
	var m Member
	a.update(func(d *deferred) {
		switch a.state {
		case attendMoved:
			m = a.member
		case attendChecking: // the move under way finishes the call
			a.left, a.leftReason = true, reason
		case attendCollecting:
			a.log.Info("caller left the attendant", "reason", reason)
			a.endLocked(d)
		}
	})
	if m != nil {
		m.Leave(reason)
	}
}

// handleEvent takes an event of the attendant's MCU conference.
func (a *attendantCall) handleEvent(ev mixer.Event) {
	a.update(func(d *deferred) {
		if a.state == attendEnded || a.state == attendMoved {
			return
		}
		switch ev.Kind {
		case mixer.EventPromptDone:
			a.promptDoneLocked(ev.PromptID, d)
		case mixer.EventDTMF:
			if ev.Participant == a.pid {
				a.digitLocked(ev.Digit, d)
			}
		case mixer.EventTimeout:
			if a.state == attendCollecting {
				a.hangupLocked(ReasonMediaTimeout, d)
			}
		}
	})
}

func (a *attendantCall) digitLocked(digit byte, d *deferred) {
	if a.state != attendCollecting || a.leaving {
		return
	}
	if len(a.digits) == 0 && digit != '#' && digit != '*' {
		a.stopPromptsLocked() // the caller knows what to do: stop talking
	}
	switch {
	case digit == '#':
		a.submitLocked(d)
	case digit == '*': // start over
		a.digits = a.digits[:0]
	case digit >= '0' && digit <= '9':
		a.digits = append(a.digits, digit)
		if len(a.digits) > numberMaxDigits {
			a.submitLocked(d)
			return
		}
		left := a.started.Add(numberOverall).Sub(a.fa.clock.Now())
		a.armLocked(max(min(numberInterDigit, left), 0))
	}
}

// armLocked (re)starts the entry timer: when it runs out the digits so far
// count as entered.
func (a *attendantCall) armLocked(wait time.Duration) {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.gen++
	gen := a.gen
	a.timer = a.fa.clock.AfterFunc(wait, func() {
		a.update(func(d *deferred) {
			if a.state != attendCollecting || a.leaving || a.gen != gen {
				return
			}
			a.submitLocked(d)
		})
	})
}

func (a *attendantCall) stopTimerLocked() {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.gen++
}

// submitLocked takes the digits entered as the conference number.
func (a *attendantCall) submitLocked(d *deferred) {
	number := string(a.digits)
	a.digits = a.digits[:0]
	a.stopTimerLocked()
	if number == "" {
		a.retryLocked("", d)
		return
	}
	a.state = attendChecking
	// The lookup reaches the database: not on the goroutine that delivers
	// every conference's MCU events.
	d.add(func() { go a.put(number) })
}

// retryLocked counts a try that led nowhere: after the last, goodbye;
// otherwise the prompt called first (if any) and the question again.
func (a *attendantCall) retryLocked(first string, d *deferred) {
	a.tries++
	if a.tries >= numberMaxTries {
		a.log.Info("no valid conference number", "tries", a.tries)
		a.refuseLocked(PromptGoodbye, ReasonNoNumber, d)
		return
	}
	a.stopPromptsLocked()
	ask := func(*deferred) {
		// Someone typing ahead does not need to be asked again.
		if a.state == attendCollecting && !a.leaving && len(a.digits) == 0 {
			a.playLocked(PromptEnterNumber)
		}
	}
	if first == "" {
		ask(d)
	} else {
		a.playThenLocked(first, d, ask)
	}
	a.started = a.fa.clock.Now()
	a.armLocked(numberOverall)
}

// put looks number up and moves the call into that conference.
func (a *attendantCall) put(number string) {
	ctx, cancel := context.WithTimeout(context.Background(), numberLookup)
	defer cancel()
	c, err := a.fa.Resolve(ctx, number)
	if err == nil && c.Expiry != nil && !a.fa.clock.Now().Before(*c.Expiry) {
		err = fmt.Errorf("%w: conference %s has expired", ErrEnded, c.Number)
	}
	var m *member
	if err == nil {
		m, err = a.fa.adopt(ctx, c, a)
	}
	var (
		leave  bool
		reason string
	)
	a.update(func(d *deferred) {
		if err == nil {
			a.log.Info("caller put through", "conference", c.Number, "member", m.id)
			a.state, a.member = attendMoved, m
			a.stopTimerLocked()
			for id, w := range a.onDone {
				w.timer.Stop()
				delete(a.onDone, id)
			}
			leave, reason = a.left, a.leftReason
			d.add(func() { a.fa.attendantDone(a) })
			return
		}
		if a.state != attendChecking {
			return
		}
		a.state = attendCollecting
		if a.left {
			a.endLocked(d)
			return
		}
		a.log.Info("conference number refused", "number", number, "err", err)
		switch {
		case errors.Is(err, ErrUnknownConference), errors.Is(err, ErrEnded):
			a.retryLocked(PromptNumberNotValid, d)
		case errors.Is(err, ErrLocked):
			a.refuseLocked(PromptLocked, ReasonLocked, d)
		case errors.Is(err, ErrFull):
			a.refuseLocked(PromptFull, ReasonFull, d)
		default:
			a.refuseLocked(PromptGoodbye, ReasonNotAdmitted, d)
		}
	})
	if leave {
		m.Leave(reason)
	}
}

// adopt joins a held call to conference c as a call dialled straight to it
// would join, its participant moved over from the attendant's MCU.
func (fa *Factory) adopt(ctx context.Context, c store.Conference, a *attendantCall) (*member, error) {
	f, fresh, err := fa.reserve(c)
	if err != nil {
		return nil, err
	}
	if !fresh {
		f.apply(c, true)
	}
	mover := fa.servers.(Mover)
	m, _, err := f.joinWith(ctx, a.call, a.leg, func(opts mixer.AddOptions) (mixer.ParticipantID, []byte, error) {
		if err := mover.Move(a.pid, a.mcuID, f.mcuID, opts); err != nil {
			return 0, nil, err
		}
		return a.pid, nil, nil
	})
	return m, err
}

// refuseLocked sends the caller away: it hears the prompt called name and
// is then hung up with reason.
func (a *attendantCall) refuseLocked(name, reason string, d *deferred) {
	if a.leaving {
		return
	}
	a.leaving = true
	a.stopTimerLocked()
	a.stopPromptsLocked()
	a.playThenLocked(name, d, func(d *deferred) { a.hangupLocked(reason, d) })
}

// hangupLocked ends the call from our side.
func (a *attendantCall) hangupLocked(reason string, d *deferred) {
	if a.state == attendEnded {
		return
	}
	a.log.Info("attendant hangs up", "reason", reason)
	a.endLocked(d)
	d.add(func() { a.leg.Hangup(reason) })
}

// endLocked takes the caller out of the attendant's MCU and releases it.
func (a *attendantCall) endLocked(d *deferred) {
	a.state = attendEnded
	a.stopTimerLocked()
	for id, w := range a.onDone {
		w.timer.Stop()
		delete(a.onDone, id)
	}
	d.add(func() {
		if _, err := a.mcu.Remove(a.pid); err != nil && !errors.Is(err, mixer.ErrUnknownParticipant) &&
			!errors.Is(err, mixer.ErrClosed) {
			a.log.Warn("remove from the attendant's MCU", "err", err)
		}
		a.fa.attendantDone(a)
	})
}

func (a *attendantCall) playLocked(name string) {
	p := a.fa.prompts.Prompt(name)
	if p == nil {
		return
	}
	if _, err := a.mcu.Play(a.pid, p); err != nil {
		a.log.Debug("play prompt", "prompt", name, "err", err)
	}
}

// playThenLocked plays the prompt called name and runs then when it has
// ended (the MCU's PromptDone, or its length and some grace), at once if
// there is no such prompt.
func (a *attendantCall) playThenLocked(name string, d *deferred, then func(d *deferred)) {
	p := a.fa.prompts.Prompt(name)
	if p == nil {
		then(d)
		return
	}
	id, err := a.mcu.Play(a.pid, p)
	if err != nil {
		a.log.Debug("play prompt", "prompt", name, "err", err)
		then(d)
		return
	}
	wait := time.Duration(p.DurationMillis())*time.Millisecond + promptGrace
	timer := a.fa.clock.AfterFunc(wait, func() {
		a.update(func(d *deferred) { a.promptDoneLocked(id, d) })
	})
	a.onDone[id] = promptWait{then: then, timer: timer}
}

func (a *attendantCall) promptDoneLocked(id uint64, d *deferred) {
	w, ok := a.onDone[id]
	if !ok {
		return
	}
	delete(a.onDone, id)
	w.timer.Stop()
	if a.state == attendEnded || a.state == attendMoved {
		return
	}
	w.then(d)
}

func (a *attendantCall) stopPromptsLocked() {
	if err := a.mcu.StopPrompts(a.pid); err != nil {
		a.log.Debug("stop prompts", "err", err)
	}
}
