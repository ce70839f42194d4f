package haltest

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"confab/hal"
)

var (
	phone = netip.MustParseAddrPort("198.51.100.7:5004")
	other = netip.MustParseAddrPort("198.51.100.8:6000")
)

func mustOpen(t *testing.T, p *Path, remote netip.AddrPort) hal.Flow {
	t.Helper()
	f, err := p.Open(remote)
	if err != nil {
		t.Fatalf("Open(%s): %v", remote, err)
	}
	return f
}

func buffers(n, size int) []hal.Packet {
	pkts := make([]hal.Packet, n)
	for i := range pkts {
		pkts[i].Buf = make([]byte, size)
	}
	return pkts
}

func nextSent(t *testing.T, p *Path) hal.Packet {
	t.Helper()
	select {
	case pk := <-p.Sent():
		return pk
	case <-time.After(time.Second):
		t.Fatal("nothing on Sent within 1s")
		return hal.Packet{}
	}
}

func TestOpen(t *testing.T) {
	t.Run("assigns even fake ports and fresh IDs", func(t *testing.T) {
		p := New(WithPorts(5000, 5005))
		a, b := mustOpen(t, p, phone), mustOpen(t, p, other)
		if a.LocalPort != 5000 || b.LocalPort != 5002 || a.ID == b.ID || a.ID == 0 {
			t.Fatalf("flows %+v and %+v, want ports 5000 and 5002 with distinct nonzero IDs", a, b)
		}
	})

	t.Run("reports open flows with the remote SetRemote set", func(t *testing.T) {
		p := New()
		a, b := mustOpen(t, p, phone), mustOpen(t, p, phone)
		if err := p.SetRemote(b.ID, other); err != nil {
			t.Fatalf("SetRemote: %v", err)
		}
		got := p.Flows()
		if len(got) != 2 || got[0] != a || got[1].ID != b.ID || got[1].Remote != other {
			t.Fatalf("Flows() = %+v, want %+v then flow %d at %s", got, a, b.ID, other)
		}
		if f, ok := p.Flow(b.ID); !ok || f.Remote != other {
			t.Fatalf("Flow(%d) = %+v, %v; want remote %s", b.ID, f, ok, other)
		}
		p.Close(a.ID)
		if _, ok := p.Flow(a.ID); ok {
			t.Fatalf("Flow(%d) found after Close", a.ID)
		}
	})

	t.Run("returns ErrNoPorts when the range is used up", func(t *testing.T) {
		p := New(WithPorts(5000, 5003))
		mustOpen(t, p, phone)
		mustOpen(t, p, phone)
		if _, err := p.Open(phone); !errors.Is(err, hal.ErrNoPorts) {
			t.Fatalf("Open on a full range = %v, want %v", err, hal.ErrNoPorts)
		}
	})

	t.Run("reuses a closed flow's ports but not its ID", func(t *testing.T) {
		p := New(WithPorts(5000, 5001))
		a := mustOpen(t, p, phone)
		if err := p.Close(a.ID); err != nil {
			t.Fatalf("Close: %v", err)
		}
		b := mustOpen(t, p, phone)
		if b.LocalPort != a.LocalPort || b.ID == a.ID {
			t.Fatalf("reopened flow %+v, want port %d and an ID other than %d", b, a.LocalPort, a.ID)
		}
		if err := p.Close(a.ID); !errors.Is(err, hal.ErrUnknownFlow) {
			t.Fatalf("Close(stale) = %v, want %v", err, hal.ErrUnknownFlow)
		}
	})
}

func TestInjectAndRead(t *testing.T) {
	t.Run("delivers injected packets in order with flow, RTCP and source", func(t *testing.T) {
		p := New()
		f := mustOpen(t, p, phone)
		p.Inject(f.ID, false, phone, []byte("rtp"))
		p.Inject(f.ID, true, other, []byte("rtcp"))
		pkts := buffers(4, 64)
		n, err := p.Read(pkts)
		if err != nil || n != 2 {
			t.Fatalf("Read = %d, %v; want 2, nil", n, err)
		}
		want := []struct {
			rtcp bool
			from netip.AddrPort
			data string
		}{{false, phone, "rtp"}, {true, other, "rtcp"}}
		for i, w := range want {
			pk := pkts[i]
			if pk.Flow != f.ID || pk.RTCP != w.rtcp || pk.From != w.from || string(pk.Buf[:pk.N]) != w.data {
				t.Fatalf("packet %d = flow %d rtcp %v from %s %q; want flow %d rtcp %v from %s %q",
					i, pk.Flow, pk.RTCP, pk.From, pk.Buf[:pk.N], f.ID, w.rtcp, w.from, w.data)
			}
		}
	})

	t.Run("blocks until a packet is injected", func(t *testing.T) {
		p := New()
		f := mustOpen(t, p, phone)
		got := make(chan int, 1)
		go func() {
			n, _ := p.Read(buffers(1, 64))
			got <- n
		}()
		select {
		case <-got:
			t.Fatal("Read returned before anything was injected")
		case <-time.After(20 * time.Millisecond):
		}
		p.Inject(f.ID, false, phone, []byte("x"))
		select {
		case n := <-got:
			if n != 1 {
				t.Fatalf("Read = %d, want 1", n)
			}
		case <-time.After(time.Second):
			t.Fatal("Read still blocked 1s after Inject")
		}
	})

	t.Run("drops a packet larger than the buffer and counts it", func(t *testing.T) {
		p := New()
		f := mustOpen(t, p, phone)
		p.Inject(f.ID, false, phone, []byte("much too long"))
		p.Inject(f.ID, false, phone, []byte("ok"))
		pkts := buffers(2, 4)
		if n, err := p.Read(pkts); n != 1 || string(pkts[0].Buf[:pkts[0].N]) != "ok" {
			t.Fatalf("Read = %d, %v, first %q; want 1 packet ok", n, err, pkts[0].Buf[:pkts[0].N])
		}
		if c := p.Counters(); c.RxDropped != 1 || c.RxPackets != 1 {
			t.Fatalf("counters = %+v, want 1 dropped, 1 received", c)
		}
	})

	t.Run("refuses injection for unknown flows and a full queue", func(t *testing.T) {
		p := New(WithQueue(1))
		f := mustOpen(t, p, phone)
		if err := p.Inject(f.ID+100, false, phone, nil); !errors.Is(err, hal.ErrUnknownFlow) {
			t.Errorf("Inject(unknown) = %v, want %v", err, hal.ErrUnknownFlow)
		}
		p.Inject(f.ID, false, phone, []byte("1"))
		if err := p.Inject(f.ID, false, phone, []byte("2")); !errors.Is(err, ErrQueueFull) {
			t.Errorf("Inject beyond the queue = %v, want %v", err, ErrQueueFull)
		}
	})
}

