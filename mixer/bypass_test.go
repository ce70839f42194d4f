package mixer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"confab/hal"
	"confab/hal/haltest"
	"confab/mixer/prompt"
)

// bypassPath is haltest.Path with a fake two-party bypass: it records what
// the MCU hands it and plays back the forwarding a kernel would have done.
type bypassPath struct {
	*haltest.Path
	mu      sync.Mutex
	refuse  error
	streams map[hal.FlowID]hal.BypassStream // active, by sending flow
	peer    map[hal.FlowID]hal.FlowID
	fwd     map[hal.FlowID]hal.FlowStats // forwarded so far, by sending flow
	sent    map[hal.FlowID]hal.Handover  // the last forwarded packet, by sending flow
	ended   map[hal.FlowID]hal.Handover  // what EndBypass returned, by sending flow
}

var (
	_ hal.Bypasser    = (*bypassPath)(nil)
	_ hal.FlowCounter = (*bypassPath)(nil)
)

func newBypassPath() *bypassPath {
	return &bypassPath{
		Path:    haltest.New(haltest.WithPorts(30000, 30999)),
		streams: map[hal.FlowID]hal.BypassStream{},
		peer:    map[hal.FlowID]hal.FlowID{},
		fwd:     map[hal.FlowID]hal.FlowStats{},
		sent:    map[hal.FlowID]hal.Handover{},
		ended:   map[hal.FlowID]hal.Handover{},
	}
}

func (b *bypassPath) Bypass(from, to hal.FlowID, s hal.BypassStream) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.refuse != nil {
		return b.refuse
	}
	b.streams[from], b.peer[from] = s, to
	delete(b.sent, from)
	return nil
}

func (b *bypassPath) EndBypass(from hal.FlowID) (hal.Handover, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.streams, from)
	b.ended[from] = b.sent[from]
	return b.sent[from], nil
}

func (b *bypassPath) FlowStats(id hal.FlowID) (hal.FlowStats, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.fwd[id], nil
}

// forward plays a packet that from sent with seq, as the kernel would
// have forwarded it during a bypass, and reports whether it did.
func (b *bypassPath) forward(from hal.FlowID, seq uint16, ts uint32, at time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	s, ok := b.streams[from]
	if !ok {
		return false
	}
	h, started := b.sent[from]
	out := hal.Handover{Forwarded: true, Seq: s.NextSeq, Timestamp: s.NextTimestamp, At: at}
	if started {
		out.Seq, out.Timestamp = h.Seq+1, h.Timestamp+160
	}
	b.sent[from] = out
	st := b.fwd[from]
	st.Forwarded++
	st.ForwardedSeq, st.LastArrival = seq, at
	b.fwd[from] = st
	return true
}

// bypassRig drives a conference frame by frame on a fake clock.
type bypassRig struct {
	t     *testing.T
	path  *bypassPath
	e     *Engine
	c     *Conference
	now   time.Time
	parts []*rigPart
	out   []hal.Packet
}

type rigPart struct {
	id   ParticipantID
	p    *participant
	seq  uint16
	ts   uint32
	tone bool
}

func newBypassRig(t *testing.T) *bypassRig {
	r := &bypassRig{t: t, path: newBypassPath(), now: time.Unix(1e9, 0)}
	var err error
	r.e, err = NewEngine(r.path, netip.MustParseAddr("192.0.2.1"), Config{MediaTimeout: -1, Workers: 1},
		WithClock(func() time.Time { return r.now }))
	if err != nil {
		t.Fatal(err)
	}
	if r.c, err = r.e.NewConference("pair"); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *bypassRig) join(codec string) *rigPart {
	r.t.Helper()
	pt, rtpmap := 0, "PCMU/8000"
	if codec == "PCMA" {
		pt, rtpmap = 8, "PCMA/8000"
	}
	port := 10000 + 2*len(r.parts)
	offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 192.0.2.9\r\ns=-\r\nc=IN IP4 192.0.2.9\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s\r\n", port, pt, pt, rtpmap)
	id, _, err := r.c.Add([]byte(offer), AddOptions{})
	if err != nil {
		r.t.Fatal(err)
	}
	rp := &rigPart{id: id, p: r.c.byID[id], seq: uint16(1000 * (len(r.parts) + 1)), tone: true}
	r.parts = append(r.parts, rp)
	return rp
}

