package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"confab/bench/sipcaller"
)

// TestMemoryPerIdleParticipant measures the daemon's resident memory per
// idle participant: RSS (from /proc/PID/status) before and after N callers
// join one conference and stay silent, divided by N. It is a measurement,
// not a timed test: CONFAB_MEMORY=1 runs it; CONFAB_MEMORY_CALLERS sets N
// (default 200).
func TestMemoryPerIdleParticipant(t *testing.T) {
	if os.Getenv("CONFAB_MEMORY") == "" {
		t.Skip("a measurement: set CONFAB_MEMORY=1 to run it")
	}
	n := envInt("CONFAB_MEMORY_CALLERS", 200)
	d := startDaemon(t, "-media-timeout", "10m", "-log-level", "warn", "-rtp-ports", "10000-11999")
	id := d.createConference(t, "7001", nil)

	// The callers' RTP goes to one socket nobody reads: idle phones that
	// send nothing, so the bridge has nothing to mix but still sends each
	// of them its (silent) packets.
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	port := sink.LocalAddr().(*net.UDPAddr).Port
	offer := []byte(fmt.Sprintf("v=0\r\no=idle 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n", port))
	agent, err := sipcaller.New(sipcaller.WithUser("idle", "Idle"))
	if err != nil {
		t.Fatal(err)
	}
	defer agent.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	target := "sip:7001@" + d.sip

	// A first call warms up what every conference needs once (the Focus,
	// the MCU conference, code paged in); the baseline is taken with it up.
	warm, err := agent.Dial(ctx, target, offer)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	before := d.rssKB(t)
	calls := make([]*sipcaller.Call, 0, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := agent.Dial(ctx, target, offer)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		calls = append(calls, c)
	}
	joined := time.Since(start)
	time.Sleep(3 * time.Second)
	if got := len(d.roster(t, id)); got != n+1 {
		t.Fatalf("%d in the roster, want %d", got, n+1)
	}
	after := d.rssKB(t)
	for _, c := range append(calls, warm) {
		_ = c.Bye(ctx)
	}
	time.Sleep(2 * time.Second)
	left := d.rssKB(t)
	t.Logf("memory per idle participant: RSS %d kB before, %d kB with %d more idle callers (joined in %v), %d kB after they left: %.1f kB per participant",
		before, after, n, joined.Round(time.Millisecond), left, float64(after-before)/float64(n))
}
