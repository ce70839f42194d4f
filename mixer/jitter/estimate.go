package jitter

// Gains of the running estimates, per packet.
const (
	// jitterGain is the 1/16 of RFC 3550 §6.4.1: J += (|D| - J) / 16.
	jitterGain = 1.0 / 16
	// levelGain averages how early packets arrive over about 16 packets:
	// quick enough to follow a 0.5 % clock drift within a few milliseconds,
	// slow enough that 60 ms of jitter moves it by a few.
	levelGain = 1.0 / 16
	// targetRise lifts the target most of the way within 8 packets (160 ms
	// of 20 ms packets) when the jitter grows; targetFall lets it sink over
	// about 64 when the jitter calms down.
	targetRise = 1.0 / 4
	targetFall = 1.0 / 64
	// lateRunStep is how many packets in a row must come late before the
	// level drops to their lateness at once.
	lateRunStep = 2
	// jitterMargin is how many J of headroom the target keeps above one
	// packet duration; 3 J covers most of the transit spread of a network
	// whose delay varies smoothly.
	jitterMargin = 3
)

// observe updates the jitter and the target with a packet of timestamp t
// that arrived at local clock tick arr, and returns how far ahead of its
// playout time the packet arrived (negative: late), for track.
func (b *Buffer) observe(t, arr int64) float64 {
	// RFC 3550 §6.4.1: D(i-1,i) = (Rj - Ri) - (Sj - Si), the change in
	// relative transit time, with the arrival time in timestamp units.
	transit := arr - t
	if b.haveTransit {
		d := transit - b.transit
		if d < 0 {
			d = -d
		}
		b.jitter += (float64(d) - b.jitter) * jitterGain
	}
	b.transit, b.haveTransit = transit, true

	want := b.clampTarget(float64(b.ticks) + jitterMargin*b.jitter)
	if want > b.target {
		b.target += (want - b.target) * targetRise
	} else {
		b.target += (want - b.target) * targetFall
	}
	return float64(t - (b.refTs + arr))
}

// track updates the level with how early a packet that was stored, or came
// late, arrived. Packets dropped unstored say nothing of the delay that
// playout will see.
func (b *Buffer) track(early float64, late bool) {
	if !late {
		b.lateRun = 0
	} else if b.lateRun++; b.lateRun >= lateRunStep {
		// Lateness that repeats is no spike: the delay is too short by
		// at least this much. Take it whole, so that Pop grows the delay
		// at once (one frame per frame) rather than over seconds.
		b.level = min(b.level, early)
		return
	}
	// A step far larger than any jitter means the stream's timing moved (a
	// timestamp jump short of a resync, a sudden drop in network delay, the
	// end of a flood): take it whole, so that Pop closes the gap at once. A
	// step down is taken only from a packet that came in time.
	switch d := early - b.level; {
	case d > b.maxTicks, d < -b.maxTicks && early >= 0:
		b.level = early
	default:
		b.level += d * levelGain
	}
}

// clampTarget bounds a target delay to [MinDelay, MaxDelay].
func (b *Buffer) clampTarget(t float64) float64 {
	return min(max(t, b.minTicks), b.maxTicks)
}

// learn updates the packet duration from the timestamp distance between
// packet e and its neighbours in sequence. A packet with the marker bit
// starts a talkspurt, so the distance to the one before it is a silence
// gap, not a duration (RFC 3551 §4.1). A new duration must be seen twice in
// a row before it replaces the old one, so that a gap of silence without a
// marker does not pass for a duration.
func (b *Buffer) learn(e, t int64, marker bool) {
	if p := b.slot(e - 1); p.seq == e-1 && (p.state == slotReady || p.state == slotDone) && !marker {
		b.learnDelta(t - p.ts)
	}
	if n := b.slot(e + 1); n.seq == e+1 && (n.state == slotReady || n.state == slotDone) && !n.marker {
		b.learnDelta(n.ts - t)
	}
}

func (b *Buffer) learnDelta(d int64) {
	switch {
	case d < b.frameMin || d > b.frameMax:
		return
	case d == b.ticks:
		b.learned = true
		b.candCount = 0
		return
	case !b.learned:
		b.ticks, b.learned = d, true
		return
	case d == b.candTicks:
		b.candCount++
	default:
		b.candTicks, b.candCount = d, 1
	}
	if b.candCount >= 2 {
		b.ticks, b.candCount = d, 0
	}
}
