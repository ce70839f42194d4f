// Package haltest provides fakes of the HAL interfaces for unit tests of the
// packages above them, so that those tests need no sockets, kernel features
// or privileges. The real drivers are tested against the real kernel in
// their own packages.
//
// Path is an in-memory hal.PacketPath: a test injects inbound datagrams with
// Inject, the code under test reads them with Read, and what it writes comes
// out of Sent. Unlike the real drivers it copies and allocates freely.
package haltest

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"confab/hal"
)

// Errors a test can tell apart; the hal sentinels (hal.ErrNoPorts,
// hal.ErrClosed, hal.ErrUnknownFlow) are used as the real drivers use them.
var (
	// ErrQueueFull is returned by Inject when Read has not taken earlier
	// packets, and by Write when the test has not drained Sent.
	ErrQueueFull = errors.New("haltest: queue full")
	// ErrNoRemote is returned by Write for a packet with no To on a flow
	// with no remote, as sockpath.ErrNoRemote.
	ErrNoRemote = errors.New("haltest: flow has no remote address")
	// ErrBadPacket is returned by Write for a packet whose N lies outside
	// Buf, as sockpath.ErrBadPacket.
	ErrBadPacket = errors.New("haltest: packet length outside its buffer")
)

// Defaults: 500 RTP/RTCP pairs from port 40000, room for 1024 queued
// packets each way, and a local address from TEST-NET-1 (RFC 5737 §3).
const (
	defaultLowPort  = 40000
	defaultHighPort = 40999
	defaultQueue    = 1024
)

// Path is an in-memory hal.PacketPath. The zero value is not usable; call
// New. All methods are safe for concurrent use.
type Path struct {
	in    chan hal.Packet // injected; Buf is a private copy of N bytes
	sent  chan hal.Packet
	done  chan struct{} // closed by Shutdown
	local netip.Addr

	mu       sync.Mutex
	low      uint16
	pairs    int
	cursor   int
	used     map[uint16]hal.FlowID // RTP port -> flow
	flows    map[hal.FlowID]*flow
	lastID   hal.FlowID
	closed   bool
	counters hal.Counters
}

var _ hal.PacketPath = (*Path)(nil)

type flow struct {
	hal.Flow
	rtcpRemote netip.AddrPort // set by SetRemoteRTCP; zero means RTP port+1
}

type config struct {
	low, high uint16
	queue     int
	local     netip.Addr
}

// Option configures New.
type Option func(*config)

// WithPorts sets the fake port range, low..high inclusive; a small range
// lets a test reach hal.ErrNoPorts. low should be even.
func WithPorts(low, high uint16) Option {
	return func(c *config) { c.low, c.high = low, high }
}

// WithQueue sets how many packets Inject and Write may queue before they
// fail with ErrQueueFull.
func WithQueue(n int) Option {
	return func(c *config) { c.queue = n }
}

// WithLocal sets the local address reported as From on sent packets.
func WithLocal(a netip.Addr) Option {
	return func(c *config) { c.local = a }
}

// New returns an empty fake path.
func New(opts ...Option) *Path {
	cfg := config{
		low: defaultLowPort, high: defaultHighPort, queue: defaultQueue,
		local: netip.AddrFrom4([4]byte{192, 0, 2, 1}),
	}
	for _, o := range opts {
		o(&cfg)
	}
	pairs := 0
	if cfg.high > cfg.low {
		pairs = (int(cfg.high) - int(cfg.low) + 1) / 2
	}
	return &Path{
		in:    make(chan hal.Packet, cfg.queue),
		sent:  make(chan hal.Packet, cfg.queue),
		done:  make(chan struct{}),
		local: cfg.local,
		low:   cfg.low,
		pairs: pairs,
		used:  make(map[uint16]hal.FlowID),
		flows: make(map[hal.FlowID]*flow),
	}
}

// Name reports "fake".
func (p *Path) Name() string { return "fake" }

// Reason says what this path is.
func (p *Path) Reason() string { return "in-memory packet path for tests (hal/haltest)" }

// Open assigns the next free fake port pair, round-robin like sockpath.
// Flow IDs start at 1 and are never reused.
func (p *Path) Open(remote netip.AddrPort) (hal.Flow, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.Flow{}, hal.ErrClosed
	}
	for range p.pairs {
		port := p.low + uint16(2*p.cursor)
		p.cursor = (p.cursor + 1) % p.pairs
		if _, busy := p.used[port]; busy {
			continue
		}
		p.lastID++
		f := &flow{Flow: hal.Flow{ID: p.lastID, LocalPort: port, Remote: remote}}
		p.used[port] = f.ID
		p.flows[f.ID] = f
		return f.Flow, nil
	}
	return hal.Flow{}, fmt.Errorf("%w: all %d fake pairs from port %d are in use", hal.ErrNoPorts, p.pairs, p.low)
}

// SetRemote changes where the flow's packets go.
func (p *Path) SetRemote(id hal.FlowID, remote netip.AddrPort) error {
	return p.withFlow(id, func(f *flow) { f.Remote = remote })
}

// SetRemoteRTCP overrides where the flow's RTCP goes; zero removes it.
func (p *Path) SetRemoteRTCP(id hal.FlowID, remote netip.AddrPort) error {
	return p.withFlow(id, func(f *flow) { f.rtcpRemote = remote })
}

func (p *Path) withFlow(id hal.FlowID, do func(*flow)) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	f, ok := p.flows[id]
	if !ok {
		return hal.ErrUnknownFlow
	}
	do(f)
	return nil
}

