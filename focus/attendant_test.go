package focus

import (
	"context"
	"slices"
	"testing"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

// held is a call answered by the attendant.
type held struct {
	h   *harness
	a   *attendantCall
	leg *fakeLeg
}

func (h *harness) attend(name string) *held {
	h.t.Helper()
	leg := &fakeLeg{}
	m, answer, err := h.fa.Join(context.Background(), AttendantTarget, h.call(name, ""), leg)
	if err != nil {
		h.t.Fatalf("attendant join: %v", err)
	}
	if len(answer) == 0 {
		h.t.Fatal("the attendant gave no SDP answer")
	}
	leg.mu.Lock()
	leg.member = m
	leg.mu.Unlock()
	return &held{h: h, a: m.(*attendantCall), leg: leg}
}

func (c *held) mcu() *fakeMCU { return c.h.servers.mcu(c.a.mcuID) }

// press sends digits as RFC 4733 events from the attendant's MCU.
func (c *held) press(digits string) {
	for i := 0; i < len(digits); i++ {
		c.h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventDTMF, Conference: c.a.mcuID,
			Participant: c.a.pid, Digit: digits[i]})
	}
}

func (c *held) promptDone(name string) {
	id := c.mcu().lastPlay(c.a.pid, name)
	if id == 0 {
		c.h.t.Fatalf("no %q prompt was played by the attendant", name)
	}
	c.h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventPromptDone, Conference: c.a.mcuID,
		Participant: c.a.pid, PromptID: id})
}

func (c *held) state() attendState {
	c.a.mu.Lock()
	defer c.a.mu.Unlock()
	return c.a.state
}

// settle waits until the call is no longer being looked up and moved
// (that runs on a goroutine of its own) and, if it left the attendant,
// until the attendant has let go of it.
func (c *held) settle() attendState {
	c.h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s := c.state()
		if s == attendCollecting || s != attendChecking && c.h.fa.attendantFor(c.a.mcuID) == nil {
			return s
		}
		time.Sleep(time.Millisecond)
	}
	c.h.t.Fatal("the attendant is still putting the call through after 5 s")
	return 0
}

// member finds the call in conf's roster.
func (c *held) member(conf store.Conference) (MemberInfo, bool) {
	f, ok := c.h.fa.FocusByConference(conf.ID)
	if !ok {
		return MemberInfo{}, false
	}
	for _, m := range f.Snapshot().Members {
		if m.CallID == c.a.call.CallID {
			return m, true
		}
	}
	return MemberInfo{}, false
}

func TestAttendantPutsTheCallerThroughToTheNumberEntered(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7001", nil)
	other := h.mustJoin(conf, "olga", "")
	c := h.attend("trunk caller")
	if got := c.mcu().prompts(c.a.pid); !slices.Equal(got, []string{PromptEnterNumber}) {
		t.Fatalf("the attendant played %v, want the question", got)
	}
	c.press("7001#")
	if s := c.settle(); s != attendMoved {
		t.Fatalf("state %d after 7001#, want moved", s)
	}

	t.Run("it is in the conference on the same MCU participant", func(t *testing.T) {
		info, ok := c.member(conf)
		if !ok || info.State != StateInConference {
			t.Fatalf("roster entry %+v (found %t)", info, ok)
		}
		p, ok := h.mcu(conf).state(c.a.pid)
		if !ok || !p.mixed {
			t.Fatalf("the conference's MCU has the participant %v, mixed %v", ok, p.mixed)
		}
		if h.mcu(conf).count("add") != 1 {
			t.Fatalf("the conference's MCU added %d participants; the caller must be moved, not added", h.mcu(conf).count("add"))
		}
	})
	t.Run("the attendant lets go of it", func(t *testing.T) {
		if n := h.fa.Attending(); n != 0 {
			t.Fatalf("the attendant still holds %d calls", n)
		}
		if !c.mcu().isClosed() {
			t.Fatal("the attendant's MCU conference was not released")
		}
	})
	t.Run("its DTMF and its leaving reach the Focus", func(t *testing.T) {
		c.a.DTMF('*')
		c.a.DTMF('1')
		if info, _ := c.member(conf); !info.Muted {
			t.Fatal("*1 by SIP INFO did not mute the caller")
		}
		c.a.Leave(ReasonBye)
		if _, ok := c.member(conf); ok {
			t.Fatal("the caller is still in the roster after it left")
		}
		if _, ok := h.mcu(conf).state(c.a.pid); ok {
			t.Fatal("the caller is still in the MCU after it left")
		}
		if _, ok := other.info(); !ok {
			t.Fatal("the other caller went too")
		}
	})
}

