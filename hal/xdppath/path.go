//go:build linux

package xdppath

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"confab/ebpf/rtpfilter"
	"confab/hal"
	"confab/hal/sockpath"
	"confab/hal/xdppath/xsk"
)

// Errors a caller can tell apart; any of them means the XDP driver cannot
// run and the pure-Go driver should (hal/halselect).
var (
	// ErrInterface is returned for an interface that does not exist or is
	// not Ethernet.
	ErrInterface = errors.New("xdppath: unusable interface")
	// ErrAttach is returned when the kernel refuses the program in every
	// mode tried.
	ErrAttach = errors.New("xdppath: cannot attach the XDP program")
	// ErrForeignProgram is returned when another XDP program runs on the
	// interface: Confab does not remove what it did not put there.
	ErrForeignProgram = errors.New("xdppath: the interface runs another XDP program")
	// ErrBusy is returned when a live process (another Confab) holds
	// Confab's program on the interface.
	ErrBusy = errors.New("xdppath: another process holds the interface's XDP program")
	// ErrLoad is returned when the program cannot be loaded (no BPF
	// support, no privilege).
	ErrLoad = errors.New("xdppath: cannot load the XDP program")
)

// DefaultPinDir is where the XDP link is pinned, one file per interface.
const DefaultPinDir = "/sys/fs/bpf/confab"

// maxQueues bounds the AF_XDP sockets: one per RX queue, up to the
// program's socket map.
const maxQueues = 256

// Path is the XDP packet path. Create it with New. As hal.PacketPath
// describes, Read is called from one goroutine and the rest from any.
type Path struct {
	log     *slog.Logger
	ifname  string
	ifindex int
	mac     [6]byte
	low     uint16
	src4    netip.Addr // source address of frames we build, by family
	src6    netip.Addr

	sock     *sockpath.Path
	filter   *rtpfilter.Filter
	att      *attachment
	reason   string
	xskOn    bool
	zc       bool // AF_XDP in zero-copy mode
	noBypass bool

	// mu guards flows, bypasses, closed transitions and slot generations.
	mu       sync.Mutex
	flows    map[hal.FlowID]*flowInfo
	bypasses map[hal.FlowID]hal.FlowID // from -> to
	closed   atomic.Bool

	// AF_XDP mode only.
	slots    []slot // by (port-low)/2
	queues   []*queue
	txNext   atomic.Uint32
	wakefd   int
	readMu   sync.Mutex
	rd       *reader
	counters counters
	fbPool   sync.Pool // of *[]hal.Packet: Write's packets for the kernel sockets
}

var (
	_ hal.PacketPath        = (*Path)(nil)
	_ hal.FlowCounter       = (*Path)(nil)
	_ hal.PayloadTypeFilter = (*Path)(nil)
	_ hal.Bypasser          = (*Path)(nil)
)

type counters struct {
	rxPackets, rxBytes atomic.Uint64
	txPackets, txBytes atomic.Uint64
	rxDropped, txErrs  atomic.Uint64
}

// queue is one AF_XDP socket; its send side is shared by Write calls.
type queue struct {
	sock *xsk.Socket
	txMu sync.Mutex
}

type config struct {
	log       *slog.Logger
	mode      Mode
	afxdp     bool
	pinDir    string
	sipPort   uint16
	sipRate   int
	sipBurst  int
	xsk       xsk.Config
	sources   []netip.Addr
	sockOpts  []sockpath.Option
	bypassOff bool
}

// Option configures New.
type Option func(*config)

// WithLogger sets the logger; the packet hot paths never log.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.log = l } }

// WithMode chooses the attach mode (default ModeAuto: driver, else generic).
func WithMode(m Mode) Option { return func(c *config) { c.mode = m } }

// WithAFXDP turns the AF_XDP path on (the default) or off; off, the program
// only filters and known flows reach the kernel's UDP sockets.
func WithAFXDP(on bool) Option { return func(c *config) { c.afxdp = on } }

// WithPinDir sets the BPF filesystem directory the link is pinned in
// (default DefaultPinDir); "" does not pin, and the program then leaves the
// interface with the process.
func WithPinDir(dir string) Option { return func(c *config) { c.pinDir = dir } }

// WithSIPGuard has the program rate-limit UDP to the SIP port per source
// address: rate packets per second, bursts of burst (zero: the defaults,
// rtpfilter.DefaultSIPRate and DefaultSIPBurst).
func WithSIPGuard(port uint16, rate, burst int) Option {
	return func(c *config) { c.sipPort, c.sipRate, c.sipBurst = port, rate, burst }
}

// WithXSKConfig sizes the AF_XDP sockets.
func WithXSKConfig(x xsk.Config) Option { return func(c *config) { c.xsk = x } }