// Close frees the flow and its ports. Packets injected for it and not yet
// read are discarded, as a closed socket's queue is.
func (p *Path) Close(id hal.FlowID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	f, ok := p.flows[id]
	if !ok {
		return hal.ErrUnknownFlow
	}
	delete(p.used, f.LocalPort)
	delete(p.flows, id)
	return nil
}

// Flow returns the open flow id as it stands now (Remote reflects
// SetRemote), or false.
func (p *Path) Flow(id hal.FlowID) (hal.Flow, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f, ok := p.flows[id]
	if !ok {
		return hal.Flow{}, false
	}
	return f.Flow, true
}

// Flows returns every open flow, ordered by ID.
func (p *Path) Flows() []hal.Flow {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]hal.Flow, 0, len(p.flows))
	for _, f := range p.flows {
		out = append(out, f.Flow)
	}
	slices.SortFunc(out, func(a, b hal.Flow) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Inject queues a datagram from `from` arriving on the flow's RTP port, or
// its RTCP port if rtcp is set. data is copied.
func (p *Path) Inject(id hal.FlowID, rtcp bool, from netip.AddrPort, data []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return hal.ErrClosed
	}
	if _, ok := p.flows[id]; !ok {
		return hal.ErrUnknownFlow
	}
	buf := slices.Clone(data)
	select {
	case p.in <- hal.Packet{Flow: id, RTCP: rtcp, From: from, Buf: buf, N: len(buf)}:
		return nil
	default:
		return ErrQueueFull
	}
}

// Read blocks until a packet has been injected (or Shutdown: hal.ErrClosed)
// and copies up to len(pkts) queued packets into the callers' buffers. A
// packet longer than its Buf is dropped and counted in RxDropped, as the
// real drivers do; so is one whose flow was closed after Inject.
func (p *Path) Read(pkts []hal.Packet) (int, error) {
	if len(pkts) == 0 {
		return 0, nil
	}
	n := 0
	for {
		if n == 0 {
			select {
			case <-p.done:
				return 0, hal.ErrClosed
			default:
			}
			select {
			case <-p.done:
				return 0, hal.ErrClosed
			case pk := <-p.in:
				n += p.deliver(pk, &pkts[n])
			}
			continue
		}
		if n == len(pkts) {
			return n, nil
		}
		select {
		case pk := <-p.in:
			n += p.deliver(pk, &pkts[n])
		default:
			return n, nil
		}
	}
}

// deliver copies an injected packet into dst and returns 1, or counts it
// dropped and returns 0.
func (p *Path) deliver(pk hal.Packet, dst *hal.Packet) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, open := p.flows[pk.Flow]; !open || pk.N > len(dst.Buf) {
		p.counters.RxDropped++
		return 0
	}
	dst.Flow, dst.RTCP, dst.From, dst.To = pk.Flow, pk.RTCP, pk.From, netip.AddrPort{}
	dst.N = copy(dst.Buf, pk.Buf[:pk.N])
	p.counters.RxPackets++
	p.counters.RxBytes += uint64(pk.N)
	return 1
}

// Write copies each packet onto the Sent channel with To set to where the
// packet would go and From to the flow's local RTP or RTCP address. Like
// sockpath it goes on past a packet it cannot send, counts it in TxErrors,
// and returns the number sent and the first error.
func (p *Path) Write(pkts []hal.Packet) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return 0, hal.ErrClosed
	}
	n := 0
	var first error
	for i := range pkts {
		err := p.send(&pkts[i])
		if err == nil {
			n++
			continue
		}
		p.counters.TxErrors++
		if first == nil {
			first = err
		}
	}
	return n, first
}

// send queues one packet on Sent. p.mu is held.
func (p *Path) send(pk *hal.Packet) error {
	f, ok := p.flows[pk.Flow]
	if !ok {
		return hal.ErrUnknownFlow
	}
	if pk.N < 0 || pk.N > len(pk.Buf) {
		return ErrBadPacket
	}
	to, port := pk.To, f.LocalPort
	if pk.RTCP {
		port++
	}
	if !to.IsValid() {
		to = f.Remote
		if pk.RTCP {
			to = f.rtcpRemote
			if !to.IsValid() && f.Remote.IsValid() && f.Remote.Port() < 65535 {
				to = netip.AddrPortFrom(f.Remote.Addr(), f.Remote.Port()+1)
			}
		}
	}
	if !to.IsValid() {
		return ErrNoRemote
	}
	out := hal.Packet{
		Flow: pk.Flow, RTCP: pk.RTCP, N: pk.N, Buf: slices.Clone(pk.Buf[:pk.N]),
		From: netip.AddrPortFrom(p.local, port), To: to,
	}
	select {
	case p.sent <- out:
	default:
		return ErrQueueFull
	}
	p.counters.TxPackets++
	p.counters.TxBytes += uint64(pk.N)
	return nil
}

// Sent delivers what Write sent, in order. Each packet's Buf is its own
// copy of the N bytes written.
func (p *Path) Sent() <-chan hal.Packet { return p.sent }

// Counters returns the running totals.
func (p *Path) Counters() hal.Counters {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counters
}

// Shutdown closes every flow and makes a blocked Read return hal.ErrClosed.
// Later calls do nothing.
func (p *Path) Shutdown() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return nil
	}
	p.closed = true
	clear(p.flows)
	clear(p.used)
	close(p.done)
	return nil
}
