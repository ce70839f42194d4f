// Package jitter is the adaptive jitter buffer of the audio MCU: one Buffer per
// inbound RTP stream holds its compressed payloads until their playout time.
//
// Playout is clocked by RTP timestamps (RFC 3550 §5.1). The first packet of a
// stream sets the reference: it plays TargetDelay after it arrived, and every
// later item plays at that reference plus its timestamp distance divided by
// the clock rate. The participant code calls Pop on its frame clock; Pop
// hands out, in order, each item whose playout time has come: a packet to
// decode, a span to conceal (StatusLost) or a span of silence between
// talkspurts (StatusSilence). Time is always passed in, never read, so the
// buffer runs the same on a synthetic schedule as on the wire.
//
// The target delay follows the RFC 3550 §6.4.1 interarrival jitter J (one
// packet duration plus 3 J, within [MinDelay, MaxDelay]). It rises within a
// few packets and falls over seconds. The delay actually applied is moved
// toward the target in the gaps between talkspurts, where nothing is heard;
// when the buffer runs dry while below target, in the concealment that has
// to be played anyway; or else by one frame at a time, at most once a
// second: one packet discarded or one concealed frame inserted. The same
// mechanism keeps the buffer level steady when the sender's clock runs fast
// or slow against ours.
//
// A missing packet is reported once, as StatusLost, when its time comes and
// a later packet shows it missing. If nothing at all is buffered, the buffer
// cannot tell loss from the end of a talkspurt (RFC 3551 §4.1 marks only the
// start): it asks for concealment for 60 ms, then reports silence until a
// packet comes.
//
// Memory is bounded and allocated in New: a ring of Slots packets of at most
// MaxPayload bytes each. Push and Pop do not allocate, lock or log; a Buffer
// is not safe for concurrent use, and belongs to the one goroutine that owns
// the participant.
package jitter

import (
	"fmt"
	"time"
)

const (
	// seqOrigin is where extended sequence numbers start, so that they stay
	// positive (ring indexes) when earlier packets arrive after the first.
	// It is a multiple of 2^16, so its low 16 bits are the wire value.
	seqOrigin = 1 << 32

	// maxSeqJump is the sequence distance beyond which a packet starts a new
	// stream instead of counting as lost or late (RFC 3550 Appendix A.1 uses
	// a similar MAX_DROPOUT).
	maxSeqJump = 1000
	// maxTsJump is the timestamp distance beyond which a packet starts a new
	// stream.
	maxTsJump = 10 * time.Second

	// defaultFrame is the packet duration assumed until timestamps show the
	// real one (RFC 3551 §4.2: 20 ms is the default packetization).
	defaultFrame = 20 * time.Millisecond
	// minFrame and maxFrame bound a learned packet duration (Opus frames run
	// from 2.5 to 120 ms, RFC 6716 §2.1.4).
	minFrame = 2500 * time.Microsecond
	maxFrame = 120 * time.Millisecond

	// concealSpan is how long the buffer asks for concealment after it ran
	// dry before it calls the rest silence: the stream is then most likely in
	// a silence period, and waveform-repeat concealment has faded out by 60 ms
	// (ITU-T G.711 Appendix I).
	concealSpan = 60 * time.Millisecond
	// adjustEvery limits delay changes made in the middle of speech.
	adjustEvery = time.Second
)

// slotState says what a ring slot holds about its sequence number.
type slotState uint8

const (
	slotEmpty slotState = iota // nothing; seq is -1
	slotReady                  // a packet waiting to be played
	slotDone                   // a packet played, discarded, or arrived late
	slotLost                   // a sequence number counted lost
)

// slot is one ring entry. It keeps the identity of its sequence number after
// the packet has gone, so that duplicates and late arrivals are told apart.
type slot struct {
	seq    int64 // extended sequence number, or -1
	ts     int64 // extended timestamp
	n      int   // payload length
	state  slotState
	marker bool
}

// streamID remembers the stream that a resync replaced, so that its
// stragglers are dropped instead of restarting the stream again.
type streamID struct {
	valid bool
	ssrc  uint32
	seq   uint16 // highest sequence number it sent
	ts    uint32 // timestamp of that packet
}

