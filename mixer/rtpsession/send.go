package rtpsession

import (
	"fmt"
	"time"
)

// skipThreshold is how far wall time may run ahead of the stream's RTP time
// before the next packet's timestamp jumps to catch up. Small scheduling
// delays of the frame clock stay below it, so timestamps keep their regular
// spacing and do not add jitter at the receiver.
const skipThreshold = 60 * time.Millisecond

// sender is the state of our outgoing stream.
type sender struct {
	seq    uint16
	nextTS uint32 // timestamp of the next frame
	// RTP time refTS was current at wall time refWall: the start of the last
	// frame sent. Wall time elapsed since then, against the ticks the stream
	// advanced, shows frames the caller skipped.
	refTS   uint32
	refWall time.Time
	started bool
	marker  bool // set the marker bit on the next packet (after a gap)

	packets, bytes, octets uint64
	// Whether we sent RTP in the current and the previous reporting
	// interval, for the SR/RR choice (RFC 3550 §6.3.8 we_sent).
	sentNow, sentBefore bool
}

// timestamp returns the timestamp for a frame of frame ticks at rate sent
// at now, jumping the stream forward when the caller skipped frames (hold,
// DTX without AdvanceTime, a stall). A jump is a whole number of frames, so
// timestamps stay on the frame grid, and it reports true so the packet gets
// the marker bit that starts a talkspurt (RFC 3551 §4.1).
func (t *sender) timestamp(now time.Time, rate, frame uint32) (uint32, bool) {
	if !t.started {
		return t.nextTS, false
	}
	elapsed := now.Sub(t.refWall)
	if elapsed <= 0 {
		return t.nextTS, false
	}
	behind := durationToTicks(elapsed, rate) - int64(t.nextTS-t.refTS)
	threshold := max(2*int64(frame), durationToTicks(skipThreshold, rate))
	if behind <= threshold {
		return t.nextTS, false
	}
	if frame > 0 {
		behind -= behind % int64(frame)
	}
	t.nextTS += uint32(behind)
	return t.nextTS, true
}

// sent records a packet of n bytes with a payload of payload bytes.
func (t *sender) sent(n, payload int) {
	t.seq++
	t.packets++
	t.bytes += uint64(n)
	t.octets += uint64(payload)
	t.sentNow = true
}

// WriteRTP builds one RTP packet of the negotiated send payload type into
// dst and returns its length. ticks is the frame's duration in RTP
// timestamp units: the packet carries the stream's current timestamp, and
// the next one will carry it plus ticks. Each packet takes the next sequence
// number. When wall time has run ahead of the stream by more than the larger
// of two frames and 60 ms, because the caller skipped frames, the timestamp
// jumps forward to follow it and the marker bit is set; AdvanceTime does the
// same explicitly. WriteRTP does not allocate.
func (s *Session) WriteRTP(dst []byte, payload []byte, ticks uint32, marker bool, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeRTP(dst, s.sendPT, s.sendRate, payload, ticks, marker, now)
}

// WriteRTPWithPT is WriteRTP for payload type pt, which must have been
// negotiated (a media type, or telephone-event), on the same stream:
// sequence numbers and timestamps continue across payload types.
func (s *Session) WriteRTPWithPT(dst []byte, pt uint8, payload []byte, ticks uint32, marker bool, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rate, ok := s.sendClockRate(pt)
	if !ok {
		return 0, ErrPayloadType
	}
	return s.writeRTP(dst, pt, rate, payload, ticks, marker, now)
}

// sendClockRate is the clock rate pt is sent at, if it may be sent.
func (s *Session) sendClockRate(pt uint8) (uint32, bool) {
	switch {
	case pt > 127:
		return 0, false
	case pt == s.sendPT:
		return s.sendRate, true
	case s.dtmfOn && pt == s.dtmfPT:
		return s.dtmfRate, true
	}
	return s.rates[pt], s.rates[pt] != 0
}

func (s *Session) writeRTP(dst []byte, pt uint8, rate uint32, payload []byte, ticks uint32, marker bool, now time.Time) (int, error) {
	n := rtpHeaderLen + len(payload)
	if len(dst) < n {
		return 0, ErrShortBuffer
	}
	s.start(now)
	ts, jumped := s.tx.timestamp(now, rate, ticks)
	putRTPHeader(dst, pt, marker || jumped || s.tx.marker, s.tx.seq, ts, s.ssrc)
	copy(dst[rtpHeaderLen:], payload)
	s.tx.nextTS = ts + ticks
	s.tx.refTS, s.tx.refWall, s.tx.started, s.tx.marker = ts, now, true, false
	s.tx.sent(n, len(payload))
	return n, nil
}

// AdvanceTime moves the stream's timestamp forward by ticks without sending,
// for frames the caller chose not to send (silence suppression, hold). The
// next packet carries the marker bit (RFC 3551 §4.1). WriteRTP would also
// notice the gap from wall time; AdvanceTime keeps the timestamps exact.
func (s *Session) AdvanceTime(ticks uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tx.nextTS += ticks
	s.tx.marker = true
}

// WriteDTMF builds the next packet of g into dst, in this session's stream
// and with its telephone-event payload type, and reports whether g is done.
// All packets of the key press carry the timestamp of its start; once it has
// ended, the stream's time has advanced by its duration (RFC 4733 §2.5.1).
// Call it once per packet interval in place of an audio frame until done.
// WriteDTMF does not allocate.
func (s *Session) WriteDTMF(dst []byte, g *DTMFGenerator, now time.Time) (n int, done bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !s.dtmfOn:
		return 0, g.Done(), ErrPayloadType
	case g.rate != s.dtmfRate:
		return 0, g.Done(), fmt.Errorf("%w: telephone-event at %d Hz, negotiated %d Hz", ErrPayloadType, g.rate, s.dtmfRate)
	case len(dst) < rtpHeaderLen+telephoneEventLen:
		return 0, g.Done(), ErrShortBuffer
	}
	p, ok := g.Next()
	if !ok {
		return 0, true, nil
	}
	s.start(now)
	if p.Marker {
		g.ts, _ = s.tx.timestamp(now, s.dtmfRate, g.step)
		s.tx.marker = false
	}
	if !p.Retransmit {
		// The packet covers the stream from the previous duration to this
		// one, like an audio frame starting at nextTS.
		s.tx.refTS, s.tx.refWall, s.tx.started = s.tx.nextTS, now, true
		s.tx.nextTS = g.ts + uint32(p.Event.Duration)
	}
	putRTPHeader(dst, s.dtmfPT, p.Marker, s.tx.seq, g.ts, s.ssrc)
	p.Event.Append(dst[rtpHeaderLen:rtpHeaderLen])
	n = rtpHeaderLen + telephoneEventLen
	s.tx.sent(n, telephoneEventLen)
	return n, g.Done(), nil
}
