package mixer_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/hal/sockpath"
	"confab/mixer"
	"confab/mixer/sdpneg"
)

// bridge is a running engine on real loopback sockets.
type bridge struct {
	e      *mixer.Engine
	cancel context.CancelFunc
	done   chan error
}

func startBridge(t *testing.T, low uint16, cfg mixer.Config) *bridge {
	t.Helper()
	path, err := sockpath.New(netip.MustParseAddr("127.0.0.1"), low, low+199)
	if err != nil {
		t.Fatal(err)
	}
	e, err := mixer.NewEngine(path, netip.MustParseAddr("127.0.0.1"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &bridge{e: e, cancel: cancel, done: make(chan error, 1)}
	go func() { b.done <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-b.done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	return b
}

// join dials a phone into the conference: offer, answer, start media.
func join(t *testing.T, c *mixer.Conference, ph *phone.Phone) mixer.ParticipantID {
	t.Helper()
	id, answer, err := c.Add(ph.Offer(), mixer.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o, err := sdpneg.Parse(answer)
	if err != nil {
		t.Fatalf("answer does not parse: %v\n%s", err, answer)
	}
	ph.Start(o.Remote)
	t.Cleanup(ph.Stop)
	return id
}

func newPhone(t *testing.T, cfg phone.Config) *phone.Phone {
	t.Helper()
	ph, err := phone.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ph
}

func lastSecond(ph *phone.Phone) []int16 {
	pcm := ph.Received()
	n := ph.Rate()
	if len(pcm) > n {
		pcm = pcm[len(pcm)-n:]
	}
	return pcm
}

func TestThreeCodecsHearEachOtherButNotThemselves(t *testing.T) {
	for i, frame := range []time.Duration{20 * time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond} {
		t.Run(fmt.Sprintf("with %v mixing frames", frame), func(t *testing.T) {
			threeCodecs(t, uint16(43000+400*i), frame, i == 0)
		})
	}
}

func threeCodecs(t *testing.T, low uint16, frame time.Duration, withMute bool) {
	b := startBridge(t, low, mixer.Config{Frame: frame})
	c, err := b.e.NewConference("e2e")
	if err != nil {
		t.Fatal(err)
	}
	phones := []*phone.Phone{
		newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 500}),
		newPhone(t, phone.Config{Codec: "G722", ToneHz: 900}),
		newPhone(t, phone.Config{Codec: "opus", ToneHz: 1400}),
	}
	tones := []float64{500, 900, 1400}
	ids := make([]mixer.ParticipantID, len(phones))
	for i, ph := range phones {
		ids[i] = join(t, c, ph)
	}
	time.Sleep(1500 * time.Millisecond)

	for i, ph := range phones {
		pcm := lastSecond(ph)
		if len(pcm) < ph.Rate()/2 {
			t.Fatalf("phone %d received only %d samples", i, len(pcm))
		}
		for j, hz := range tones {
			level := phone.ToneLevel(pcm, ph.Rate(), hz)
			if i == j && level > -30 {
				t.Errorf("phone %d hears its own %v Hz tone at %.1f dB", i, hz, level)
			}
			if i != j && level < -12 {
				t.Errorf("phone %d hears phone %d's %v Hz tone only at %.1f dB", i, j, hz, level)
			}
		}
	}

	if !withMute {
		return
	}
	t.Run("a muted participant vanishes from the others' mix", func(t *testing.T) {
		if err := c.SetMuted(ids[0], true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		for _, ph := range phones[1:] {
			ph.Reset()
		}
		time.Sleep(time.Second)
		for i, ph := range phones[1:] {
			if level := phone.ToneLevel(ph.Received(), ph.Rate(), 500); level > -30 {
				t.Errorf("phone %d still hears the muted 500 Hz tone at %.1f dB", i+1, level)
			}
		}
		_ = c.SetMuted(ids[0], false)
	})
}

func TestDigitsArriveOnceEach(t *testing.T) {
	b := startBridge(t, 41200, mixer.Config{})
	c, _ := b.e.NewConference("dtmf")
	ph := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 700})
	id := join(t, c, ph)
	time.Sleep(200 * time.Millisecond)
	for _, d := range []byte("12#1") {
		ph.SendDigit(d)
	}
	var got []byte
	deadline := time.After(3 * time.Second)
	for len(got) < 4 {
		select {
		case ev := <-b.e.Events():
			if ev.Kind == mixer.EventDTMF && ev.Participant == id {
				got = append(got, ev.Digit)
			}
		case <-deadline:
			t.Fatalf("digits %q, want \"12#1\"", got)
		}
	}
	time.Sleep(300 * time.Millisecond)
	for {
		select {
		case ev := <-b.e.Events():
			if ev.Kind == mixer.EventDTMF {
				t.Fatalf("extra digit %q after %q", ev.Digit, got)
			}
			continue
		default:
		}
		break
	}
	if string(got) != "12#1" {
		t.Fatalf("digits %q, want \"12#1\"", got)
	}
}

func TestLossAndReorderingStillGiveContinuousAudio(t *testing.T) {
	b := startBridge(t, 41400, mixer.Config{})
	c, _ := b.e.NewConference("lossy")
	talker := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 800, Loss: 0.05, Reorder: 0.05})
	listener := newPhone(t, phone.Config{Codec: "PCMU"})
	join(t, c, talker)
	join(t, c, listener)
	time.Sleep(700 * time.Millisecond)
	listener.Reset()
	time.Sleep(2 * time.Second)
	pcm := listener.Received()
	if len(pcm) < 8000*18/10 {
		t.Fatalf("listener got %d samples in 2 s", len(pcm))
	}
	// Every 100 ms window carries the tone: concealment fills the gaps.
	for w := 0; w+800 <= len(pcm); w += 800 {
		win := pcm[w : w+800]
		if rms := phone.RMS(win); rms < 2000 {
			t.Fatalf("window %d: rms %.0f, the audio dropped out", w/800, rms)
		}
		if level := phone.ToneLevel(win, 8000, 800); level < -6 {
			t.Fatalf("window %d: tone at %.1f dB", w/800, level)
		}
	}
	// Pacing: a loaded 2-core machine can hold a frame worker back by a few
	// frames (it then catches up); more than 100 ms would be heard.
	if _, _, maxGap := listener.Counts(); maxGap > 100*time.Millisecond {
		t.Errorf("bridge output had a %v gap", maxGap)
	}
}