func TestWrite(t *testing.T) {
	tests := []struct {
		name    string
		rtcp    bool
		to      netip.AddrPort
		setup   func(p *Path, id hal.FlowID)
		wantTo  netip.AddrPort
		wantSrc uint16 // offset from the flow's RTP port
	}{
		{name: "sends RTP to the flow's remote", wantTo: phone},
		{name: "sends RTCP to the remote's next port", rtcp: true,
			wantTo: netip.MustParseAddrPort("198.51.100.7:5005"), wantSrc: 1},
		{name: "sends RTCP to the SetRemoteRTCP override", rtcp: true,
			setup:  func(p *Path, id hal.FlowID) { p.SetRemoteRTCP(id, other) },
			wantTo: other, wantSrc: 1},
		{name: "sends to the remote SetRemote latched",
			setup:  func(p *Path, id hal.FlowID) { p.SetRemote(id, other) },
			wantTo: other},
		{name: "sends to Packet.To when set", to: other, wantTo: other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New()
			f := mustOpen(t, p, phone)
			if tt.setup != nil {
				tt.setup(p, f.ID)
			}
			buf := []byte("media")
			if n, err := p.Write([]hal.Packet{{Flow: f.ID, RTCP: tt.rtcp, To: tt.to, Buf: buf, N: 5}}); n != 1 || err != nil {
				t.Fatalf("Write = %d, %v; want 1, nil", n, err)
			}
			buf[0] = 'X' // Sent must hold a copy
			pk := nextSent(t, p)
			if pk.To != tt.wantTo || pk.From.Port() != f.LocalPort+tt.wantSrc || string(pk.Buf[:pk.N]) != "media" || pk.RTCP != tt.rtcp {
				t.Fatalf("sent %+v (%q), want to %s from port %d with media", pk, pk.Buf[:pk.N], tt.wantTo, f.LocalPort+tt.wantSrc)
			}
		})
	}
}

func TestWriteGoesOnPastBadPackets(t *testing.T) {
	tests := []struct {
		name string
		bad  func(good, silent hal.FlowID) hal.Packet
		want error
	}{
		{"skips a packet for an unknown flow", func(good, _ hal.FlowID) hal.Packet {
			return hal.Packet{Flow: good + 100, Buf: []byte("x"), N: 1}
		}, hal.ErrUnknownFlow},
		{"skips a packet whose N exceeds its buffer", func(good, _ hal.FlowID) hal.Packet {
			return hal.Packet{Flow: good, Buf: []byte("x"), N: 2}
		}, ErrBadPacket},
		{"skips a packet for a flow with no remote", func(_, silent hal.FlowID) hal.Packet {
			return hal.Packet{Flow: silent, Buf: []byte("x"), N: 1}
		}, ErrNoRemote},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := New()
			good, silent := mustOpen(t, p, phone), mustOpen(t, p, netip.AddrPort{})
			ok := hal.Packet{Flow: good.ID, Buf: []byte("ok"), N: 2}
			n, err := p.Write([]hal.Packet{ok, tt.bad(good.ID, silent.ID), ok})
			if n != 2 || !errors.Is(err, tt.want) {
				t.Fatalf("Write = %d, %v; want 2, %v", n, err, tt.want)
			}
			if c := p.Counters(); c.TxPackets != 2 || c.TxErrors != 1 {
				t.Fatalf("counters = %+v, want 2 sent, 1 error", c)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	p := New()
	f := mustOpen(t, p, phone)
	done := make(chan error, 1)
	go func() {
		_, err := p.Read(buffers(1, 64))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond)
	if err := p.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, hal.ErrClosed) {
			t.Fatalf("blocked Read returned %v, want %v", err, hal.ErrClosed)
		}
	case <-time.After(time.Second):
		t.Fatal("Read still blocked 1s after Shutdown")
	}
	checks := []struct {
		name string
		err  error
	}{
		{"Open", func() error { _, err := p.Open(phone); return err }()},
		{"Write", func() error { _, err := p.Write([]hal.Packet{{Flow: f.ID}}); return err }()},
		{"Inject", p.Inject(f.ID, false, phone, nil)},
		{"Close", p.Close(f.ID)},
		{"SetRemote", p.SetRemote(f.ID, other)},
	}
	for _, c := range checks {
		if !errors.Is(c.err, hal.ErrClosed) {
			t.Errorf("%s after Shutdown = %v, want %v", c.name, c.err, hal.ErrClosed)
		}
	}
	if err := p.Shutdown(); err != nil {
		t.Errorf("second Shutdown = %v, want nil", err)
	}
	if len(p.Flows()) != 0 {
		t.Errorf("Flows after Shutdown = %v, want none", p.Flows())
	}
}
