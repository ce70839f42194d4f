package loadgen

import (
	"container/heap"
	"time"

	"confab/bench/scenario"
	"confab/hal"
)

// xorshift is a small, fast generator for impairment decisions; each leg
// has its own, so legs do not share state across goroutines.
type xorshift struct{ s uint64 }

func newXorshift(seed uint64) xorshift { return xorshift{s: seed*0x9e3779b97f4a7c15 | 1} }

func (x *xorshift) next() uint64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return x.s
}

// float returns a number in [0, 1).
func (x *xorshift) float() float64 { return float64(x.next()>>11) / (1 << 53) }

// lossModel drops a caller's outgoing packets: independently with
// probability rate, or, with a mean burst length above one, by a two-state
// Gilbert model that loses every packet in its bad state. From good it
// turns bad with probability p and back with r = 1/burst, so loss runs
// last burst packets on average and the long-run loss is p/(p+r) = rate.
type lossModel struct {
	rate, p, r float64
	bad        bool
	rng        xorshift
}

func newLoss(l scenario.Loss, seed uint64) lossModel {
	m := lossModel{rate: l.Rate, rng: newXorshift(seed)}
	if l.Burst > 1 && l.Rate > 0 && l.Rate < 1 {
		m.r = 1 / l.Burst
		m.p = l.Rate * m.r / (1 - l.Rate)
	}
	return m
}

func (m *lossModel) lost() bool {
	if m.rate <= 0 {
		return false
	}
	if m.r == 0 {
		return m.rng.float() < m.rate
	}
	if m.bad {
		m.bad = m.rng.float() >= m.r
	} else {
		m.bad = m.rng.float() < m.p
	}
	return m.bad
}

// delayed is a packet held back to simulate network jitter.
type delayed struct {
	due  time.Duration
	flow hal.FlowID
	buf  []byte
	n    int
}

// delayQueue holds delayed packets in order of their due time. Buffers are
// recycled, so a steady load allocates nothing once warm.
type delayQueue struct {
	items []delayed
	free  [][]byte
	size  int
}

func (q *delayQueue) Len() int           { return len(q.items) }
func (q *delayQueue) Less(i, j int) bool { return q.items[i].due < q.items[j].due }
func (q *delayQueue) Swap(i, j int)      { q.items[i], q.items[j] = q.items[j], q.items[i] }
func (q *delayQueue) Push(x any)         { q.items = append(q.items, x.(delayed)) }
func (q *delayQueue) Pop() any {
	it := q.items[len(q.items)-1]
	q.items = q.items[:len(q.items)-1]
	return it
}

// hold copies a packet to send at due.
func (q *delayQueue) hold(due time.Duration, flow hal.FlowID, pkt []byte) {
	var buf []byte
	if n := len(q.free); n > 0 && cap(q.free[n-1]) >= len(pkt) {
		buf, q.free = q.free[n-1][:len(pkt)], q.free[:n-1]
	} else {
		buf = make([]byte, len(pkt), max(len(pkt), q.size))
	}
	copy(buf, pkt)
	heap.Push(q, delayed{due: due, flow: flow, buf: buf, n: len(pkt)})
}

// next is the due time of the earliest held packet.
func (q *delayQueue) next() (time.Duration, bool) {
	if len(q.items) == 0 {
		return 0, false
	}
	return q.items[0].due, true
}

// release appends every packet due by now to out. The buffers stay valid
// until recycle.
func (q *delayQueue) release(now time.Duration, out []hal.Packet) []hal.Packet {
	for len(q.items) > 0 && q.items[0].due <= now {
		d := heap.Pop(q).(delayed)
		out = append(out, hal.Packet{Flow: d.flow, Buf: d.buf, N: d.n})
	}
	return out
}

// recycle takes back the buffers of released packets once they are sent.
func (q *delayQueue) recycle(pkts []hal.Packet) {
	for _, p := range pkts {
		q.free = append(q.free, p.Buf)
	}
}
