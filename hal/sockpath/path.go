package sockpath

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// Errors a caller can tell apart. The hal sentinels (hal.ErrNoPorts,
// hal.ErrClosed, hal.ErrUnknownFlow) are returned as they are defined there.
var (
	// ErrPortRange is returned by New for a media port range that cannot hold
	// RTP/RTCP pairs: the low port must be even, the range must hold at least
	// one pair, and both ends must lie in 1024..65535.
	ErrPortRange = errors.New("sockpath: invalid media port range")
	// ErrListenAddr is returned by New for a listen address it cannot bind
	// media sockets to: the zero Addr, or an IPv6 address with a zone.
	ErrListenAddr = errors.New("sockpath: invalid listen address")
	// ErrSocketBuffers is returned by New for negative socket buffer sizes.
	ErrSocketBuffers = errors.New("sockpath: invalid socket buffer size")
	// ErrAddressFamily is returned for a remote address that the flow's
	// sockets cannot reach: IPv6 from an IPv4 listen address, or IPv4 from a
	// specific (not dual-stack) IPv6 listen address.
	ErrAddressFamily = errors.New("sockpath: remote address family not reachable from the listen address")
	// ErrNoRemote is returned by Write for a packet that has no To and whose
	// flow has no remote yet.
	ErrNoRemote = errors.New("sockpath: flow has no remote address")
	// ErrBadPacket is returned by Write for a packet whose N lies outside Buf.
	ErrBadPacket = errors.New("sockpath: packet length outside its buffer")
)

// Defaults for the socket buffers. At one 20 ms packet per direction per
// flow, 64 KiB holds on the order of a second of backlog per socket (the
// kernel doubles the value and charges each small datagram its skb truesize,
// socket(7) SO_RCVBUF); more would only queue audio the jitter buffer drops.
const (
	defaultRcvBuf = 64 << 10
	defaultSndBuf = 64 << 10
)

// defaultReason is what Reason reports unless WithReason overrides it.
const defaultReason = "pure-Go epoll + recvmmsg/sendmmsg driver (no XDP requested)"

// Path is the socket packet path. Create it with New; it is safe for
// concurrent use as hal.PacketPath describes: Read from one goroutine, the
// rest from any.
type Path struct {
	log    *slog.Logger
	reason string

	listen   netip.Addr
	family   int  // unix.AF_INET or unix.AF_INET6
	dual     bool // AF_INET6 socket with IPV6_V6ONLY off: reaches IPv4 too
	lowPort  uint16
	rcvBuf   int
	sndBuf   int
	epfd     int // one epoll set over every flow socket and wakefd
	wakefd   int // eventfd(2) written by Shutdown to wake a blocked Read
	closed   atomic.Bool
	counters counters

	// mu guards the allocator: every slot's state and gen, the round-robin
	// cursor and, with closed, the decision to accept new flows. Read and
	// Write never take it.
	mu     sync.Mutex
	slots  []slot // slot i owns ports lowPort+2i (RTP) and lowPort+2i+1 (RTCP)
	cursor int    // next slot Open tries

	// readMu makes Read single-entry and keeps Shutdown from closing epfd
	// under a Read that is about to wait on it.
	readMu sync.Mutex
	rd     *reader

	sendPool sync.Pool // of *sendScratch, one per concurrent Write
}

var _ hal.PacketPath = (*Path)(nil)

// counters are the running totals behind hal.Counters. Read and Write add
// once per call, not once per packet.
type counters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	rxDropped, txErrs  atomic.Uint64
}

// config collects what the options set.
type config struct {
	log    *slog.Logger
	reason string
	rcvBuf int
	sndBuf int
}

// Option configures New.
type Option func(*config)

// WithLogger sets the logger for flow open/close and lifecycle events; the
// packet hot paths never log. The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.log = l }
}

// WithSocketBuffers sets SO_RCVBUF and SO_SNDBUF (socket(7)) for every flow
// socket. Zero keeps the kernel default (net.core.rmem_default/wmem_default);
// the kernel caps values above net.core.rmem_max/wmem_max. The defaults are
// 64 KiB each.
func WithSocketBuffers(rcv, snd int) Option {
	return func(c *config) { c.rcvBuf, c.sndBuf = rcv, snd }
}

// WithReason replaces the text Reason reports, so that the code choosing a
// driver can say why it fell back to this one (for example "XDP: no native
// driver for eth0").
func WithReason(reason string) Option {
	return func(c *config) { c.reason = reason }
}

