package netconf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// State is the network as it is now, for the console and the System page.
type State struct {
	Interface string       `json:"interface"`
	MAC       string       `json:"mac"`
	Hostname  string       `json:"hostname"`
	Source    string       `json:"source"` // "dhcp", "static" or "none"
	Address   netip.Prefix `json:"address,omitzero"`
	Gateway   netip.Addr   `json:"gateway,omitzero"`
	DNS       []netip.Addr `json:"dns,omitempty"`
	LeaseEnds time.Time    `json:"lease_ends,omitzero"`
	Error     string       `json:"error,omitempty"`
}

// System is what the manager changes in the kernel; the real one uses
// rtnetlink and sethostname(2), tests use a fake.
type System interface {
	FirstEthernet() (name string, mac net.HardwareAddr, err error)
	LinkUp(name string) error
	SetAddress(name string, p netip.Prefix) error
	SetDefaultRoute(name string, gw netip.Addr) error
	SetHostname(name string) error
	SetDNS(servers []netip.Addr) error
	DHCPTransport(name string) (Transport, error)
}

// Option configures a Manager.
type Option func(*Manager)

// WithLogger sets the logger (component=netconf).
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithRetry sets how long the manager waits between DHCP attempts once the
// first has failed, and between renewals that fail (default 30 s).
func WithRetry(d time.Duration) Option { return func(m *Manager) { m.retry = d } }

// Manager keeps the box's address.
type Manager struct {
	cfg   Config
	sys   System
	log   *slog.Logger
	retry time.Duration
	now   func() time.Time

	mu    sync.Mutex
	state State
}

// NewManager returns a manager of cfg over sys.
func NewManager(cfg Config, sys System, opts ...Option) *Manager {
	m := &Manager{cfg: cfg, sys: sys, log: slog.New(slog.DiscardHandler), retry: 30 * time.Second, now: time.Now}
	for _, o := range opts {
		o(m)
	}
	m.log = m.log.With("component", "netconf")
	m.state.Source = "none"
	return m
}

// State returns the network's state.
func (m *Manager) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.state
	s.DNS = append([]netip.Addr(nil), s.DNS...)
	return s
}

// Run brings the network up and keeps it up until ctx ends. changed is
// called with the new state whenever the address changes, and once when
// the first DHCP wait ends without any address (Source "none").
func (m *Manager) Run(ctx context.Context, changed func(State)) error {
	var (
		iface string
		mac   net.HardwareAddr
		err   error
	)
	// Loopback first: confabd's health probes and local clients use it.
	if err := m.sys.LinkUp("lo"); err != nil {
		m.log.Error("loopback", "err", err)
	}
	// The NIC's driver may still be probing.
	for tries := 0; ; tries++ {
		if iface, mac, err = m.sys.FirstEthernet(); err == nil {
			break
		}
		if tries == 0 || tries%30 == 0 {
			m.log.Warn("no network interface yet", "err", err)
			m.update(func(s *State) { s.Error = err.Error() }, changed)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	host := m.cfg.Hostname
	if host == "" {
		host = fmt.Sprintf("confab-%02x%02x%02x", mac[3], mac[4], mac[5])
	}
	if err := m.sys.SetHostname(host); err != nil {
		m.log.Warn("hostname", "err", err)
	}
	m.update(func(s *State) { s.Interface, s.MAC, s.Hostname, s.Error = iface, mac.String(), host, "" }, nil)
	if err := m.sys.LinkUp(iface); err != nil {
		m.update(func(s *State) { s.Error = err.Error() }, changed)
		return err
	}
	if !m.cfg.DHCP {
		m.applyStatic(iface, changed)
		<-ctx.Done()
		return ctx.Err()
	}
	tr, err := m.sys.DHCPTransport(iface)
	if err != nil {
		m.update(func(s *State) { s.Error = err.Error() }, changed)
		m.applyStatic(iface, changed)
		<-ctx.Done()
		return ctx.Err()
	}
	if c, ok := tr.(interface{ Close() error }); ok {
		defer c.Close()
	}
	client := NewClient(tr, mac, host)
	first := true
	for ctx.Err() == nil {
		wait := m.retry
		if first {
			wait = time.Duration(m.cfg.DHCPTimeout)
		}
		actx, cancel := context.WithTimeout(ctx, wait)
		lease, err := client.Acquire(actx)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if first {
				m.log.Warn("no DHCP lease", "err", err, "waited", wait)
				if m.cfg.Static != nil {
					m.applyStatic(iface, changed)
				} else {
					m.update(func(s *State) { s.Error = "no answer from a DHCP server; no static fallback is set" }, changed)
				}
				first = false
			}
			continue
		}
		first = false
		m.keep(ctx, client, iface, lease, changed)
	}
	return ctx.Err()
}

// keep applies a lease and renews it until it cannot.
func (m *Manager) keep(ctx context.Context, client *Client, iface string, lease Lease, changed func(State)) {
	for {
		if err := m.apply(iface, lease.Addr, lease.Router, lease.DNS); err != nil {
			m.log.Error("applying the DHCP lease", "err", err)
		}
		m.log.Info("DHCP lease", "address", lease.Addr, "router", lease.Router, "for", lease.Duration)
		m.update(func(s *State) {
			s.Source, s.Address, s.Gateway, s.DNS, s.LeaseEnds, s.Error = "dhcp", lease.Addr, lease.Router, lease.DNS,
				lease.Acquired.Add(lease.Duration), ""
		}, changed)
		renewAt := lease.Acquired.Add(lease.T1)
		ends := lease.Acquired.Add(lease.Duration)
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Until(renewAt)):
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			next, err := client.Renew(rctx, lease)
			cancel()
			if err == nil {
				lease = next
				break
			}
			if errors.Is(err, ErrNak) || !m.now().Before(ends) {
				m.log.Warn("DHCP lease lost", "err", err)
				return
			}
			renewAt = m.now().Add(min(m.retry, ends.Sub(m.now())))
		}
	}
}

