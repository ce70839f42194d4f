package jitter

import "time"

// Pop returns the next item whose playout time has come at now, or
// StatusWait. A caller filling frames keeps calling Pop until its frame is
// full or Pop returns StatusWait; every item it gets advances the playout by
// Frame.Ticks (an item inserted to grow the delay moves the playout clock
// back instead), so the loop always ends.
func (b *Buffer) Pop(now time.Time) (Frame, Status) {
	if !b.started {
		return Frame{}, StatusWait
	}
	tick := b.ticksSince(now)
	clock := b.refTs + tick
	if b.playTs > clock {
		return Frame{}, StatusWait
	}
	// A reader that stopped pulling for longer than the buffer can hold
	// would otherwise get all that old audio now, late, and keep the delay
	// for good: skip to the present instead.
	if float64(clock-b.playTs) > b.maxTicks+float64(b.ticks) {
		b.skipTo(clock)
	}
	b.playing = true
	b.settle()
	discarded := false
	for {
		sl := b.head()
		switch {
		case sl == nil && b.count > 0:
			return b.popLost()
		case sl == nil && b.guessed && clock < b.guessTs+b.frameMax:
			// The packet just played had a guessed duration and may last
			// longer: wait for the next one to tell, up to the longest
			// duration there is.
			return Frame{}, StatusWait
		case sl == nil:
			return b.popUnderrun()
		case sl.ts > b.playTs:
			if b.rectifyGuess(sl) {
				if b.playTs > clock {
					return Frame{}, StatusWait
				}
				continue
			}
			if f, st, ok := b.popGap(sl); ok {
				return f, st
			}
			continue // the gap was cut away: sl is due now
		}
		if !discarded && b.shrinkDue(tick) && b.ready(b.nextSeq+1) != nil {
			b.discard(sl, tick)
			discarded = true
			continue
		}
		if b.growDue(tick) {
			return b.insert(tick), StatusLost
		}
		return b.emit(sl), StatusPacket
	}
}

// head returns the slot of the next packet if it is buffered, else nil.
func (b *Buffer) head() *slot { return b.ready(b.nextSeq) }

// ready returns the slot of packet e if it is buffered, else nil.
func (b *Buffer) ready(e int64) *slot {
	if sl := b.slot(e); sl.seq == e && sl.state == slotReady {
		return sl
	}
	return nil
}

// nextReady returns the first buffered packet after nextSeq, or nil.
func (b *Buffer) nextReady() *slot {
	end := min(b.hiSeq, b.nextSeq+int64(len(b.slots))-1)
	for e := b.nextSeq + 1; e <= end; e++ {
		if sl := b.ready(e); sl != nil {
			return sl
		}
	}
	return nil
}

// settle moves nextSeq past sequence numbers that need no more playout:
// packets that arrived late, and missing packets whose time the playout has
// passed while it concealed with nothing buffered; the latter are counted
// lost. It does nothing while no later packet shows which numbers are
// missing: the stream may only be silent.
func (b *Buffer) settle() {
	if b.count == 0 || b.head() != nil {
		return
	}
	if s := b.nextReady(); s != nil {
		b.settleBefore(s.seq, s.ts)
	}
}

// settleBefore is settle with packet s, of timestamp sTs, known to come next.
func (b *Buffer) settleBefore(s, sTs int64) {
	k := s - b.nextSeq
	if k <= 0 {
		return
	}
	dur := b.missingDur(s, sTs)
	if dur > 0 {
		k = min(k, max(b.playTs-b.nextTs, 0)/dur)
	}
	b.skipMissing(k, dur)
}

// skipMissing moves nextSeq past n missing sequence numbers of dur ticks
// each, and counts them lost, but for those that arrived late. The work is
// bounded by the ring, however long the gap: late arrivals can only be
// marked in the first ring's worth, and only the last ring's worth is worth
// marking.
func (b *Buffer) skipMissing(n, dur int64) {
	ring := int64(len(b.slots))
	for i := int64(0); i < n; i++ {
		if i == ring && n > 2*ring {
			skip := n - 2*ring
			b.stats.Lost += uint64(skip)
			b.nextSeq += skip
			b.nextTs += skip * dur
			i += skip
		}
		if sl := b.slot(b.nextSeq); sl.seq != b.nextSeq || sl.state != slotDone {
			b.markLost(sl, b.nextSeq, b.nextTs)
		}
		b.nextSeq++
		b.nextTs += dur
	}
}

