package rtpsession

import (
	"encoding/binary"
	"net/netip"
	"time"
)

const (
	rtpHeaderLen   = 12
	maxCSRC        = 15
	maxFixedHeader = rtpHeaderLen + 4*maxCSRC
	extensionBit   = 0x10
	paddingBit     = 0x20
)

// dropReason names the Drops counter a datagram is charged to.
type dropReason int

const (
	accepted dropReason = iota
	dropTruncated
	dropBadVersion
	dropBadPadding
	dropUnknownPT
	dropWrongSource
	dropSSRCChurn
	dropSeqJump
	dropBadRTCP
)

// count charges one datagram to reason.
func (d *Drops) count(reason dropReason) {
	switch reason {
	case dropTruncated:
		d.Truncated++
	case dropBadVersion:
		d.BadVersion++
	case dropBadPadding:
		d.BadPadding++
	case dropUnknownPT:
		d.UnknownPT++
	case dropWrongSource:
		d.WrongSource++
	case dropSSRCChurn:
		d.SSRCChurn++
	case dropSeqJump:
		d.SeqJump++
	case dropBadRTCP:
		d.BadRTCP++
	}
}

// isRTCP tells RTCP from RTP on a shared port by the second octet: RTCP
// packet types 192-223 are RTP payload types 64-95 with the marker bit set,
// a range New refuses for media (RFC 5761 §4).
func isRTCP(buf []byte) bool {
	return len(buf) >= 2 && buf[1] >= 192 && buf[1] <= 223
}

// HandleRTP takes one datagram that arrived on the RTP port from from at now.
//
// A media packet yields Media and its header fields, with the payload as a
// sub-slice of buf. RTCP multiplexed on the port (RFC 5761) and RFC 4733
// telephone-events are consumed and yield Control; digits are queued for
// Events. Anything else yields Dropped and is counted by reason in
// Stats().Dropped. HandleRTP does not allocate.
func (s *Session) HandleRTP(buf []byte, from netip.AddrPort, now time.Time) (InboundMedia, Verdict) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(now)
	from = unmap(from)

	if isRTCP(buf) {
		return InboundMedia{}, s.handleRTCP(buf, from, now, true)
	}
	hdrLen, end, reason := checkRTP(buf)
	if reason != accepted {
		s.drops.count(reason)
		return InboundMedia{}, Dropped
	}

	// pion/rtp parses the fixed header and CSRCs from a copy with the X bit
	// cleared: checkRTP has bounds-checked the extension, and letting pion
	// decode RFC 8285 elements would grow Header.Extensions with however
	// many elements a sender packs in. Its error path (fmt.Errorf) would
	// allocate too, which the pre-check keeps it from reaching.
	fixed := rtpHeaderLen + 4*int(buf[0]&0x0f)
	copy(s.scratch[:], buf[:fixed])
	s.scratch[0] &^= extensionBit
	if _, err := s.hdr.Unmarshal(s.scratch[:fixed]); err != nil {
		s.drops.count(dropTruncated)
		return InboundMedia{}, Dropped
	}

	pt := s.hdr.PayloadType
	telephoneEvent := s.dtmfOn && pt == s.dtmfPT
	if s.rates[pt] == 0 && !telephoneEvent {
		s.drops.count(dropUnknownPT)
		return InboundMedia{}, Dropped
	}
	if !s.acceptSource(from, now) {
		s.drops.count(dropWrongSource)
		return InboundMedia{}, Dropped
	}
	payload := buf[hdrLen:end]
	if telephoneEvent {
		if reason := s.handleTelephoneEvent(payload, now); reason != accepted {
			s.drops.count(reason)
			return InboundMedia{}, Dropped
		}
		s.received(len(buf), now)
		return InboundMedia{}, Control
	}

	accept, restart := s.gate.admit(s.hdr.SSRC, s.hdr.SequenceNumber, now)
	if !accept {
		s.drops.count(dropSSRCChurn)
		return InboundMedia{}, Dropped
	}
	if restart {
		s.recv.init(s.hdr.SequenceNumber)
	} else if !s.recv.update(s.hdr.SequenceNumber) {
		s.drops.count(dropSeqJump)
		return InboundMedia{}, Dropped
	}
	s.recv.updateJitter(s.hdr.Timestamp, now, s.rates[pt])
	s.received(len(buf), now)
	return InboundMedia{
		PayloadType: pt,
		Seq:         s.hdr.SequenceNumber,
		Timestamp:   s.hdr.Timestamp,
		SSRC:        s.hdr.SSRC,
		Marker:      s.hdr.Marker,
		Payload:     payload,
	}, Media
}

