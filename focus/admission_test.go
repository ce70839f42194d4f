package focus

import (
	"errors"
	"slices"
	"testing"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

func withPINs(c *store.Conference) { c.PIN, c.ModeratorPIN = "1234", "9876" }

func TestJoinWithoutPIN(t *testing.T) {
	t.Run("the first caller goes straight into the mix and hears it is alone", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		if got := a.state(); got != StateInConference {
			t.Errorf("state = %v, want %v", got, StateInConference)
		}
		if !a.mixed() {
			t.Errorf("anna is not mixed")
		}
		if got := a.prompts(); !slices.Equal(got, []string{PromptFirstParticipant}) {
			t.Errorf("prompts = %q, want only %q", got, PromptFirstParticipant)
		}
		if string(a.answer) != "answer to offer anna" {
			t.Errorf("answer = %q, want the MCU's", a.answer)
		}
		if n := h.mcu(c).count("add "); n != 1 {
			t.Errorf("MCU adds = %d, want 1", n)
		}
	})
	t.Run("the next caller goes in and the others hear the join tone", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		if !b.mixed() {
			t.Errorf("bert is not mixed")
		}
		if got := a.prompts(); !slices.Equal(got, []string{PromptFirstParticipant, PromptJoinTone}) {
			t.Errorf("anna heard %q", got)
		}
		if got := b.prompts(); len(got) != 0 {
			t.Errorf("bert heard %q, want nothing", got)
		}
	})
	t.Run("the others hear the leave tone when someone leaves", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		b.m.Leave(ReasonBye)
		if got := a.prompts(); !slices.Contains(got, PromptLeaveTone) {
			t.Errorf("anna heard %q, want a leave tone", got)
		}
	})
	t.Run("without announcements nobody hears prompts or tones", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.Announcements = false })
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		b.m.Leave(ReasonBye)
		if got := a.prompts(); len(got) != 0 {
			t.Errorf("anna heard %q, want nothing", got)
		}
	})
}

func TestPINEntry(t *testing.T) {
	moderatorOnly := func(c *store.Conference) { c.ModeratorPIN = "9876" }
	pinAdmission := func(c *store.Conference) { withPINs(c); c.Admission = store.AdmissionPIN }
	closed := func(c *store.Conference) { withPINs(c); c.Admission = store.AdmissionClosed }
	const organizerSkips = "the authenticated organizer is not asked for a PIN"
	tests := []struct {
		name      string
		conf      func(c *store.Conference)
		user      string
		keys      string
		wait      time.Duration
		wantRole  Role
		wantState MemberState
	}{
		{"the right PIN makes an attendee", withPINs, "", "1234#", 0, RoleAttendee, StateInConference},
		{"the moderator PIN makes a presenter", withPINs, "", "9876#", 0, RolePresenter, StateInConference},
		{"a PIN ends by itself five seconds after the last digit", withPINs, "", "1234", 5 * time.Second,
			RoleAttendee, StateInConference},
		{"the PIN is still being entered four seconds after the last digit", withPINs, "", "1234",
			4 * time.Second, RoleAttendee, StatePINEntry},
		{"a star starts the entry over", withPINs, "", "55*1234#", 0, RoleAttendee, StateInConference},
		{organizerSkips, withPINs, "olga", "", 0,
			RoleOrganizer, StateInConference},
		{"the organizer keeps its role when admission asks everyone for the PIN", pinAdmission, "olga",
			"1234#", 0, RoleOrganizer, StateInConference},
		{"another authenticated user must enter the PIN", withPINs, "mallory", "", 0,
			RoleAttendee, StatePINEntry},
		{"an empty entry joins as an attendee when there is only a moderator PIN", moderatorOnly, "", "#", 0,
			RoleAttendee, StateInConference},
		{"silence joins as an attendee when there is only a moderator PIN", moderatorOnly, "", "",
			20 * time.Second, RoleAttendee, StateInConference},
		{"a closed conference lets the moderator PIN in", closed, "", "9876#", 0,
			RolePresenter, StateInConference},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.conference("7001", tt.conf)
			a := h.mustJoin(c, "anna", tt.user)
			a.press(tt.keys)
			h.clock.Advance(tt.wait)
			info, ok := a.info()
			if !ok {
				t.Fatalf("anna is not in the roster; hung up with %q", a.leg.reasons())
			}
			if info.Role != tt.wantRole || info.State != tt.wantState {
				t.Errorf("role, state = %v, %v; want %v, %v", info.Role, info.State, tt.wantRole, tt.wantState)
			}
			if want := tt.wantState == StateInConference; a.mixed() != want {
				t.Errorf("mixed = %t, want %t", a.mixed(), want)
			}
			if asked, want := slices.Contains(a.prompts(), PromptEnterPIN), tt.name != organizerSkips; asked != want {
				t.Errorf("asked for the PIN = %t, want %t", asked, want)
			}
		})
	}
}

