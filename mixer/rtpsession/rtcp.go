package rtpsession

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/pion/rtcp"
)

const (
	rtcpHeaderLen  = 4
	senderInfoLen  = 20
	reportBlockLen = 24
	byeLen         = rtcpHeaderLen + 4
	emptyRRLen     = rtcpHeaderLen + 4
	srLen          = rtcpHeaderLen + 4 + senderInfoLen
	sdesCNAME      = 1 // SDES item type (RFC 3550 §6.5.1)

	// ntpEpochOffset is the seconds from 1900, the NTP epoch, to 1970.
	ntpEpochOffset = 2208988800

	// minRTCPInterval is Tmin of RFC 3550 §6.2. With two members and an
	// audio session's RTCP bandwidth the computed interval of §6.3.1 stays
	// below it, so it is the deterministic interval Td.
	minRTCPInterval = 5 * time.Second
)

// lastSR is the remote's most recent sender report, echoed in our reports
// as LSR and DLSR (RFC 3550 §6.4.1).
type lastSR struct {
	valid     bool
	ssrc      uint32
	ntpMiddle uint32
	arrival   time.Time
}

// remoteReport is what the remote last reported about our stream.
type remoteReport struct {
	fraction uint8
	lost     int64
	jitter   uint32
	rtt      time.Duration
}

// HandleRTCP takes one datagram that arrived on the RTCP port. A valid
// compound packet (RFC 3550 §6.1, A.2) yields Control: sender reports are
// kept for our LSR/DLSR, report blocks about our stream give the remote's
// view of loss and jitter and the round-trip time, and a BYE from the
// remote's media source queues EventBye. Invalid packets yield Dropped and
// are counted. HandleRTCP does not allocate.
func (s *Session) HandleRTCP(buf []byte, from netip.AddrPort, now time.Time) Verdict {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(now)
	return s.handleRTCP(buf, unmap(from), now, false)
}

// handleRTCP handles a compound packet from the RTCP port, or from the RTP
// port when muxed.
func (s *Session) handleRTCP(buf []byte, from netip.AddrPort, now time.Time, muxed bool) Verdict {
	if reason := checkCompound(buf); reason != accepted {
		s.drops.count(reason)
		return Dropped
	}
	ok := false
	if muxed {
		ok = s.acceptSource(from, now)
		if ok && s.latch {
			s.rtcpRemote = from
		}
	} else {
		ok = s.acceptRTCPSource(from)
	}
	if !ok {
		s.drops.count(dropWrongSource)
		return Dropped
	}
	s.processCompound(buf, now)
	s.rtcpIn++
	s.alive(now)
	return Control
}

// acceptRTCPSource decides whether RTCP from from, on the RTCP port, is
// the remote's. Its source port is whatever the remote or its NAT chose, so
// the address alone is matched against the media source; with latching the
// port is latched to send our RTCP back to (symmetric RTCP, RFC 4961 §3).
// Before media has latched, only the SDP address (or, without one, anyone)
// is accepted.
func (s *Session) acceptRTCPSource(from netip.AddrPort) bool {
	want := s.rtpRemote
	if s.latch && !s.latched {
		want = s.sdpRemote
	}
	if want.IsValid() && want.Addr() != from.Addr() {
		return false
	}
	if s.latch {
		s.rtcpRemote = from
	}
	return true
}

// checkCompound applies the RTCP header validity checks of RFC 3550 A.2:
// every packet version 2, lengths that add up to the datagram, padding only
// on the last packet, and a report (SR or RR) first. A lone BYE is let
// through, as some endpoints hang up with one. It also checks that SR, RR
// and BYE bodies hold what their counts say, so processCompound need not.
func checkCompound(buf []byte) dropReason {
	if len(buf) < rtcpHeaderLen {
		return dropTruncated
	}
	var h rtcp.Header
	for off := 0; off < len(buf); {
		rest := buf[off:]
		if len(rest) < rtcpHeaderLen {
			return dropTruncated
		}
		if h.Unmarshal(rest) != nil {
			return dropBadVersion // its only failure once the length is known
		}
		size := 4 * (int(h.Length) + 1)
		if size > len(rest) {
			return dropTruncated
		}
		body := rest[rtcpHeaderLen:size]
		if h.Padding {
			if size != len(rest) {
				return dropBadRTCP
			}
			if len(body) == 0 || body[len(body)-1] == 0 || int(body[len(body)-1]) > len(body) {
				return dropBadPadding
			}
			body = body[:len(body)-int(body[len(body)-1])]
		}
		if off == 0 && h.Type != rtcp.TypeSenderReport && h.Type != rtcp.TypeReceiverReport && h.Type != rtcp.TypeGoodbye {
			return dropBadRTCP
		}
		need := 0
		switch h.Type {
		case rtcp.TypeSenderReport:
			need = 4 + senderInfoLen + reportBlockLen*int(h.Count)
		case rtcp.TypeReceiverReport:
			need = 4 + reportBlockLen*int(h.Count)
		case rtcp.TypeGoodbye:
			need = 4 * int(h.Count)
		}
		if len(body) < need {
			return dropTruncated
		}
		off += size
	}
	return accepted
}

