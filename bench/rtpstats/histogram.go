// Package rtpstats measures what an RTP receiver sees of one stream and of
// many: packets received, lost (RFC 3550 §6.4.1, Appendix A.3), late
// against the stream's own clock, interarrival jitter (RFC 3550 §6.4.1,
// Appendix A.8) and the gaps between arrivals, pooled across streams in a
// fixed-bucket histogram so that percentiles over millions of packets cost
// neither memory nor time.
//
// Nothing here reads a clock or a socket: arrival times are given, so tests
// can feed synthetic streams. Nothing is safe for concurrent use; the load
// generator updates the statistics from its one receive goroutine.
package rtpstats

import (
	"math"
	"time"
)

// Histogram counts durations in buckets of equal width from zero, with one
// overflow bucket above the last. Quantiles are exact to one bucket width
// below the overflow and the true maximum above it.
type Histogram struct {
	width  time.Duration
	counts []uint64
	over   uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

// NewHistogram returns a histogram of buckets buckets of width each.
func NewHistogram(width time.Duration, buckets int) *Histogram {
	if width <= 0 {
		width = time.Millisecond
	}
	return &Histogram{width: width, counts: make([]uint64, max(buckets, 1))}
}

// Add counts one duration; negative ones count as zero.
func (h *Histogram) Add(d time.Duration) {
	d = max(d, 0)
	h.n++
	h.sum += d
	h.max = max(h.max, d)
	if i := int(d / h.width); i < len(h.counts) {
		h.counts[i]++
	} else {
		h.over++
	}
}

// Count is how many durations were added.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the largest duration added.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the average duration added, 0 when none was.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Quantile returns the duration below which a share q (0..1) of the added
// durations lie: the upper edge of the bucket that holds the q-th one, or
// the maximum when that one overflowed. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(min(max(q, 0), 1) * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(i+1)*h.width, h.max)
		}
	}
	return h.max
}

// Above counts the durations greater than d, to one bucket width: the
// buckets that begin at or after d, and the overflow.
func (h *Histogram) Above(d time.Duration) uint64 {
	first := int(d / h.width)
	if d%h.width != 0 || d == 0 {
		first++
	}
	n := h.over
	for i := max(first, 0); i < len(h.counts); i++ {
		n += h.counts[i]
	}
	return n
}

// Merge adds o's counts into h; both must have the same buckets.
func (h *Histogram) Merge(o *Histogram) {
	for i := range min(len(h.counts), len(o.counts)) {
		h.counts[i] += o.counts[i]
	}
	h.over += o.over
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Reset forgets every duration.
func (h *Histogram) Reset() {
	clear(h.counts)
	h.over, h.n, h.sum, h.max = 0, 0, 0, 0
}