// received counts an accepted RTP datagram of n bytes.
func (s *Session) received(n int, now time.Time) {
	s.pktsIn++
	s.bytesIn += uint64(n)
	s.alive(now)
}

// checkRTP applies the RFC 3550 A.1 header validity checks that do not need
// session state: version 2, a datagram long enough for the CSRC list and the
// header extension (§5.3.1), and a padding count that fits (§5.1). It
// returns the header length and the end of the payload.
func checkRTP(buf []byte) (hdrLen, end int, reason dropReason) {
	if len(buf) < rtpHeaderLen {
		return 0, 0, dropTruncated
	}
	if buf[0]>>6 != 2 {
		return 0, 0, dropBadVersion
	}
	hdrLen = rtpHeaderLen + 4*int(buf[0]&0x0f)
	if len(buf) < hdrLen {
		return 0, 0, dropTruncated
	}
	if buf[0]&extensionBit != 0 {
		if len(buf) < hdrLen+4 {
			return 0, 0, dropTruncated
		}
		hdrLen += 4 + 4*int(binary.BigEndian.Uint16(buf[hdrLen+2:]))
		if len(buf) < hdrLen {
			return 0, 0, dropTruncated
		}
	}
	end = len(buf)
	if buf[0]&paddingBit != 0 {
		// The last octet counts the padding, itself included.
		pad := int(buf[end-1])
		if pad == 0 || pad > end-hdrLen {
			return 0, 0, dropBadPadding
		}
		end -= pad
	}
	return hdrLen, end, accepted
}

// acceptSource decides whether a packet from from may enter the session.
// Without latching only the SDP address is accepted. With latching the first
// valid packet fixes the remote, and another address may take over only once
// the latched one has been silent for relatchAfter, as when a NAT rebinds
// (RFC 4961 §4 on symmetric RTP).
func (s *Session) acceptSource(from netip.AddrPort, now time.Time) bool {
	if !s.latch {
		return from == s.sdpRemote
	}
	switch {
	case s.latched && from == s.rtpRemote:
	case !s.latched || now.Sub(s.lastSource) > relatchAfter:
		s.latched = true
		if from != s.rtpRemote {
			s.rtpRemote = from
			s.rtcpRemote = netip.AddrPort{}
			s.events.push(Event{Kind: EventRemoteChanged, Remote: from})
		}
	default:
		return false
	}
	s.lastSource = now
	return true
}

const (
	// minSequential is how many packets in sequence a new SSRC must send,
	// uninterrupted by the current one, before it replaces it (the
	// probation of RFC 3550 A.1).
	minSequential = 2
	// maxSwitches SSRC changes are allowed per churnWindow; beyond that new
	// sources are dropped, so a flood of SSRCs costs nothing but counters.
	maxSwitches = 3
	churnWindow = 10 * time.Second
)

// ssrcGate holds which SSRC is the remote's media stream. A participant
// sends one stream, but its SSRC may legitimately change, for example when
// a B2BUA or transfer joins a new call leg. The gate's state is fixed in
// size whatever arrives.
type ssrcGate struct {
	active    bool
	ssrc      uint32
	cand      uint32
	candSeq   uint16
	candCount int
	switches  [maxSwitches]time.Time // ring of the last switch times
	next      int
}

// admit reports whether a packet with ssrc and seq belongs to the stream,
// and whether it starts a new one (first packet or an SSRC change).
func (g *ssrcGate) admit(ssrc uint32, seq uint16, now time.Time) (accept, restart bool) {
	switch {
	case !g.active:
		g.active, g.ssrc = true, ssrc
		return true, true
	case ssrc == g.ssrc:
		g.candCount = 0
		return true, false
	}
	if g.candCount > 0 && ssrc == g.cand && seq == g.candSeq+1 {
		g.candCount++
	} else {
		g.cand, g.candCount = ssrc, 1
	}
	g.candSeq = seq
	if g.candCount < minSequential {
		return false, false
	}
	if oldest := g.switches[g.next]; !oldest.IsZero() && now.Sub(oldest) < churnWindow {
		return false, false
	}
	g.switches[g.next] = now
	g.next = (g.next + 1) % len(g.switches)
	g.ssrc, g.candCount = ssrc, 0
	return true, true
}
