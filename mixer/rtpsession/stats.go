package rtpsession

import (
	"math"
	"time"
)

// RFC 3550 A.1 constants.
const (
	seqMod      = 1 << 16
	maxDropout  = 3000
	maxMisorder = 100
)

// recvStats is the reception state of the remote's media source, kept as
// RFC 3550 A.1 (sequence numbers), A.3 (loss) and A.8 (jitter) describe.
type recvStats struct {
	maxSeq        uint16
	cycles        uint32 // shifted count of sequence number wraps
	baseSeq       uint32
	badSeq        uint32
	received      uint32
	expectedPrior uint32
	receivedPrior uint32
	fraction      uint8 // fraction lost put in the last report

	// Jitter (A.8): the previous relative transit time and the estimate,
	// both in timestamp units, the estimate scaled by 16.
	haveTransit bool
	transit     uint32
	jitter      uint64
	rate        uint32 // clock rate the jitter is measured in
	epoch       time.Time
}

// init starts the statistics afresh at seq: the first packet of a source, or
// a resynchronisation after a restart (A.1 init_seq).
func (r *recvStats) init(seq uint16) {
	r.baseSeq = uint32(seq)
	r.maxSeq = seq
	r.badSeq = seqMod + 1 // so seq == badSeq is false
	r.cycles = 0
	r.received = 1
	r.receivedPrior = 0
	r.expectedPrior = 0
	r.haveTransit = false
	r.jitter = 0
}

// update folds seq into the statistics and reports whether the packet is to
// be used (A.1 update_seq). A jump beyond maxDropout is trusted only when the
// next packet follows it; until then the packet is rejected.
func (r *recvStats) update(seq uint16) bool {
	udelta := seq - r.maxSeq
	switch {
	case udelta < maxDropout:
		// In order, with a permissible gap.
		if seq < r.maxSeq {
			r.cycles += seqMod
		}
		r.maxSeq = seq
	case uint32(udelta) <= seqMod-maxMisorder:
		// A very large jump.
		if uint32(seq) != r.badSeq {
			r.badSeq = (uint32(seq) + 1) & (seqMod - 1)
			return false
		}
		// Two sequential packets: the sender restarted without telling us.
		r.init(seq)
		return true
	default:
		// Duplicate or reordered packet.
	}
	r.received++
	return true
}

// updateJitter folds one packet's transit time into the interarrival jitter
// estimate (A.8). Arrival time is measured in the payload type's clock so
// both terms of the transit are in the same units; on a change of clock
// rate the estimate is rescaled and the transit baseline restarts.
func (r *recvStats) updateJitter(ts uint32, now time.Time, rate uint32) {
	if r.epoch.IsZero() {
		r.epoch = now
	}
	if rate != r.rate {
		if r.rate != 0 {
			r.jitter = r.jitter * uint64(rate) / uint64(r.rate)
		}
		r.rate = rate
		r.haveTransit = false
	}
	arrival := uint32(durationToTicks(now.Sub(r.epoch), rate))
	transit := arrival - ts
	if r.haveTransit {
		d := int64(int32(transit - r.transit))
		if d < 0 {
			d = -d
		}
		// J += (|D| - J) / 16, in the 16-times scaled form of A.8.
		r.jitter = r.jitter + uint64(d) - (r.jitter+8)>>4
	}
	r.transit, r.haveTransit = transit, true
}

// extendedMax is the extended highest sequence number received (A.3).
func (r *recvStats) extendedMax() uint32 {
	return r.cycles + uint32(r.maxSeq)
}

// expected is the number of packets expected from the source (A.3).
func (r *recvStats) expected() uint32 {
	return r.extendedMax() - r.baseSeq + 1
}

// lost is the cumulative number of packets lost (A.3); duplicates can make
// it negative.
func (r *recvStats) lost() int64 {
	return int64(r.expected()) - int64(r.received)
}

// reportedJitter is the jitter as a report block carries it: timestamp units,
// unscaled, saturated to 32 bits.
func (r *recvStats) reportedJitter() uint32 {
	return uint32(min(r.jitter>>4, math.MaxUint32))
}

func (r *recvStats) jitterDuration() time.Duration {
	return ticksToDuration(r.jitter>>4, r.rate)
}

// block computes the fields of a reception report block and starts a new
// reporting interval (A.3).
func (r *recvStats) block() (fraction uint8, cumulative uint32, extMax, jitter uint32) {
	expected := r.expected()
	expectedInterval := expected - r.expectedPrior
	r.expectedPrior = expected
	receivedInterval := r.received - r.receivedPrior
	r.receivedPrior = r.received
	lostInterval := int64(expectedInterval) - int64(receivedInterval)
	r.fraction = 0
	if expectedInterval != 0 && lostInterval > 0 {
		r.fraction = uint8((lostInterval << 8) / int64(expectedInterval))
	}
	// The cumulative count is a signed 24-bit field, clamped (A.3).
	lost := min(max(r.lost(), -0x800000), 0x7fffff)
	return r.fraction, uint32(lost) & 0xffffff, r.extendedMax(), r.reportedJitter()
}
