package supervise

import (
	"io"
	"sync/atomic"
)

// Lossy returns a writer that hands writes to w from a queue of n writes
// and drops them when the queue is full, so that a slow sink (a 115200 baud
// serial console) never slows the program whose output it copies. The ring
// keeps everything; the console may miss lines under load.
func Lossy(w io.Writer, n int) *LossyWriter {
	l := &LossyWriter{q: make(chan []byte, n)}
	go func() {
		for b := range l.q {
			_, _ = w.Write(b)
		}
	}()
	return l
}

// LossyWriter is the writer Lossy returns.
type LossyWriter struct {
	q       chan []byte
	dropped atomic.Int64
}

// Write queues a copy of p, or drops it.
func (l *LossyWriter) Write(p []byte) (int, error) {
	select {
	case l.q <- append([]byte(nil), p...):
	default:
		l.dropped.Add(1)
	}
	return len(p), nil
}

// Dropped is how many writes were dropped.
func (l *LossyWriter) Dropped() int64 { return l.dropped.Load() }