// processCompound applies a compound packet checkCompound accepted. Packet
// types other than SR, RR and BYE (SDES, APP, feedback, XR) are skipped.
func (s *Session) processCompound(buf []byte, now time.Time) {
	var h rtcp.Header
	for off := 0; off < len(buf); {
		_ = h.Unmarshal(buf[off:])
		size := 4 * (int(h.Length) + 1)
		body := buf[off+rtcpHeaderLen : off+size]
		if h.Padding {
			body = body[:len(body)-int(body[len(body)-1])]
		}
		off += size
		switch h.Type {
		case rtcp.TypeSenderReport:
			ssrc := binary.BigEndian.Uint32(body)
			if !s.gate.active || ssrc == s.gate.ssrc {
				s.lastSR = lastSR{
					valid:     true,
					ssrc:      ssrc,
					ntpMiddle: uint32(binary.BigEndian.Uint64(body[4:]) >> 16),
					arrival:   now,
				}
			}
			s.reportBlocks(body[4+senderInfoLen:], int(h.Count), now)
		case rtcp.TypeReceiverReport:
			s.reportBlocks(body[4:], int(h.Count), now)
		case rtcp.TypeGoodbye:
			for i := range int(h.Count) {
				if s.gate.active && binary.BigEndian.Uint32(body[4*i:]) == s.gate.ssrc {
					s.events.push(Event{Kind: EventBye})
					break
				}
			}
		}
	}
}

// reportBlocks takes the remote's report about our stream from count
// report blocks in b.
func (s *Session) reportBlocks(b []byte, count int, now time.Time) {
	for i := range count {
		if s.rr.Unmarshal(b[i*reportBlockLen:]) != nil || s.rr.SSRC != s.ssrc {
			continue
		}
		s.remote.fraction = s.rr.FractionLost
		s.remote.lost = int64(int32(s.rr.TotalLost<<8) >> 8) // signed 24 bits
		s.remote.jitter = s.rr.Jitter
		// RFC 3550 §6.4.1: RTT = A - LSR - DLSR, in 1/65536 s, where A is
		// the arrival time. Only an LSR echoing one of our recent SRs is
		// used, so a stale or forged report cannot fake a round trip.
		if lsr := s.rr.LastSenderReport; lsr != 0 && s.sentSR(lsr) {
			if rtt := ntpMiddle(now) - lsr - s.rr.Delay; int32(rtt) >= 0 {
				s.remote.rtt = time.Duration(uint64(rtt) * uint64(time.Second) >> 16)
			}
		}
	}
}

// sentSR reports whether lsr is the middle of one of our recent SRs' NTP
// timestamps.
func (s *Session) sentSR(lsr uint32) bool {
	for _, v := range s.srSent {
		if v == lsr {
			return true
		}
	}
	return false
}

// ntpTime is t as a 64-bit NTP timestamp (RFC 5905 §6); it wraps in 2036,
// which the 32-bit middle words used here tolerate.
func ntpTime(t time.Time) uint64 {
	sec := uint64(t.Unix() + ntpEpochOffset)
	frac := (uint64(t.Nanosecond()) << 32) / uint64(time.Second)
	return sec<<32 | frac
}

// ntpMiddle is the middle 32 bits of t's NTP timestamp, the unit of LSR
// (RFC 3550 §6.4.1).
func ntpMiddle(t time.Time) uint32 {
	return uint32(ntpTime(t) >> 16)
}

// RTCPDue reports whether a report should go out at now. Reports follow
// RFC 3550 §6.2: Tmin of 5 s, halved before the first, each interval
// randomised to 0.5-1.5 times. The schedule starts at the first call; the
// report stays due until WriteRTCP is called.
func (s *Session) RTCPDue(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(now)
	if s.nextRTCP.IsZero() {
		s.nextRTCP = now.Add(s.interval(true))
		return false
	}
	return !now.Before(s.nextRTCP)
}

// interval draws the next reporting interval (RFC 3550 §6.3.1). Without
// timer reconsideration, which only matters for large groups, the
// e-3/2 compensation is not applied.
func (s *Session) interval(initial bool) time.Duration {
	td := minRTCPInterval
	if initial {
		td /= 2
	}
	return time.Duration(float64(td) * (0.5 + s.rng.Float64()))
}