// missingDur is the duration of each packet missing before packet s, of
// timestamp sTs. The missing packets are taken to follow the last one
// played, so any time left before s is silence; if they cannot all have the
// usual duration, they share the time there is.
func (b *Buffer) missingDur(s, sTs int64) int64 {
	k := s - b.nextSeq
	if k <= 0 {
		return b.ticks
	}
	span := max(sTs-b.nextTs, 0)
	if span < k*b.ticks {
		return span / k
	}
	return b.ticks
}

// popLost conceals the missing packet nextSeq: a later packet is buffered.
func (b *Buffer) popLost() (Frame, Status) {
	b.guessed = false
	s := b.nextReady()
	if s == nil { // cannot happen while count is right; never stall on it
		return b.popUnderrun()
	}
	end := b.nextTs + b.missingDur(s.seq, s.ts) // > playTs, or settle had taken it
	f := Frame{Seq: uint16(b.nextSeq), Timestamp: uint32(b.playTs), Ticks: uint32(end - b.playTs)}
	// A packet that arrived after its time is concealed but was not lost.
	if sl := b.slot(b.nextSeq); sl.seq != b.nextSeq || sl.state != slotDone {
		b.markLost(sl, b.nextSeq, b.nextTs)
	}
	b.nextSeq++
	b.nextTs, b.playTs = end, end
	b.stats.Concealed++
	return f, StatusLost
}

// popUnderrun fills one packet duration when nothing at all is buffered. The
// packet may be late, lost, or the talkspurt over: conceal for up to
// concealSpan, then call it silence. nextSeq stays, so a packet that still
// comes is recognised as late, or as the next talkspurt. If the delay is
// well below target, the span is inserted rather than played over, which
// grows the delay by one frame at the moment it costs nothing more.
func (b *Buffer) popUnderrun() (Frame, Status) {
	b.guessed = false
	n := b.ticks
	guess := b.nextSeq + (b.playTs-b.nextTs)/n
	f := Frame{Seq: uint16(guess), Timestamp: uint32(b.playTs), Ticks: uint32(n)}
	st := StatusSilence
	if b.playTs-b.nextTs < b.conceal {
		st = StatusLost
		b.stats.Concealed++
	}
	if b.level < b.target-float64(n)/4 {
		b.refTs -= n
		b.level += float64(n)
		b.stats.Inserted++
	} else {
		b.playTs += n
	}
	return f, st
}

// popGap plays the silence before packet sl, which starts a talkspurt after
// a DTX or silence-suppression gap (a timestamp gap with no sequence gap).
// Silence can be cut or stretched unheard, so here the delay moves all the
// way to the target. It reports false when it cut the whole gap.
func (b *Buffer) popGap(sl *slot) (Frame, Status, bool) {
	b.guessed = false
	gap := sl.ts - b.playTs
	slack := max(float64(b.ticks)/4, 1)
	switch {
	case b.level > b.target+slack:
		cut := min(gap, int64(b.level-b.target))
		b.shift(cut)
		if cut == gap {
			return Frame{}, 0, false
		}
		gap -= cut
	case b.level < b.target-slack:
		n := max(min(b.ticks, int64(b.target-b.level)), 1)
		b.refTs -= n
		b.level += float64(n)
		b.stats.Inserted++
		return Frame{Seq: uint16(sl.seq), Timestamp: uint32(b.playTs), Ticks: uint32(n)}, StatusSilence, true
	}
	n := min(gap, b.ticks)
	f := Frame{Seq: uint16(sl.seq), Timestamp: uint32(b.playTs), Ticks: uint32(n)}
	b.playTs += n
	return f, StatusSilence, true
}

// shrinkDue reports whether the delay should shrink by one packet now: it is
// well above target and has not been changed for a second, or it is above
// MaxDelay (sender far too fast), which brooks no wait.
func (b *Buffer) shrinkDue(tick int64) bool {
	hi := float64(b.ticks)
	return b.level > b.maxTicks+hi ||
		(b.level > b.target+hi && tick-b.lastAdjust >= b.rate*int64(adjustEvery/time.Second))
}

