package mixer

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"confab/hal"
)

// maxCatchUp is how many frames a late worker mixes back to back before it
// gives up on the rest: a short stall (GC, a busy core) is caught up without
// a gap, a long one skips ahead rather than bursting seconds of audio.
const maxCatchUp = 5

// worker is one frame clock and the conferences it mixes. Conferences stay
// on their worker for life, so a conference is only ever mixed by one
// goroutine.
type worker struct {
	e     *Engine
	index int

	mu    sync.Mutex
	confs atomic.Pointer[[]*Conference] // copy-on-write: the tick reads without locking

	out  []hal.Packet  // the frame's outgoing batch, reused
	wake chan struct{} // an idle worker sleeps until a conference arrives
}

func newWorker(e *Engine, i int) *worker {
	w := &worker{e: e, index: i, wake: make(chan struct{}, 1)}
	empty := []*Conference{}
	w.confs.Store(&empty)
	return w
}

func (w *worker) load() int {
	n := 0
	for _, c := range *w.confs.Load() {
		n += int(c.size.Load()) + 1
	}
	return n
}

func (w *worker) add(c *Conference) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := *w.confs.Load()
	next := make([]*Conference, len(old), len(old)+1)
	copy(next, old)
	next = append(next, c)
	w.confs.Store(&next)
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *worker) remove(c *Conference) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := *w.confs.Load()
	next := make([]*Conference, 0, len(old))
	for _, x := range old {
		if x != c {
			next = append(next, x)
		}
	}
	w.confs.Store(&next)
}

// run ticks every frame. Frame k is due at start + k*frame on the monotonic
// clock, so the mix never drifts however late a single wake-up is.
func (w *worker) run(ctx context.Context) {
	frame := w.e.cfg.Frame
	start := time.Now()
	var k int64
	timer := time.NewTimer(frame)
	defer timer.Stop()
	for {
		if len(*w.confs.Load()) == 0 {
			// Nothing to mix: sleep instead of ticking, and start a fresh
			// frame clock when a conference arrives.
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			start, k = time.Now(), 0
		}
		k++
		due := start.Add(time.Duration(k) * frame)
		if d := time.Until(due); d > 0 {
			timer.Reset(d)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		behind := int64(time.Since(due) / frame)
		if behind > maxCatchUp {
			w.e.stats.skippedFrames.Add(uint64(behind - maxCatchUp))
			k += behind - maxCatchUp
			behind = maxCatchUp
		}
		if behind > 0 {
			w.e.stats.lateFrames.Add(1)
		}
		for i := int64(0); i <= behind; i++ {
			w.tick()
			if i < behind {
				k++
			}
		}
	}
}

// tick mixes one frame of every conference on this worker and sends the result.
func (w *worker) tick() {
	t0 := time.Now()
	now := w.e.now()
	out := w.out[:0]
	for _, c := range *w.confs.Load() {
		out = c.tick(now, out)
	}
	if len(out) > 0 {
		sent, err := w.e.path.Write(out)
		if err != nil && sent < len(out) {
			w.e.stats.txErrors.Add(uint64(len(out) - sent))
		}
	}
	// Drop references so removed participants' buffers can be collected.
	for i := range out {
		out[i].Buf = nil
	}
	w.out = out[:0]
	d := time.Since(t0)
	w.e.stats.tickNanos.Add(uint64(d))
	if f := w.e.tickObserver.Load(); f != nil && *f != nil {
		(*f)(d)
	}
}
