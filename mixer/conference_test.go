package mixer

import (
	"testing"
	"time"

	"confab/bench/phone"
	"confab/mixer/codec/g711"
)

// heard decodes what participant i was sent over n frames (PCMU, 8 kHz).
func (l *load) heard(t *testing.T, i, frames int) []int16 {
	t.Helper()
	dec := g711.NewPCMUDecoder()
	var pcm []int16
	buf := make([]int16, 960)
	flow := l.parts[i].p.flow.ID
	for f := 0; f < frames; f++ {
		l.frame()
		for _, pk := range l.out {
			if pk.Flow == flow && !pk.RTCP {
				n, err := dec.Decode(pk.Buf[12:pk.N], buf)
				if err != nil {
					t.Fatal(err)
				}
				pcm = append(pcm, buf[:n]...)
			}
		}
	}
	return pcm
}

func toneOf(i int) float64 { return float64(300 + 100*i) }

func TestOnlyTheLoudestTalkersAreMixed(t *testing.T) {
	l := newLoad(t, "PCMU", 1, 8, 1, func(c *Config) { c.MaxTalkers = 3 }) // everyone talks, each its own tone
	// Make the first three the loudest by silencing nobody but scaling: the
	// load's talkers all have the same level, so mute 4 of them instead and
	// check the cap with 4 left talking.
	for i := 4; i < 8; i++ {
		_ = l.confs[0].SetMuted(l.parts[i].p.id, true)
	}
	l.heard(t, 7, 50)
	pcm := l.heard(t, 7, 50)
	if len(pcm) < 50*160 {
		t.Fatalf("the listener got %d samples in 50 frames", len(pcm))
	}
	heard := 0
	for i := 0; i < 4; i++ {
		if phone.ToneLevel(pcm, 8000, toneOf(i)) > -15 {
			heard++
		}
	}
	if heard != 3 {
		t.Fatalf("a listener hears %d of 4 talkers; the cap is 3", heard)
	}
}

func TestControlsShapeWhatEachParticipantGets(t *testing.T) {
	cases := []struct {
		name  string
		apply func(c *Conference, id ParticipantID)
		check func(t *testing.T, l *load)
	}{
		{"a deaf participant is sent nothing", func(c *Conference, id ParticipantID) { _ = c.SetDeaf(id, true) },
			func(t *testing.T, l *load) {
				if pcm := l.heard(t, 0, 20); len(pcm) != 0 {
					t.Fatalf("deaf participant got %d samples", len(pcm))
				}
				if pcm := l.heard(t, 1, 20); phone.RMS(pcm) < 500 {
					t.Fatalf("the others stopped getting audio (%d samples, rms %.0f)", len(pcm), phone.RMS(pcm))
				}
			}},
		{"an unmixed participant hears nothing and is not heard", func(c *Conference, id ParticipantID) { _ = c.SetMixed(id, false) },
			func(t *testing.T, l *load) {
				l.heard(t, 0, 30)
				if rms := phone.RMS(l.heard(t, 0, 20)); rms > 50 {
					t.Fatalf("unmixed participant hears the conference (rms %.0f)", rms)
				}
				other := l.heard(t, 1, 20)
				if phone.RMS(other) < 500 {
					t.Fatalf("the others hear nothing at all (rms %.0f)", phone.RMS(other))
				}
				if lvl := phone.ToneLevel(other, 8000, toneOf(0)); lvl > -30 {
					t.Fatalf("the others hear the unmixed participant at %.1f dB", lvl)
				}
			}},
		{"listen gain makes the mix quieter for one participant", func(c *Conference, id ParticipantID) { _ = c.SetGain(id, 0, -12) },
			func(t *testing.T, l *load) {
				l.heard(t, 1, 30)
				quiet, loud := phone.RMS(l.heard(t, 1, 25)), phone.RMS(l.heard(t, 2, 25))
				if loud < 500 {
					t.Fatalf("the reference participant hears only rms %.0f", loud)
				}
				if r := quiet / loud; r > 0.35 || r < 0.15 {
					t.Fatalf("-12 dB listen gain gives a level ratio of %.2f, want ~0.25", r)
				}
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoad(t, "PCMU", 1, 3, 1)
			for i := 0; i < 50; i++ {
				l.frame()
			}
			target := l.parts[0].p.id
			if tc.name == "listen gain makes the mix quieter for one participant" {
				target = l.parts[1].p.id
			}
			tc.apply(l.confs[0], target)
			tc.check(t, l)
		})
	}
}

func TestTalkingAndTimeoutEvents(t *testing.T) {
	l := newLoad(t, "PCMU", 1, 2, 0.5, func(c *Config) { c.MediaTimeout = time.Second }) // participant 0 talks, 1 is silent
	for i := 0; i < 50; i++ {
		l.frame()
	}
	got := map[EventKind][]ParticipantID{}
	drain := func() {
		for {
			select {
			case ev := <-l.e.Events():
				if ev.Kind == EventTalking && ev.Talking || ev.Kind == EventTimeout {
					got[ev.Kind] = append(got[ev.Kind], ev.Participant)
				}
			default:
				return
			}
		}
	}
	drain()
	if ids := got[EventTalking]; len(ids) != 1 || ids[0] != l.parts[0].p.id {
		t.Fatalf("talking events for %v, want only the talker %d", ids, l.parts[0].p.id)
	}
	// Participant 1's call dies: nothing more from it.
	l.parts[1].stopped = true
	for i := 0; i < 3*50; i++ { // 3 s of frames, beyond the 1 s timeout
		l.frame()
	}
	drain()
	if ids := got[EventTimeout]; len(ids) != 1 || ids[0] != l.parts[1].p.id {
		t.Fatalf("timeout events for %v, want only the dead call %d", ids, l.parts[1].p.id)
	}
}

func TestQualityIsReportedToTheFocusEveryFewSeconds(t *testing.T) {
	l := newLoad(t, "PCMU", 1, 2, 0.5)
	for i := 0; i < 11*50; i++ { // 11 s of frames
		l.frame()
	}
	reports := map[ParticipantID]int{}
	for {
		select {
		case ev := <-l.e.Events():
			if ev.Kind == EventQuality {
				if ev.Quality.Codec != "PCMU" || ev.Quality.PacketsReceived == 0 || ev.Quality.MOS < 4 {
					t.Fatalf("quality report %+v", ev.Quality)
				}
				reports[ev.Participant]++
			}
			continue
		default:
		}
		break
	}
	for _, lp := range l.parts {
		if n := reports[lp.p.id]; n != 2 {
			t.Errorf("participant %d: %d quality reports in 11 s, want 2", lp.p.id, n)
		}
	}
}