func TestWrongPIN(t *testing.T) {
	t.Run("a wrong PIN is answered with the wrong-PIN prompt, then the PIN prompt again", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1111#")
		a.promptDone(PromptWrongPIN)
		want := []string{PromptEnterPIN, PromptWrongPIN, PromptEnterPIN}
		if got := a.prompts(); !slices.Equal(got, want) {
			t.Errorf("prompts = %q, want %q", got, want)
		}
		if got := a.state(); got != StatePINEntry {
			t.Errorf("state = %v, want %v", got, StatePINEntry)
		}
	})
	t.Run("the third wrong PIN ends the call once the goodbye has played", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1111#2222#3333#")
		if got := a.leg.reasons(); len(got) != 0 {
			t.Fatalf("hung up during the goodbye: %q", got)
		}
		a.promptDone(PromptGoodbye)
		if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonWrongPIN}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonWrongPIN)
		}
		if _, ok := h.fa.FocusByConference(c.ID); ok {
			t.Errorf("the conference is still active with nobody in it")
		}
		if _, releases := h.servers.counts(); releases != 1 {
			t.Errorf("MCU releases = %d, want 1", releases)
		}
		rs := h.records(c)
		if len(rs) != 1 || rs[0].Reason != ReasonWrongPIN || rs[0].LeftAt.IsZero() {
			t.Errorf("call records = %+v, want one finished with %q", rs, ReasonWrongPIN)
		}
	})
	t.Run("the end of a prompt with the same id played to someone else does not end the goodbye", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1111#2222#3333#")
		id := h.mcu(c).lastPlay(a.m.pid, PromptGoodbye)
		h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventPromptDone, Conference: c.FocusID,
			Participant: a.m.pid + 100, PromptID: id})
		if got := a.leg.reasons(); len(got) != 0 {
			t.Errorf("hung up on someone else's prompt end: %q", got)
		}
	})
	t.Run("the goodbye's end is not waited for past its length when the MCU never reports it", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1111#2222#3333#")
		h.clock.Advance(promptGrace + 100*time.Millisecond)
		if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonWrongPIN}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonWrongPIN)
		}
	})
	t.Run("twenty seconds of silence count as a wrong try", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		h.clock.Advance(2 * pinOverall)
		if got := a.state(); got != StatePINEntry {
			t.Fatalf("state after two silent tries = %v, want %v", got, StatePINEntry)
		}
		h.clock.Advance(pinOverall + promptGrace + time.Second)
		if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonWrongPIN}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonWrongPIN)
		}
	})
	t.Run("the attendee PIN does not open a closed conference", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { withPINs(c); c.Admission = store.AdmissionClosed })
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		if got := a.prompts(); !slices.Contains(got, PromptWrongPIN) {
			t.Errorf("prompts = %q, want %q", got, PromptWrongPIN)
		}
	})
	t.Run("a caller who hangs up during the goodbye is recorded with the goodbye's reason", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", withPINs)
		a := h.mustJoin(c, "anna", "")
		a.press("1111#2222#3333#")
		a.m.Leave(ReasonBye)
		a.promptDone(PromptGoodbye)
		if got := a.leg.reasons(); len(got) != 0 {
			t.Errorf("hang-ups = %q, want none: the caller had gone", got)
		}
		if rs := h.records(c); len(rs) != 1 || rs[0].Reason != ReasonWrongPIN {
			t.Errorf("call records = %+v, want one with %q", rs, ReasonWrongPIN)
		}
	})
}

func TestClosedConference(t *testing.T) {
	t.Run("a closed conference without a moderator PIN refuses callers before answering", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.Admission = store.AdmissionClosed })
		if _, err := h.join(c, h.call("anna", "")); !errors.Is(err, ErrForbidden) {
			t.Errorf("join = %v, want %v", err, ErrForbidden)
		}
		if o := h.mustJoin(c, "olga", "olga"); o.state() != StateInConference {
			t.Errorf("the organizer is %v, want %v", o.state(), StateInConference)
		}
	})
}

