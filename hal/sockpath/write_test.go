package sockpath

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// below returns the address one port below c's: a remote whose port+1 is c.
func below(c *net.UDPConn) netip.AddrPort {
	a := addrOf(c)
	return netip.AddrPortFrom(a.Addr(), a.Port()-1)
}

func TestWriteRoutes(t *testing.T) {
	elsewhere := netip.MustParseAddrPort("127.0.0.1:9") // discard; nothing should go there
	tests := []struct {
		name  string
		rtcp  bool
		open  func(c *net.UDPConn) netip.AddrPort
		then  func(p *Path, id hal.FlowID, c *net.UDPConn) error
		to    func(c *net.UDPConn) netip.AddrPort
		wantC bool // the client, not elsewhere, receives
	}{
		{
			name: "sends RTP from the RTP port to the flow's remote",
			open: addrOf,
		},
		{
			name: "sends RTCP from the RTCP port to the remote's next port",
			rtcp: true, open: below,
		},
		{
			name: "sends RTCP to the address SetRemoteRTCP gave",
			rtcp: true, open: func(*net.UDPConn) netip.AddrPort { return elsewhere },
			then: func(p *Path, id hal.FlowID, c *net.UDPConn) error { return p.SetRemoteRTCP(id, addrOf(c)) },
		},
		{
			name: "sends RTCP to the RTP remote's next port once the override is removed",
			rtcp: true, open: below,
			then: func(p *Path, id hal.FlowID, c *net.UDPConn) error {
				if err := p.SetRemoteRTCP(id, elsewhere); err != nil {
					return err
				}
				return p.SetRemoteRTCP(id, netip.AddrPort{})
			},
		},
		{
			name: "sends RTP to the remote SetRemote latched",
			open: func(*net.UDPConn) netip.AddrPort { return netip.AddrPort{} },
			then: func(p *Path, id hal.FlowID, c *net.UDPConn) error { return p.SetRemote(id, addrOf(c)) },
		},
		{
			name: "sends RTCP to the next port of the remote SetRemote latched",
			rtcp: true, open: func(*net.UDPConn) netip.AddrPort { return elsewhere },
			then: func(p *Path, id hal.FlowID, c *net.UDPConn) error { return p.SetRemote(id, below(c)) },
		},
		{
			name: "sends to Packet.To rather than the remote",
			open: func(*net.UDPConn) netip.AddrPort { return elsewhere },
			to:   addrOf,
		},
		{
			name: "sends RTCP to Packet.To rather than the RTCP remote",
			rtcp: true, open: func(*net.UDPConn) netip.AddrPort { return elsewhere },
			to: addrOf,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPath(t, 1)
			c := client(t, "udp4", loopback4)
			f := open(t, p, tt.open(c))
			if tt.then != nil {
				if err := tt.then(p, f.ID, c); err != nil {
					t.Fatalf("setting the remote: %v", err)
				}
			}
			var to netip.AddrPort
			if tt.to != nil {
				to = tt.to(c)
			}
			if n, err := p.Write([]hal.Packet{packet(f.ID, tt.rtcp, to, "media")}); n != 1 || err != nil {
				t.Fatalf("Write = %d, %v; want 1, nil", n, err)
			}
			data, from := recv(t, c)
			wantFrom := netip.AddrPortFrom(loopback4, f.LocalPort)
			if tt.rtcp {
				wantFrom = netip.AddrPortFrom(loopback4, f.LocalPort+1)
			}
			if data != "media" || from != wantFrom {
				t.Fatalf("client got %q from %s, want %q from %s", data, from, "media", wantFrom)
			}
			if c := p.Counters(); c.TxPackets != 1 || c.TxBytes != 5 || c.TxErrors != 0 {
				t.Fatalf("counters tx = %d packets, %d bytes, %d errors; want 1, 5, 0", c.TxPackets, c.TxBytes, c.TxErrors)
			}
		})
	}
}

func TestWriteBatches(t *testing.T) {
	p := newPath(t, 2)
	ca, cb := client(t, "udp4", loopback4), client(t, "udp4", loopback4)
	a, b := open(t, p, addrOf(ca)), open(t, p, addrOf(cb))
	var pkts []hal.Packet
	for i := range 2 * sendBatch { // runs longer than one sendmmsg batch
		pkts = append(pkts, packet(a.ID, false, netip.AddrPort{}, fmt.Sprint("a", i)))
	}
	pkts = append(pkts, packet(b.ID, false, netip.AddrPort{}, "b0"), packet(a.ID, false, netip.AddrPort{}, "a-last"))

	if n, err := p.Write(pkts); n != len(pkts) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(pkts))
	}
	for i := range 2 * sendBatch {
		if data, _ := recv(t, ca); data != fmt.Sprint("a", i) {
			t.Fatalf("client a got %q as packet %d, want %q", data, i, fmt.Sprint("a", i))
		}
	}
	if data, _ := recv(t, ca); data != "a-last" {
		t.Fatalf("client a got %q last, want a-last", data)
	}
	if data, _ := recv(t, cb); data != "b0" {
		t.Fatalf("client b got %q, want b0", data)
	}
}