func TestAttendantPutsCallersThroughAsADirectDialWould(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7002", func(c *store.Conference) { c.PIN = "1234" })
	c := h.attend("trunk caller")
	c.press("7002#")
	if s := c.settle(); s != attendMoved {
		t.Fatalf("state %d, want moved", s)
	}
	info, ok := c.member(conf)
	if !ok || info.State != StatePINEntry {
		t.Fatalf("a conference with a PIN: the caller is %+v, want asked for the PIN", info)
	}
	if got := h.mcu(conf).prompts(c.a.pid); !slices.Contains(got, PromptEnterPIN) {
		t.Fatalf("the Focus played %v, want the PIN prompt", got)
	}
	h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventDTMF, Conference: conf.FocusID, Participant: c.a.pid, Digit: '1'})
	for _, d := range []byte("234#") {
		h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventDTMF, Conference: conf.FocusID, Participant: c.a.pid, Digit: d})
	}
	if info, _ := c.member(conf); info.State != StateInConference {
		t.Fatalf("after the right PIN the caller is %v", info.State)
	}
}

func TestAttendantAsksAgainAfterANumberThatLeadsNowhere(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7001", nil)
	c := h.attend("trunk caller")
	c.press("9999#")
	if s := c.settle(); s != attendCollecting {
		t.Fatalf("state %d after an unknown number, want asked again", s)
	}
	if got := c.mcu().prompts(c.a.pid); !slices.Contains(got, PromptNumberNotValid) {
		t.Fatalf("prompts %v, want the not-valid prompt", got)
	}
	c.promptDone(PromptNumberNotValid)
	if got := c.mcu().prompts(c.a.pid); got[len(got)-1] != PromptEnterNumber {
		t.Fatalf("prompts %v: the question is not asked again", got)
	}
	c.press("7001#")
	if s := c.settle(); s != attendMoved {
		t.Fatalf("the second, right, number: state %d", s)
	}
	if _, ok := c.member(conf); !ok {
		t.Fatal("not in the conference")
	}
}

func TestAttendantSaysGoodbyeAfterThreeTries(t *testing.T) {
	cases := []struct {
		name string
		try  func(c *held)
	}{
		{"three wrong numbers", func(c *held) { c.press("12#"); c.settle() }},
		{"three silences", func(c *held) { c.h.clock.Advance(numberOverall) }},
		{"three empty entries", func(c *held) { c.press("#") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.attend("trunk caller")
			for range numberMaxTries {
				tc.try(c)
			}
			if got := c.mcu().prompts(c.a.pid); got[len(got)-1] != PromptGoodbye {
				t.Fatalf("prompts %v, want goodbye last", got)
			}
			if len(c.leg.reasons()) != 0 {
				t.Fatal("hung up before the goodbye ended")
			}
			c.promptDone(PromptGoodbye)
			if got := c.leg.reasons(); !slices.Equal(got, []string{ReasonNoNumber}) {
				t.Fatalf("hang-ups %v", got)
			}
			if h.fa.Attending() != 0 || !c.mcu().isClosed() {
				t.Fatal("the attendant did not let go of the call")
			}
		})
	}
}

func TestAttendantCallerHangsUp(t *testing.T) {
	t.Run("while asked", func(t *testing.T) {
		h := newHarness(t)
		c := h.attend("trunk caller")
		c.press("70")
		c.a.Leave(ReasonBye)
		if _, ok := c.mcu().state(c.a.pid); ok {
			t.Fatal("the participant is still in the attendant's MCU")
		}
		if h.fa.Attending() != 0 || !c.mcu().isClosed() {
			t.Fatal("the attendant did not release the call's MCU")
		}
		h.clock.Advance(time.Minute) // timers that fire now must do nothing
		if len(c.leg.reasons()) != 0 {
			t.Fatalf("hung up a call that had ended: %v", c.leg.reasons())
		}
	})
	t.Run("while being put through", func(t *testing.T) {
		h := newHarness(t)
		conf := h.conference("7001", nil)
		h.mustJoin(conf, "olga", "")
		c := h.attend("trunk caller")
		h.fa.mu.Lock() // hold the move (Factory.reserve) until Leave has come
		for _, d := range []byte("7001#") {
			c.a.DTMF(d) // by SIP INFO: HandleMCUEvent would wait for h.fa.mu
		}
		c.a.Leave(ReasonBye)
		h.fa.mu.Unlock()
		c.settle()
		if _, ok := c.member(conf); ok {
			t.Fatal("a caller who hung up on the way in is in the roster")
		}
		if _, ok := h.mcu(conf).state(c.a.pid); ok {
			t.Fatal("a caller who hung up on the way in is in the MCU")
		}
		if h.fa.Attending() != 0 {
			t.Fatal("the attendant still holds it")
		}
	})
}

