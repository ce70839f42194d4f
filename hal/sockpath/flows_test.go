package sockpath

import (
	"errors"
	"net"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"

	"confab/hal"
)

func TestOpenAllocatesPorts(t *testing.T) {
	t.Run("hands out even RTP ports round-robin", func(t *testing.T) {
		low, high := freeRange(t, 4)
		p := newPathOn(t, loopback4, low, high)
		a, b := open(t, p, netip.AddrPort{}), open(t, p, netip.AddrPort{})
		if err := p.Close(a.ID); err != nil {
			t.Fatalf("Close: %v", err)
		}
		c, d, e := open(t, p, netip.AddrPort{}), open(t, p, netip.AddrPort{}), open(t, p, netip.AddrPort{})
		// a's pair rests until the cursor comes round again.
		got := []uint16{a.LocalPort, b.LocalPort, c.LocalPort, d.LocalPort, e.LocalPort}
		want := []uint16{low, low + 2, low + 4, low + 6, low}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("RTP ports in order of Open = %v, want %v", got, want)
			}
		}
	})

	t.Run("returns ErrNoPorts when every pair is taken", func(t *testing.T) {
		p := newPath(t, 2)
		open(t, p, netip.AddrPort{})
		open(t, p, netip.AddrPort{})
		if _, err := p.Open(netip.AddrPort{}); !errors.Is(err, hal.ErrNoPorts) {
			t.Fatalf("Open on a full range = %v, want %v", err, hal.ErrNoPorts)
		}
	})

	t.Run("frees a closed flow's ports for the next Open", func(t *testing.T) {
		p := newPath(t, 1)
		f := open(t, p, netip.AddrPort{})
		if err := p.Close(f.ID); err != nil {
			t.Fatalf("Close: %v", err)
		}
		g := open(t, p, netip.AddrPort{})
		if g.LocalPort != f.LocalPort {
			t.Fatalf("reopened flow got port %d, want %d", g.LocalPort, f.LocalPort)
		}
	})

	t.Run("gives a reused pair a new FlowID so stale IDs name nothing", func(t *testing.T) {
		p := newPath(t, 1)
		f := open(t, p, netip.AddrPort{})
		p.Close(f.ID)
		g := open(t, p, netip.AddrPortFrom(loopback4, 9))
		if g.ID == f.ID {
			t.Fatalf("reopened flow reused FlowID %#x", f.ID)
		}
		if err := p.Close(f.ID); !errors.Is(err, hal.ErrUnknownFlow) {
			t.Errorf("Close(stale) = %v, want %v", err, hal.ErrUnknownFlow)
		}
		if err := p.SetRemote(f.ID, netip.AddrPortFrom(loopback4, 10)); !errors.Is(err, hal.ErrUnknownFlow) {
			t.Errorf("SetRemote(stale) = %v, want %v", err, hal.ErrUnknownFlow)
		}
		if _, err := p.Write([]hal.Packet{packet(f.ID, false, netip.AddrPort{}, "x")}); !errors.Is(err, hal.ErrUnknownFlow) {
			t.Errorf("Write(stale) = %v, want %v", err, hal.ErrUnknownFlow)
		}
	})
}

func TestOpenSkipsPortsHeldElsewhere(t *testing.T) {
	tests := []struct {
		name   string
		offset uint16 // port held, relative to the range's low port
	}{
		{"skips a pair whose RTP port another socket holds", 0},
		{"skips a pair whose RTCP port another socket holds", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			low, high := freeRange(t, 2)
			holder, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.IPv4Unspecified(), low+tt.offset)))
			if err != nil {
				t.Fatalf("hold port %d: %v", low+tt.offset, err)
			}
			defer holder.Close()
			p := newPathOn(t, loopback4, low, high)
			f := open(t, p, netip.AddrPort{})
			if f.LocalPort != low+2 {
				t.Fatalf("Open got port %d, want %d (the next pair)", f.LocalPort, low+2)
			}
			if _, err := p.Open(netip.AddrPort{}); !errors.Is(err, hal.ErrNoPorts) {
				t.Fatalf("Open with the other pair held = %v, want %v", err, hal.ErrNoPorts)
			}
			// The failed attempt must not have left the free RTP port bound.
			if tt.offset == 1 && !portsFree(int(low), 1) {
				t.Fatalf("port %d left bound after its RTCP port failed", low)
			}
		})
	}
}