// frame has everyone send one packet (to the MCU, or around it when the
// path forwards it), then mixes one frame.
func (r *bypassRig) frame() {
	for _, rp := range r.parts {
		if !r.path.forward(rp.p.flow.ID, rp.seq, rp.ts, r.now) {
			b := make([]byte, 12+160)
			b[0], b[1] = 0x80, rp.p.choice.Codec.PayloadType
			binary.BigEndian.PutUint16(b[2:], rp.seq)
			binary.BigEndian.PutUint32(b[4:], rp.ts)
			binary.BigEndian.PutUint32(b[8:], uint32(rp.id))
			for i := range b[12:] {
				b[12+i] = byte(i * 37) // not silence: the talker detector hears it
			}
			pk := hal.Packet{Flow: rp.p.flow.ID, From: rp.p.offer.Remote, Buf: b, N: len(b)}
			rp.p.receive(&pk, r.now)
		}
		rp.seq++
		rp.ts += 160
	}
	r.now = r.now.Add(20 * time.Millisecond)
	r.out = r.c.tick(r.now, r.out[:0])
}

// rtpTo returns the sequence numbers of the RTP packets the last frame sent
// to rp.
func (r *bypassRig) rtpTo(rp *rigPart) []uint16 {
	var seqs []uint16
	for _, pk := range r.out {
		if pk.Flow == rp.p.flow.ID && !pk.RTCP {
			seqs = append(seqs, binary.BigEndian.Uint16(pk.Buf[2:]))
		}
	}
	return seqs
}

