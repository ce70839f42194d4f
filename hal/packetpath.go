// Package hal is Confab's hardware abstraction layer: the small interfaces
// through which the audio MCU reaches the packet path (and, later, codec and
// mix offload, the front panel and the watchdog), and the drivers behind them.
//
// The MCU holds only these interfaces. The pure-Go driver (hal/sockpath) works
// on any Linux; the XDP/AF_XDP driver slots in behind the same PacketPath.
package hal

import (
	"errors"
	"net/netip"
	"time"
)

// ErrNoPorts is returned when the media port range is exhausted.
var ErrNoPorts = errors.New("hal: no free media port")

// ErrClosed is returned by a packet path that has been closed.
var ErrClosed = errors.New("hal: packet path closed")

// ErrUnknownFlow is returned for a FlowID that is not open.
var ErrUnknownFlow = errors.New("hal: unknown flow")

// FlowID names one participant's media flow: an RTP port (even) and its RTCP
// port (RTP+1, RFC 3550 §11) on the local side.
type FlowID uint32

// Packet is one datagram in a batch. Buf is caller-owned memory; N bytes of it
// are valid. On receive the path fills Flow, RTCP, From and N; on send the
// caller fills Flow, RTCP, N and optionally To (zero To = the flow's remote).
type Packet struct {
	Flow FlowID
	RTCP bool
	From netip.AddrPort
	To   netip.AddrPort
	Buf  []byte
	N    int
}

// Flow describes an open flow.
type Flow struct {
	ID        FlowID
	LocalPort uint16 // RTP; RTCP is LocalPort+1
	Remote    netip.AddrPort
}

// Counters are the packet path's running totals.
type Counters struct {
	RxPackets, RxBytes uint64
	TxPackets, TxBytes uint64
	RxDropped          uint64 // packets dropped by the path (no flow, bad source, full queue)
	TxErrors           uint64
}

// PacketPath moves media packets between the network and the MCU.
//
// Read and Write are batched: one call moves many packets of many flows, so
// a driver can use recvmmsg/sendmmsg, epoll over many sockets, or AF_XDP rings.
type PacketPath interface {
	// Name says which driver this is ("socket", "xdp") and Reason why it was chosen.
	Name() string
	Reason() string
	// Open allocates a local RTP/RTCP port pair for a new flow whose remote
	// address is remote (from the SDP; it may change later by SetRemote).
	Open(remote netip.AddrPort) (Flow, error)
	// SetRemote changes where a flow's packets go (symmetric RTP latching,
	// re-INVITE). The RTCP remote is always the RTP remote's port+1 unless
	// SetRemoteRTCP overrides it.
	SetRemote(id FlowID, remote netip.AddrPort) error
	SetRemoteRTCP(id FlowID, remote netip.AddrPort) error
	// Close frees a flow and its ports.
	Close(id FlowID) error
	// Read blocks until at least one packet arrived (or the path is closed)
	// and fills up to len(pkts) of them. It is called from one goroutine.
	Read(pkts []Packet) (int, error)
	// Write sends the packets; it may be called from several goroutines.
	Write(pkts []Packet) (int, error)
	Counters() Counters
	// Shutdown closes every flow and makes Read return ErrClosed.
	Shutdown() error
}

// The interfaces below are optional: a packet path that can do more than
// move packets implements them, and the MCU checks for them with a type
// assertion. The pure-Go driver implements none; the XDP driver all.

// ErrNoBypass is returned by Bypass when the path cannot forward between
// the two flows now: a flow's link is not known yet (it has sent nothing),
// the flows use different address families or VLANs, or the driver runs
// without its kernel program.
var ErrNoBypass = errors.New("hal: bypass not possible")

// FlowStats are what a packet path counted for one flow below the MCU,
// where an XDP driver sees every packet before any socket does.
type FlowStats struct {
	RTPPackets, RTPBytes   uint64 // valid RTP; bytes of UDP payload
	RTCPPackets, RTCPBytes uint64
	// SeqGaps counts RTP sequence numbers skipped (RFC 3550 A.1), and
	// MaxSeq is the highest sequence number seen of the current SSRC.
	SeqGaps uint64
	MaxSeq  uint16
	// LastArrival is when the last valid packet arrived; zero if none.
	LastArrival time.Time
	// Forwarded counts packets a two-party bypass sent on without the
	// MCU, and ForwardedSeq is the last one's RTP sequence number as the
	// participant sent it.
	Forwarded    uint64
	ForwardedSeq uint16
}

// FlowCounter is a packet path that counts per flow.
type FlowCounter interface {
	FlowStats(id FlowID) (FlowStats, error)
}

// PayloadTypeFilter is a packet path that can drop a flow's RTP of payload
// types it did not negotiate before the packets reach the MCU.
type PayloadTypeFilter interface {
	// SetPayloadTypes limits the flow's RTP to pts; none lifts the limit.
	SetPayloadTypes(id FlowID, pts []uint8) error
}

// BypassStream describes one direction of a two-party bypass: the media
// that arrives on one flow, and the stream the MCU has been sending the
// other flow's participant, which the forwarded packets continue.
type BypassStream struct {
	InPT  uint8  // the media payload type the sender uses; only it is forwarded
	OutPT uint8  // the payload type the receiver negotiated for the same codec
	SSRC  uint32 // the SSRC the receiver knows the MCU's stream by
	// NextSeq and NextTimestamp are what the MCU's next packet to the
	// receiver would have carried (RFC 3550 §5.1).
	NextSeq       uint16
	NextTimestamp uint32
}

// Handover is where a bypassed stream stands when the MCU takes it back:
// the last forwarded packet's sequence number and timestamp, as the
// receiver saw them, and when it left.
type Handover struct {
	Forwarded bool // false: nothing was forwarded, the MCU's stream stands where it was
	Seq       uint16
	Timestamp uint32
	At        time.Time
}

// Bypasser is a packet path that can forward the media of a two-party
// conference from one participant to the other below the MCU, rewritten as
// the MCU would have sent it (addresses, ports, SSRC, payload type,
// sequence numbers, timestamps). Everything else a flow receives (RTCP,
// telephone-event, other payload types) still reaches Read.
type Bypasser interface {
	// Bypass forwards the media arriving on flow from to flow to's remote,
	// from to's local port, as s describes.
	Bypass(from, to FlowID, s BypassStream) error
	// EndBypass sends from's media to the MCU again and returns where the
	// forwarded stream stopped.
	EndBypass(from FlowID) (Handover, error)
}