func TestAttendantRefusals(t *testing.T) {
	cases := []struct {
		name   string
		mod    func(c *store.Conference)
		prompt string
		reason string
	}{
		{"a locked conference", func(c *store.Conference) { c.Locked = true }, PromptLocked, ReasonLocked},
		{"a full conference", func(c *store.Conference) { c.MaxMembers = 1 }, PromptFull, ReasonFull},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			conf := h.conference("7001", tc.mod)
			if !conf.Locked {
				h.mustJoin(conf, "olga", "")
			}
			c := h.attend("trunk caller")
			c.press("7001#")
			c.settle()
			if got := c.mcu().prompts(c.a.pid); got[len(got)-1] != tc.prompt {
				t.Fatalf("prompts %v, want %s last", got, tc.prompt)
			}
			c.promptDone(tc.prompt)
			if got := c.leg.reasons(); !slices.Equal(got, []string{tc.reason}) {
				t.Fatalf("hang-ups %v, want %s", got, tc.reason)
			}
			if h.fa.Attending() != 0 {
				t.Fatal("the attendant still holds the call")
			}
		})
	}
}

func TestAttendantNeedsAnMCUThatMovesCalls(t *testing.T) {
	h := newHarness(t)
	fa := NewFactory(h.db, noMove{h.servers}, h.prompts, WithClock(h.clock))
	_, _, err := fa.Join(context.Background(), AttendantTarget, h.call("x", ""), &fakeLeg{})
	if err == nil {
		t.Fatal("the attendant answered without a way to put the call through")
	}
}

// noMove hides fakeServers' Move.
type noMove struct{ s *fakeServers }

func (n noMove) Allocate(id string) (MCU, error) { return n.s.Allocate(id) }
func (n noMove) Release(id string)               { n.s.Release(id) }

func TestAttendantTakesTheDigitsWithoutPoundAfterAPause(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7001", nil)
	c := h.attend("trunk caller")
	c.press("7001")
	h.clock.Advance(numberInterDigit - time.Second)
	if s := c.state(); s != attendCollecting {
		t.Fatalf("put through before the pause was over (state %d)", s)
	}
	h.clock.Advance(time.Second)
	if s := c.settle(); s != attendMoved {
		t.Fatalf("state %d after the pause, want moved", s)
	}
	if _, ok := c.member(conf); !ok {
		t.Fatal("not in the conference")
	}
}

func TestAttendantStarStartsOver(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7001", nil)
	c := h.attend("trunk caller")
	c.press("99*7001#")
	if s := c.settle(); s != attendMoved {
		t.Fatalf("state %d, want moved", s)
	}
	if _, ok := c.member(conf); !ok {
		t.Fatal("not in the conference")
	}
}

func TestAttendantReoffersGoToWhoeverHasTheCall(t *testing.T) {
	h := newHarness(t)
	conf := h.conference("7001", nil)
	c := h.attend("trunk caller")
	if _, err := c.a.Reoffer([]byte("hold")); err != nil {
		t.Fatalf("re-INVITE while asked: %v", err)
	}
	if c.mcu().count("update") != 1 {
		t.Fatal("the attendant's MCU did not take the re-INVITE")
	}
	c.press("7001#")
	c.settle()
	if _, err := c.a.Reoffer([]byte("resume")); err != nil {
		t.Fatalf("re-INVITE in the conference: %v", err)
	}
	if h.mcu(conf).count("update") != 1 {
		t.Fatal("the conference's MCU did not take the re-INVITE")
	}
}