// New returns a packet path that binds flow sockets to listen and allocates
// RTP/RTCP port pairs from lowPort..highPort inclusive. lowPort must be even
// (RFC 3550 §11: RTP on an even port, RTCP on the next odd one).
func New(listen netip.Addr, lowPort, highPort uint16, opts ...Option) (*Path, error) {
	cfg := config{reason: defaultReason, rcvBuf: defaultRcvBuf, sndBuf: defaultSndBuf}
	for _, o := range opts {
		o(&cfg)
	}
	listen = listen.Unmap() // ::ffff:a.b.c.d binds as the IPv4 address it is
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	if err := validate(listen, lowPort, highPort, cfg); err != nil {
		return nil, err
	}
	p := &Path{
		log:     cfg.log.With("component", "hal/sockpath"),
		reason:  cfg.reason,
		listen:  listen,
		family:  unix.AF_INET,
		lowPort: lowPort,
		rcvBuf:  cfg.rcvBuf,
		sndBuf:  cfg.sndBuf,
		slots:   make([]slot, (int(highPort)-int(lowPort)+1)/2),
		rd:      newReader(),
	}
	if listen.Is6() {
		p.family = unix.AF_INET6
		p.dual = listen.IsUnspecified()
	}
	p.sendPool.New = func() any { return newSendScratch() }

	var err error
	if p.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, fmt.Errorf("sockpath: epoll_create1: %w", err)
	}
	if p.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		unix.Close(p.epfd)
		return nil, fmt.Errorf("sockpath: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Pad: tagWake}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, p.wakefd, &ev); err != nil {
		unix.Close(p.wakefd)
		unix.Close(p.epfd)
		return nil, fmt.Errorf("sockpath: epoll_ctl wake eventfd: %w", err)
	}
	p.log.Info("packet path ready", "listen", listen, "low_port", lowPort,
		"high_port", highPort, "flows", len(p.slots), "dual_stack", p.dual)
	return p, nil
}

// validate checks New's arguments.
func validate(listen netip.Addr, lowPort, highPort uint16, cfg config) error {
	switch {
	case !listen.IsValid():
		return fmt.Errorf("%w: no address given", ErrListenAddr)
	case listen.Zone() != "":
		return fmt.Errorf("%w: %s: zoned addresses are not supported", ErrListenAddr, listen)
	case lowPort < 1024:
		return fmt.Errorf("%w: low port %d is below 1024", ErrPortRange, lowPort)
	case lowPort%2 != 0:
		return fmt.Errorf("%w: low port %d is odd; RTP needs an even port (RFC 3550 §11)", ErrPortRange, lowPort)
	case highPort <= lowPort:
		return fmt.Errorf("%w: %d-%d holds no RTP/RTCP pair", ErrPortRange, lowPort, highPort)
	case cfg.rcvBuf < 0 || cfg.sndBuf < 0:
		return fmt.Errorf("%w: rcv %d, snd %d", ErrSocketBuffers, cfg.rcvBuf, cfg.sndBuf)
	}
	return nil
}

// Name reports the driver name, "socket".
func (p *Path) Name() string { return "socket" }

// Reason says why this driver is in use.
func (p *Path) Reason() string { return p.reason }

// Counters returns the running totals. RxDropped counts datagrams larger than
// the caller's buffer (MSG_TRUNC, recvmsg(2)); TxErrors counts packets Write
// could not hand to the kernel, for whatever reason.
func (p *Path) Counters() hal.Counters {
	c := &p.counters
	return hal.Counters{
		RxPackets: c.rxPackets.Load(),
		RxBytes:   c.rxBytes.Load(),
		TxPackets: c.txPackets.Load(),
		TxBytes:   c.txBytes.Load(),
		RxDropped: c.rxDropped.Load(),
		TxErrors:  c.txErrs.Load(),
	}
}

// Shutdown closes every flow, wakes a blocked Read, which returns
// hal.ErrClosed, and releases the epoll set. Later calls do nothing.
func (p *Path) Shutdown() error {
	p.mu.Lock()
	if p.closed.Load() {
		p.mu.Unlock()
		return nil
	}
	p.closed.Store(true)
	// The eventfd stays readable (nobody reads it), so with level-triggered
	// epoll every later wait returns at once as well.
	one := [8]byte{1}
	_, werr := unix.Write(p.wakefd, one[:])
	n := 0
	for i := range p.slots {
		if p.slots[i].state == slotOpen {
			p.closeSlot(i)
			n++
		}
	}
	p.mu.Unlock()
	if werr != nil {
		// A Read blocked in epoll_wait would not wake, and waiting for it
		// would hang; leave the two descriptors open rather than that.
		return fmt.Errorf("sockpath: wake reader: %w", werr)
	}

	// Wait for Read to leave epoll_wait before the descriptors go: a closed
	// epfd number could be reused by another file under it.
	p.readMu.Lock()
	unix.Close(p.epfd)
	unix.Close(p.wakefd)
	p.readMu.Unlock()

	p.log.Info("packet path shut down", "flows_closed", n)
	return nil
}
