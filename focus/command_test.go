package focus

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"confab/focus/store"
)

// scene is a conference with PINs and one member of each kind: the
// organizer olga, the presenter paul, the attendees anna and bert, and eve
// who is still entering her PIN.
type scene struct {
	h                           *harness
	c                           store.Conference
	f                           *Focus
	mcu                         *fakeMCU
	olga, paul, anna, bert, eve *caller
}

func newScene(t *testing.T) *scene {
	t.Helper()
	h := newHarness(t)
	c := h.conference("7001", withPINs)
	s := &scene{h: h, c: c}
	s.olga = h.mustJoin(c, "olga", "olga")
	s.paul = h.mustJoin(c, "paul", "")
	s.paul.press("9876#")
	s.anna = h.mustJoin(c, "anna", "")
	s.anna.press("1234#")
	s.bert = h.mustJoin(c, "bert", "")
	s.bert.press("1234#")
	s.eve = h.mustJoin(c, "eve", "")
	s.f = h.focus(c)
	s.mcu = h.mcu(c)
	return s
}

// who returns the caller called name.
func (s *scene) who(name string) *caller {
	for _, cl := range []*caller{s.olga, s.paul, s.anna, s.bert, s.eve} {
		if cl.m.call.DisplayName == name {
			return cl
		}
	}
	panic("no caller " + name)
}

func (s *scene) sender(name string) Sender {
	switch name {
	case "admin":
		return AdminSender("root")
	case "a stranger":
		return MemberSender("999")
	}
	return MemberSender(s.who(name).m.id)
}

func TestCommandPrivileges(t *testing.T) {
	tests := []struct {
		sender string
		kind   CommandKind
		target string // "" for conference commands
		role   Role
		want   error
	}{
		{"anna", Mute, "anna", 0, nil},
		{"anna", Unmute, "anna", 0, nil},
		{"anna", Deaf, "anna", 0, nil},
		{"anna", Undeaf, "anna", 0, nil},
		{"anna", SetGain, "anna", 0, nil},
		{"anna", Mute, "bert", 0, ErrForbidden},
		{"anna", Deaf, "bert", 0, ErrForbidden},
		{"anna", SetGain, "bert", 0, ErrForbidden},
		{"anna", Kick, "bert", 0, ErrForbidden},
		{"anna", Kick, "anna", 0, ErrForbidden},
		{"anna", SetRole, "anna", RolePresenter, ErrForbidden},
		{"anna", Lock, "", 0, ErrForbidden},
		{"anna", Unlock, "", 0, ErrForbidden},
		{"anna", MuteAllAttendees, "", 0, ErrForbidden},
		{"anna", UnmuteAll, "", 0, ErrForbidden},
		{"anna", EndConference, "", 0, ErrForbidden},
		{"eve", Mute, "eve", 0, ErrForbidden},
		{"a stranger", Mute, "anna", 0, ErrForbidden},
		{"paul", Mute, "anna", 0, nil},
		{"paul", Deaf, "olga", 0, nil},
		{"paul", SetGain, "bert", 0, nil},
		{"paul", Kick, "anna", 0, nil},
		{"paul", Kick, "eve", 0, nil},
		{"paul", SetRole, "anna", RolePresenter, nil},
		{"paul", SetRole, "olga", RoleAttendee, ErrForbidden},
		{"paul", SetRole, "anna", RoleOrganizer, ErrForbidden},
		{"paul", Lock, "", 0, nil},
		{"paul", MuteAllAttendees, "", 0, nil},
		{"paul", EndConference, "", 0, nil},
		{"olga", SetRole, "paul", RoleAttendee, nil},
		{"olga", SetRole, "olga", RoleAttendee, ErrForbidden},
		{"olga", Mute, "paul", 0, nil},
		{"admin", SetRole, "olga", RoleAttendee, nil},
		{"admin", SetRole, "anna", RoleOrganizer, nil},
		{"admin", Kick, "olga", 0, nil},
		{"admin", Mute, "eve", 0, nil},
		{"admin", Lock, "", 0, nil},
		{"paul", Mute, "nobody", 0, ErrUnknownMember},
		{"paul", SetGain, "anna", 0, nil},
	}
	for _, tt := range tests {
		name := fmt.Sprintf("%s may %s %s", tt.sender, tt.kind, tt.target)
		if tt.want != nil {
			name = fmt.Sprintf("%s may not %s %s", tt.sender, tt.kind, tt.target)
		}
		if tt.role != 0 {
			name += " to " + tt.role.String()
		}
		t.Run(name, func(t *testing.T) {
			s := newScene(t)
			cmd := Command{Kind: tt.kind, Role: tt.role, TalkDB: 3, ListenDB: -3}
			if tt.target == "nobody" {
				cmd.Member = "999"
			} else if tt.target != "" {
				cmd.Member = s.who(tt.target).m.id
			}
			before, calls := s.f.Snapshot(), s.mcu.count("")
			err := s.f.Do(context.Background(), s.sender(tt.sender), cmd)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Do = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				if after := s.f.Snapshot(); !reflect.DeepEqual(before, after) {
					t.Errorf("a refused command changed the conference:\nbefore %+v\nafter  %+v", before, after)
				}
				if n := s.mcu.count(""); n != calls {
					t.Errorf("a refused command made %d MCU calls", n-calls)
				}
				return
			}
			if tt.target != "" && tt.kind != SetRole && tt.kind != Kick {
				if n := s.mcu.count(""); n == calls {
					t.Errorf("the command never reached the MCU")
				}
			}
		})
	}
}

