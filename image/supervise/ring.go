package supervise

import "sync"

// Ring keeps the last bytes written to it: a supervised program's output,
// for the System page, without a disk to fill.
type Ring struct {
	mu    sync.Mutex
	buf   []byte
	start int  // index of the oldest byte when full
	full  bool // buf has wrapped
	// cut is true when the oldest byte kept is not the start of a line
	// (the byte dropped before it was not a newline).
	cut   bool
	total int64
}

// NewRing returns a ring of size bytes.
func NewRing(size int) *Ring { return &Ring{buf: make([]byte, 0, max(size, 1))} }

// Write keeps p (or its last bytes, if p is longer than the ring).
func (r *Ring) Write(p []byte) (int, error) {
	n := len(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total += int64(n)
	c := cap(r.buf)
	if len(p) >= c {
		switch {
		case len(p) > c:
			r.cut = p[len(p)-c-1] != '\n'
		case len(r.buf) > 0:
			r.cut = r.last() != '\n'
		}
		r.buf = append(r.buf[:0], p[len(p)-c:]...)
		r.start, r.full = 0, true
		return n, nil
	}
	for len(p) > 0 {
		if !r.full {
			room := c - len(r.buf)
			k := min(room, len(p))
			r.buf = append(r.buf, p[:k]...)
			p = p[k:]
			if len(r.buf) == c {
				r.full = true
			}
			continue
		}
		k := min(len(p), c-r.start)
		r.cut = r.buf[r.start+k-1] != '\n'
		copy(r.buf[r.start:], p[:k])
		r.start = (r.start + k) % c
		p = p[k:]
	}
	return n, nil
}

// Bytes returns what the ring holds, oldest first. When older output was
// dropped, the partial first line is dropped too.
func (r *Ring) Bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.full {
		return append([]byte(nil), r.buf...)
	}
	out := append(append([]byte(nil), r.buf[r.start:]...), r.buf[:r.start]...)
	if !r.cut {
		return out
	}
	for i, b := range out {
		if b == '\n' {
			return out[i+1:]
		}
	}
	return out
}

// last is the newest byte; r.buf is not empty.
func (r *Ring) last() byte {
	if r.full {
		return r.buf[(r.start+len(r.buf)-1)%len(r.buf)]
	}
	return r.buf[len(r.buf)-1]
}

// Total is how many bytes were ever written.
func (r *Ring) Total() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.total
}
