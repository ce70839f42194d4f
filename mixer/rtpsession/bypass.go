package rtpsession

import "time"

// A two-party bypass forwards each party's media straight to the other
// below the MCU (hal.Bypasser): the stream a party receives stays the one
// this session sends (our SSRC; sequence numbers and timestamps continue
// it), and the stream it sends goes around the session. The methods here
// keep the session's two streams whole across such a stretch.

// SendPosition returns the sequence number and timestamp the next packet
// of our stream carries, if it follows the last one without a gap.
func (s *Session) SendPosition() (seq uint16, ts uint32) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tx.seq, s.tx.nextTS
}

// ContinueSendFrom makes our stream continue after packets sent in it by
// someone else: n packets whose last carried seq and timestamp ts and
// lasted ticks, sent at at. The next packet carries seq+1 and ts+ticks (or
// later, as wall time since at requires: WriteRTP), and the packet count
// of our sender reports (RFC 3550 §6.4.1) includes the n.
func (s *Session) ContinueSendFrom(seq uint16, ts, ticks uint32, at time.Time, n uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tx.seq = seq + 1
	s.tx.nextTS = ts + ticks
	s.tx.refTS, s.tx.refWall, s.tx.started = ts, at, true
	s.tx.packets += n
	if n > 0 {
		s.tx.sentNow = true
	}
}

// ReceivedAround tells the session that the remote's stream went on
// around it: n more media packets, up to sequence number seq, the last at
// at. They count as received (RFC 3550 A.3), the next packet is in order
// after seq (A.1), and the source stays latched and alive. With n zero it
// only records the activity (seq is then ignored), which keeps the
// inactivity timeout from firing while the stream goes around.
func (s *Session) ReceivedAround(seq uint16, n uint64, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(at)
	if at.After(s.activity) {
		s.alive(at)
		if s.latched && at.After(s.lastSource) {
			s.lastSource = at
		}
	}
	if n == 0 || !s.gate.active {
		s.pktsIn += n
		return
	}
	s.pktsIn += n
	r := &s.recv
	// The forward distance to seq, plus the whole cycles that n packets
	// imply beyond it. Packets that came after the bypass may have
	// reached the session first and taken it just past seq already: a
	// distance n cannot account for means that.
	d := uint64(seq - r.maxSeq)
	if behind := r.maxSeq - seq; behind < maxMisorder && n < d {
		d = 0
	}
	if n > d {
		d += (n - d) / seqMod * seqMod
	}
	ext := uint64(r.extendedMax()) + d
	r.cycles, r.maxSeq = uint32(ext)&^(seqMod-1), uint16(ext)
	r.received += uint32(n)
	r.badSeq = seqMod + 1
	r.haveTransit = false // the next transit time starts a new baseline
}
