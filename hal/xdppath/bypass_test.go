//go:build linux

package xdppath_test

import (
	"testing"
	"time"

	"confab/bench/phone"
	"confab/hal/halselect"
	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
	"confab/mixer"
	"confab/mixer/prompt"
)

// waitFor polls cond every 10 ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

// toneEverywhere checks that every 100 ms window of pcm carries hz at no
// less than minDB: no window fell silent.
func toneEverywhere(t *testing.T, who string, pcm []int16, rate int, hz, minDB float64) {
	t.Helper()
	win := rate / 10
	if len(pcm) < 5*win {
		t.Fatalf("%s: only %d samples", who, len(pcm))
	}
	for w := 0; w+win <= len(pcm); w += win {
		if phone.RMS(pcm[w:w+win]) < 1000 {
			t.Errorf("%s: window %d of %d is silent (rms %.0f)", who, w/win, len(pcm)/win, phone.RMS(pcm[w:w+win]))
			return
		}
		if level := phone.ToneLevel(pcm[w:w+win], rate, hz); level < minDB {
			t.Errorf("%s: window %d carries %v Hz at %.1f dB", who, w/win, hz, level)
			return
		}
	}
}

func TestTwoPartyBypass(t *testing.T) {
	p := vethtest.New(t)
	p.AcceptXDPFrames(t, &p.B) // the phones' side takes frames sent back by XDP_TX
	b := startBridge(t, p, halselect.Config{})
	c, err := b.e.NewConference("pair")
	if err != nil {
		t.Fatal(err)
	}
	pa, ida := b.dial(t, c, phone.Config{Codec: "PCMU", ToneHz: 500})
	pb, idb := b.dial(t, c, phone.Config{Codec: "PCMU", ToneHz: 900})

	t.Run("two parties with one codec go into bypass", func(t *testing.T) {
		if !waitFor(3*time.Second, c.Bypassed) {
			t.Fatal("no bypass after 3 s")
		}
	})
	// Let what was in flight to the MCU when the bypass started arrive first.
	time.Sleep(500 * time.Millisecond)
	pa.Reset()
	pb.Reset()
	t.Run("in bypass the path forwards and the MCU receives no media", func(t *testing.T) {
		before := b.e.Stats()
		time.Sleep(time.Second)
		after := b.e.Stats()
		if rx := after.Path.RxPackets - before.Path.RxPackets; rx > 6 { // RTCP only: about one a second each way
			t.Errorf("the MCU read %d packets in a second of bypass", rx)
		}
		if mixed := after.Frames - before.Frames; mixed != 0 {
			t.Errorf("the conference mixed %d frames in bypass", mixed)
		}
	})
	t.Run("in bypass each hears the other", func(t *testing.T) {
		for i, ph := range []*phone.Phone{pa, pb} {
			if packets, gaps, maxGap := ph.Counts(); packets < 40 || gaps != 0 || maxGap > 100*time.Millisecond {
				t.Errorf("phone %d got %d packets in a second of bypass, %d gaps, %v the longest pause", i, packets, gaps, maxGap)
			}
		}
		checkTones(t, []*phone.Phone{pa, pb}, []float64{500, 900})
	})

	pa.Reset()
	pb.Reset()
	pc, idc := b.dial(t, c, phone.Config{Codec: "PCMU", ToneHz: 1400})
	t.Run("a third participant ends the bypass at once", func(t *testing.T) {
		if !waitFor(60*time.Millisecond, func() bool { return !c.Bypassed() }) {
			t.Fatal("still in bypass 60 ms after the third joined")
		}
	})
	time.Sleep(1500 * time.Millisecond)
	t.Run("after the hand-back all three hear each other", func(t *testing.T) {
		checkTones(t, []*phone.Phone{pa, pb, pc}, []float64{500, 900, 1400})
	})
	t.Run("the sessions count what went around them", func(t *testing.T) {
		filter := b.path.(*xdppath.Path).Filter()
		for _, id := range []mixer.ParticipantID{ida, idb} {
			port, _ := c.LocalPort(id)
			// The program counts a packet before the MCU reads it: read
			// its counters on both sides of the session's.
			before, err := filter.FlowStats(port)
			if err != nil {
				t.Fatal(err)
			}
			q, err := c.Quality(id)
			if err != nil {
				t.Fatal(err)
			}
			after, err := filter.FlowStats(port)
			if err != nil {
				t.Fatal(err)
			}
			if before.ForwardedPackets == 0 || q.PacketsReceived+2 < before.RTPPackets || q.PacketsReceived > after.RTPPackets ||
				q.PacketsLost != 0 || q.Dropped != 0 {
				t.Errorf("participant %d: %d received, %d lost, %d dropped; the program saw %d..%d, forwarded %d",
					id, q.PacketsReceived, q.PacketsLost, q.Dropped, before.RTPPackets, after.RTPPackets, before.ForwardedPackets)
			}
		}
	})
	t.Run("the hand-back leaves no gap the callers can hear", func(t *testing.T) {
		// Taking the media back puts the MCU's jitter buffer into the
		// path again: each phone sees its delay grow once by that much,
		// a late packet its own buffer absorbs, but no missing one and no
		// silence.
		for i, ph := range []*phone.Phone{pa, pb} {
			peer := []mixer.ParticipantID{idb, ida}[i]
			q, err := c.Quality(peer)
			if err != nil {
				t.Fatal(err)
			}
			packets, gaps, maxGap := ph.Counts()
			if gaps != 0 {
				t.Errorf("phone %d: %d sequence gaps across the hand-back (of %d packets)", i, gaps, packets)
			}
			if limit := max(100*time.Millisecond, q.BufferDelay+60*time.Millisecond); maxGap > limit {
				t.Errorf("phone %d: %v between two packets, more than %v (the peer's buffer holds %v)", i, maxGap, limit, q.BufferDelay)
			}
		}
		toneEverywhere(t, "phone a", pa.Received(), pa.Rate(), 900, -12)
		toneEverywhere(t, "phone b", pb.Received(), pb.Rate(), 500, -12)
	})

	t.Run("when the third leaves the bypass resumes", func(t *testing.T) {
		pc.Stop()
		if _, err := c.Remove(idc); err != nil {
			t.Fatal(err)
		}
		if !waitFor(3*time.Second, c.Bypassed) {
			t.Fatal("no bypass after 3 s")
		}
	})
	t.Run("a prompt ends the bypass and is heard", func(t *testing.T) {
		pa.Reset()
		if _, err := c.Play(ida, prompt.Tone("beep", 8000, 0.5, 600, 0, 2200)); err != nil {
			t.Fatal(err)
		}
		if !waitFor(60*time.Millisecond, func() bool { return !c.Bypassed() }) {
			t.Fatal("still in bypass 60 ms after the prompt was queued")
		}
		time.Sleep(500 * time.Millisecond)
		if level := phone.ToneLevel(lastSecond(pa), pa.Rate(), 2200); level < -20 {
			t.Errorf("the prompt plays at %.1f dB", level)
		}
		if _, gaps, _ := pa.Counts(); gaps != 0 {
			t.Errorf("%d sequence gaps", gaps)
		}
	})
}