func TestWriteGoesOnPastBadPackets(t *testing.T) {
	huge := make([]byte, 70000) // over the 65507-byte UDP/IPv4 payload limit
	tests := []struct {
		name string
		bad  func(good, silent hal.FlowID) hal.Packet
		want error
	}{
		{"skips a packet for an unknown flow", func(good, _ hal.FlowID) hal.Packet {
			return packet(good+1<<slotBits, false, netip.AddrPort{}, "bad")
		}, hal.ErrUnknownFlow},
		{"skips a packet whose N exceeds its buffer", func(good, _ hal.FlowID) hal.Packet {
			return hal.Packet{Flow: good, Buf: make([]byte, 4), N: 5}
		}, ErrBadPacket},
		{"skips a packet with a negative N", func(good, _ hal.FlowID) hal.Packet {
			return hal.Packet{Flow: good, Buf: make([]byte, 4), N: -1}
		}, ErrBadPacket},
		{"skips a packet for a flow with no remote", func(_, silent hal.FlowID) hal.Packet {
			return packet(silent, false, netip.AddrPort{}, "bad")
		}, ErrNoRemote},
		{"skips a packet to an IPv6 address from an IPv4 path", func(good, _ hal.FlowID) hal.Packet {
			return packet(good, false, netip.MustParseAddrPort("[::1]:9"), "bad")
		}, ErrAddressFamily},
		{"skips a packet the kernel refuses, and reports its errno", func(good, _ hal.FlowID) hal.Packet {
			return hal.Packet{Flow: good, Buf: huge, N: len(huge)}
		}, unix.EMSGSIZE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPath(t, 2)
			c := client(t, "udp4", loopback4)
			good, silent := open(t, p, addrOf(c)), open(t, p, netip.AddrPort{})
			pkts := []hal.Packet{
				packet(good.ID, false, netip.AddrPort{}, "one"),
				tt.bad(good.ID, silent.ID),
				packet(good.ID, false, netip.AddrPort{}, "two"),
			}
			n, err := p.Write(pkts)
			if n != 2 || !errors.Is(err, tt.want) {
				t.Fatalf("Write = %d, %v; want 2, %v", n, err, tt.want)
			}
			for _, want := range []string{"one", "two"} {
				if data, _ := recv(t, c); data != want {
					t.Fatalf("client got %q, want %q", data, want)
				}
			}
			if c := p.Counters(); c.TxPackets != 2 || c.TxErrors != 1 {
				t.Fatalf("counters = %d sent, %d errors; want 2, 1", c.TxPackets, c.TxErrors)
			}
		})
	}
}

// TestWriteSurvivesUnreachablePeers sends to a loopback port nobody listens
// on, which answers with ICMP port unreachable, and checks that the flow
// keeps working in both directions.
func TestWriteSurvivesUnreachablePeers(t *testing.T) {
	p := newPath(t, 1)
	gone := client(t, "udp4", loopback4)
	dead := addrOf(gone)
	gone.Close()
	f := open(t, p, dead)
	for i := range 5 {
		if n, err := p.Write([]hal.Packet{packet(f.ID, false, netip.AddrPort{}, "x"), packet(f.ID, true, netip.AddrPort{}, "y")}); n != 2 || err != nil {
			t.Fatalf("Write %d to an unreachable peer = %d, %v; want 2, nil", i, n, err)
		}
		time.Sleep(5 * time.Millisecond) // let the ICMP errors arrive between sends
	}
	c := client(t, "udp4", loopback4)
	if err := p.SetRemote(f.ID, addrOf(c)); err != nil {
		t.Fatalf("SetRemote: %v", err)
	}
	sendTo(t, c, netip.AddrPortFrom(loopback4, f.LocalPort), "ping")
	if got := readN(t, p, 1, 4, 64)[0]; got.Data != "ping" || got.Flow != f.ID {
		t.Fatalf("Read after ICMP errors got %+v, want ping on flow %#x", got, f.ID)
	}
	if n, err := p.Write([]hal.Packet{packet(f.ID, false, netip.AddrPort{}, "pong")}); n != 1 || err != nil {
		t.Fatalf("Write after ICMP errors = %d, %v; want 1, nil", n, err)
	}
	if data, _ := recv(t, c); data != "pong" {
		t.Fatalf("client got %q, want pong", data)
	}
}

