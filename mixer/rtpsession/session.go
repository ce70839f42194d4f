// Package rtpsession is the RTP/RTCP session of one participant of the audio
// MCU: it sits between the packet path, which hands it raw datagrams, and the
// participant's jitter buffer and codec.
//
// A Session never touches a socket or the clock. Inbound datagrams and the
// time they arrived are passed to HandleRTP and HandleRTCP; outbound packets
// are built into caller buffers by WriteRTP, WriteDTMF, WriteRTCP and
// WriteBye, which the caller sends to the addresses Remote reports. That keeps
// every behaviour deterministic under test.
//
// What it does per RFC:
//   - validates RTP headers (RFC 3550 §5.1, A.1) and demultiplexes RTCP sent
//     on the RTP port (RFC 5761 §4);
//   - latches the remote address to the source of media (symmetric RTP,
//     RFC 4961) and follows NAT rebinding;
//   - bounds SSRC changes so a flood of sources cannot grow state;
//   - turns RFC 4733 telephone-events into one digit event per key press;
//   - keeps reception statistics (RFC 3550 A.1, A.3, A.8), sends SR/RR with
//     SDES CNAME on the RFC 3550 §6.2 interval and measures round-trip time
//     from the remote's reports (§6.4.1).
//
// The per-packet paths (HandleRTP, WriteRTP, WriteDTMF, WriteRTCP) do not
// allocate. A Session is safe for concurrent use: the receive loop, the mixer
// clock and a stats reader may call it from different goroutines.
package rtpsession

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

// Errors callers may need to tell apart.
var (
	// ErrConfig is returned by New for a configuration it cannot run with.
	ErrConfig = errors.New("rtpsession: invalid config")
	// ErrShortBuffer is returned when dst cannot hold the packet to build.
	ErrShortBuffer = errors.New("rtpsession: destination buffer too short")
	// ErrPayloadType is returned when asked to send a payload type that was
	// not negotiated, or telephone-events at a clock rate other than the
	// negotiated one.
	ErrPayloadType = errors.New("rtpsession: payload type not negotiated")
)

// DefaultInactivityTimeout is used when Config.InactivityTimeout is zero.
const DefaultInactivityTimeout = 30 * time.Second

// NoTimeout, as Config.InactivityTimeout, disables the inactivity timeout.
const NoTimeout time.Duration = -1

// defaultDTMFClockRate is the telephone-event rate when SDP gives none
// (RFC 4733 §7.1.1).
const defaultDTMFClockRate = 8000

// relatchAfter is how long the latched source must be silent before a packet
// from another address may take its place, e.g. after a NAT rebinding.
const relatchAfter = 2 * time.Second

// Config describes one participant's RTP session as negotiated in SDP.
type Config struct {
	// LocalSSRC is the SSRC we send with; 0 picks a random one (RFC 3550 §8).
	LocalSSRC uint32
	// PayloadTypes maps each accepted media payload type to its RTP clock
	// rate, from the SDP answer. It is copied by New.
	PayloadTypes map[uint8]uint32
	// DTMFPayloadType is the RFC 4733 telephone-event payload type; 0 means
	// none was negotiated (telephone-event is always dynamic, 96-127).
	DTMFPayloadType uint8
	// DTMFClockRate is the telephone-event clock rate; 0 means 8000.
	DTMFClockRate uint32
	// SendPayloadType is the payload type WriteRTP sends.
	SendPayloadType uint8
	// SendClockRate is its clock rate; 0 takes it from PayloadTypes.
	SendClockRate uint32
	// Latch makes the session symmetric (RFC 4961): media and RTCP go to
	// wherever the remote's valid packets come from, not to the SDP address,
	// which behind a NAT is usually unreachable.
	Latch bool
	// Remote is the RTP address from SDP. Without Latch only packets from it
	// are accepted and it is required; with Latch it may be left zero.
	Remote netip.AddrPort
	// RTCPMux says RTCP is multiplexed on the RTP port (RFC 5761, a=rtcp-mux).
	RTCPMux bool
	// RemoteRTCP is the RTCP address from SDP (RFC 3605 a=rtcp); zero means
	// the RTP port plus one (RFC 3550 §11), or the RTP port with RTCPMux.
	RemoteRTCP netip.AddrPort
	// InactivityTimeout is how long without a valid RTP or RTCP packet before
	// CheckTimeout fires; 0 means DefaultInactivityTimeout, NoTimeout
	// disables it.
	InactivityTimeout time.Duration
	// CNAME is the SDES canonical name (RFC 3550 §6.5.1); empty picks a
	// random one (RFC 7022 §4.2). At most 255 bytes.
	CNAME string
}