func TestOpenChecksTheRemote(t *testing.T) {
	tests := []struct {
		name       string
		listen     netip.Addr
		remote     netip.AddrPort
		wantErr    error
		wantRemote netip.AddrPort
	}{
		{"keeps an IPv4 remote on an IPv4 path", loopback4,
			netip.MustParseAddrPort("192.0.2.7:4000"), nil, netip.MustParseAddrPort("192.0.2.7:4000")},
		{"unmaps an IPv4-mapped remote", loopback4,
			netip.MustParseAddrPort("[::ffff:192.0.2.7]:4000"), nil, netip.MustParseAddrPort("192.0.2.7:4000")},
		{"rejects an IPv6 remote on an IPv4 path", loopback4,
			netip.MustParseAddrPort("[2001:db8::7]:4000"), ErrAddressFamily, netip.AddrPort{}},
		{"rejects an IPv4 remote on an IPv6-only path", netip.IPv6Loopback(),
			netip.MustParseAddrPort("192.0.2.7:4000"), ErrAddressFamily, netip.AddrPort{}},
		{"accepts an IPv4 remote on a dual-stack path", netip.IPv6Unspecified(),
			netip.MustParseAddrPort("192.0.2.7:4000"), nil, netip.MustParseAddrPort("192.0.2.7:4000")},
		{"treats an unspecified address (old-style hold) as no remote", loopback4,
			netip.MustParseAddrPort("0.0.0.0:4000"), nil, netip.AddrPort{}},
		{"treats port 0 (a refused stream) as no remote", loopback4,
			netip.MustParseAddrPort("192.0.2.7:0"), nil, netip.AddrPort{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.listen.Is6() {
				needIPv6(t)
			}
			low, high := freeRange(t, 1)
			p := newPathOn(t, tt.listen, low, high)
			f, err := p.Open(tt.remote)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open(%s) error = %v, want %v", tt.remote, err, tt.wantErr)
			}
			if f.Remote != tt.wantRemote {
				t.Fatalf("Open(%s) remote = %s, want %s", tt.remote, f.Remote, tt.wantRemote)
			}
		})
	}
}

func TestCloseRejectsUnknownFlows(t *testing.T) {
	p := newPath(t, 2)
	f := open(t, p, netip.AddrPort{})
	if err := p.Close(f.ID); err != nil {
		t.Fatalf("Close: %v", err)
	}
	tests := []struct {
		name string
		id   hal.FlowID
	}{
		{"rejects a flow closed already", f.ID},
		{"rejects FlowID 0", 0},
		{"rejects a slot index beyond the range", flowID(5000, 1)},
		{"rejects a free slot", flowID(1, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := p.Close(tt.id); !errors.Is(err, hal.ErrUnknownFlow) {
				t.Fatalf("Close(%#x) = %v, want %v", tt.id, err, hal.ErrUnknownFlow)
			}
		})
	}
}

// TestThousandFlows opens 1000 flows (2000 sockets), sends one datagram to
// each RTP port and expects every one back from Read, tagged with its flow.
func TestThousandFlows(t *testing.T) {
	const flows = 1000
	raiseFileLimit(t, 2*flows+200)
	low, high := freeRange(t, flows)
	p := newPathOn(t, loopback4, low, high)
	byPort := make(map[uint16]hal.FlowID, flows)
	for range flows {
		f := open(t, p, netip.AddrPort{})
		byPort[f.LocalPort] = f.ID
	}
	c := client(t, "udp4", loopback4)
	for port := range byPort {
		sendTo(t, c, netip.AddrPortFrom(loopback4, port), string(rune('A'+port%26)))
	}
	got := readN(t, p, flows, 256, 64)
	seen := make(map[hal.FlowID]bool, flows)
	for _, pk := range got {
		if seen[pk.Flow] {
			t.Fatalf("flow %#x delivered twice", pk.Flow)
		}
		seen[pk.Flow] = true
		if pk.From != addrOf(c) {
			t.Fatalf("packet From = %s, want %s", pk.From, addrOf(c))
		}
	}
	for port, id := range byPort {
		if !seen[id] {
			t.Fatalf("flow %#x (port %d) got nothing", id, port)
		}
	}
	if got := p.Counters().RxPackets; got != flows {
		t.Fatalf("RxPackets = %d, want %d", got, flows)
	}
}

// raiseFileLimit lifts RLIMIT_NOFILE's soft limit to at least n (within the
// hard limit), for tests that open many sockets.
func raiseFileLimit(t testing.TB, n uint64) {
	t.Helper()
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("getrlimit: %v", err)
	}
	if lim.Cur >= n {
		return
	}
	if lim.Max < n {
		t.Skipf("needs %d open files; RLIMIT_NOFILE hard limit is %d (raise it with ulimit -Hn)", n, lim.Max)
	}
	old := lim
	lim.Cur = n
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}