// Buffer is the jitter buffer of one RTP stream. Create it with New.
type Buffer struct {
	cfg        Config
	rate       int64 // ClockRate
	minTicks   float64
	maxTicks   float64
	jumpTicks  int64
	frameMin   int64
	frameMax   int64
	conceal    int64
	maxPayload int
	slots      []slot
	store      []byte // len(slots) * maxPayload bytes of payload

	stats Stats

	// Stream state; all timestamps and sequence numbers are extended to
	// int64, so wrap-around at 2^16 and 2^32 never shows past Push.
	started  bool
	playing  bool // Pop has handed out an item of this stream
	ssrc     uint32
	firstSeq uint16 // sequence number of the stream's first packet
	prev     streamID
	base     time.Time // arrival of the stream's first packet: tick 0 of the local clock
	hiSeq    int64     // highest sequence number received
	hiTs     int64     // its timestamp
	count    int       // slots in slotReady

	// Playout state. The playout clock reads refTs + ticksSince(now); an item
	// is due when its start is at or before that. playTs is where the next
	// item starts; nextSeq is the next sequence number to account for, and
	// nextTs where its packet is expected to start (nextTs <= playTs; it is
	// smaller while Pop conceals with nothing buffered).
	refTs   int64
	playTs  int64
	nextSeq int64
	nextTs  int64

	// Packet duration in ticks, learned from timestamp deltas.
	ticks     int64
	learned   bool
	guessed   bool  // the last packet played had the default duration, none being learned
	guessTs   int64 // and started here
	candTicks int64
	candCount int

	// Estimates, in ticks. jitter is J of RFC 3550 §6.4.1; level is how far
	// ahead of its playout time a packet arrives, averaged; target is the
	// level the buffer steers to.
	transit     int64
	haveTransit bool
	jitter      float64
	level       float64
	target      float64
	lastAdjust  int64 // local clock tick of the last delay change made during speech
	lateRun     int   // packets late in a row
}

// New returns an empty Buffer with all its memory allocated.
func New(cfg Config) (*Buffer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	b := &Buffer{
		cfg:        cfg,
		rate:       int64(cfg.ClockRate),
		maxPayload: cfg.MaxPayload,
		slots:      make([]slot, cfg.Slots),
		store:      make([]byte, cfg.Slots*cfg.MaxPayload),
	}
	b.minTicks = float64(b.durTicks(cfg.MinDelay))
	b.maxTicks = float64(b.durTicks(cfg.MaxDelay))
	b.jumpTicks = b.durTicks(maxTsJump)
	b.frameMin = max(b.durTicks(minFrame), 1)
	b.frameMax = b.durTicks(maxFrame)
	b.conceal = b.durTicks(concealSpan)
	b.Reset()
	return b, nil
}

// Reset empties the buffer and forgets the stream, its statistics and its
// estimates: the Buffer is as New returned it.
func (b *Buffer) Reset() {
	b.clearSlots()
	b.stats = Stats{}
	b.started, b.playing = false, false
	b.prev = streamID{}
	b.ticks = b.durTicks(defaultFrame)
	b.learned, b.guessed = false, false
	b.candTicks, b.candCount = 0, 0
	b.haveTransit = false
	b.jitter = 0
	b.target = b.clampTarget(float64(b.ticks))
	b.level = b.target
}

// Config returns the buffer's configuration, defaults filled in.
func (b *Buffer) Config() Config { return b.cfg }

// Stats returns the running totals and the current estimates.
func (b *Buffer) Stats() Stats {
	s := b.stats
	s.Jitter = b.tickDur(b.jitter)
	s.TargetDelay = b.tickDur(b.target)
	s.CurrentDelay = b.tickDur(max(b.level, 0))
	s.Buffered = b.count
	return s
}

