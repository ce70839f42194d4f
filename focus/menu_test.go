package focus

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestMenu(t *testing.T) {
	t.Run("*1 mutes and says so, and *1 again unmutes", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*1")
		if p, _ := s.mcu.state(s.anna.m.pid); !p.muted {
			t.Errorf("not muted after *1")
		}
		s.anna.press("*1")
		if p, _ := s.mcu.state(s.anna.m.pid); p.muted {
			t.Errorf("still muted after *1 *1")
		}
		got := s.anna.prompts()
		if want := []string{PromptMuted, PromptUnmuted}; !slices.Equal(got[len(got)-2:], want) {
			t.Errorf("prompts = %q, want to end with %q", got, want)
		}
	})
	gains := []struct {
		keys               string
		wantTalk, wantHear int
	}{
		{"*6", 0, 3},
		{"*4", 0, -3},
		{"*9", 3, 0},
		{"*7", -3, 0},
		{"*9*9*4", 6, -3},
		{"*6*6*6*6*6", 0, 12},
		{"*7*7*7*7*7", -12, 0},
	}
	for _, tt := range gains {
		t.Run(fmt.Sprintf("%s sets talk %+d dB and listen %+d dB", tt.keys, tt.wantTalk, tt.wantHear), func(t *testing.T) {
			s := newScene(t)
			s.anna.press(tt.keys)
			p, _ := s.mcu.state(s.anna.m.pid)
			if p.talk != tt.wantTalk || p.listen != tt.wantHear {
				t.Errorf("MCU gains talk %d listen %d, want %d %d", p.talk, p.listen, tt.wantTalk, tt.wantHear)
			}
			if info, _ := s.anna.info(); info.TalkDB != tt.wantTalk || info.ListenDB != tt.wantHear {
				t.Errorf("roster gains talk %d listen %d", info.TalkDB, info.ListenDB)
			}
		})
	}
	t.Run("*0 beeps once for each participant past PIN entry", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*0")
		if got := s.anna.prompts(); !slices.Contains(got, "count-4") {
			t.Errorf("prompts = %q, want count-4", got)
		}
	})
	t.Run("*# says goodbye and hangs up", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*#")
		s.anna.promptDone(PromptGoodbye)
		if got := s.anna.leg.reasons(); !slices.Equal(got, []string{ReasonLeft}) {
			t.Errorf("hang-ups = %q, want %q", got, ReasonLeft)
		}
	})
	t.Run("*2 from a presenter locks, and again unlocks", func(t *testing.T) {
		s := newScene(t)
		s.paul.press("*2")
		if !s.f.Snapshot().Locked {
			t.Fatalf("not locked after *2")
		}
		if got := s.paul.prompts(); got[len(got)-1] != PromptLocked {
			t.Errorf("paul last heard %q, want %q", got[len(got)-1], PromptLocked)
		}
		s.paul.press("*2")
		if s.f.Snapshot().Locked {
			t.Errorf("still locked after *2 *2")
		}
	})
	t.Run("*2 from an attendee does nothing", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*2")
		if s.f.Snapshot().Locked {
			t.Errorf("an attendee locked the conference")
		}
	})
	t.Run("*3 from a presenter mutes the attendees, and again unmutes everyone", func(t *testing.T) {
		s := newScene(t)
		s.paul.press("*3")
		if p, _ := s.mcu.state(s.bert.m.pid); !p.muted {
			t.Errorf("bert is not muted after *3")
		}
		s.paul.press("*3")
		if p, _ := s.mcu.state(s.bert.m.pid); p.muted {
			t.Errorf("bert is still muted after *3 *3")
		}
	})
	t.Run("*8 from a presenter hangs up on the last to join", func(t *testing.T) {
		s := newScene(t)
		s.paul.press("*8")
		if got := s.bert.leg.reasons(); !slices.Equal(got, []string{ReasonKicked}) {
			t.Errorf("bert's hang-ups = %q, want %q", got, ReasonKicked)
		}
		if got := s.eve.leg.reasons(); len(got) != 0 {
			t.Errorf("eve, still entering her PIN, was hung up: %q", got)
		}
	})
	t.Run("*8 from an attendee does nothing", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*8")
		if got := s.bert.leg.reasons(); len(got) != 0 {
			t.Errorf("bert was hung up: %q", got)
		}
	})
	t.Run("a key more than five seconds after the star does nothing", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("*")
		s.h.clock.Advance(menuTimeout + time.Second)
		s.anna.press("1")
		if p, _ := s.mcu.state(s.anna.m.pid); p.muted {
			t.Errorf("muted by a stale star")
		}
	})
	t.Run("a digit without a star does nothing", func(t *testing.T) {
		s := newScene(t)
		s.anna.press("1")
		if p, _ := s.mcu.state(s.anna.m.pid); p.muted {
			t.Errorf("muted without a star")
		}
	})
	t.Run("digits by SIP INFO work like RFC 4733 digits", func(t *testing.T) {
		s := newScene(t)
		s.anna.m.DTMF('*')
		s.anna.m.DTMF('1')
		if p, _ := s.mcu.state(s.anna.m.pid); !p.muted {
			t.Errorf("not muted by *1 over SIP INFO")
		}
		s.eve.m.DTMF('1')
		s.eve.m.DTMF('2')
		s.eve.m.DTMF('3')
		s.eve.m.DTMF('4')
		s.eve.m.DTMF('#')
		if got := s.eve.state(); got != StateInConference {
			t.Errorf("eve's PIN over SIP INFO left her %v", got)
		}
	})
}
