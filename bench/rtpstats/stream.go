package rtpstats

import (
	"math"
	"time"
)

// Limits of RFC 3550 Appendix A.1: a sequence number that jumps further
// than maxDropout ahead, or lies more than maxMisorder behind, starts the
// sequence space anew (the sender restarted or the stream was replaced).
const (
	maxDropout  = 3000
	maxMisorder = 100
)

// Config says how a Stream judges its packets.
type Config struct {
	// ClockRate is the RTP timestamp clock in Hz (8000 for PCMU and G.722,
	// 48000 for Opus).
	ClockRate uint32
	// LateAfter: a packet that arrives more than this after its schedule
	// (the stream's earliest arrival against its timestamps) is late.
	LateAfter time.Duration
	// GapOver: an interval between two arrivals longer than this is a gap
	// in the audio.
	GapOver time.Duration
}

// Counts are a stream's totals since its last ResetCounts.
type Counts struct {
	Received uint64
	// Expected is how many packets the sequence numbers say were sent
	// (RFC 3550 §6.4.1, extended highest minus base, plus one).
	Expected uint64
	Late     uint64
	GapsOver uint64
	MaxGap   time.Duration
	// Jitter is the RFC 3550 interarrival jitter at the last packet.
	Jitter time.Duration
	// Restarts counts SSRC changes and sequence jumps.
	Restarts uint64
}

// Lost is Expected minus Received, which duplicates can make negative
// (RFC 3550 §6.4.1).
func (c Counts) Lost() int64 { return int64(c.Expected) - int64(c.Received) }

// Stream is one received RTP stream (or the successive streams one
// receiver gets on one port).
type Stream struct {
	cfg Config

	started bool
	ssrc    uint32
	cycles  uint32 // in 65536 units
	maxSeq  uint16
	// firstExt is the extended sequence number counting starts from: the
	// first packet's, or the one after the highest at ResetCounts.
	firstExt int64
	// priorExpected carries what earlier sequence spaces (before a
	// restart) expected since ResetCounts.
	priorExpected uint64

	lastAt      time.Duration
	lastTS      uint32
	extTS       int64   // timestamp unwrapped
	lastTransit float64 // in timestamp units, for the jitter
	jitter      float64 // in timestamp units
	minTransit  time.Duration

	c Counts
}

// NewStream returns an empty stream.
func NewStream(cfg Config) *Stream {
	if cfg.ClockRate == 0 {
		cfg.ClockRate = 8000
	}
	return &Stream{cfg: cfg}
}

// Clock is the stream's RTP clock rate.
func (s *Stream) Clock() uint32 { return s.cfg.ClockRate }

// Packet records one RTP packet that arrived at at (any monotonic clock).
// It returns the interval since the previous arrival, and ok false for the
// stream's first packet, which has none.
func (s *Stream) Packet(seq uint16, ts, ssrc uint32, at time.Duration) (gap time.Duration, ok bool) {
	if !s.started || ssrc != s.ssrc {
		if s.started {
			gap, ok = at-s.lastAt, true
			s.noteGap(gap)
		}
		s.restart(seq, ts, ssrc, at)
		s.c.Received++
		return gap, ok
	}
	gap, ok = at-s.lastAt, true
	s.noteGap(gap)
	s.lastAt = at
	s.c.Received++

	delta := seq - s.maxSeq
	switch {
	case delta == 0: // a duplicate
		return gap, ok
	case delta < maxDropout: // in order, maybe after a loss
		if seq < s.maxSeq {
			s.cycles++
		}
		s.maxSeq = seq
		s.timing(ts, at)
	case delta <= 1<<16-maxMisorder: // a jump: the sender started over
		s.c.Received-- // restart counts it again
		s.restart(seq, ts, ssrc, at)
		s.c.Received++
	default: // reordered: it came after a later one, so it is late
		s.lateness(s.extTS+int64(int32(ts-s.lastTS)), at)
	}
	return gap, ok
}