func (m *Manager) applyStatic(iface string, changed func(State)) {
	s := m.cfg.Static
	if s == nil {
		return
	}
	if err := m.apply(iface, s.Address, s.Gateway, s.DNS); err != nil {
		m.log.Error("applying the static address", "err", err)
		m.update(func(st *State) { st.Error = err.Error() }, changed)
		return
	}
	m.log.Info("static address", "address", s.Address, "gateway", s.Gateway)
	m.update(func(st *State) {
		st.Source, st.Address, st.Gateway, st.DNS, st.LeaseEnds, st.Error = "static", s.Address, s.Gateway, s.DNS, time.Time{}, ""
	}, changed)
}

func (m *Manager) apply(iface string, addr netip.Prefix, gw netip.Addr, dns []netip.Addr) error {
	if err := m.sys.SetAddress(iface, addr); err != nil {
		return err
	}
	if gw.IsValid() {
		if err := m.sys.SetDefaultRoute(iface, gw); err != nil {
			return err
		}
	}
	return m.sys.SetDNS(dns)
}

// update changes the state and tells changed (if not nil) when the
// address or the error changed.
func (m *Manager) update(f func(*State), changed func(State)) {
	m.mu.Lock()
	before := m.state
	f(&m.state)
	after := m.state
	m.mu.Unlock()
	if changed != nil && (before.Address != after.Address || before.Source != after.Source || before.Error != after.Error ||
		after.Source == "none") {
		changed(after)
	}
}

// Kernel is the real System: sysfs, rtnetlink, sethostname(2), and
// resolv.conf and hostname files under /run.
type Kernel struct {
	SysClassNet string // /sys/class/net
	RunDir      string // /run
}

// FirstEthernet implements System.
func (k Kernel) FirstEthernet() (string, net.HardwareAddr, error) {
	name, err := FirstEthernet(k.SysClassNet)
	if err != nil {
		return "", nil, err
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return "", nil, fmt.Errorf("netconf: %w", err)
	}
	if len(ifi.HardwareAddr) != 6 {
		return "", nil, fmt.Errorf("netconf: %s has no Ethernet address", name)
	}
	return name, ifi.HardwareAddr, nil
}

// LinkUp implements System.
func (Kernel) LinkUp(name string) error { return LinkUp(name) }

// SetAddress implements System.
func (Kernel) SetAddress(name string, p netip.Prefix) error { return SetAddress(name, p) }

// SetDefaultRoute implements System.
func (Kernel) SetDefaultRoute(name string, gw netip.Addr) error { return SetDefaultRoute(name, gw) }

// SetHostname implements System.
func (k Kernel) SetHostname(name string) error {
	if err := unix.Sethostname([]byte(name)); err != nil {
		return fmt.Errorf("netconf: sethostname: %w", err)
	}
	return os.WriteFile(k.RunDir+"/hostname", []byte(name+"\n"), 0o644)
}

// SetDNS implements System.
func (k Kernel) SetDNS(servers []netip.Addr) error {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return os.WriteFile(k.RunDir+"/resolv.conf", []byte(b.String()), 0o644)
}

// DHCPTransport implements System.
func (Kernel) DHCPTransport(name string) (Transport, error) { return newUDPTransport(name) }
