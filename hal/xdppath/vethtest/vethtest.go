//go:build linux

// Package vethtest gives tests two network namespaces joined by a veth
// pair, so that XDP programs and AF_XDP sockets can be tried on a real
// interface without touching the host's network. Everything is deleted when
// the test ends.
//
// It needs root (CAP_SYS_ADMIN for namespaces, CAP_NET_ADMIN for links) and
// the ip command from iproute2; New skips the test, saying so, when either
// is missing.
package vethtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"
)

// Side is one end of the pair: a namespace and the veth inside it.
type Side struct {
	NS     string // namespace name, as under /run/netns
	Ifname string
	Index  int
	MAC    net.HardwareAddr
	IPv4   netip.Addr // in 10.77.0.0/24
	IPv6   netip.Addr // in fd77::/64
}

// Pair is two namespaces, A and B, with a veth between them.
type Pair struct {
	A, B Side
}

type config struct {
	queues int
}

// Option configures New.
type Option func(*config)

// WithQueues gives each veth n RX and TX queues (default 1).
func WithQueues(n int) Option { return func(c *config) { c.queues = n } }

// New creates the namespaces and the veth pair, addresses both ends
// (10.77.0.1 and fd77::1 in A, .2 and ::2 in B) and brings them up. The
// namespaces are private to the test, so the fixed addresses cannot clash.
func New(t testing.TB, opts ...Option) *Pair {
	t.Helper()
	cfg := config{queues: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if os.Geteuid() != 0 {
		t.Skip("network namespaces and veth pairs need root (CAP_SYS_ADMIN, CAP_NET_ADMIN)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("the ip command (Debian package iproute2) is needed to create namespaces")
	}
	var rnd [3]byte
	_, _ = rand.Read(rnd[:])
	tag := hex.EncodeToString(rnd[:])
	p := &Pair{
		A: Side{NS: "cfx-" + tag + "-a", Ifname: "cfx" + tag + "a", MAC: net.HardwareAddr{0x02, 0xcf, 0, 0, 0, 0x0a},
			IPv4: netip.MustParseAddr("10.77.0.1"), IPv6: netip.MustParseAddr("fd77::1")},
		B: Side{NS: "cfx-" + tag + "-b", Ifname: "cfx" + tag + "b", MAC: net.HardwareAddr{0x02, 0xcf, 0, 0, 0, 0x0b},
			IPv4: netip.MustParseAddr("10.77.0.2"), IPv6: netip.MustParseAddr("fd77::2")},
	}
	t.Cleanup(func() {
		for _, ns := range []string{p.A.NS, p.B.NS} {
			if out, err := exec.Command("ip", "netns", "del", ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns del %s: %v: %s", ns, err, out)
			}
		}
	})
	q := fmt.Sprint(cfg.queues)
	ip(t, "netns", "add", p.A.NS)
	ip(t, "netns", "add", p.B.NS)
	ip(t, "-n", p.A.NS, "link", "add", p.A.Ifname, "numtxqueues", q, "numrxqueues", q, "type", "veth",
		"peer", "name", p.B.Ifname, "netns", p.B.NS, "numtxqueues", q, "numrxqueues", q)
	for _, s := range []*Side{&p.A, &p.B} {
		ip(t, "-n", s.NS, "link", "set", "lo", "up")
		ip(t, "-n", s.NS, "link", "set", s.Ifname, "address", s.MAC.String())
		ip(t, "-n", s.NS, "addr", "add", s.IPv4.String()+"/24", "dev", s.Ifname)
		ip(t, "-n", s.NS, "addr", "add", s.IPv6.String()+"/64", "dev", s.Ifname, "nodad")
		ip(t, "-n", s.NS, "link", "set", s.Ifname, "up")
		if err := p.Do(s, func() error {
			ifi, err := net.InterfaceByName(s.Ifname)
			if err != nil {
				return err
			}
			s.Index = ifi.Index
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// Peer returns the side across the veth from s.
func (p *Pair) Peer(s *Side) *Side {
	if s == &p.A {
		return &p.B
	}
	return &p.A
}

// Do runs f on a goroutine whose OS thread is in s's namespace, and
// returns its error. Sockets, XDP attachments and netlink requests made in
// f belong to that namespace, and sockets stay there when used from other
// goroutines later. The thread is never returned to Go's pool: the
// goroutine ends still locked, so the runtime discards it.
func (p *Pair) Do(s *Side, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+s.NS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("vethtest: open namespace %s: %w", s.NS, err)
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		unix.Close(fd)
		if err != nil {
			errc <- fmt.Errorf("vethtest: setns %s: %w", s.NS, err)
			return
		}
		errc <- f()
	}()
	return <-errc
}

// Command returns a command that runs name with args inside s's namespace
// (ip netns exec).
func (p *Pair) Command(s *Side, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", s.NS, name}, args...)...)
}

// IP runs the ip command inside s's namespace and fails the test on error.
func (p *Pair) IP(t testing.TB, s *Side, args ...string) string {
	t.Helper()
	return ip(t, append([]string{"-n", s.NS}, args...)...)
}

func ip(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// AcceptXDPFrames attaches a program that passes everything (XDP_PASS) to
// s's veth for the rest of the test. A veth hands the frames its peer's XDP
// program sends back out (XDP_TX, XDP_REDIRECT) only to a receive queue
// that runs NAPI, which takes an XDP program or GRO on that side
// (drivers/net/veth.c, veth_xdp_xmit); without one they are dropped and
// counted in the side's RX drops. A physical NIC needs nothing of the kind.
func (p *Pair) AcceptXDPFrames(t testing.TB, s *Side) {
	t.Helper()
	p.attach(t, s, "vethtest_pass", asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}) // XDP_PASS
}

// DropIPv4 attaches a program to s's veth that drops every IPv4 frame
// before the stack sees it, and passes the rest (ARP, IPv6): a sink for
// load, so that what the side receives costs whoever sends it (a veth
// receives in the sender's context) next to nothing.
func (p *Pair) DropIPv4(t testing.TB, s *Side) {
	t.Helper()
	p.attach(t, s, "vethtest_drop4", asm.Instructions{
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word), // xdp_md.data
		asm.LoadMem(asm.R3, asm.R1, 4, asm.Word), // xdp_md.data_end
		asm.Mov.Reg(asm.R4, asm.R2),
		asm.Add.Imm(asm.R4, 14),
		asm.JGT.Reg(asm.R4, asm.R3, "pass"),
		asm.LoadMem(asm.R5, asm.R2, 12, asm.Half), // EtherType, as it lies in memory
		asm.JNE.Imm(asm.R5, 0x0008, "pass"),       // 0x0800 read little-endian
		asm.Mov.Imm(asm.R0, 1),                    // XDP_DROP
		asm.Return(),
		asm.Mov.Imm(asm.R0, 2).WithSymbol("pass"), // XDP_PASS
		asm.Return(),
	})
}

// attach loads insns as an XDP program and attaches it to s's veth in
// driver mode for the rest of the test.
func (p *Pair) attach(t testing.TB, s *Side, name string, insns asm.Instructions) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{Name: name, Type: ebpf.XDP, License: "MIT", Instructions: insns})
	if err != nil {
		t.Fatalf("vethtest: program %s: %v", name, err)
	}
	t.Cleanup(func() { prog.Close() })
	err = p.Do(s, func() error {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: s.Index, Flags: link.XDPDriverMode})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	if err != nil {
		t.Fatalf("vethtest: attach %s to %s: %v", name, s.Ifname, err)
	}
}