// Push stores a copy of payload (the caller reuses its buffer). arrival is
// the local receive time.
func (b *Buffer) Push(seq uint16, ts uint32, ssrc uint32, marker bool, payload []byte, arrival time.Time) PushResult {
	b.stats.Received++
	if len(payload) > b.maxPayload {
		b.stats.Dropped++
		return Dropped
	}
	if !b.started {
		b.start(seq, ts, ssrc, marker, payload, arrival)
		return Accepted
	}
	e, t, jump := b.extend(seq, ts)
	if ssrc != b.ssrc || jump {
		if b.straggler(seq, ts, ssrc, arrival) {
			b.stats.Late++
			return Late
		}
		b.resync()
		b.start(seq, ts, ssrc, marker, payload, arrival)
		b.stats.Resets++
		return Reset
	}
	sl := b.slot(e)
	if sl.seq == e && (sl.state == slotReady || sl.state == slotDone) {
		b.stats.Duplicate++
		return Duplicate
	}
	arr := b.ticksSince(arrival)
	early := b.observe(t, arr)
	reordered := e < b.hiSeq
	if e > b.hiSeq {
		b.hiSeq, b.hiTs = e, t
	}
	// Until playout begins, an earlier packet takes the head of the queue:
	// the first packet to arrive need not be the first sent. If its time has
	// passed already, the start is put off to now; nothing has been heard.
	if !b.playing && e < b.nextSeq && b.hiSeq-e < int64(len(b.slots)) {
		if late := b.refTs + arr - t; late > 0 && float64(late) <= b.maxTicks {
			b.refTs -= late
			b.level += float64(late)
			early += float64(late)
		}
		if t >= b.refTs+arr {
			b.nextSeq, b.nextTs, b.playTs = e, t, t
		}
	}
	if e < b.nextSeq || t < b.playTs {
		b.late(sl, e, t)
		b.track(early, true)
		return Late
	}
	if e-b.nextSeq >= int64(len(b.slots)) && !b.makeRoom(e, t) {
		b.stats.Dropped++
		return Dropped
	}
	b.track(early, false)
	b.put(sl, e, t, marker, payload)
	b.learn(e, t, marker)
	if reordered {
		b.stats.Reordered++
		return Reordered
	}
	return Accepted
}

// start begins a stream with its first packet, which plays TargetDelay from
// now. The estimates carry over from the stream before, if any: it came over
// the same network path.
func (b *Buffer) start(seq uint16, ts uint32, ssrc uint32, marker bool, payload []byte, arrival time.Time) {
	e, t := seqOrigin+int64(seq), int64(ts)
	b.started, b.playing, b.guessed = true, false, false
	b.ssrc, b.firstSeq = ssrc, seq
	b.base = arrival
	b.hiSeq, b.hiTs = e, t
	b.nextSeq, b.nextTs, b.playTs = e, t, t
	b.refTs = t - int64(b.target)
	b.level = b.target
	b.lastAdjust, b.lateRun = 0, 0
	b.transit, b.haveTransit = -t, true
	b.put(b.slot(e), e, t, marker, payload)
}

// resync drops the current stream so that start can begin the next one.
func (b *Buffer) resync() {
	b.prev = streamID{valid: true, ssrc: b.ssrc, seq: uint16(b.hiSeq), ts: uint32(b.hiTs)}
	b.stats.Dropped += uint64(b.count)
	b.clearSlots()
	b.started = false
}

// straggler reports whether a packet that would restart the stream is a
// late, reordered packet of the stream that the last resync replaced. It
// must fit that stream, and be older than the present one's first packet
// (same SSRC, whose timeline jumped), or, for an SSRC that was replaced, be
// no newer than the last packet it sent or come within MaxDelay of the
// switch: an SSRC that comes back later with newer packets takes over again.
func (b *Buffer) straggler(seq uint16, ts uint32, ssrc uint32, arrival time.Time) bool {
	p := b.prev
	if !p.valid || ssrc != p.ssrc {
		return false
	}
	ds, dt, jump := b.distance(seq, ts, p.seq, p.ts)
	switch {
	case jump:
		return false
	case ssrc == b.ssrc:
		return int16(seq-b.firstSeq) < 0
	}
	return (ds <= 0 && dt <= 0) || float64(b.ticksSince(arrival)) <= b.maxTicks
}

// extend maps a wire sequence number and timestamp onto the stream's
// extended ones (RFC 3550 Appendix A.1), and reports a jump.
func (b *Buffer) extend(seq uint16, ts uint32) (e, t int64, jump bool) {
	ds, dt, jump := b.distance(seq, ts, uint16(b.hiSeq), uint32(b.hiTs))
	return b.hiSeq + ds, b.hiTs + dt, jump
}