// growDue reports whether the delay should grow by one frame now.
func (b *Buffer) growDue(tick int64) bool {
	hi := float64(b.ticks)
	return b.level < b.target-hi && tick-b.lastAdjust >= b.rate*int64(adjustEvery/time.Second)
}

// emit hands out packet sl. It starts at playTs: a packet whose timestamp
// overlaps the one before it is played after it, not over it.
func (b *Buffer) emit(sl *slot) Frame {
	f := Frame{Payload: b.payload(sl), Seq: uint16(sl.seq), Timestamp: uint32(sl.ts), Marker: sl.marker}
	b.guessed, b.guessTs = !b.learned, sl.ts
	f.Ticks = uint32(b.consume(sl))
	return f
}

// packetTicks is the duration of packet sl: the learned duration, or less
// where the next packet is known to start sooner (the sender shortened its
// packets). A longer distance is not taken: it may hold unmarked silence.
func (b *Buffer) packetTicks(sl *slot) int64 {
	e := sl.seq + 1
	if n := b.slot(e); n.seq == e && (n.state == slotReady || n.state == slotDone) {
		if d := n.ts - sl.ts; d >= b.frameMin && d < b.ticks {
			return d
		}
	}
	return b.ticks
}

// rectifyGuess handles the gap before packet sl when the packet before it
// was played with a guessed duration, before any timestamp delta was seen
// (a stream whose first packet plays before its second arrives). If the
// distance between the two is a packet duration, the gap is the rest of the
// previous packet, which its decoder has already produced: playout moves on
// to sl without calling it silence.
func (b *Buffer) rectifyGuess(sl *slot) bool {
	if !b.guessed || sl.marker {
		return false
	}
	b.guessed = false
	e := sl.seq - 1
	p := b.slot(e)
	if p.seq != e || p.state != slotDone {
		return false
	}
	if d := sl.ts - p.ts; d < b.frameMin || d > b.frameMax {
		return false
	}
	b.playTs = sl.ts
	b.nextTs = sl.ts
	return true
}

// discard skips packet sl to shrink the delay by its duration.
func (b *Buffer) discard(sl *slot, tick int64) {
	n := b.consume(sl)
	b.refTs += n
	b.level -= float64(n)
	b.lastAdjust = tick
	b.stats.Discarded++
}

// consume takes packet sl, the next one, off the queue and returns its
// duration.
func (b *Buffer) consume(sl *slot) int64 {
	n := b.packetTicks(sl)
	sl.state = slotDone
	b.count--
	b.nextSeq++
	b.playTs += n
	b.nextTs = b.playTs
	return n
}

// insert returns one concealed frame put in to grow the delay by its
// duration: the playout clock steps back by as much.
func (b *Buffer) insert(tick int64) Frame {
	b.guessed = false
	b.lastAdjust = tick
	f := Frame{Seq: uint16(b.nextSeq), Timestamp: uint32(b.playTs), Ticks: uint32(b.ticks)}
	b.refTs -= b.ticks
	b.level += float64(b.ticks)
	b.stats.Inserted++
	b.stats.Concealed++
	return f
}

// shift cuts n ticks of silence: playout jumps ahead by n and so does the
// playout clock, so the delay shrinks by n.
func (b *Buffer) shift(n int64) {
	b.playTs += n
	b.refTs += n
	b.level -= float64(n)
}

// skipTo moves playout on to x, dropping the packets and accounting for the
// missing ones whose time went by.
func (b *Buffer) skipTo(x int64) {
	b.playTs = x
	for b.count > 0 {
		b.settle()
		sl := b.head()
		if sl == nil || sl.ts >= x {
			break
		}
		n := b.consume(sl)
		b.playTs = x
		b.nextTs = min(sl.ts+n, x)
		b.stats.Dropped++
	}
}

// Next returns the payload of the packet that plays next, if it is already
// buffered, without consuming it. After a StatusLost it is the packet that
// follows the lost one, whose in-band FEC (Opus, RFC 6716 §2.1.7) can
// rebuild the lost frame. The payload is valid until the next Push or Pop.
func (b *Buffer) Next() ([]byte, bool) {
	if !b.started {
		return nil, false
	}
	sl := b.head()
	if sl == nil {
		return nil, false
	}
	return b.payload(sl), true
}