func TestCommandEffects(t *testing.T) {
	t.Run("mute and deaf reach the MCU and the roster", func(t *testing.T) {
		s := newScene(t)
		admin := AdminSender("root")
		for _, cmd := range []Command{{Kind: Mute, Member: s.anna.m.id}, {Kind: Deaf, Member: s.anna.m.id}} {
			if err := s.f.Do(t.Context(), admin, cmd); err != nil {
				t.Fatalf("%s: %v", cmd.Kind, err)
			}
		}
		p, _ := s.mcu.state(s.anna.m.pid)
		info, _ := s.anna.info()
		if !p.muted || !p.deaf || !info.Muted || !info.Deaf {
			t.Errorf("MCU muted %t deaf %t, roster muted %t deaf %t; want all true", p.muted, p.deaf, info.Muted, info.Deaf)
		}
	})
	t.Run("a gain outside -12..+12 dB is refused", func(t *testing.T) {
		s := newScene(t)
		err := s.anna.do(Command{Kind: SetGain, Member: s.anna.m.id, TalkDB: 13})
		if !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Do = %v, want %v", err, ErrInvalidCommand)
		}
	})
	t.Run("a kick hangs up and records the reason", func(t *testing.T) {
		s := newScene(t)
		if err := s.paul.do(Command{Kind: Kick, Member: s.bert.m.id}); err != nil {
			t.Fatalf("kick: %v", err)
		}
		if got := s.bert.leg.reasons(); !slices.Equal(got, []string{ReasonKicked}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonKicked)
		}
		if _, ok := s.mcu.state(s.bert.m.pid); ok {
			t.Errorf("bert is still in the MCU")
		}
		var found bool
		for _, r := range s.h.records(s.c) {
			if r.CallID == s.bert.m.call.CallID {
				found = r.Reason == ReasonKicked && r.Quality.PacketsReceived == 500 && r.Quality.MOS == 4.1
			}
		}
		if !found {
			t.Errorf("no call record for bert with %q and the MCU's quality: %+v", ReasonKicked, s.h.records(s.c))
		}
	})
	t.Run("mute-all mutes the attendees and those who join after", func(t *testing.T) {
		s := newScene(t)
		if err := s.paul.do(Command{Kind: MuteAllAttendees}); err != nil {
			t.Fatalf("mute all: %v", err)
		}
		s.eve.press("1234#")
		for _, cl := range []*caller{s.anna, s.bert, s.eve} {
			if p, _ := s.mcu.state(cl.m.pid); !p.muted {
				t.Errorf("%s is not muted", cl.m.call.DisplayName)
			}
		}
		for _, cl := range []*caller{s.olga, s.paul} {
			if p, _ := s.mcu.state(cl.m.pid); p.muted {
				t.Errorf("presenter %s was muted", cl.m.call.DisplayName)
			}
		}
		if err := s.paul.do(Command{Kind: UnmuteAll}); err != nil {
			t.Fatalf("unmute all: %v", err)
		}
		if p, _ := s.mcu.state(s.anna.m.pid); p.muted {
			t.Errorf("anna is still muted after unmute-all")
		}
	})
	t.Run("ending the conference says goodbye to everyone, then hangs up", func(t *testing.T) {
		s := newScene(t)
		if err := s.paul.do(Command{Kind: EndConference}); err != nil {
			t.Fatalf("end: %v", err)
		}
		if _, err := s.h.join(s.c, s.h.call("carl", "")); !errors.Is(err, ErrEnded) {
			t.Errorf("join while ending = %v, want %v", err, ErrEnded)
		}
		s.h.clock.Advance(promptGrace + 100*time.Millisecond)
		for _, cl := range []*caller{s.olga, s.paul, s.anna, s.bert, s.eve} {
			if got := cl.leg.reasons(); !slices.Equal(got, []string{ReasonConferenceEnded}) {
				t.Errorf("%s hang-ups = %q, want %q", cl.m.call.DisplayName, got, ReasonConferenceEnded)
			}
		}
		if err := s.f.Do(t.Context(), AdminSender("root"), Command{Kind: Lock}); !errors.Is(err, ErrEnded) {
			t.Errorf("command after the end = %v, want %v", err, ErrEnded)
		}
	})
	t.Run("promoting a waiting attendee brings everyone waiting in", func(t *testing.T) {
		h := newHarness(t)
		c := h.conference("7001", func(c *store.Conference) { c.WaitForLeader = true })
		a := h.mustJoin(c, "anna", "")
		b := h.mustJoin(c, "bert", "")
		err := h.focus(c).Do(t.Context(), AdminSender("root"), Command{Kind: SetRole, Member: a.m.id, Role: RolePresenter})
		if err != nil {
			t.Fatalf("set role: %v", err)
		}
		if a.state() != StateInConference || b.state() != StateInConference {
			t.Errorf("states %v, %v; want both in the conference", a.state(), b.state())
		}
	})
	t.Run("an unknown command kind is invalid", func(t *testing.T) {
		s := newScene(t)
		if err := s.f.Do(t.Context(), AdminSender("root"), Command{Kind: 99}); !errors.Is(err, ErrInvalidCommand) {
			t.Errorf("Do = %v, want %v", err, ErrInvalidCommand)
		}
	})
}
