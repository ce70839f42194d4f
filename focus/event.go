package focus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// EventKind says what changed.
type EventKind int

// Event kinds.
const (
	ConferenceStarted EventKind = iota + 1 // the first member joined
	ConferenceUpdated                      // the stored conference changed (name, flags, PINs, ...)
	ConferenceEnded                        // the last member left, or it was ended or deleted; Reason says which
	MemberJoined                           // a call joined (possibly still entering its PIN)
	MemberUpdated                          // mute, deaf, gain, role, talking, codec or state changed
	MemberLeft                             // a call left; Reason says why
	Locked                                 // the conference was locked
	Unlocked                               // the conference was unlocked
)

func (k EventKind) String() string {
	switch k {
	case ConferenceStarted:
		return "conference-started"
	case ConferenceUpdated:
		return "conference-updated"
	case ConferenceEnded:
		return "conference-ended"
	case MemberJoined:
		return "member-joined"
	case MemberUpdated:
		return "member-updated"
	case MemberLeft:
		return "member-left"
	case Locked:
		return "locked"
	case Unlocked:
		return "unlocked"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is one change of a conference's state, for the RFC 4575
// conference event package and the web page.
type Event struct {
	Kind         EventKind
	ConferenceID int64
	FocusID      string
	// Seq numbers one Focus's events from 1 without gaps. A subscriber that
	// sees a gap was too slow and missed events: it should take a fresh
	// Snapshot. It also serves as the RFC 4575 §4.6 version.
	Seq    uint64
	At     time.Time
	Member MemberInfo // the member after the change, for member events
	Reason string     // MemberLeft and ConferenceEnded
}

// hub fans events out to subscribers. A subscriber whose buffer is full
// misses the event (counted in dropped) rather than hold up the Focus: the
// Focus must never wait on a slow web page.
type hub struct {
	mu      sync.Mutex
	subs    map[chan Event]struct{}
	closed  bool
	dropped atomic.Uint64
}

// subscribe returns a channel of the events published from now on and a
// function that ends the subscription and closes the channel. buf below 1
// is taken as 1. After close, the channel comes back already closed.
func (h *hub) subscribe(buf int) (<-chan Event, func()) {
	ch := make(chan Event, max(buf, 1))
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	if h.subs == nil {
		h.subs = make(map[chan Event]struct{})
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *hub) publish(ev Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default:
			h.dropped.Add(1)
		}
	}
}

// close closes every subscriber's channel; later subscriptions get a closed
// channel.
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		close(ch)
	}
	h.subs = nil
}