// WithSourceAddrs sets the addresses AF_XDP frames and bypassed packets
// are sent from, one per family. By default that is the listen address
// or, when it is unspecified, the interface's first global address of each
// family.
func WithSourceAddrs(addrs ...netip.Addr) Option { return func(c *config) { c.sources = addrs } }

// WithBypass allows (the default) or refuses two-party bypasses
// (hal.Bypasser); refused, Bypass returns hal.ErrNoBypass.
func WithBypass(on bool) Option { return func(c *config) { c.bypassOff = !on } }

// WithSocketOptions passes options to the flows' kernel sockets
// (sockpath.New).
func WithSocketOptions(opts ...sockpath.Option) Option {
	return func(c *config) { c.sockOpts = append(c.sockOpts, opts...) }
}

// New attaches the XDP program to interface ifname and returns a packet
// path whose flows bind RTP/RTCP port pairs from lowPort..highPort on
// listen, as sockpath.New does. It runs in the calling thread's network
// namespace and needs root; any error means the XDP driver cannot run
// here, and says why.
func New(ifname string, listen netip.Addr, lowPort, highPort uint16, opts ...Option) (*Path, error) {
	cfg := config{afxdp: true, pinDir: DefaultPinDir}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.log == nil {
		cfg.log = slog.New(slog.DiscardHandler)
	}
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInterface, ifname, err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return nil, fmt.Errorf("%w: %s has no Ethernet address", ErrInterface, ifname)
	}
	p := &Path{
		log:      cfg.log.With("component", "hal/xdppath", "interface", ifname),
		ifname:   ifname,
		ifindex:  ifi.Index,
		mac:      [6]byte(ifi.HardwareAddr),
		low:      lowPort,
		flows:    make(map[hal.FlowID]*flowInfo),
		bypasses: make(map[hal.FlowID]hal.FlowID),
		wakefd:   -1,
		noBypass: cfg.bypassOff,
	}
	p.chooseSources(ifi, listen.Unmap(), cfg.sources)

	sockOpts := append([]sockpath.Option{sockpath.WithLogger(cfg.log)}, cfg.sockOpts...)
	if p.sock, err = sockpath.New(listen, lowPort, highPort, sockOpts...); err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			p.release()
		}
	}()

	var xskNote string
	if cfg.afxdp {
		xskNote = p.openQueues(cfg.xsk)
	} else {
		xskNote = "AF_XDP off by configuration"
	}
	p.filter, err = rtpfilter.Load(rtpfilter.Config{
		MediaLow: lowPort, MediaHigh: highPort,
		SIPPort: cfg.sipPort, SIPRate: cfg.sipRate, SIPBurst: cfg.sipBurst,
		Redirect: p.xskOn,
	})
	if err != nil {
		if errors.Is(err, rtpfilter.ErrConfig) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", ErrLoad, err)
	}
	for _, q := range p.queues {
		if err := p.filter.SetSocket(q.sock.Queue(), q.sock.FD()); err != nil {
			return nil, err
		}
	}
	pin := ""
	if cfg.pinDir != "" {
		pin = filepath.Join(cfg.pinDir, "xdp_"+ifname)
	}
	if p.att, err = attach(p.filter.Program(), p.ifindex, cfg.mode, pin, p.log); err != nil {
		return nil, err
	}
	if p.xskOn {
		if err := p.startXSK(int(highPort-lowPort+1) / 2); err != nil {
			return nil, err
		}
	}
	p.reason = p.describe(xskNote)
	ok = true
	p.log.Info("XDP packet path ready", "mode", p.att.mode, "af_xdp", p.xskOn, "queues", len(p.queues),
		"zero_copy", p.zc, "reason", p.reason)
	return p, nil
}

// chooseSources picks the addresses frames are sent from.
func (p *Path) chooseSources(ifi *net.Interface, listen netip.Addr, given []netip.Addr) {
	cands := given
	if len(cands) == 0 && listen.IsValid() && !listen.IsUnspecified() {
		cands = []netip.Addr{listen}
	}
	if len(cands) == 0 {
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			if pfx, err := netip.ParsePrefix(a.String()); err == nil && pfx.Addr().IsGlobalUnicast() {
				cands = append(cands, pfx.Addr())
			}
		}
	}
	for _, a := range cands {
		a = a.Unmap()
		switch {
		case a.Is4() && !p.src4.IsValid():
			p.src4 = a
		case a.Is6() && !p.src6.IsValid():
			p.src6 = a
		}
	}
}

// source is the address to send to dst from, or the zero Addr.
func (p *Path) source(dst netip.Addr) netip.Addr {
	if dst.Is4() {
		return p.src4
	}
	return p.src6
}

