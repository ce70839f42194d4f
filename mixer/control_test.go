package mixer_test

import (
	"crypto/rand"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/mixer"
	"confab/mixer/prompt"
	"confab/mixer/sdpneg"
)

func TestHoldTakesACallerOutOfTheMixAndResumeBringsItBack(t *testing.T) {
	b := startBridge(t, 41600, mixer.Config{})
	c, _ := b.e.NewConference("hold")
	a := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 600})
	l := newPhone(t, phone.Config{Codec: "PCMU"})
	ida := join(t, c, a)
	join(t, c, l)
	time.Sleep(600 * time.Millisecond)

	held := strings.Replace(string(a.Offer()), "a=sendrecv", "a=sendonly", 1)
	answer, err := c.Update(ida, []byte(held))
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := sdpneg.Parse(answer); o.Direction != sdpneg.RecvOnly {
		t.Fatalf("hold answered %s, want recvonly", o.Direction)
	}
	time.Sleep(200 * time.Millisecond)
	l.Reset()
	a.Reset()
	time.Sleep(time.Second)
	if level := phone.ToneLevel(l.Received(), 8000, 600); level > -30 {
		t.Errorf("the held caller's music still reaches the conference at %.1f dB", level)
	}
	if n, _, _ := a.Counts(); n > 5 {
		t.Errorf("the held caller was sent %d packets", n)
	}

	if _, err := c.Update(ida, a.Offer()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond)
	l.Reset()
	time.Sleep(time.Second)
	if level := phone.ToneLevel(l.Received(), 8000, 600); level < -10 {
		t.Errorf("after resume the caller is heard only at %.1f dB", level)
	}
}

func TestAPromptReachesOnlyItsListener(t *testing.T) {
	b := startBridge(t, 41800, mixer.Config{})
	c, _ := b.e.NewConference("prompt")
	x := newPhone(t, phone.Config{Codec: "G722"})
	y := newPhone(t, phone.Config{Codec: "G722"})
	idx := join(t, c, x)
	join(t, c, y)
	time.Sleep(300 * time.Millisecond)
	x.Reset()
	y.Reset()
	id, err := c.Play(idx, prompt.Tone("test", 16000, 0.5, 800, 0, 1200))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(3 * time.Second)
	for done := false; !done; {
		select {
		case ev := <-b.e.Events():
			done = ev.Kind == mixer.EventPromptDone && ev.PromptID == id
		case <-deadline:
			t.Fatal("no prompt-done event")
		}
	}
	if level := phone.ToneLevel(x.Received(), 16000, 1200); level < -6 {
		t.Errorf("the listener hears its prompt only at %.1f dB", level)
	}
	if rms := phone.RMS(y.Received()); rms > 100 {
		t.Errorf("the other caller hears the prompt (rms %.0f)", rms)
	}
}

func TestGarbageOnAMediaPortIsCountedAndTheMixGoesOn(t *testing.T) {
	b := startBridge(t, 42000, mixer.Config{})
	c, _ := b.e.NewConference("garbage")
	talker := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 1000})
	victim := newPhone(t, phone.Config{Codec: "PCMU"})
	join(t, c, talker)
	idv := join(t, c, victim)
	port, _ := c.LocalPort(idv)
	time.Sleep(300 * time.Millisecond)

	// A flood from a stranger: truncated, wrong version, random bytes,
	// absurd timestamps and many SSRCs, on both the RTP and RTCP ports.
	attacker, err := net.ListenUDP("udp", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer attacker.Close()
	junk := make([]byte, 200)
	for i := 0; i < 3000; i++ {
		_, _ = rand.Read(junk)
		n := 1 + i%len(junk)
		switch i % 4 {
		case 0:
			junk[0] = 0x80 // looks like RTP v2
			junk[1] = 0
		case 1:
			junk[0] = 0x40 // RTP v1
		}
		dst := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), port+uint16(i%2))
		_, _ = attacker.WriteToUDPAddrPort(junk[:n], dst)
	}
	victim.Reset()
	time.Sleep(time.Second)
	if level := phone.ToneLevel(victim.Received(), 8000, 1000); level < -6 {
		t.Errorf("during the flood the mix carries the talker only at %.1f dB", level)
	}
	q, err := c.Quality(idv)
	if err != nil {
		t.Fatal(err)
	}
	if q.PacketsReceived == 0 {
		t.Error("the victim's own packets stopped counting")
	}
	if q.Dropped < 100 {
		t.Errorf("only %d junk packets were counted as dropped", q.Dropped)
	}
}

func TestRTCPGivesTheBridgeRoundTripAndTheCallerReports(t *testing.T) {
	b := startBridge(t, 42200, mixer.Config{})
	c, _ := b.e.NewConference("rtcp")
	ph := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 500})
	other := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 700})
	id := join(t, c, ph)
	join(t, c, other)
	// The bridge's first report comes within 1.25..3.75 s (RFC 3550 §6.2
	// halved initial interval), the phone's receiver report one second later.
	deadline := time.Now().Add(9 * time.Second)
	var q mixer.Quality
	for time.Now().Before(deadline) {
		time.Sleep(250 * time.Millisecond)
		q, _ = c.Quality(id)
		if q.RTT > 0 && ph.RTCPReceived() > 0 {
			break
		}
	}
	if q.RTT <= 0 || q.RTT > 100*time.Millisecond {
		t.Errorf("round trip from the caller's receiver reports: %v", q.RTT)
	}
	if ph.RTCPReceived() == 0 {
		t.Error("the caller got no RTCP from the bridge")
	}
	t.Logf("quality %+v", q)
	if q.MOS < 4 || q.Codec != "PCMU" || q.PacketsReceived < 100 {
		t.Errorf("quality of a clean loopback call: %+v", q)
	}
}

func TestOpusLossIsRebuiltFromInBandFEC(t *testing.T) {
	b := startBridge(t, 42400, mixer.Config{})
	c, _ := b.e.NewConference("fec")
	talker := newPhone(t, phone.Config{Codec: "opus", ToneHz: 440, Loss: 0.05})
	listener := newPhone(t, phone.Config{Codec: "opus"})
	id := join(t, c, talker)
	join(t, c, listener)
	time.Sleep(3 * time.Second)
	q, err := c.Quality(id)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("quality %+v", q)
	if q.PacketsLost == 0 {
		t.Fatal("the lossy talker lost nothing: the test is not testing")
	}
	if q.FECRecovered == 0 {
		t.Errorf("%d packets lost and none rebuilt from FEC", q.PacketsLost)
	}
	// Hearing under loss is the loss test's job; here it is enough that the
	// talker is there at all (a loaded machine adds its own gaps).
	if level := phone.ToneLevel(listener.Received(), listener.Rate(), 440); level < -30 {
		t.Errorf("the listener does not hear the lossy talker (%.1f dB)", level)
	}
}