// Verdict tells the caller what HandleRTP or HandleRTCP did with a datagram.
type Verdict int

const (
	// Dropped means the datagram was invalid or unwanted and was counted in
	// Stats.Dropped under its reason.
	Dropped Verdict = iota
	// Media means the datagram is a media packet for the jitter buffer.
	Media
	// Control means the datagram was consumed here: RTCP or telephone-event.
	Control
)

func (v Verdict) String() string {
	switch v {
	case Dropped:
		return "dropped"
	case Media:
		return "media"
	case Control:
		return "control"
	}
	return fmt.Sprintf("Verdict(%d)", int(v))
}

// InboundMedia is one accepted media packet.
type InboundMedia struct {
	PayloadType uint8
	Seq         uint16
	Timestamp   uint32
	SSRC        uint32
	Marker      bool
	// Payload is a sub-slice of the datagram, without header or padding; it
	// is valid as long as the caller keeps that buffer.
	Payload []byte
}

// EventKind says what an Event reports.
type EventKind int

const (
	// EventDigit is one DTMF key press (RFC 4733).
	EventDigit EventKind = iota + 1
	// EventTimeout reports that no valid RTP or RTCP arrived for the
	// inactivity timeout.
	EventTimeout
	// EventRemoteChanged reports that media now goes to a new address,
	// Event.Remote, because the session latched to it.
	EventRemoteChanged
	// EventBye reports that the remote's media source sent an RTCP BYE
	// (RFC 3550 §6.6).
	EventBye
)