// openQueues opens an AF_XDP socket on every RX queue, and returns why
// AF_XDP is off if it cannot.
func (p *Path) openQueues(cfg xsk.Config) string {
	for q := range maxQueues {
		s, err := xsk.Open(p.ifindex, q, cfg)
		if errors.Is(err, xsk.ErrNoQueue) && q > 0 {
			break // past the last queue
		}
		if err != nil {
			for _, q := range p.queues {
				q.sock.Close()
			}
			p.queues = nil
			p.log.Warn("AF_XDP refused; the XDP program will pass media to the kernel's sockets", "err", err)
			return fmt.Sprintf("AF_XDP refused: %v", err)
		}
		p.queues = append(p.queues, &queue{sock: s})
	}
	p.xskOn = true
	p.zc = p.queues[0].sock.ZeroCopy()
	return ""
}

// describe is the Reason: what runs, how, and anything that did not.
func (p *Path) describe(xskNote string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "XDP in %s mode on %s", p.att.mode, p.ifname)
	if p.xskOn {
		m := "copy"
		if p.zc {
			m = "zero-copy"
		}
		fmt.Fprintf(&b, " with AF_XDP (%s mode, %d queues): media bypasses the kernel's UDP stack", m, len(p.queues))
	} else {
		fmt.Fprintf(&b, ", filtering for the kernel's UDP sockets (%s)", xskNote)
	}
	if p.att.replaced != "" {
		fmt.Fprintf(&b, "; %s", p.att.replaced)
	}
	if p.att.pinNote != "" {
		fmt.Fprintf(&b, "; link %s", p.att.pinNote)
	}
	return b.String()
}

// Name reports the driver name, "xdp".
func (p *Path) Name() string { return "xdp" }

// Reason says how the driver runs and why.
func (p *Path) Reason() string { return p.reason }

// Mode is the mode the program is attached in: ModeDriver or ModeGeneric.
func (p *Path) Mode() Mode { return p.att.mode }

// AFXDP reports whether media goes through AF_XDP sockets, and whether in
// zero-copy mode.
func (p *Path) AFXDP() (on, zeroCopy bool) { return p.xskOn, p.zc }

// Filter is the loaded program, for its SIP guard (TrustSIPSource,
// SIPSources) and its verdict counters.
func (p *Path) Filter() *rtpfilter.Filter { return p.filter }

// Counters returns the running totals. RxDropped includes media the XDP
// program dropped (unknown flows, packets that cannot be RTP or RTCP).
func (p *Path) Counters() hal.Counters {
	c := p.sock.Counters()
	if p.xskOn {
		k := &p.counters
		c.RxPackets += k.rxPackets.Load()
		c.RxBytes += k.rxBytes.Load()
		c.TxPackets += k.txPackets.Load()
		c.TxBytes += k.txBytes.Load()
		c.RxDropped += k.rxDropped.Load()
		c.TxErrors += k.txErrs.Load()
	}
	if vc, err := p.filter.Verdicts(); err == nil {
		for v := rtpfilter.DropUnknownFlow; v < rtpfilter.NumVerdicts; v++ {
			c.RxDropped += vc[v].Packets
		}
	}
	return c
}

// Shutdown detaches the program, closes every flow and the AF_XDP
// sockets, and makes Read return hal.ErrClosed. Later calls do nothing.
func (p *Path) Shutdown() error {
	p.mu.Lock()
	if p.closed.Swap(true) {
		p.mu.Unlock()
		return nil
	}
	clear(p.flows)
	clear(p.bypasses)
	p.mu.Unlock()
	var errs []error
	if p.att != nil {
		errs = append(errs, p.att.detach())
	}
	if p.xskOn {
		one := [8]byte{1}
		if _, err := unix.Write(p.wakefd, one[:]); err != nil {
			errs = append(errs, fmt.Errorf("xdppath: wake reader: %w", err))
		}
	}
	errs = append(errs, p.release())
	p.log.Info("XDP packet path shut down")
	return errors.Join(errs...)
}

// release frees what New made, once no Read is inside the AF_XDP sockets.
func (p *Path) release() error {
	var errs []error
	p.readMu.Lock()
	for _, q := range p.queues {
		q.txMu.Lock()
		q.sock.Close()
		q.txMu.Unlock()
	}
	if p.wakefd >= 0 {
		unix.Close(p.wakefd)
		p.wakefd = -1
	}
	p.readMu.Unlock()
	if p.sock != nil {
		errs = append(errs, p.sock.Shutdown())
	}
	if p.att != nil && !p.closed.Load() {
		errs = append(errs, p.att.detach())
	}
	if p.filter != nil {
		errs = append(errs, p.filter.Close())
	}
	return errors.Join(errs...)
}
