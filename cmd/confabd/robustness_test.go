package main

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// tortureDir holds the RFC 4475 messages of the SIP front's own tests;
// here they go to the whole daemon.
const tortureDir = "../../focus/sipfront/testdata/torture"

func TestBadInputLeavesTheCallsAlone(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)
	bob := d.dial(t, "7001", "Bob", toneB, withTCP())
	alice.hears(t, toneB)
	bob.hears(t, toneA)

	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	target, err := net.ResolveUDPAddr("udp", d.sip)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("every RFC 4475 torture message is refused or dropped, never accepted", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(tortureDir, "*.dat"))
		if len(files) == 0 {
			t.Fatalf("no torture messages in %s", tortureDir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			msg := bytes.ReplaceAll(b, []byte("{via}"), []byte(udp.LocalAddr().String()+";rport"))
			for _, status := range exchange(t, udp, target, msg) {
				if status < 400 && status >= 200 {
					t.Errorf("%s was answered %d", filepath.Base(f), status)
				}
			}
		}
	})
	t.Run("random garbage over UDP and TCP is survived", func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, uint64(time.Now().UnixNano())))
		valid := []byte("INVITE sip:7001@" + d.sip + " SIP/2.0\r\nVia: SIP/2.0/UDP " + udp.LocalAddr().String() +
			";branch=z9hG4bK-x\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:7001@" + d.sip + ">\r\nCall-ID: garbage-1\r\n" +
			"CSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 20\r\n\r\nv=0\r\nm=audio 9 RTP/AVP 0\r\n")
		for i := 0; i < 2000; i++ {
			var msg []byte
			switch i % 4 {
			case 0: // bytes
				msg = make([]byte, 1+rng.IntN(1400))
				for j := range msg {
					msg[j] = byte(rng.UintN(256))
				}
			case 1: // a request cut short
				msg = valid[:rng.IntN(len(valid))]
			case 2: // a request with bytes flipped
				msg = bytes.Clone(valid)
				for range 1 + rng.IntN(8) {
					msg[rng.IntN(len(msg))] = byte(rng.UintN(256))
				}
			case 3: // headers that never end
				msg = append([]byte("OPTIONS sip:x SIP/2.0\r\n"), bytes.Repeat([]byte("X-Long: "+strings.Repeat("a", 200)+"\r\n"), 6)...)
			}
			_, _ = udp.WriteTo(msg, target)
			if i%50 == 0 {
				time.Sleep(time.Millisecond) // bursts, not a flood test
			}
		}
		for i := 0; i < 20; i++ {
			c, err := net.DialTimeout("tcp", d.sip, 2*time.Second)
			if err != nil {
				t.Fatalf("TCP connection %d: %v", i, err)
			}
			junk := make([]byte, 1+rng.IntN(4000))
			for j := range junk {
				junk[j] = byte(rng.UintN(256))
			}
			if i%2 == 0 {
				junk = append([]byte("INVITE sip:7001@x SIP/2.0\r\nContent-Length: 99999999\r\n\r\n"), junk...)
			}
			_ = c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			_, _ = c.Write(junk)
			c.Close()
		}
	})
	t.Run("the daemon still answers OPTIONS", func(t *testing.T) {
		// A socket of its own: answers to the garbage may still be on
		// their way to the other.
		udp, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer udp.Close()
		opts := []byte("OPTIONS sip:" + d.sip + " SIP/2.0\r\nVia: SIP/2.0/UDP " + udp.LocalAddr().String() +
			";branch=z9hG4bK-alive\r\nFrom: <sip:probe@127.0.0.1>;tag=9\r\nTo: <sip:" + d.sip + ">\r\n" +
			"Call-ID: alive-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
		// Retransmitted every T1 as a UA does (RFC 3261 §17.1.2.2): the
		// daemon may still be working through the garbage in its socket
		// buffer.
		start := time.Now()
		var got []int
		for time.Since(start) < 8*time.Second {
			if got = exchange(t, udp, target, opts); len(got) > 0 && got[len(got)-1] >= 200 {
				break
			}
		}
		if len(got) == 0 || got[len(got)-1] != 200 {
			t.Fatalf("OPTIONS got %v in %v, want 200", got, time.Since(start))
		}
		t.Logf("OPTIONS answered 200 after %v", time.Since(start).Round(time.Millisecond))
	})
	t.Run("the two callers are still up and hear each other", func(t *testing.T) {
		alice.stillUp(t)
		bob.stillUp(t)
		if r := d.roster(t, id); len(r) != 2 {
			t.Fatalf("roster %+v, want Alice and Bob", r)
		}
		alice.ph.Reset()
		bob.ph.Reset()
		alice.hears(t, toneB)
		bob.hears(t, toneA)
		if p, _, gap := alice.ph.Counts(); p == 0 || gap > 500*time.Millisecond {
			t.Fatalf("Alice's audio: %d packets, longest gap %v", p, gap)
		}
	})
}

// exchange sends one datagram and returns the status codes of the
// responses that come back within half a second.
func exchange(t *testing.T, c net.PacketConn, to net.Addr, msg []byte) []int {
	t.Helper()
	if _, err := c.WriteTo(msg, to); err != nil {
		t.Fatal(err)
	}
	var codes []int
	buf := make([]byte, 65536)
	parser := sip.NewParser()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	for {
		deadline, _ := ctx.Deadline()
		_ = c.SetReadDeadline(deadline)
		n, _, err := c.ReadFrom(buf)
		if err != nil {
			return codes
		}
		m, err := parser.ParseSIP(buf[:n])
		if err != nil {
			t.Errorf("unparseable answer %q", buf[:n])
			continue
		}
		if res, ok := m.(*sip.Response); ok {
			codes = append(codes, res.StatusCode)
			if res.StatusCode >= 200 {
				return codes
			}
		}
	}
}
