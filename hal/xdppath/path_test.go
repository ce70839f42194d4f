//go:build linux

package xdppath_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"confab/ebpf/rtpfilter"
	"confab/hal"
	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
)

const (
	low  = 40000
	high = 40099
)

// server is an XDP path on side A of a veth pair, with a reader goroutine.
type server struct {
	pair *vethtest.Pair
	path *xdppath.Path
	rx   chan hal.Packet
}

func newServer(t *testing.T, p *vethtest.Pair, opts ...xdppath.Option) *server {
	t.Helper()
	s := &server{pair: p, rx: make(chan hal.Packet, 1024)}
	err := p.Do(&p.A, func() error {
		var err error
		s.path, err = xdppath.New(p.A.Ifname, p.A.IPv4, low, high, append([]xdppath.Option{xdppath.WithPinDir("")}, opts...)...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		pkts := make([]hal.Packet, 16)
		for i := range pkts {
			pkts[i].Buf = make([]byte, 1500)
		}
		for {
			n, err := s.path.Read(pkts)
			if err != nil {
				return
			}
			for _, pk := range pkts[:n] {
				c := pk
				c.Buf = append([]byte(nil), pk.Buf[:pk.N]...)
				s.rx <- c
			}
		}
	}()
	t.Cleanup(func() {
		if err := s.path.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-done
	})
	return s
}

// open opens a flow in A's namespace (its kernel sockets bind there).
func (s *server) open(t *testing.T, remote netip.AddrPort) hal.Flow {
	t.Helper()
	var f hal.Flow
	err := s.pair.Do(&s.pair.A, func() error {
		var err error
		f, err = s.path.Open(remote)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// recv waits for the next packet the path read.
func (s *server) recv(t *testing.T) (hal.Packet, bool) {
	t.Helper()
	select {
	case pk := <-s.rx:
		return pk, true
	case <-time.After(300 * time.Millisecond):
		return hal.Packet{}, false
	}
}

// client is a UDP socket in side B's namespace.
func client(t *testing.T, p *vethtest.Pair, port int) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	err := p.Do(&p.B, func() error {
		var err error
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.B.IPv4.AsSlice(), Port: port})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func rtp(seq uint16, pt uint8) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, pt
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], 0x5eed)
	return b
}

func TestMediaFlowsBothWays(t *testing.T) {
	for _, afxdp := range []bool{true, false} {
		name := "over AF_XDP"
		if !afxdp {
			name = "through the kernel's sockets behind the filter"
		}
		t.Run(name, func(t *testing.T) {
			p := vethtest.New(t)
			s := newServer(t, p, xdppath.WithAFXDP(afxdp))
			if on, _ := s.path.AFXDP(); on != afxdp {
				t.Fatalf("AF_XDP %v, want %v (%s)", on, afxdp, s.path.Reason())
			}
			c := client(t, p, 50000)
			phone := netip.AddrPortFrom(p.B.IPv4, 50000)
			f := s.open(t, phone)
			srv := netip.AddrPortFrom(p.A.IPv4, f.LocalPort)

			t.Run("a packet sent before the phone was heard from reaches it", func(t *testing.T) {
				pk := rtp(1, 0)
				if _, err := s.path.Write([]hal.Packet{{Flow: f.ID, Buf: pk, N: len(pk)}}); err != nil {
					t.Fatal(err)
				}
				expectFrom(t, c, srv, 1)
			})
			t.Run("the phone's RTP arrives, and junk and strangers do not", func(t *testing.T) {
				send := func(to netip.AddrPort, b []byte) {
					if _, err := c.WriteToUDPAddrPort(b, to); err != nil {
						t.Fatal(err)
					}
				}
				send(netip.AddrPortFrom(p.A.IPv4, f.LocalPort+2), rtp(7, 0)) // a port with no flow
				send(srv, []byte("not rtp at all"))
				send(srv, rtp(8, 72)) // a reserved payload type
				send(srv, rtp(9, 0))
				pk, ok := s.recv(t)
				if !ok {
					t.Fatal("nothing arrived")
				}
				if pk.Flow != f.ID || pk.RTCP || pk.From != phone || binary.BigEndian.Uint16(pk.Buf[2:]) != 9 {
					t.Errorf("got flow %d rtcp %v from %s seq %d", pk.Flow, pk.RTCP, pk.From, binary.BigEndian.Uint16(pk.Buf[2:]))
				}
				if pk, ok := s.recv(t); ok {
					t.Errorf("an extra packet arrived: %d bytes from %s", pk.N, pk.From)
				}
				vc, err := s.path.Filter().Verdicts()
				if err != nil {
					t.Fatal(err)
				}
				for v, want := range map[rtpfilter.Verdict]uint64{
					rtpfilter.DropUnknownFlow: 1, rtpfilter.DropVersion: 1, rtpfilter.DropPayloadType: 1,
				} {
					if vc[v].Packets != want {
						t.Errorf("%s: %d, want %d", v, vc[v].Packets, want)
					}
				}
				delivered := rtpfilter.PassFlow
				if afxdp {
					delivered = rtpfilter.RedirectFlow
				}
				if vc[delivered].Packets != 1 {
					t.Errorf("%s: %d, want 1", delivered, vc[delivered].Packets)
				}
			})
			t.Run("RTCP arrives flagged as RTCP", func(t *testing.T) {
				rc := client(t, p, 50001)
				rr := []byte{0x80, 201, 0, 1, 0, 0, 0x5e, 0xed}
				if _, err := rc.WriteToUDPAddrPort(rr, netip.AddrPortFrom(p.A.IPv4, f.LocalPort+1)); err != nil {
					t.Fatal(err)
				}
				pk, ok := s.recv(t)
				if !ok || !pk.RTCP || pk.Flow != f.ID || pk.N != len(rr) {
					t.Errorf("got %+v, %v", pk, ok)
				}
			})
			t.Run("a batch of replies reaches the phone in order", func(t *testing.T) {
				batch := make([]hal.Packet, 40)
				for i := range batch {
					b := rtp(uint16(100+i), 0)
					batch[i] = hal.Packet{Flow: f.ID, Buf: b, N: len(b)}
				}
				if n, err := s.path.Write(batch); n != len(batch) || err != nil {
					t.Fatalf("wrote %d, %v", n, err)
				}
				for i := range batch {
					expectFrom(t, c, srv, uint16(100+i))
				}
			})
			t.Run("the flow's counters match what arrived", func(t *testing.T) {
				st, err := s.path.FlowStats(f.ID)
				if err != nil {
					t.Fatal(err)
				}
				if st.RTPPackets != 1 || st.RTCPPackets != 1 || time.Since(st.LastArrival) > 5*time.Second {
					t.Errorf("flow stats %+v", st)
				}
			})
			t.Run("a closed flow's packets are dropped again", func(t *testing.T) {
				if err := s.path.Close(f.ID); err != nil {
					t.Fatal(err)
				}
				if _, err := c.WriteToUDPAddrPort(rtp(10, 0), srv); err != nil {
					t.Fatal(err)
				}
				if pk, ok := s.recv(t); ok {
					t.Errorf("a packet of the closed flow arrived: %+v", pk)
				}
				if _, err := s.path.Write([]hal.Packet{{Flow: f.ID, Buf: make([]byte, 10), N: 10}}); !errors.Is(err, hal.ErrUnknownFlow) {
					t.Errorf("write to the closed flow: %v, want ErrUnknownFlow", err)
				}
			})
		})
	}
}

// expectFrom reads one datagram from c and checks its source and RTP
// sequence number.
func expectFrom(t *testing.T, c *net.UDPConn, from netip.AddrPort, seq uint16) {
	t.Helper()
	buf := make([]byte, 2048)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("waiting for seq %d: %v", seq, err)
	}
	if src != from || n != 172 || binary.BigEndian.Uint16(buf[2:]) != seq {
		t.Fatalf("got %d bytes from %s with seq %d, want 172 from %s with seq %d", n, src, binary.BigEndian.Uint16(buf[2:]), from, seq)
	}
}

func TestAttachModes(t *testing.T) {
	tests := []struct {
		name string
		mode xdppath.Mode
		want xdppath.Mode
	}{
		{"auto takes driver mode where the driver has it", xdppath.ModeAuto, xdppath.ModeDriver},
		{"generic mode is taken when asked for", xdppath.ModeGeneric, xdppath.ModeGeneric},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := vethtest.New(t)
			s := newServer(t, p, xdppath.WithMode(tt.mode))
			if s.path.Mode() != tt.want {
				t.Errorf("mode %s, want %s", s.path.Mode(), tt.want)
			}
			if !strings.Contains(s.path.Reason(), tt.want.String()+" mode") {
				t.Errorf("reason %q does not name the mode", s.path.Reason())
			}
		})
	}
	t.Run("a bridge, which has no native XDP, falls back to generic mode", func(t *testing.T) {
		p := vethtest.New(t)
		p.IP(t, &p.A, "link", "add", "cfxbr", "type", "bridge")
		p.IP(t, &p.A, "link", "set", "cfxbr", "up")
		err := p.Do(&p.A, func() error {
			path, err := xdppath.New("cfxbr", netip.MustParseAddr("127.0.0.1"), low, high, xdppath.WithPinDir(""))
			if err != nil {
				return err
			}
			defer path.Shutdown()
			if path.Mode() != xdppath.ModeGeneric {
				t.Errorf("mode %s, want generic", path.Mode())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a missing interface is refused", func(t *testing.T) {
		_, err := xdppath.New("cfx-no-such-if", netip.MustParseAddr("127.0.0.1"), low, high)
		if !errors.Is(err, xdppath.ErrInterface) {
			t.Errorf("err %v, want ErrInterface", err)
		}
	})
}

func TestTheSIPGuardStopsAFloodBeforeTheStack(t *testing.T) {
	p := vethtest.New(t)
	s := newServer(t, p, xdppath.WithSIPGuard(5060, 10, 5)) // 10 a second, bursts of 5
	var sip *net.UDPConn
	if err := p.Do(&p.A, func() error {
		var err error
		sip, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.A.IPv4.AsSlice(), Port: 5060})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sip.Close()
	c := client(t, p, 5062)
	to := netip.AddrPortFrom(p.A.IPv4, 5060)
	options := []byte("OPTIONS sip:10.77.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 10.77.0.2:5062\r\n\r\n")

	// flood sends n requests as fast as it can and counts what the SIP
	// socket got.
	flood := func(n int) int {
		for range n {
			if _, err := c.WriteToUDPAddrPort(options, to); err != nil {
				t.Fatal(err)
			}
		}
		got := 0
		buf := make([]byte, 2048)
		for {
			_ = sip.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if _, _, err := sip.ReadFromUDPAddrPort(buf); err != nil {
				return got
			}
			got++
		}
	}
	t.Run("a flood from one source is cut to its burst", func(t *testing.T) {
		before, _ := s.path.Filter().Verdicts()
		got := flood(200)
		after, _ := s.path.Filter().Verdicts()
		// The burst, and whatever the bucket refilled while the flood ran.
		if got < 5 || got > 8 {
			t.Errorf("the SIP socket got %d of 200", got)
		}
		passed := after[rtpfilter.PassSIP].Packets - before[rtpfilter.PassSIP].Packets
		dropped := after[rtpfilter.DropSIPFlood].Packets - before[rtpfilter.DropSIPFlood].Packets
		if passed != uint64(got) || passed+dropped != 200 {
			t.Errorf("counted %d passed and %d dropped; the socket got %d of 200", passed, dropped, got)
		}
	})
	t.Run("a trusted source is not limited", func(t *testing.T) {
		if err := s.path.Filter().TrustSIPSource(p.B.IPv4); err != nil {
			t.Fatal(err)
		}
		if got := flood(100); got != 100 {
			t.Errorf("the SIP socket got %d of 100 from a trusted source", got)
		}
	})
}

func TestTheAFXDPHotPathsDoNotAllocate(t *testing.T) {
	p := vethtest.New(t)
	var path *xdppath.Path
	if err := p.Do(&p.A, func() error {
		var err error
		path, err = xdppath.New(p.A.Ifname, p.A.IPv4, low, high, xdppath.WithPinDir(""))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer path.Shutdown()
	c := client(t, p, 50000)
	var f hal.Flow
	if err := p.Do(&p.A, func() error {
		var err error
		f, err = path.Open(netip.AddrPortFrom(p.B.IPv4, 50000))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	srv := netip.AddrPortFrom(p.A.IPv4, f.LocalPort)
	const runs = 100
	for i := range runs + 1 { // AllocsPerRun runs once more to warm up
		if _, err := c.WriteToUDPAddrPort(rtp(uint16(i), 0), srv); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)

	pkts := []hal.Packet{{Buf: make([]byte, 1500)}}
	t.Run("Read does not allocate", func(t *testing.T) {
		if n := testing.AllocsPerRun(runs, func() {
			if n, err := path.Read(pkts); n != 1 || err != nil {
				t.Fatalf("read %d, %v", n, err)
			}
		}); n != 0 {
			t.Errorf("%.1f allocations per Read", n)
		}
	})
	batch := make([]hal.Packet, 32)
	for i := range batch {
		b := rtp(uint16(i), 0)
		batch[i] = hal.Packet{Flow: f.ID, Buf: b, N: len(b)}
	}
	t.Run("Write does not allocate", func(t *testing.T) {
		if n := testing.AllocsPerRun(runs, func() {
			if n, err := path.Write(batch); n != len(batch) || err != nil {
				t.Fatalf("wrote %d, %v", n, err)
			}
		}); n != 0 {
			t.Errorf("%.1f allocations per Write of %d", n, len(batch))
		}
	})
}
