package jitter

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// epoch is the local time at which every synthetic schedule starts. It has
// no monotonic reading, like a time decoded from a capture.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// pkt is one packet of a synthetic arrival schedule.
type pkt struct {
	seq    uint16
	ts     uint32
	ssrc   uint32
	marker bool
	at     time.Duration // arrival, from epoch
}

// stream describes a sender and the network between it and the buffer.
type stream struct {
	n      int           // packets sent
	rate   uint32        // RTP clock rate
	frame  time.Duration // packet duration (ptime)
	seq0   uint16
	ts0    uint32
	ssrc   uint32
	start  time.Duration // when the first packet is sent
	drift  float64       // sender clock error: +0.005 sends 0.5 % fast
	delay  time.Duration // network delay every packet sees
	jitter time.Duration // extra delay, uniform in [0, jitter)
	seed   uint64
	lose   func(i int) bool // packet i never arrives
}

// frameTicks is the packet duration in RTP ticks.
func (s stream) frameTicks() uint32 {
	return uint32(int64(s.frame) * int64(s.rate) / int64(time.Second))
}

// packets returns the stream's packets in arrival order.
func (s stream) packets() []pkt {
	rng := rand.New(rand.NewPCG(s.seed, 0x6a17))
	ft := s.frameTicks()
	interval := time.Duration(float64(s.frame) / (1 + s.drift))
	ps := make([]pkt, 0, s.n)
	for i := range s.n {
		d := s.delay
		if s.jitter > 0 {
			d += time.Duration(rng.Int64N(int64(s.jitter)))
		}
		if s.lose != nil && s.lose(i) {
			continue
		}
		ps = append(ps, pkt{
			seq:  s.seq0 + uint16(i),
			ts:   s.ts0 + uint32(i)*ft,
			ssrc: s.ssrc,
			at:   s.start + time.Duration(i)*interval + d,
		})
	}
	byArrival(ps)
	return ps
}

func byArrival(ps []pkt) {
	slices.SortStableFunc(ps, func(a, b pkt) int {
		switch {
		case a.at < b.at:
			return -1
		case a.at > b.at:
			return 1
		}
		return 0
	})
}

// item is one thing Pop returned.
type item struct {
	st    Status
	f     Frame
	at    time.Duration // when it was popped
	body  uint16        // sequence number written into the payload
	plen  int
	stats Stats // after the Pop
}

// sim plays a schedule through a Buffer: packets are pushed at their
// arrival times, and a reader pops until StatusWait on every tick, like the
// participant code on the mixer's frame clock.
type sim struct {
	t       testing.TB
	b       *Buffer
	tick    time.Duration
	phase   time.Duration // first tick
	items   []item
	results map[PushResult]int
	buf     []byte
	// onTick, if set, runs after each tick's pops.
	onTick func(at time.Duration)
}

func newSim(t testing.TB, cfg Config) *sim {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%+v) = %v", cfg, err)
	}
	return &sim{t: t, b: b, tick: 20 * time.Millisecond, phase: 20 * time.Millisecond,
		results: map[PushResult]int{}, buf: make([]byte, 1500)}
}

// payloadFor writes a 160-byte payload that names seq.
func (s *sim) payloadFor(seq uint16) []byte {
	p := s.buf[:160]
	for i := range p {
		p[i] = byte(i)
	}
	binary.BigEndian.PutUint16(p, seq)
	return p
}

// push hands one packet to the buffer.
func (s *sim) push(p pkt) PushResult {
	r := s.b.Push(p.seq, p.ts, p.ssrc, p.marker, s.payloadFor(p.seq), epoch.Add(p.at))
	// The buffer must have copied the payload: scribble over ours.
	clear(s.buf[:160])
	s.results[r]++
	return r
}

// popAll pops until StatusWait at time at.
func (s *sim) popAll(at time.Duration) {
	for range 100000 {
		f, st := s.b.Pop(epoch.Add(at))
		if st == StatusWait {
			return
		}
		it := item{st: st, f: f, at: at, plen: len(f.Payload)}
		if st == StatusPacket && len(f.Payload) >= 2 {
			it.body = binary.BigEndian.Uint16(f.Payload)
		}
		it.stats = s.b.Stats()
		s.items = append(s.items, it)
	}
	s.t.Fatalf("Pop at %v never returned StatusWait: %v", at, s.b)
}

// run plays packets (in arrival order) until the time until.
func (s *sim) run(ps []pkt, until time.Duration) {
	s.runUntil(ps, until, nil)
}

// runUntil plays packets (in arrival order) until the time until, or until
// done reports true after a tick.
func (s *sim) runUntil(ps []pkt, until time.Duration, done func() bool) {
	i := 0
	for at := s.phase; at <= until; at += s.tick {
		for ; i < len(ps) && ps[i].at <= at; i++ {
			s.push(ps[i])
		}
		s.popAll(at)
		if s.onTick != nil {
			s.onTick(at)
		}
		if done != nil && done() {
			break
		}
	}
	for ; i < len(ps); i++ {
		s.push(ps[i])
	}
}

// playedSeq returns a done func for runUntil: true once seq has played.
func (s *sim) playedSeq(seq uint16) func() bool {
	return func() bool {
		n := len(s.items)
		return n > 0 && s.items[n-1].st == StatusPacket && s.items[n-1].f.Seq == seq
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }

// played returns the sequence numbers of the packets played, in order.
func (s *sim) played() []uint16 {
	var seqs []uint16
	for _, it := range s.items {
		if it.st == StatusPacket {
			seqs = append(seqs, it.f.Seq)
		}
	}
	return seqs
}

// count returns how many items had status st.
func (s *sim) count(st Status) int {
	n := 0
	for _, it := range s.items {
		if it.st == st {
			n++
		}
	}
	return n
}

// seqsOf returns the sequence numbers of the items with status st.
func (s *sim) seqsOf(st Status) []uint16 {
	var seqs []uint16
	for _, it := range s.items {
		if it.st == st {
			seqs = append(seqs, it.f.Seq)
		}
	}
	return seqs
}

// ticks returns the RTP ticks covered by all items.
func (s *sim) ticks() uint64 {
	var n uint64
	for _, it := range s.items {
		n += uint64(it.f.Ticks)
	}
	return n
}

// span returns the sequence numbers first..first+n-1, wrapping.
func span(first uint16, n int) []uint16 {
	seqs := make([]uint16, n)
	for i := range seqs {
		seqs[i] = first + uint16(i)
	}
	return seqs
}

// without returns seqs minus the ones in drop.
func without(seqs []uint16, drop []uint16) []uint16 {
	var out []uint16
	for _, s := range seqs {
		if !slices.Contains(drop, s) {
			out = append(out, s)
		}
	}
	return out
}

// missingFrom reports whether got is want with some elements left out,
// order kept, and returns those left out.
func missingFrom(got, want []uint16) (missing []uint16, ok bool) {
	i := 0
	for _, w := range want {
		if i < len(got) && got[i] == w {
			i++
			continue
		}
		missing = append(missing, w)
	}
	return missing, i == len(got)
}