func (k EventKind) String() string {
	switch k {
	case EventDigit:
		return "digit"
	case EventTimeout:
		return "timeout"
	case EventRemoteChanged:
		return "remote-changed"
	case EventBye:
		return "bye"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event is something the session noticed for the layers above it.
type Event struct {
	Kind EventKind
	// Digit is '0'-'9', '*', '#' or 'A'-'D' for EventDigit.
	Digit byte
	// Duration is the key press duration the first packet of the event
	// reported (RFC 4733 §2.3.5); usually one packet's worth, since digits
	// are reported as soon as they start.
	Duration time.Duration
	// Remote is the new media address for EventRemoteChanged.
	Remote netip.AddrPort
}

// eventQueueLen bounds pending events; a caller that drains Events each
// frame never comes near it.
const eventQueueLen = 16

// eventQueue is a fixed ring of pending events, so event floods cannot grow
// memory; overflowing events are dropped and counted.
type eventQueue struct {
	buf     [eventQueueLen]Event
	head, n int
	dropped uint64
}

func (q *eventQueue) push(e Event) {
	if q.n == len(q.buf) {
		q.dropped++
		return
	}
	q.buf[(q.head+q.n)%len(q.buf)] = e
	q.n++
}

func (q *eventQueue) drain(dst []Event) []Event {
	for ; q.n > 0; q.n-- {
		dst = append(dst, q.buf[q.head])
		q.head = (q.head + 1) % len(q.buf)
	}
	return dst
}

// Drops counts dropped datagrams by reason.
type Drops struct {
	// Truncated: shorter than its fixed header, CSRC list, header extension,
	// telephone-event payload or RTCP length field says.
	Truncated uint64
	// BadVersion: version field not 2.
	BadVersion uint64
	// BadPadding: padding count zero or larger than the payload (RFC 3550 §5.1).
	BadPadding uint64
	// UnknownPT: payload type not negotiated.
	UnknownPT uint64
	// WrongSource: from an address the session does not accept.
	WrongSource uint64
	// SSRCChurn: from an SSRC other than the stream's, either a new source
	// still on probation or one beyond the limit of SSRC changes.
	SSRCChurn uint64
	// SeqJump: a sequence number jump too large to trust until the next
	// packet confirms it (RFC 3550 A.1).
	SeqJump uint64
	// BadRTCP: an RTCP compound packet that fails RFC 3550 A.2.
	BadRTCP uint64
}

// Total is the number of dropped datagrams.
func (d Drops) Total() uint64 {
	return d.Truncated + d.BadVersion + d.BadPadding + d.UnknownPT +
		d.WrongSource + d.SSRCChurn + d.SeqJump + d.BadRTCP
}

// Stats is a snapshot of the session's counters and measurements.
type Stats struct {
	// PacketsReceived and BytesReceived count accepted RTP datagrams
	// (media and telephone-event), headers included.
	PacketsReceived, BytesReceived uint64
	// PacketsSent and BytesSent count RTP packets built, headers included.
	PacketsSent, BytesSent uint64
	// RTCPReceived and RTCPSent count accepted and built RTCP compounds.
	RTCPReceived, RTCPSent uint64
	// Lost is the cumulative number of packets lost from the current remote
	// source (RFC 3550 A.3); duplicates can make it negative.
	Lost int64
	// FractionLost is the fraction lost in the last reporting interval, as
	// put in our last report (RFC 3550 A.3).
	FractionLost float64
	// Jitter is the interarrival jitter of the remote's media (RFC 3550 A.8).
	Jitter time.Duration
	// RemoteLost, RemoteFractionLost and RemoteJitter are what the remote
	// last reported about our stream (RFC 3550 §6.4.1).
	RemoteLost         int64
	RemoteFractionLost float64
	RemoteJitter       time.Duration
	// RTT is the last round-trip time measured from LSR/DLSR (§6.4.1).
	RTT time.Duration
	// Dropped counts dropped datagrams by reason.
	Dropped Drops
	// EventsDropped counts events lost because Events was not drained.
	EventsDropped uint64
}

// Session is one participant's RTP/RTCP session. Create it with New.
type Session struct {
	mu sync.Mutex

	// Negotiated parameters, fixed at New.
	rates     [128]uint32 // media clock rate by payload type; 0 = not accepted
	dtmfPT    uint8
	dtmfOn    bool
	dtmfRate  uint32
	sendPT    uint8
	sendRate  uint32
	latch     bool
	rtcpMux   bool
	sdpRemote netip.AddrPort
	sdpRTCP   netip.AddrPort
	timeout   time.Duration
	cname     string
	ssrc      uint32

	// Where the remote is (RFC 4961 latching).
	rtpRemote  netip.AddrPort // where media goes
	rtcpRemote netip.AddrPort // where RTCP goes once latched; zero = derive
	latched    bool
	lastSource time.Time // last accepted packet from rtpRemote

	// Receive side.
	hdr     rtp.Header
	scratch [maxFixedHeader]byte
	gate    ssrcGate
	recv    recvStats
	dtmf    dtmfReceiver
	lastSR  lastSR
	rr      rtcp.ReceptionReport
	remote  remoteReport
	pktsIn  uint64
	bytesIn uint64
	rtcpIn  uint64
	drops   Drops

	// Send side.
	tx      sender
	rtcpOut uint64
	srSent  [4]uint32 // NTP middle words of our recent SRs, to check LSR
	srNext  int

	// RTCP schedule (RFC 3550 §6.2).
	rng      *mrand.Rand
	nextRTCP time.Time

	// Liveness.
	started  bool
	activity time.Time
	timedOut bool

	events eventQueue
}

// New checks cfg and returns a session ready for packets.
func New(cfg Config) (*Session, error) {
	s := &Session{
		latch:   cfg.Latch,
		rtcpMux: cfg.RTCPMux,
		timeout: cfg.InactivityTimeout,
		cname:   cfg.CNAME,
		ssrc:    cfg.LocalSSRC,
	}
	if len(cfg.PayloadTypes) == 0 {
		return nil, fmt.Errorf("%w: no payload types", ErrConfig)
	}
	for pt, rate := range cfg.PayloadTypes {
		if err := checkPayloadType(pt); err != nil {
			return nil, err
		}
		if rate == 0 {
			return nil, fmt.Errorf("%w: payload type %d has clock rate 0", ErrConfig, pt)
		}
		s.rates[pt] = rate
	}
	if cfg.DTMFPayloadType != 0 {
		pt := cfg.DTMFPayloadType
		if err := checkPayloadType(pt); err != nil {
			return nil, err
		}
		if s.rates[pt] != 0 {
			return nil, fmt.Errorf("%w: telephone-event payload type %d is also a media type", ErrConfig, pt)
		}
		s.dtmfOn, s.dtmfPT, s.dtmfRate = true, pt, cfg.DTMFClockRate
		if s.dtmfRate == 0 {
			s.dtmfRate = defaultDTMFClockRate
		}
	}
	s.sendPT, s.sendRate = cfg.SendPayloadType, cfg.SendClockRate
	if err := checkPayloadType(s.sendPT); err != nil {
		return nil, err
	}
	if s.sendRate == 0 {
		s.sendRate = s.rates[s.sendPT]
	}
	if s.sendRate == 0 {
		return nil, fmt.Errorf("%w: no clock rate for send payload type %d", ErrConfig, s.sendPT)
	}
	s.sdpRemote = unmap(cfg.Remote)
	s.rtpRemote = s.sdpRemote
	s.sdpRTCP = unmap(cfg.RemoteRTCP)
	if !cfg.Latch && !s.sdpRemote.IsValid() {
		return nil, fmt.Errorf("%w: a remote address is required without latching", ErrConfig)
	}
	switch {
	case s.timeout == 0:
		s.timeout = DefaultInactivityTimeout
	case s.timeout < 0:
		s.timeout = 0
	}
	if len(s.cname) > 255 {
		return nil, fmt.Errorf("%w: CNAME longer than 255 bytes", ErrConfig)
	}

	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	s.rng = mrand.New(mrand.NewChaCha8(seed))
	if s.cname == "" {
		// RFC 7022 §4.2: a short-term persistent CNAME from 96 random bits.
		var id [12]byte
		_, _ = rand.Read(id[:])
		s.cname = base64.RawStdEncoding.EncodeToString(id[:])
	}
	for s.ssrc == 0 {
		s.ssrc = s.rng.Uint32()
	}
	// RFC 3550 §5.1: initial sequence number and timestamp are random.
	s.tx.seq = uint16(s.rng.Uint32())
	s.tx.nextTS = s.rng.Uint32()
	s.hdr.CSRC = make([]uint32, 0, maxCSRC)
	return s, nil
}

// checkPayloadType rejects payload types outside 7 bits, and those whose
// marker-bit form collides with RTCP packet types 192-223: we accept RTCP on
// the RTP port whether or not rtcp-mux was negotiated, so these could not be
// told apart (RFC 5761 §4; RFC 3551 §6 reserves 72-76).
func checkPayloadType(pt uint8) error {
	if pt > 127 {
		return fmt.Errorf("%w: payload type %d above 127", ErrConfig, pt)
	}
	if pt >= 64 && pt <= 95 {
		return fmt.Errorf("%w: payload type %d collides with RTCP (RFC 5761 §4)", ErrConfig, pt)
	}
	return nil
}

// unmap turns an IPv4-mapped IPv6 address into plain IPv4, so a dual-stack
// socket's view of a source compares equal to the SDP's.
func unmap(a netip.AddrPort) netip.AddrPort {
	if !a.IsValid() {
		return a
	}
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}

// LocalSSRC is the SSRC the session sends with.
func (s *Session) LocalSSRC() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ssrc
}

// Remote reports where to send RTP and RTCP, and whether the RTP address was
// latched from inbound packets rather than taken from SDP.
func (s *Session) Remote() (rtpAddr netip.AddrPort, rtcpAddr netip.AddrPort, latched bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rtpRemote, s.rtcpAddr(), s.latched
}

// rtcpAddr is where RTCP goes: the address RTCP was latched to, else the
// RTP address itself with rtcp-mux, else the SDP a=rtcp address (unless RTP
// was latched away from SDP), else the RTP port plus one (RFC 3550 §11).
func (s *Session) rtcpAddr() netip.AddrPort {
	switch {
	case s.rtcpRemote.IsValid():
		return s.rtcpRemote
	case s.rtcpMux:
		return s.rtpRemote
	case s.sdpRTCP.IsValid() && s.rtpRemote == s.sdpRemote:
		return s.sdpRTCP
	case s.rtpRemote.IsValid():
		return netip.AddrPortFrom(s.rtpRemote.Addr(), s.rtpRemote.Port()+1)
	}
	return netip.AddrPort{}
}

// Events appends the pending events to dst, oldest first, and returns it. It
// does not allocate when dst has room for them.
func (s *Session) Events(dst []Event) []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.events.drain(dst)
}

