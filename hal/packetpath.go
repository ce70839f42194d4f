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