// WriteRTCP builds a compound report into dst and returns its length: an SR
// if we sent RTP in this or the previous interval (RFC 3550 §6.3.8), else an
// RR, with a reception report block for the remote's source once it has
// sent media, then an SDES with our CNAME (§6.1). It starts the next
// reporting interval. WriteRTCP does not allocate.
func (s *Session) WriteRTCP(dst []byte, now time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(now)
	isSender := s.tx.sentNow || s.tx.sentBefore
	blocks := 0
	if s.gate.active {
		blocks = 1
	}
	report := emptyRRLen
	if isSender {
		report = srLen
	}
	report += reportBlockLen * blocks
	if len(dst) < report+sdesLen(s.cname) {
		return 0, ErrShortBuffer
	}

	typ := rtcp.TypeReceiverReport
	if isSender {
		typ = rtcp.TypeSenderReport
	}
	putRTCPHeader(dst, blocks, typ, report)
	binary.BigEndian.PutUint32(dst[4:], s.ssrc)
	n := emptyRRLen
	if isSender {
		ntp := ntpTime(now)
		rtpTS := s.tx.nextTS
		if s.tx.started {
			// The RTP time of the same instant as the NTP timestamp.
			rtpTS = s.tx.refTS + uint32(durationToTicks(now.Sub(s.tx.refWall), s.sendRate))
		}
		binary.BigEndian.PutUint64(dst[8:], ntp)
		binary.BigEndian.PutUint32(dst[16:], rtpTS)
		binary.BigEndian.PutUint32(dst[20:], uint32(s.tx.packets))
		binary.BigEndian.PutUint32(dst[24:], uint32(s.tx.octets))
		n = srLen
		s.srSent[s.srNext] = uint32(ntp >> 16)
		s.srNext = (s.srNext + 1) % len(s.srSent)
	}
	if blocks == 1 {
		s.putReportBlock(dst[n:], now)
		n += reportBlockLen
	}
	n += putSDES(dst[n:], s.ssrc, s.cname)

	s.tx.sentBefore, s.tx.sentNow = s.tx.sentNow, false
	s.nextRTCP = now.Add(s.interval(false))
	s.rtcpOut++
	return n, nil
}

// putReportBlock writes the reception report block about the remote's
// source (RFC 3550 §6.4.1) and starts a new loss interval.
func (s *Session) putReportBlock(dst []byte, now time.Time) {
	fraction, lost, extMax, jitter := s.recv.block()
	binary.BigEndian.PutUint32(dst, s.gate.ssrc)
	binary.BigEndian.PutUint32(dst[4:], uint32(fraction)<<24|lost)
	binary.BigEndian.PutUint32(dst[8:], extMax)
	binary.BigEndian.PutUint32(dst[12:], jitter)
	var lsr, dlsr uint32
	if s.lastSR.valid && s.lastSR.ssrc == s.gate.ssrc {
		lsr = s.lastSR.ntpMiddle
		dlsr = uint32(max(durationToTicks(now.Sub(s.lastSR.arrival), 65536), 0))
	}
	binary.BigEndian.PutUint32(dst[16:], lsr)
	binary.BigEndian.PutUint32(dst[20:], dlsr)
}

// WriteBye builds the compound packet that leaves the session (RFC 3550
// §6.6) into dst: an empty RR, which needs no clock (§6.1 allows it), our
// SDES CNAME, and a BYE for our SSRC.
func (s *Session) WriteBye(dst []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sdes := sdesLen(s.cname)
	if len(dst) < emptyRRLen+sdes+byeLen {
		return 0, ErrShortBuffer
	}
	putRTCPHeader(dst, 0, rtcp.TypeReceiverReport, emptyRRLen)
	binary.BigEndian.PutUint32(dst[4:], s.ssrc)
	n := emptyRRLen
	n += putSDES(dst[n:], s.ssrc, s.cname)
	putRTCPHeader(dst[n:], 1, rtcp.TypeGoodbye, byeLen)
	binary.BigEndian.PutUint32(dst[n+4:], s.ssrc)
	n += byeLen
	s.rtcpOut++
	return n, nil
}

// putRTCPHeader writes an RTCP common header (RFC 3550 §6.4.1) for a packet
// of size bytes, a multiple of four.
func putRTCPHeader(dst []byte, count int, typ rtcp.PacketType, size int) {
	dst[0] = 2<<6 | uint8(count)
	dst[1] = uint8(typ)
	binary.BigEndian.PutUint16(dst[2:], uint16(size/4-1))
}

// sdesLen is the size of an SDES packet with one chunk holding a CNAME of
// cname bytes: SSRC, item type and length, the text, and at least one null
// octet ending the item list, padded to 32 bits (RFC 3550 §6.5).
func sdesLen(cname string) int {
	chunk := 4 + 2 + len(cname) + 1
	return rtcpHeaderLen + (chunk+3)&^3
}

// putSDES writes an SDES packet with our CNAME and returns its size.
func putSDES(dst []byte, ssrc uint32, cname string) int {
	size := sdesLen(cname)
	putRTCPHeader(dst, 1, rtcp.TypeSourceDescription, size)
	binary.BigEndian.PutUint32(dst[4:], ssrc)
	dst[8] = sdesCNAME
	dst[9] = uint8(len(cname))
	copy(dst[10:], cname)
	clear(dst[10+len(cname) : size])
	return size
}
