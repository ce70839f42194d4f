package sockpath

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"confab/hal"
)

// Tests bind real loopback sockets. Port ranges come from 21000..29999,
// below the kernel's ephemeral range (ip_local_port_range, 32768 up by
// default), and each test first checks that its block is free, so other
// programs on the machine do not make exact-port assertions flaky.
const (
	probeLow  = 21000
	probeHigh = 29999
)

var loopback4 = netip.MustParseAddr("127.0.0.1")

// freeRange returns a range of pairs RTP/RTCP pairs on 127.0.0.1 in which
// every port was free a moment ago.
func freeRange(t testing.TB, pairs int) (low, high uint16) {
	t.Helper()
	span := 2 * pairs
	slots := (probeHigh - probeLow + 1) / span
	start := os.Getpid() % slots
	for i := range slots {
		base := probeLow + ((start+i)%slots)*span
		if portsFree(base, span) {
			return uint16(base), uint16(base + span - 1)
		}
	}
	t.Fatalf("no %d free consecutive ports in %d-%d", span, probeLow, probeHigh)
	return 0, 0
}

func portsFree(base, n int) bool {
	var held []*net.UDPConn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for port := base; port < base+n; port++ {
		c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback4, uint16(port))))
		if err != nil {
			return false
		}
		held = append(held, c)
	}
	return true
}

// newPath makes a Path over a fresh free range of pairs on 127.0.0.1 and
// shuts it down when the test ends.
func newPath(t testing.TB, pairs int, opts ...Option) *Path {
	t.Helper()
	low, high := freeRange(t, pairs)
	return newPathOn(t, loopback4, low, high, opts...)
}

func newPathOn(t testing.TB, listen netip.Addr, low, high uint16, opts ...Option) *Path {
	t.Helper()
	p, err := New(listen, low, high, opts...)
	if err != nil {
		t.Fatalf("New(%s, %d, %d): %v", listen, low, high, err)
	}
	t.Cleanup(func() { p.Shutdown() })
	return p
}

// client is an ordinary UDP socket standing in for a phone.
func client(t testing.TB, network string, addr netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Fatalf("client listen %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func open(t testing.TB, p *Path, remote netip.AddrPort) hal.Flow {
	t.Helper()
	f, err := p.Open(remote)
	if err != nil {
		t.Fatalf("Open(%s): %v", remote, err)
	}
	return f
}

func sendTo(t testing.TB, c *net.UDPConn, to netip.AddrPort, data string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(data), to); err != nil {
		t.Fatalf("client send to %s: %v", to, err)
	}
}

// received is one packet Read returned, with its payload copied out.
type received struct {
	Flow hal.FlowID
	RTCP bool
	From netip.AddrPort
	Data string
}

// readN reads until want packets have arrived, with a deadline, using
// buffers of bufSize bytes and batches of batch packets.
func readN(t testing.TB, p *Path, want, batch, bufSize int) []received {
	t.Helper()
	pkts := makePackets(batch, bufSize)
	type result struct {
		got []received
		err error
	}
	done := make(chan result, 1)
	go func() {
		var got []received
		for len(got) < want {
			n, err := p.Read(pkts)
			if err != nil {
				done <- result{got, err}
				return
			}
			for _, pk := range pkts[:n] {
				got = append(got, received{pk.Flow, pk.RTCP, pk.From, string(pk.Buf[:pk.N])})
			}
		}
		done <- result{got, nil}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("Read after %d of %d packets: %v", len(r.got), want, r.err)
		}
		if len(r.got) != want {
			t.Fatalf("Read returned %d packets, want %d", len(r.got), want)
		}
		return r.got
	case <-time.After(5 * time.Second):
		t.Fatalf("Read: %d packets did not arrive within 5s", want)
		return nil
	}
}

func makePackets(n, bufSize int) []hal.Packet {
	pkts := make([]hal.Packet, n)
	for i := range pkts {
		pkts[i].Buf = make([]byte, bufSize)
	}
	return pkts
}

// recv reads one datagram at a client, with a deadline.
func recv(t testing.TB, c *net.UDPConn) (string, netip.AddrPort) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("client %s receive: %v", addrOf(c), err)
	}
	return string(buf[:n]), netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
}

// expectNothing checks that no datagram reaches c within a short wait.
func expectNothing(t testing.TB, c *net.UDPConn) {
	t.Helper()
	buf := make([]byte, 2048)
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, from, err := c.ReadFromUDPAddrPort(buf); err == nil {
		t.Fatalf("client %s got unexpected %q from %s", addrOf(c), buf[:n], from)
	}
}

// packet builds a packet to write.
func packet(flow hal.FlowID, rtcp bool, to netip.AddrPort, data string) hal.Packet {
	return hal.Packet{Flow: flow, RTCP: rtcp, To: to, Buf: []byte(data), N: len(data)}
}

// needIPv6 skips a test on a kernel without IPv6 loopback (booted with
// ipv6.disable=1, or a container without ::1).
func needIPv6(t testing.TB) {
	t.Helper()
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		t.Skipf("needs IPv6 loopback (::1): %v", err)
	}
	c.Close()
}