// CheckTimeout reports true, once, when no valid RTP or RTCP has arrived
// for the inactivity timeout; it also queues an EventTimeout. A valid packet
// arriving later re-arms it. The session's clock starts at the first call
// that passes a time, so a session that never hears anything times out one
// timeout after that.
func (s *Session) CheckTimeout(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.start(now)
	if s.timeout == 0 || s.timedOut || now.Sub(s.activity) < s.timeout {
		return false
	}
	s.timedOut = true
	s.events.push(Event{Kind: EventTimeout})
	return true
}

// start begins the session's clock at the first time it is given.
func (s *Session) start(now time.Time) {
	if !s.started {
		s.started = true
		s.activity = now
	}
}

// alive records a valid packet for the inactivity timeout.
func (s *Session) alive(now time.Time) {
	s.activity = now
	s.timedOut = false
}

// Stats returns a snapshot of the session's counters.
func (s *Session) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		PacketsReceived:    s.pktsIn,
		BytesReceived:      s.bytesIn,
		PacketsSent:        s.tx.packets,
		BytesSent:          s.tx.bytes,
		RTCPReceived:       s.rtcpIn,
		RTCPSent:           s.rtcpOut,
		RemoteLost:         s.remote.lost,
		RemoteFractionLost: float64(s.remote.fraction) / 256,
		RemoteJitter:       ticksToDuration(uint64(s.remote.jitter), s.sendRate),
		RTT:                s.remote.rtt,
		Dropped:            s.drops,
		EventsDropped:      s.events.dropped,
	}
	if s.gate.active {
		st.Lost = s.recv.lost()
		st.FractionLost = float64(s.recv.fraction) / 256
		st.Jitter = s.recv.jitterDuration()
	}
	return st
}