func (s *Stream) noteGap(gap time.Duration) {
	if gap > s.c.MaxGap {
		s.c.MaxGap = gap
	}
	if s.cfg.GapOver > 0 && gap > s.cfg.GapOver {
		s.c.GapsOver++
	}
}

// restart begins a new sequence space at seq and a new timing baseline.
func (s *Stream) restart(seq uint16, ts, ssrc uint32, at time.Duration) {
	if s.started { // not after Break, which has added what it expected
		s.priorExpected += s.expectedHere()
		s.c.Restarts++
	}
	s.started = true
	s.ssrc = ssrc
	s.cycles = 0
	s.maxSeq = seq
	s.firstExt = int64(seq)
	s.lastAt = at
	s.lastTS = ts
	s.extTS = int64(ts)
	s.lastTransit = s.arrivalTicks(at) - float64(ts)
	s.minTransit = at - s.tsDuration(s.extTS)
}

// timing updates the jitter (RFC 3550 A.8) and the lateness of an in-order
// packet.
func (s *Stream) timing(ts uint32, at time.Duration) {
	step := int64(int32(ts - s.lastTS))
	s.lastTS = ts
	s.extTS += step
	if step < 0 || time.Duration(step)*time.Second/time.Duration(s.cfg.ClockRate) > 10*time.Second {
		// The clock jumped: take a new baseline rather than call every
		// later packet late or early.
		s.minTransit = at - s.tsDuration(s.extTS)
		s.lastTransit = s.arrivalTicks(at) - float64(s.extTS)
		return
	}
	transit := s.arrivalTicks(at) - float64(s.extTS)
	d := math.Abs(transit - s.lastTransit)
	s.lastTransit = transit
	s.jitter += (d - s.jitter) / 16

	s.lateness(s.extTS, at)
}

// lateness counts a packet late that arrived more than LateAfter after its
// schedule: the earliest transit (arrival minus timestamp) seen so far.
func (s *Stream) lateness(extTS int64, at time.Duration) {
	tr := at - s.tsDuration(extTS)
	if tr < s.minTransit {
		s.minTransit = tr
	}
	if s.cfg.LateAfter > 0 && tr-s.minTransit > s.cfg.LateAfter {
		s.c.Late++
	}
}

func (s *Stream) arrivalTicks(at time.Duration) float64 {
	return at.Seconds() * float64(s.cfg.ClockRate)
}

func (s *Stream) tsDuration(ext int64) time.Duration {
	return time.Duration(float64(ext) * float64(time.Second) / float64(s.cfg.ClockRate))
}

func (s *Stream) extMax() int64 { return int64(s.cycles)<<16 + int64(s.maxSeq) }

func (s *Stream) expectedHere() uint64 {
	if !s.started || s.extMax() < s.firstExt {
		return 0
	}
	return uint64(s.extMax() - s.firstExt + 1)
}

// Counts returns the totals since the last ResetCounts.
func (s *Stream) Counts() Counts {
	c := s.c
	c.Expected = s.priorExpected + s.expectedHere()
	c.Jitter = time.Duration(s.jitter * float64(time.Second) / float64(s.cfg.ClockRate))
	return c
}

// Break ends the stream as it stands without losing its counts: the next
// packet starts a new sequence space and timing baseline and leaves no gap
// behind it. A receiver calls it when it places a new call on the same
// seat, so that the pause between the calls is neither a gap nor a loss.
func (s *Stream) Break() {
	if !s.started {
		return
	}
	s.priorExpected += s.expectedHere()
	s.started = false
}

// ResetCounts starts counting anew from the next packet; the sequence and
// timing state stay, so the next packet's gap and lateness still count.
func (s *Stream) ResetCounts() {
	s.c = Counts{}
	s.priorExpected = 0
	if s.started {
		s.firstExt = s.extMax() + 1
	}
}