func TestBypassStartsAndHandsBack(t *testing.T) {
	r := newBypassRig(t)
	a, b := r.join("PCMU"), r.join("PCMU")
	// The path refuses at first (it has not heard the parties yet), so
	// the MCU mixes and sends for a while.
	r.path.refuse = hal.ErrNoBypass
	var lastToB uint16
	for range 10 {
		r.frame()
		if seqs := r.rtpTo(b); len(seqs) > 0 {
			lastToB = seqs[len(seqs)-1]
		}
	}
	r.path.refuse = nil
	r.now = r.now.Add(bypassRetry)
	for range 3 {
		r.frame()
		if seqs := r.rtpTo(b); len(seqs) > 0 {
			lastToB = seqs[len(seqs)-1]
		}
		if r.c.bp.on {
			break
		}
	}
	t.Run("two parties with one codec go into bypass", func(t *testing.T) {
		if !r.c.Bypassed() {
			t.Fatal("no bypass after 10 frames")
		}
	})
	t.Run("each direction continues the stream the MCU was sending", func(t *testing.T) {
		s := r.path.streams[a.p.flow.ID]
		if lastToB == 0 || s.SSRC != b.p.sess.LocalSSRC() || s.NextSeq != lastToB+1 || s.InPT != 0 || s.OutPT != 0 {
			t.Errorf("a -> b: %+v; b's SSRC %#x, last sequence to b %d", s, b.p.sess.LocalSSRC(), lastToB)
		}
		if _, ok := r.path.streams[b.p.flow.ID]; !ok {
			t.Error("b -> a is not bypassed")
		}
	})
	t.Run("in bypass the MCU sends the parties no media", func(t *testing.T) {
		for range 50 {
			r.frame()
			if seqs := append(r.rtpTo(a), r.rtpTo(b)...); len(seqs) > 0 {
				t.Fatalf("the MCU sent RTP %v during the bypass", seqs)
			}
		}
	})
	c := r.join("PCMU")
	r.frame()
	t.Run("a third participant ends the bypass in the next frame", func(t *testing.T) {
		if r.c.Bypassed() || len(r.path.streams) != 0 {
			t.Fatalf("bypass on: %v, streams %d", r.c.Bypassed(), len(r.path.streams))
		}
	})
	handover := r.path.ended[a.p.flow.ID]
	t.Run("b's stream continues after the last forwarded packet", func(t *testing.T) {
		if !handover.Forwarded {
			t.Fatal("nothing was forwarded")
		}
		var first []uint16
		for range resumeHold + 2 {
			if first = r.rtpTo(b); len(first) > 0 {
				break
			}
			r.frame()
		}
		if len(first) == 0 || first[0] != handover.Seq+1 {
			t.Errorf("first packet to b after the hand-back: %v, want sequence %d", first, handover.Seq+1)
		}
	})
	t.Run("a's session counts the forwarded packets as received", func(t *testing.T) {
		for range 5 {
			r.frame()
		}
		q, err := r.c.Quality(a.id)
		if err != nil {
			t.Fatal(err)
		}
		if sent := uint64(a.seq - 1000); q.PacketsLost != 0 || q.PacketsReceived != sent {
			t.Errorf("a sent %d packets; its session: %d received, %d lost", sent, q.PacketsReceived, q.PacketsLost)
		}
	})
	t.Run("when the third leaves the bypass resumes", func(t *testing.T) {
		if _, err := r.c.Remove(c.id); err != nil {
			t.Fatal(err)
		}
		r.parts = r.parts[:2]
		r.now = r.now.Add(bypassRetry)
		for range 3 {
			r.frame()
		}
		if !r.c.Bypassed() {
			t.Fatal("no bypass")
		}
	})
	t.Run("a prompt ends the bypass", func(t *testing.T) {
		if _, err := r.c.Play(a.id, prompt.Tone("beep", 8000, 0.5, 200, 0, 1000)); err != nil {
			t.Fatal(err)
		}
		r.frame()
		if r.c.Bypassed() {
			t.Fatal("still bypassed with a prompt to play")
		}
	})
}

func TestNoBypassWhen(t *testing.T) {
	tests := []struct {
		name  string
		setup func(r *bypassRig)
	}{
		{"the codecs differ", func(r *bypassRig) { r.join("PCMU"); r.join("PCMA") }},
		{"a party is muted", func(r *bypassRig) {
			a := r.join("PCMU")
			r.join("PCMU")
			_ = r.c.SetMuted(a.id, true)
		}},
		{"a listen gain is set", func(r *bypassRig) {
			a := r.join("PCMU")
			r.join("PCMU")
			_ = r.c.SetGain(a.id, 0, 6)
		}},
		{"the path refuses", func(r *bypassRig) {
			r.path.refuse = hal.ErrNoBypass
			r.join("PCMU")
			r.join("PCMU")
		}},
		{"the configuration turns it off", func(r *bypassRig) {
			r.e.cfg.NoBypass = true
			r.join("PCMU")
			r.join("PCMU")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newBypassRig(t)
			tt.setup(r)
			for range 20 {
				r.frame()
			}
			if r.c.Bypassed() {
				t.Fatal("bypassed")
			}
		})
	}
	t.Run("a refused bypass is retried a second later", func(t *testing.T) {
		r := newBypassRig(t)
		r.path.refuse = errors.Join(hal.ErrNoBypass, errors.New("nothing heard yet"))
		r.join("PCMU")
		r.join("PCMU")
		r.frame()
		r.path.mu.Lock()
		r.path.refuse = nil
		r.path.mu.Unlock()
		for range 40 { // 0.8 s
			r.frame()
		}
		if r.c.Bypassed() {
			t.Fatal("retried before a second had passed")
		}
		for range 15 {
			r.frame()
		}
		if !r.c.Bypassed() {
			t.Fatal("not retried after a second")
		}
	})
}