// putRTPHeader writes a 12-byte RTP fixed header (RFC 3550 §5.1).
func putRTPHeader(dst []byte, pt uint8, marker bool, seq uint16, ts, ssrc uint32) {
	dst[0] = 2 << 6
	dst[1] = pt
	if marker {
		dst[1] |= 0x80
	}
	binary.BigEndian.PutUint16(dst[2:], seq)
	binary.BigEndian.PutUint32(dst[4:], ts)
	binary.BigEndian.PutUint32(dst[8:], ssrc)
}

// durationToTicks converts d to RTP timestamp units at rate without
// overflowing for sessions of any length.
func durationToTicks(d time.Duration, rate uint32) int64 {
	sec, ns := int64(d/time.Second), int64(d%time.Second)
	return sec*int64(rate) + ns*int64(rate)/int64(time.Second)
}

// ticksToDuration converts RTP timestamp units at rate to a duration.
func ticksToDuration(ticks uint64, rate uint32) time.Duration {
	if rate == 0 {
		return 0
	}
	sec, rem := ticks/uint64(rate), ticks%uint64(rate)
	return time.Duration(sec)*time.Second + time.Duration(rem*uint64(time.Second)/uint64(rate))
}

// SetRemote takes a new remote from a renegotiation (re-INVITE): media goes
// to rtpAddr (RTCP to rtcpAddr, or derived when zero) until packets latch
// the session again.
func (s *Session) SetRemote(rtpAddr, rtcpAddr netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sdpRemote = unmap(rtpAddr)
	s.rtpRemote = s.sdpRemote
	s.sdpRTCP = unmap(rtcpAddr)
	s.rtcpRemote = netip.AddrPort{}
	s.latched = false
}

// ContinueFrom carries old's outgoing stream (SSRC, sequence number and
// timing) over to s, so a codec change in a re-INVITE does not restart the
// stream the remote receives (RFC 3550 §5.1: sequence numbers stay
// contiguous within an SSRC).
func (s *Session) ContinueFrom(old *Session) {
	if old == s {
		return
	}
	old.mu.Lock()
	ssrc, tx := old.ssrc, old.tx
	old.mu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ssrc = ssrc
	s.tx.seq, s.tx.nextTS, s.tx.refTS, s.tx.refWall, s.tx.started = tx.seq, tx.nextTS, tx.refTS, tx.refWall, tx.started
	s.tx.marker = true
}
