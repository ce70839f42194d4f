package sockpath

import (
	"net/netip"
	"strings"
	"testing"

	"confab/hal"
)

func TestReadDelivers(t *testing.T) {
	tests := []struct {
		name string
		rtcp bool
	}{
		{"delivers a datagram to the RTP port with its flow, source and length", false},
		{"marks a datagram to the RTCP port as RTCP", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPath(t, 3)
			open(t, p, netip.AddrPort{}) // a neighbour that must stay silent
			f := open(t, p, netip.AddrPort{})
			c := client(t, "udp4", loopback4)
			port := f.LocalPort
			if tt.rtcp {
				port++
			}
			sendTo(t, c, netip.AddrPortFrom(loopback4, port), "hello")
			got := readN(t, p, 1, 8, 1500)[0]
			want := received{Flow: f.ID, RTCP: tt.rtcp, From: addrOf(c), Data: "hello"}
			if got != want {
				t.Fatalf("Read got %+v, want %+v", got, want)
			}
			if c := p.Counters(); c.RxPackets != 1 || c.RxBytes != 5 {
				t.Fatalf("counters rx = %d packets %d bytes, want 1 and 5", c.RxPackets, c.RxBytes)
			}
		})
	}
}

func TestReadBatches(t *testing.T) {
	t.Run("returns at most len(pkts) and leaves the rest for the next Read", func(t *testing.T) {
		p := newPath(t, 1)
		f := open(t, p, netip.AddrPort{})
		c := client(t, "udp4", loopback4)
		for i := range 10 {
			sendTo(t, c, netip.AddrPortFrom(loopback4, f.LocalPort), string(rune('a'+i)))
		}
		pkts := makePackets(4, 64)
		var sizes []int
		var data strings.Builder
		for total := 0; total < 10; {
			n, err := p.Read(pkts)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			sizes = append(sizes, n)
			for _, pk := range pkts[:n] {
				data.Write(pk.Buf[:pk.N])
			}
			total += n
		}
		if got, want := data.String(), "abcdefghij"; got != want {
			t.Fatalf("payloads in order = %q, want %q", got, want)
		}
		for _, n := range sizes {
			if n > 4 {
				t.Fatalf("Read batch sizes %v exceed len(pkts) = 4", sizes)
			}
		}
	})

	t.Run("drains more datagrams than one recvmmsg batch", func(t *testing.T) {
		p := newPath(t, 1, WithSocketBuffers(1<<20, 0))
		f := open(t, p, netip.AddrPort{})
		c := client(t, "udp4", loopback4)
		const count = 3*readBatch + 5
		for range count {
			sendTo(t, c, netip.AddrPortFrom(loopback4, f.LocalPort), "x")
		}
		got := readN(t, p, count, 4*readBatch, 64)
		for _, pk := range got {
			if pk.Flow != f.ID || pk.Data != "x" {
				t.Fatalf("Read got %+v, want flow %#x payload x", pk, f.ID)
			}
		}
	})

	t.Run("serves every ready flow in one call", func(t *testing.T) {
		p := newPath(t, 8)
		c := client(t, "udp4", loopback4)
		want := map[hal.FlowID]bool{}
		for range 8 {
			f := open(t, p, netip.AddrPort{})
			want[f.ID] = true
			sendTo(t, c, netip.AddrPortFrom(loopback4, f.LocalPort), "x")
		}
		for _, pk := range readN(t, p, 8, 16, 64) {
			if !want[pk.Flow] {
				t.Fatalf("packet for flow %#x, which got none or got two", pk.Flow)
			}
			delete(want, pk.Flow)
		}
	})
}

func TestReadDropsTruncatedDatagrams(t *testing.T) {
	p := newPath(t, 1)
	f := open(t, p, netip.AddrPort{})
	c := client(t, "udp4", loopback4)
	to := netip.AddrPortFrom(loopback4, f.LocalPort)
	sendTo(t, c, to, "first")
	sendTo(t, c, to, strings.Repeat("L", 100)) // longer than the 16-byte buffers
	sendTo(t, c, to, "third")
	sendTo(t, c, to, "fourth")

	got := readN(t, p, 3, 8, 16)
	var data []string
	for _, pk := range got {
		data = append(data, pk.Data)
	}
	if strings.Join(data, ",") != "first,third,fourth" {
		t.Fatalf("Read delivered %q, want first, third, fourth", data)
	}
	if got := p.Counters().RxDropped; got != 1 {
		t.Fatalf("RxDropped = %d, want 1", got)
	}
}

func TestReadAddressFamilies(t *testing.T) {
	tests := []struct {
		name     string
		listen   netip.Addr
		dial     netip.Addr // the local address the path is reached at
		network  string
		clientAt netip.Addr
	}{
		{"receives from IPv6 peers on an IPv6 path", netip.IPv6Loopback(), netip.IPv6Loopback(), "udp6", netip.IPv6Loopback()},
		{"reports IPv4 peers of a dual-stack path as plain IPv4", netip.IPv6Unspecified(), loopback4, "udp4", loopback4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needIPv6(t)
			c := client(t, tt.network, tt.clientAt)
			low, high := freeRange(t, 1)
			p := newPathOn(t, tt.listen, low, high)
			f := open(t, p, netip.AddrPort{})
			sendTo(t, c, netip.AddrPortFrom(tt.dial, f.LocalPort), "v")
			got := readN(t, p, 1, 4, 64)[0]
			if got.From != addrOf(c) {
				t.Fatalf("From = %s, want %s", got.From, addrOf(c))
			}
			// Replies go back to the address Read reported.
			if n, err := p.Write([]hal.Packet{packet(f.ID, false, got.From, "reply")}); n != 1 || err != nil {
				t.Fatalf("Write reply = %d, %v; want 1, nil", n, err)
			}
			if data, _ := recv(t, c); data != "reply" {
				t.Fatalf("client got %q, want reply", data)
			}
		})
	}
}

// TestReadAndWriteDoNotAllocate proves the steady-state hot paths are
// allocation-free: each run writes a batch from one flow to another flow of
// the same path and reads it back.
func TestReadAndWriteDoNotAllocate(t *testing.T) {
	const batch = 16
	p := newPath(t, 2)
	rx := open(t, p, netip.AddrPort{})
	tx := open(t, p, netip.AddrPortFrom(loopback4, rx.LocalPort))
	out := make([]hal.Packet, batch)
	for i := range out {
		out[i] = packet(tx.ID, false, netip.AddrPort{}, strings.Repeat("p", 172))
	}
	in := makePackets(batch, 1500)
	var failed error
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := p.Write(out); err != nil {
			failed = err
		}
		for got := 0; got < batch; {
			n, err := p.Read(in)
			if err != nil {
				failed = err
				return
			}
			got += n
		}
	})
	if failed != nil {
		t.Fatalf("Write/Read: %v", failed)
	}
	if allocs != 0 {
		t.Fatalf("Write+Read of %d packets allocates %.1f times, want 0", batch, allocs)
	}
}