func TestLock(t *testing.T) {
	locked := func(c *store.Conference) { c.Locked = true }
	lockedPIN := func(c *store.Conference) { c.Locked = true; withPINs(c) }
	tests := []struct {
		name       string
		conf       func(c *store.Conference)
		user, keys string
		wantErr    error
		wantState  MemberState // 0: sent away
		wantPrompt string      // heard before being sent away
	}{
		{"a locked conference refuses an attendee before answering", locked, "", "", ErrLocked, 0, ""},
		{"a locked conference lets the organizer in", locked, "olga", "", nil, StateInConference, ""},
		{"a locked conference sends an attendee away once its PIN is known", lockedPIN, "", "1234#", nil, 0,
			PromptLocked},
		{"a locked conference lets a moderator PIN in", lockedPIN, "", "9876#", nil, StateInConference, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.conference("7001", tt.conf)
			a, err := h.join(c, h.call("anna", tt.user))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("join = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			a.press(tt.keys)
			if tt.wantState != 0 {
				if got := a.state(); got != tt.wantState {
					t.Errorf("state = %v, want %v", got, tt.wantState)
				}
				return
			}
			if got := a.prompts(); !slices.Contains(got, tt.wantPrompt) {
				t.Errorf("prompts = %q, want %q", got, tt.wantPrompt)
			}
			a.promptDone(tt.wantPrompt)
			if got := a.leg.reasons(); !slices.Equal(got, []string{ReasonLocked}) {
				t.Errorf("hang-ups = %q, want %q", got, ReasonLocked)
			}
		})
	}
	t.Run("locking keeps those in and refuses the next attendee", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", nil)
		o := h.mustJoin(c, "olga", "olga")
		a := h.mustJoin(c, "anna", "")
		if err := o.do(Command{Kind: Lock}); err != nil {
			t.Fatalf("lock: %v", err)
		}
		if _, err := h.join(c, h.call("bert", "")); !errors.Is(err, ErrLocked) {
			t.Errorf("join after lock = %v, want %v", err, ErrLocked)
		}
		if a.state() != StateInConference {
			t.Errorf("anna was moved to %v by the lock", a.state())
		}
		if err := o.do(Command{Kind: Unlock}); err != nil {
			t.Fatalf("unlock: %v", err)
		}
		if _, err := h.join(c, h.call("bert", "")); err != nil {
			t.Errorf("join after unlock = %v", err)
		}
	})
}

func TestMaxMembers(t *testing.T) {
	t.Run("attendees beyond the limit are refused before answering, the organizer is not", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.MaxMembers = 2 })
		h.mustJoin(c, "anna", "")
		h.mustJoin(c, "bert", "")
		if _, err := h.join(c, h.call("carl", "")); !errors.Is(err, ErrFull) {
			t.Errorf("third join = %v, want %v", err, ErrFull)
		}
		h.mustJoin(c, "olga", "olga")
		if n := len(h.focus(c).Snapshot().Members); n != 3 {
			t.Errorf("members = %d, want 3", n)
		}
	})
	t.Run("with a PIN, an attendee over the limit is sent away and a presenter goes in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { withPINs(c); c.MaxMembers = 1 })
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		b := h.mustJoin(c, "bert", "")
		b.press("1234#")
		b.promptDone(PromptGoodbye)
		if got := b.leg.reasons(); !slices.Equal(got, []string{ReasonFull}) {
			t.Errorf("bert's hang-ups = %q, want %q", got, ReasonFull)
		}
		p := h.mustJoin(c, "paul", "")
		p.press("9876#")
		if got := p.state(); got != StateInConference {
			t.Errorf("presenter state = %v, want %v", got, StateInConference)
		}
	})
	t.Run("callers still entering their PIN do not take places", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { withPINs(c); c.MaxMembers = 1 })
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		b.press("1234#")
		if got := b.state(); got != StateInConference {
			t.Errorf("bert state = %v, want %v", got, StateInConference)
		}
		if got := a.state(); got != StatePINEntry {
			t.Errorf("anna state = %v, want %v", got, StatePINEntry)
		}
	})
}