// distance returns how far a packet lies from a reference packet, in
// sequence numbers and timestamp ticks, and reports a jump: a distance too
// large to be loss or reordering, or a timestamp that runs backwards while
// the sequence number runs forwards (RFC 3550 §5.1: audio timestamps grow
// with the sampling instant).
func (b *Buffer) distance(seq uint16, ts uint32, refSeq uint16, refTs uint32) (ds, dt int64, jump bool) {
	ds = int64(int16(seq - refSeq))
	dt = int64(int32(ts - refTs))
	jump = ds > maxSeqJump || ds < -maxSeqJump ||
		dt > b.jumpTicks || dt < -b.jumpTicks ||
		(ds > 0 && dt < 0)
	return ds, dt, jump
}

// late records a packet that came after its playout time. Its slot keeps
// its identity where the ring still covers it, so that it is not counted
// lost, and a lost packet that turns up is taken off the lost count.
func (b *Buffer) late(sl *slot, e, t int64) {
	b.stats.Late++
	switch {
	case sl.seq == e && sl.state == slotLost:
		b.stats.Lost--
		sl.state = slotDone
	case e >= b.nextSeq && e-b.nextSeq < int64(len(b.slots)):
		*sl = slot{seq: e, ts: t, state: slotDone}
	}
}

// makeRoom makes the ring cover sequence number e, which lies beyond it. It
// first accounts for missing packets whose playout time has gone by; if the
// ring is empty and e is still too far, the packets in between are counted
// lost and playout goes on from e. It reports whether e fits.
func (b *Buffer) makeRoom(e, t int64) bool {
	if b.count > 0 {
		b.settle()
	} else {
		b.settleBefore(e, t)
	}
	if e-b.nextSeq < int64(len(b.slots)) {
		return true
	}
	if b.count > 0 {
		return false
	}
	b.skipMissing(e-b.nextSeq, 0)
	b.nextTs = b.playTs
	return true
}

// put stores a packet in its slot.
func (b *Buffer) put(sl *slot, e, t int64, marker bool, payload []byte) {
	i := b.index(e)
	copy(b.store[i*b.maxPayload:], payload)
	*sl = slot{seq: e, ts: t, n: len(payload), state: slotReady, marker: marker}
	b.count++
}

// payload returns the stored payload of a slot.
func (b *Buffer) payload(sl *slot) []byte {
	off := b.index(sl.seq) * b.maxPayload
	return b.store[off : off+sl.n : off+sl.n]
}

// markLost counts sequence number e lost and leaves its mark in the ring.
func (b *Buffer) markLost(sl *slot, e, t int64) {
	if sl.seq == e && sl.state == slotLost {
		return
	}
	b.stats.Lost++
	*sl = slot{seq: e, ts: t, state: slotLost}
}

func (b *Buffer) index(e int64) int { return int(e % int64(len(b.slots))) }

func (b *Buffer) slot(e int64) *slot { return &b.slots[b.index(e)] }

func (b *Buffer) clearSlots() {
	for i := range b.slots {
		b.slots[i] = slot{seq: -1}
	}
	b.count = 0
}

// ticksSince converts the local time t to clock ticks since the stream began.
// It splits seconds from the rest so that days of uptime cannot overflow.
func (b *Buffer) ticksSince(t time.Time) int64 {
	d := t.Sub(b.base)
	return int64(d/time.Second)*b.rate + int64(d%time.Second)*b.rate/int64(time.Second)
}

// durTicks converts a duration of at most a few seconds to clock ticks.
func (b *Buffer) durTicks(d time.Duration) int64 {
	return int64(d) * b.rate / int64(time.Second)
}

// tickDur converts clock ticks to a duration.
func (b *Buffer) tickDur(ticks float64) time.Duration {
	return time.Duration(ticks * float64(time.Second) / float64(b.rate))
}

// String describes the buffer's state for logs and test failures.
func (b *Buffer) String() string {
	s := b.Stats()
	return fmt.Sprintf("jitter.Buffer{ssrc %08x next %d play %d ticks %d target %v level %v jitter %v buffered %d}",
		b.ssrc, uint16(b.nextSeq), uint32(b.playTs), b.ticks, s.TargetDelay, s.CurrentDelay, s.Jitter, s.Buffered)
}
