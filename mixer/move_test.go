package mixer

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"

	"confab/bench/phone"
	"confab/hal"
	"confab/hal/haltest"
	"confab/mixer/prompt"
)

// rtpHeader returns the sequence number and SSRC of the next RTP packet
// sent to participant i, mixing frames until one comes.
func (l *load) nextSent(t *testing.T, i int) (seq uint16, ssrc uint32) {
	t.Helper()
	flow := l.parts[i].p.flow.ID
	for f := 0; f < 10; f++ {
		l.frame()
		for _, pk := range l.out {
			if pk.Flow == flow && !pk.RTCP && pk.N >= 12 {
				return binary.BigEndian.Uint16(pk.Buf[2:]), binary.BigEndian.Uint32(pk.Buf[8:])
			}
		}
	}
	t.Fatalf("participant %d was sent nothing in 10 frames", i)
	return 0, 0
}

func TestMoveTakesAParticipantIntoAnotherMixKeepingItsMedia(t *testing.T) {
	// c0: parts 0 (300 Hz) and 1 (400 Hz, muted); c1: parts 2 (300 Hz)
	// and 3 (400 Hz). Part 3 moves into c0.
	l := newLoad(t, "PCMU", 2, 2, 1)
	c0, c1 := l.confs[0], l.confs[1]
	_ = c0.SetMuted(l.parts[1].p.id, true)
	moved := l.parts[3].p
	for range 30 {
		l.frame()
	}
	port, _ := c1.LocalPort(moved.id)
	seqBefore, ssrcBefore := l.nextSent(t, 3)

	if err := l.e.Move(moved.id, "c1", "c0", AddOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("its port, SSRC and sequence numbers stay", func(t *testing.T) {
		if p, err := c0.LocalPort(moved.id); err != nil || p != port {
			t.Fatalf("port after the move %d (%v), before %d", p, err, port)
		}
		if _, err := c1.LocalPort(moved.id); !errors.Is(err, ErrUnknownParticipant) {
			t.Fatalf("the old conference still has it: %v", err)
		}
		if _, open := l.e.path.(*haltest.Path).Flow(moved.flow.ID); !open {
			t.Fatal("the move closed the flow")
		}
		seq, ssrc := l.nextSent(t, 3)
		if ssrc != ssrcBefore || seq-seqBefore > 12 || seq == seqBefore {
			t.Fatalf("stream restarted: seq %d ssrc %x before, seq %d ssrc %x after", seqBefore, ssrcBefore, seq, ssrc)
		}
	})
	t.Run("it hears the new conference and is heard there", func(t *testing.T) {
		l.heard(t, 3, 20)
		if lvl := phone.ToneLevel(l.heard(t, 3, 30), 8000, toneOf(0)); lvl < -20 {
			t.Fatalf("the moved participant does not hear c0's talker (%.1f dB)", lvl)
		}
		if lvl := phone.ToneLevel(l.heard(t, 0, 30), 8000, toneOf(1)); lvl < -20 {
			t.Fatalf("c0's talker does not hear the moved participant (%.1f dB)", lvl)
		}
	})
	t.Run("the conference it left no longer hears it", func(t *testing.T) {
		if lvl := phone.ToneLevel(l.heard(t, 2, 30), 8000, toneOf(1)); lvl > -30 {
			t.Fatalf("c1 still hears the moved participant (%.1f dB)", lvl)
		}
	})
	t.Run("the engine still counts it once", func(t *testing.T) {
		if n := l.e.Stats().Participants; n != 4 {
			t.Fatalf("engine counts %d participants, want 4", n)
		}
		if c0.size.Load() != 3 || c1.size.Load() != 1 {
			t.Fatalf("sizes c0 %d c1 %d, want 3 and 1", c0.size.Load(), c1.size.Load())
		}
	})
}

func TestMoveEntersTheMixAsTold(t *testing.T) {
	l := newLoad(t, "PCMU", 2, 1, 1)
	id := l.parts[1].p.id
	if err := l.e.Move(id, "c1", "c0", AddOptions{Unmixed: true}); err != nil {
		t.Fatal(err)
	}
	l.heard(t, 0, 20)
	if rms := phone.RMS(l.heard(t, 1, 20)); rms > 50 {
		t.Fatalf("an unmixed arrival hears the conference (rms %.0f)", rms)
	}
	if lvl := phone.ToneLevel(l.heard(t, 0, 30), 8000, toneOf(0)); lvl > -30 {
		t.Fatalf("an unmixed arrival is heard (%.1f dB)", lvl)
	}
}

func TestMoveRefusals(t *testing.T) {
	t.Run("an unknown participant", func(t *testing.T) {
		l := newLoad(t, "PCMU", 2, 1, 0)
		if err := l.e.Move(999, "c0", "c1", AddOptions{}); !errors.Is(err, ErrUnknownParticipant) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("to a closed conference: it stays where it was", func(t *testing.T) {
		l := newLoad(t, "PCMU", 2, 1, 0)
		p := l.parts[1].p
		_ = l.confs[0].Close()
		if err := l.e.Move(p.id, "c1", "c0", AddOptions{}); !errors.Is(err, ErrClosed) {
			t.Fatalf("moved into a closed conference: %v", err)
		}
		if _, err := l.confs[1].LocalPort(p.id); err != nil {
			t.Fatalf("the refused move lost the participant: %v", err)
		}
		if _, open := l.e.path.(*haltest.Path).Flow(p.flow.ID); !open {
			t.Fatal("the refused move closed the flow")
		}
	})
	t.Run("prompts queued in the old conference are reported done", func(t *testing.T) {
		l := newLoad(t, "PCMU", 2, 1, 0)
		p := l.parts[1].p
		pid, err := l.confs[1].Play(p.id, prompt.Tone("test", 8000, 0.5, 500, 0, 1000))
		if err != nil {
			t.Fatal(err)
		}
		if err := l.e.Move(p.id, "c1", "c0", AddOptions{}); err != nil {
			t.Fatal(err)
		}
		for {
			select {
			case ev := <-l.e.Events():
				if ev.Kind == EventPromptDone && ev.PromptID == pid && ev.Conference == "c1" {
					return
				}
			default:
				t.Fatal("no PromptDone for the prompt the move cut off")
			}
		}
	})
}

// TestMoveWhilePacketsArrive runs Move back and forth while another
// goroutine delivers the participant's DTMF packets as the receive loop
// does; with -race it checks the hand-over of the conference that names
// the participant's events.
func TestMoveWhilePacketsArrive(t *testing.T) {
	l := newLoad(t, "PCMU", 2, 1, 1)
	offer := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
	id, _, err := l.confs[1].Add([]byte(offer), AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p := l.confs[1].byID[id]
	var (
		wg   sync.WaitGroup
		sent atomic.Int64
	)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		b := make([]byte, 16)
		b[0], b[1] = 0x80, 101
		binary.BigEndian.PutUint32(b[8:], 0x1234)
		for seq := uint16(1); ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			// Each packet is a whole digit (RFC 4733 §2.5: E bit set), a
			// new event by its timestamp.
			binary.BigEndian.PutUint16(b[2:], seq)
			binary.BigEndian.PutUint32(b[4:], uint32(seq)*800)
			b[12], b[13] = 1, 0x80|10
			binary.BigEndian.PutUint16(b[14:], 800)
			pk := hal.Packet{Flow: p.flow.ID, From: netip.MustParseAddrPort("127.0.0.1:30000"), Buf: b, N: len(b)}
			l.e.flowMu.RLock()
			if q := l.e.flows[pk.Flow]; q != nil {
				q.receive(&pk, l.now)
			}
			l.e.flowMu.RUnlock()
			sent.Add(1)
		}
	}()
	from, to := "c1", "c0"
	for i := 0; i < 200 || sent.Load() < 100; i++ {
		if err := l.e.Move(id, from, to, AddOptions{}); err != nil {
			t.Fatal(err)
		}
		from, to = to, from
		l.out = l.confs[0].tick(l.now, l.out[:0])
	}
	close(stop)
	wg.Wait()
	digits := 0
	for len(l.e.Events()) > 0 {
		if ev := <-l.e.Events(); ev.Kind == EventDTMF && ev.Participant == id {
			digits++
		}
	}
	if digits == 0 {
		t.Fatal("no digit came through while the participant moved")
	}
}

func TestMoveOutOfABypassedPairHandsTheMediaBack(t *testing.T) {
	r := newBypassRig(t)
	a, b := r.join("PCMU"), r.join("PCMU")
	for range 5 {
		r.frame()
	}
	if !r.c.Bypassed() {
		t.Fatal("the pair is not bypassed to begin with")
	}
	if _, err := r.e.NewConference("other"); err != nil {
		t.Fatal(err)
	}
	if err := r.e.Move(b.id, "pair", "other", AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.c.Bypassed() {
		t.Fatal("the conference left with one party still bypasses")
	}
	r.path.mu.Lock()
	streams := len(r.path.streams)
	_, endedA := r.path.ended[a.p.flow.ID]
	_, endedB := r.path.ended[b.p.flow.ID]
	r.path.mu.Unlock()
	if streams != 0 || !endedA || !endedB {
		t.Fatalf("the path still forwards %d streams (ended a %t, b %t)", streams, endedA, endedB)
	}
}

// BenchmarkMove moves one participant back and forth between two
// conferences of ten: the cost of putting a caller through from the
// attendant (a control call, not the frame path).
func BenchmarkMove(b *testing.B) {
	l := newLoad(b, "PCMU", 2, 10, 0)
	id := l.parts[0].p.id
	from, to := "c0", "c1"
	b.ReportAllocs()
	for b.Loop() {
		if err := l.e.Move(id, from, to, AddOptions{}); err != nil {
			b.Fatal(err)
		}
		from, to = to, from
	}
}
