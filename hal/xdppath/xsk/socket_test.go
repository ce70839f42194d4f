//go:build linux

package xsk_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"confab/ebpf/rtpfilter"
	"confab/hal/xdppath/vethtest"
	"confab/hal/xdppath/xsk"
)

const mediaPort = 40000

// rig is an AF_XDP socket on side A's veth with the RTP filter redirecting
// a known flow to it, and a UDP socket on side B to talk to it.
type rig struct {
	pair *vethtest.Pair
	sock *xsk.Socket
	peer *net.UDPConn
}

func newRig(t *testing.T) *rig {
	t.Helper()
	p := vethtest.New(t)
	r := &rig{pair: p}
	err := p.Do(&p.A, func() error {
		f, err := rtpfilter.Load(rtpfilter.Config{MediaLow: mediaPort, MediaHigh: mediaPort + 99, Redirect: true})
		if err != nil {
			return err
		}
		t.Cleanup(func() { f.Close() })
		if err := f.OpenFlow(mediaPort); err != nil {
			return err
		}
		r.sock, err = xsk.Open(p.A.Index, 0, xsk.Config{Frames: 64, RingSize: 32})
		if err != nil {
			return err
		}
		t.Cleanup(func() { r.sock.Close() })
		if err := f.SetSocket(0, r.sock.FD()); err != nil {
			return err
		}
		// Native XDP on veth (Linux 4.19) redirects into AF_XDP sockets.
		l, err := link.AttachXDP(link.XDPOptions{Program: f.Program(), Interface: p.A.Index, Flags: link.XDPDriverMode})
		if err != nil {
			return err
		}
		t.Cleanup(func() { l.Close() })
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Do(&p.B, func() error {
		var err error
		r.peer, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.B.IPv4.AsSlice(), Port: 50000})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.peer.Close() })
	return r
}

func rtpPacket(seq uint16) []byte {
	b := make([]byte, 12+160)
	b[0], b[1] = 0x80, 0
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[8:], 0xabcdef01)
	return b
}

func TestReceiveAndSend(t *testing.T) {
	r := newRig(t)
	a := netip.AddrPortFrom(r.pair.A.IPv4, mediaPort)

	t.Run("redirected packets arrive on the RX ring", func(t *testing.T) {
		const n = 20 // more than half the 32 receive frames: they must be recycled
		descs := make([]unix.XDPDesc, 8)
		got := 0
		for i := range 3 * n {
			if i < n {
				if _, err := r.peer.WriteToUDPAddrPort(rtpPacket(uint16(i)), a); err != nil {
					t.Fatal(err)
				}
			}
			deadline := time.Now().Add(time.Second)
			for got <= i && got < n && time.Now().Before(deadline) {
				k := r.sock.Receive(descs)
				for _, d := range descs[:k] {
					fr := r.sock.Frame(d)
					if len(fr) != 14+20+8+172 {
						t.Fatalf("frame of %d bytes, want %d", len(fr), 14+20+8+172)
					}
					if seq := binary.BigEndian.Uint16(fr[42+2:]); seq != uint16(got) {
						t.Fatalf("packet %d carries sequence %d", got, seq)
					}
					got++
				}
				r.sock.Recycle(descs[:k])
				if k == 0 {
					time.Sleep(time.Millisecond)
				}
			}
		}
		if got != n {
			t.Fatalf("received %d of %d packets", got, n)
		}
	})

	t.Run("frames queued on the TX ring reach the peer", func(t *testing.T) {
		const n = 100 // more than the 32 send frames: completions must be reclaimed
		for i := range n {
			addr, buf, ok := r.sock.TxFrame()
			for !ok {
				time.Sleep(time.Millisecond)
				addr, buf, ok = r.sock.TxFrame()
			}
			m := udpFrame(buf, r.pair, uint16(i))
			if !r.sock.Send(addr, m) {
				t.Fatalf("TX ring full")
			}
			if err := r.sock.Flush(); err != nil {
				t.Fatal(err)
			}
			buf2 := make([]byte, 2048)
			_ = r.peer.SetReadDeadline(time.Now().Add(time.Second))
			k, from, err := r.peer.ReadFromUDPAddrPort(buf2)
			if err != nil {
				t.Fatalf("packet %d: %v", i, err)
			}
			if from != a || k != 172 || binary.BigEndian.Uint16(buf2[2:]) != uint16(i) {
				t.Fatalf("packet %d: %d bytes from %s, sequence %d", i, k, from, binary.BigEndian.Uint16(buf2[2:]))
			}
		}
	})

	t.Run("the kernel reports no drops and no bad descriptors", func(t *testing.T) {
		st, err := r.sock.Stats()
		if err != nil {
			t.Fatal(err)
		}
		st.TxRingEmpty = 0 // each kick drains the ring and then finds it empty
		if st != (xsk.Stats{}) {
			t.Errorf("stats %+v", st)
		}
	})
}