func TestWaitForLeader(t *testing.T) {
	waitConf := func(c *store.Conference) { c.WaitForLeader = true; withPINs(c) }
	t.Run("attendees wait out of the mix, hearing the waiting prompt every twenty seconds", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", waitConf)
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		if got := a.state(); got != StateWaiting {
			t.Fatalf("state = %v, want %v", got, StateWaiting)
		}
		if a.mixed() {
			t.Errorf("a waiting attendee is mixed")
		}
		h.clock.Advance(waitRepeat)
		want := []string{PromptEnterPIN, PromptWaitingForLeader, PromptWaitingForLeader}
		if got := a.prompts(); !slices.Equal(got, want) {
			t.Errorf("prompts = %q, want %q", got, want)
		}
	})
	t.Run("the leader's arrival mixes everyone together", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", waitConf)
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		b := h.mustJoin(c, "bert", "")
		b.press("1234#")
		p := h.mustJoin(c, "paul", "")
		p.press("9876#")
		for _, cl := range []*caller{a, b, p} {
			if cl.state() != StateInConference || !cl.mixed() {
				t.Errorf("%s: state %v, mixed %t; want in the mix", cl.m.call.DisplayName, cl.state(), cl.mixed())
			}
		}
		if got := a.prompts(); got[len(got)-1] != PromptJoinTone {
			t.Errorf("anna last heard %q, want the leader's join tone", got[len(got)-1])
		}
		h.clock.Advance(waitRepeat)
		if n := countOf(a.prompts(), PromptWaitingForLeader); n != 1 {
			t.Errorf("waiting prompts after the leader came = %d, want the 1 before", n)
		}
	})
	t.Run("attendees go back to wait when the leader leaves", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", waitConf)
		o := h.mustJoin(c, "olga", "olga")
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		if a.state() != StateInConference {
			t.Fatalf("state with the leader in = %v", a.state())
		}
		o.m.Leave(ReasonBye)
		if a.state() != StateWaiting || a.mixed() {
			t.Errorf("after the leader left: state %v, mixed %t; want waiting out of the mix", a.state(), a.mixed())
		}
	})
	t.Run("turning the wait off lets those waiting in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", waitConf)
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		c.WaitForLeader = false
		if _, err := h.fa.UpdateConference(t.Context(), c); err != nil {
			t.Fatalf("update: %v", err)
		}
		if a.state() != StateInConference || !a.mixed() {
			t.Errorf("state %v, mixed %t; want in the mix", a.state(), a.mixed())
		}
	})
}

func countOf(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

func TestEndWhenLeaderLeaves(t *testing.T) {
	t.Run("the attendees hear goodbye and are hung up when the last leader leaves", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.EndWhenLeaderLeaves = true })
		o := h.mustJoin(c, "olga", "olga")
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		o.m.Leave(ReasonBye)
		for _, cl := range []*caller{a, b} {
			if got := cl.prompts(); got[len(got)-1] != PromptGoodbye {
				t.Errorf("%s last heard %q, want goodbye", cl.m.call.DisplayName, got[len(got)-1])
			}
			if cl.mixed() {
				t.Errorf("%s is still mixed during the goodbye", cl.m.call.DisplayName)
			}
			cl.promptDone(PromptGoodbye)
			if got := cl.leg.reasons(); !slices.Equal(got, []string{ReasonLeaderLeft}) {
				t.Errorf("%s hang-ups = %q, want %q", cl.m.call.DisplayName, got, ReasonLeaderLeft)
			}
		}
		if _, ok := h.fa.FocusByConference(c.ID); ok {
			t.Errorf("the conference is still active")
		}
	})
	t.Run("the conference goes on while another presenter is in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.EndWhenLeaderLeaves = true; withPINs(c) })
		o := h.mustJoin(c, "olga", "olga")
		p := h.mustJoin(c, "paul", "")
		p.press("9876#")
		a := h.mustJoin(c, "anna", "")
		a.press("1234#")
		o.m.Leave(ReasonBye)
		if a.state() != StateInConference || slices.Contains(a.prompts(), PromptGoodbye) {
			t.Errorf("anna: state %v, prompts %q; want to stay in", a.state(), a.prompts())
		}
	})
}

func TestLobby(t *testing.T) {
	lobby := func(c *store.Conference) { c.Admission = store.AdmissionLobby }
	t.Run("an attendee waits in the lobby until a presenter admits it", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", lobby)
		o := h.mustJoin(c, "olga", "olga")
		a := h.mustJoin(c, "anna", "")
		if a.state() != StateLobby || a.mixed() {
			t.Fatalf("state %v, mixed %t; want the lobby", a.state(), a.mixed())
		}
		b := h.mustJoin(c, "bert", "")
		if err := b.do(Command{Kind: Admit, Member: a.m.id}); !errors.Is(err, ErrForbidden) {
			t.Errorf("admit by a lobby attendee = %v, want %v", err, ErrForbidden)
		}
		if err := o.do(Command{Kind: Admit, Member: a.m.id}); err != nil {
			t.Fatalf("admit by the organizer: %v", err)
		}
		if a.state() != StateInConference || !a.mixed() {
			t.Errorf("after admit: state %v, mixed %t", a.state(), a.mixed())
		}
		if err := o.do(Command{Kind: Admit, Member: a.m.id}); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("admitting again = %v, want %v", err, ErrInvalidCommand)
		}
	})
	t.Run("opening the conference lets the lobby in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", lobby)
		a := h.mustJoin(c, "anna", "")
		c.Admission = store.AdmissionOpen
		if _, err := h.fa.UpdateConference(t.Context(), c); err != nil {
			t.Fatalf("update: %v", err)
		}
		if a.state() != StateInConference {
			t.Errorf("state = %v, want %v", a.state(), StateInConference)
		}
	})
}
