package focus

import (
	"fmt"
	"testing"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

// drain reads what is buffered on ch without waiting.
func drain(ch <-chan Event) []Event {
	var evs []Event
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return evs
			}
			evs = append(evs, ev)
		default:
			return evs
		}
	}
}

func describe(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Kind.String()
		switch ev.Kind {
		case MemberJoined, MemberUpdated:
			out[i] += fmt.Sprintf(" %s %s", ev.Member.DisplayName, ev.Member.State)
		case MemberLeft, ConferenceEnded:
			out[i] += " " + ev.Reason
		}
	}
	return out
}

func TestEvents(t *testing.T) {
	t.Run("every change is published in order, numbered without gaps", func(t *testing.T) {
		h := newHarness(t)
		all, cancel := h.fa.Subscribe(64)
		defer cancel()
		c := h.conference("7001", func(c *store.Conference) { c.PIN = "1234" })
		o := h.mustJoin(c, "olga", "olga")
		own, cancelOwn := h.focus(c).Subscribe(64)
		defer cancelOwn()
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		if err := o.do(Command{Kind: Lock}); err != nil {
			t.Fatal(err)
		}
		if err := o.do(Command{Kind: Mute, Member: a.m.id}); err != nil {
			t.Fatal(err)
		}
		h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventTalking, Conference: c.FocusID, Participant: o.m.pid, Talking: true})
		a.m.Leave(ReasonBye)
		o.m.Leave(ReasonBye)

		want := []string{
			"conference-started",
			"member-joined olga in-conference",
			"member-joined anna pin-entry",
			"member-updated anna in-conference",
			"locked",
			"member-updated anna in-conference", // muted
			"member-updated olga in-conference", // talking
			"member-left bye",
			"member-left bye",
			"conference-ended " + ReasonEmpty,
		}
		got := describe(drain(all))
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("factory events:\n got %q\nwant %q", got, want)
		}
		evs := drain(own)
		if fmt.Sprint(describe(evs)) != fmt.Sprint(want[2:]) {
			t.Errorf("focus events:\n got %q\nwant %q", describe(evs), want[2:])
		}
		for i, ev := range evs {
			if ev.Seq != uint64(i+3) {
				t.Errorf("event %d has seq %d, want %d", i, ev.Seq, i+3)
			}
		}
		if _, ok := <-own; ok {
			t.Errorf("the Focus's channel is open after the conference ended")
		}
	})
	t.Run("a subscriber that does not read misses events and holds nothing up", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		f := h.focus(c)
		slow, cancel := f.Subscribe(1)
		defer cancel()
		for range 10 {
			a.press("*1")
		}
		if f.DroppedEvents() != 9 {
			t.Errorf("dropped = %d, want 9", f.DroppedEvents())
		}
		if evs := drain(slow); len(evs) != 1 {
			t.Errorf("buffered %d events, want 1", len(evs))
		}
	})
	t.Run("subscribing to an ended Focus gives a closed channel", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		f := h.focus(c)
		a.m.Leave(ReasonBye)
		ch, cancel := f.Subscribe(4)
		defer cancel()
		select {
		case _, ok := <-ch:
			if ok {
				t.Errorf("got an event from an ended Focus")
			}
		case <-time.After(time.Second):
			t.Errorf("the channel is open")
		}
	})
	t.Run("cancelling twice is harmless", func(t *testing.T) {
		h := newHarness(t)
		_, cancel := h.fa.Subscribe(1)
		cancel()
		cancel()
	})
}

func TestSnapshot(t *testing.T) {
	t.Run("the snapshot lists the roster in join order with roles and states", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { withPINs(c); c.Name = "Weekly" })
		h.mustJoin(c, "olga", "olga")
		p := h.mustJoin(c, "paul", "")
		p.press("9876#")
		h.mustJoin(c, "anna", "")
		f := h.focus(c)
		events, cancel := f.Subscribe(8)
		defer cancel()
		s := f.Snapshot()
		if s.Seq != 5 { // started, olga joined, paul joined and updated, anna joined
			t.Errorf("snapshot seq = %d, want 5", s.Seq)
		}
		if s.Number != "7001" || s.Name != "Weekly" || s.ConferenceID != c.ID || s.Ended {
			t.Errorf("conference fields = %+v", s)
		}
		type row struct {
			name  string
			role  Role
			state MemberState
			codec string
		}
		var got []row
		for _, m := range s.Members {
			got = append(got, row{m.DisplayName, m.Role, m.State, m.Codec})
		}
		want := []row{
			{"olga", RoleOrganizer, StateInConference, "PCMU"},
			{"paul", RolePresenter, StateInConference, "PCMU"},
			{"anna", RoleAttendee, StatePINEntry, "PCMU"},
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("roster = %v, want %v", got, want)
		}
		if evs := drain(events); len(evs) != 0 {
			t.Errorf("events after the snapshot with nothing changed: %v", describe(evs))
		}
		if s.Members[0].JoinedAt != h.clock.Now() {
			t.Errorf("joined at %v, want %v", s.Members[0].JoinedAt, h.clock.Now())
		}
	})
}