// udpFrame writes an Ethernet/IPv4/UDP frame from A's media port to B's
// UDP socket carrying RTP sequence seq into buf and returns its length.
func udpFrame(buf []byte, p *vethtest.Pair, seq uint16) int {
	payload := rtpPacket(seq)
	copy(buf[0:], p.B.MAC)
	copy(buf[6:], p.A.MAC)
	binary.BigEndian.PutUint16(buf[12:], 0x0800)
	ip := buf[14:34]
	clear(ip)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	ip[6], ip[8], ip[9] = 0x40, 64, 17
	s, d := p.A.IPv4.As4(), p.B.IPv4.As4()
	copy(ip[12:], s[:])
	copy(ip[16:], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := buf[34:]
	binary.BigEndian.PutUint16(u[0:], mediaPort)
	binary.BigEndian.PutUint16(u[2:], 50000)
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(payload)))
	binary.BigEndian.PutUint16(u[6:], 0) // no checksum (RFC 768)
	copy(u[8:], payload)
	return 14 + 20 + 8 + len(payload)
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name string
		cfg  xsk.Config
	}{
		{"a frame size that is not a power of two is refused", xsk.Config{FrameSize: 3000}},
		{"a frame size below 2048 is refused", xsk.Config{FrameSize: 1024}},
		{"a ring size that is not a power of two is refused", xsk.Config{RingSize: 1000}},
		{"more receive frames than the ring holds are refused", xsk.Config{Frames: 128, RingSize: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := xsk.Open(1, 0, tt.cfg); !errors.Is(err, xsk.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
	t.Run("a queue the interface does not have is refused", func(t *testing.T) {
		p := vethtest.New(t)
		err := p.Do(&p.A, func() error {
			s, err := xsk.Open(p.A.Index, 5, xsk.Config{Frames: 64, RingSize: 32})
			if err == nil {
				s.Close()
			}
			return err
		})
		if !errors.Is(err, xsk.ErrNoQueue) {
			t.Errorf("err %v, want ErrNoQueue", err)
		}
	})
}

// BenchmarkSend measures the send path in batches of 64: frames built in
// the UMEM, queued, and one Flush, on a veth (copy mode: the kernel builds
// a socket buffer for each frame and transmits it within the kick). The
// peer drops the frames with XDP: only the sending is measured.
func BenchmarkSend(b *testing.B) {
	p := vethtest.New(b)
	p.DropIPv4(b, &p.B)
	var s *xsk.Socket
	if err := p.Do(&p.A, func() error {
		var err error
		s, err = xsk.Open(p.A.Index, 0, xsk.Config{})
		return err
	}); err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const batch = 64
	b.ReportAllocs()
	for b.Loop() {
		for i := range batch {
			addr, buf, ok := s.TxFrame()
			for !ok {
				_ = s.Flush()
				addr, buf, ok = s.TxFrame()
			}
			n := udpFrame(buf, p, uint16(i))
			if !s.Send(addr, n) {
				b.Fatal("TX ring full")
			}
		}
		if err := s.Flush(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/packet")
}