// TestConcurrentWrite has several goroutines write to the same flows at
// once; every packet must leave from its own flow's port, intact.
func TestConcurrentWrite(t *testing.T) {
	const writers, flows, rounds = 4, 8, 50
	p := newPath(t, flows)
	clients := make([]*net.UDPConn, flows)
	ids := make([]hal.FlowID, flows)
	ports := make(map[netip.AddrPort]int, flows)
	for i := range flows {
		clients[i] = client(t, "udp4", loopback4)
		clients[i].SetReadBuffer(1 << 20)
		f := open(t, p, addrOf(clients[i]))
		ids[i] = f.ID
		ports[netip.AddrPortFrom(loopback4, f.LocalPort)] = i
	}

	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			pkts := make([]hal.Packet, flows)
			for r := range rounds {
				for i := range flows {
					pkts[i] = packet(ids[i], false, netip.AddrPort{}, fmt.Sprintf("w%d-r%d-f%d", w, r, i))
				}
				if n, err := p.Write(pkts); n != flows || err != nil {
					errs <- fmt.Errorf("writer %d round %d: Write = %d, %v", w, r, n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for i, c := range clients {
		for range writers * rounds {
			data, from := recv(t, c)
			if ports[from] != i || !strings.HasSuffix(data, fmt.Sprintf("-f%d", i)) {
				t.Fatalf("client %d got %q from %s, want its own flow's packets", i, data, from)
			}
		}
	}
	if got, want := p.Counters().TxPackets, uint64(writers*rounds*flows); got != want {
		t.Fatalf("TxPackets = %d, want %d", got, want)
	}
}

// TestFlowChurnDuringTraffic opens and closes flows while Read and Write
// run, the way participants join and leave a live conference. Run with
// -race; the assertions check that nothing is misdelivered.
func TestFlowChurnDuringTraffic(t *testing.T) {
	const stable, churn = 4, 200
	p := newPath(t, 16)
	c := client(t, "udp4", loopback4)
	c.SetReadBuffer(1 << 20)
	var steady []hal.Flow
	for range stable {
		steady = append(steady, open(t, p, addrOf(c)))
	}

	readErr := make(chan error, 1)
	var got []received // owned by the reader until readErr is sent
	go func() {
		pkts := makePackets(32, 64)
		for {
			n, err := p.Read(pkts)
			if err != nil {
				readErr <- err
				return
			}
			for _, pk := range pkts[:n] {
				got = append(got, received{pk.Flow, pk.RTCP, pk.From, string(pk.Buf[:pk.N])})
			}
		}
	}()

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		pkts := make([]hal.Packet, stable)
		for i, f := range steady {
			pkts[i] = packet(f.ID, false, netip.AddrPortFrom(loopback4, f.LocalPort), "loop")
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := p.Write(pkts); err != nil {
				t.Errorf("Write on steady flows: %v", err)
				return
			}
			time.Sleep(100 * time.Microsecond)
		}
	})
	joiners := make(map[hal.FlowID]bool, churn)
	for range churn {
		f, err := p.Open(addrOf(c))
		if err != nil {
			t.Fatalf("Open during traffic: %v", err)
		}
		joiners[f.ID] = true
		sendTo(t, c, netip.AddrPortFrom(loopback4, f.LocalPort), "joiner")
		p.Write([]hal.Packet{packet(f.ID, false, netip.AddrPort{}, "hello")})
		if err := p.Close(f.ID); err != nil {
			t.Fatalf("Close during traffic: %v", err)
		}
	}
	close(stop)
	wg.Wait()
	time.Sleep(20 * time.Millisecond)
	p.Shutdown()
	if err := <-readErr; !errors.Is(err, hal.ErrClosed) {
		t.Fatalf("Read ended with %v, want %v", err, hal.ErrClosed)
	}
	isSteady := make(map[hal.FlowID]bool, stable)
	for _, f := range steady {
		isSteady[f.ID] = true
	}
	for _, pk := range got {
		if (pk.Data == "loop" && !isSteady[pk.Flow]) || (pk.Data == "joiner" && !joiners[pk.Flow]) {
			t.Fatalf("Read delivered %q on flow %#x, which did not receive it", pk.Data, pk.Flow)
		}
	}
	if len(got) == 0 {
		t.Fatal("Read delivered nothing during churn")
	}
	if rx := p.Counters().RxPackets; rx != uint64(len(got)) {
		t.Fatalf("RxPackets = %d, Read returned %d", rx, len(got))
	}
}
