package sockpath

import (
	"errors"
	"net/netip"
	"testing"
	"time"

	"confab/hal"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name      string
		listen    netip.Addr
		low, high uint16
		opts      []Option
		want      error
	}{
		{"accepts a range of exactly one pair", loopback4, 21000, 21001, nil, nil},
		{"accepts an odd high port and ignores the unpaired port", loopback4, 21000, 21004, nil, nil},
		{"rejects an odd low port", loopback4, 21001, 21010, nil, ErrPortRange},
		{"rejects a range that holds no pair", loopback4, 21000, 21000, nil, ErrPortRange},
		{"rejects a reversed range", loopback4, 21010, 21000, nil, ErrPortRange},
		{"rejects ports below 1024", loopback4, 1000, 1100, nil, ErrPortRange},
		{"rejects a missing listen address", netip.Addr{}, 21000, 21010, nil, ErrListenAddr},
		{"rejects a zoned listen address", netip.MustParseAddr("fe80::1%lo"), 21000, 21010, nil, ErrListenAddr},
		{"rejects negative socket buffers", loopback4, 21000, 21010, []Option{WithSocketBuffers(-1, 0)}, ErrSocketBuffers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := New(tt.listen, tt.low, tt.high, tt.opts...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%s, %d, %d) error = %v, want %v", tt.listen, tt.low, tt.high, err, tt.want)
			}
			if err == nil {
				p.Shutdown()
			}
		})
	}
}

func TestNewSizesTheFlowTable(t *testing.T) {
	p := newPathOn(t, loopback4, 21000, 21004)
	if got, want := len(p.slots), 2; got != want {
		t.Fatalf("range 21000-21004 gives %d slots, want %d", got, want)
	}
}

func TestNameAndReason(t *testing.T) {
	tests := []struct {
		name       string
		opts       []Option
		wantReason string
	}{
		{"reports the default reason", nil, defaultReason},
		{"reports the reason WithReason gave", []Option{WithReason("XDP: no native driver for eth0")}, "XDP: no native driver for eth0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newPath(t, 1, tt.opts...)
			if got := p.Name(); got != "socket" {
				t.Errorf("Name() = %q, want %q", got, "socket")
			}
			if got := p.Reason(); got != tt.wantReason {
				t.Errorf("Reason() = %q, want %q", got, tt.wantReason)
			}
		})
	}
}

func TestShutdown(t *testing.T) {
	t.Run("unblocks a Read that is waiting for packets", func(t *testing.T) {
		p := newPath(t, 1)
		open(t, p, netip.AddrPort{})
		done := make(chan error, 1)
		go func() {
			_, err := p.Read(makePackets(4, 64))
			done <- err
		}()
		time.Sleep(50 * time.Millisecond) // let Read reach epoll_wait
		if err := p.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, hal.ErrClosed) {
				t.Fatalf("blocked Read returned %v, want %v", err, hal.ErrClosed)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Read still blocked 5s after Shutdown")
		}
	})

	t.Run("makes every later call return ErrClosed", func(t *testing.T) {
		p := newPath(t, 2)
		f := open(t, p, netip.AddrPortFrom(loopback4, 9))
		if err := p.Shutdown(); err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		calls := []struct {
			name string
			call func() error
		}{
			{"Read", func() error { _, err := p.Read(makePackets(1, 64)); return err }},
			{"Write", func() error { _, err := p.Write([]hal.Packet{packet(f.ID, false, netip.AddrPort{}, "x")}); return err }},
			{"Open", func() error { _, err := p.Open(netip.AddrPort{}); return err }},
			{"Close", func() error { return p.Close(f.ID) }},
			{"SetRemote", func() error { return p.SetRemote(f.ID, netip.AddrPortFrom(loopback4, 10)) }},
			{"SetRemoteRTCP", func() error { return p.SetRemoteRTCP(f.ID, netip.AddrPortFrom(loopback4, 11)) }},
		}
		for _, c := range calls {
			if err := c.call(); !errors.Is(err, hal.ErrClosed) {
				t.Errorf("%s after Shutdown = %v, want %v", c.name, err, hal.ErrClosed)
			}
		}
	})

	t.Run("is a no-op the second time", func(t *testing.T) {
		p := newPath(t, 1)
		if err := p.Shutdown(); err != nil {
			t.Fatalf("first Shutdown: %v", err)
		}
		if err := p.Shutdown(); err != nil {
			t.Fatalf("second Shutdown = %v, want nil", err)
		}
	})

	t.Run("releases the ports of every flow", func(t *testing.T) {
		low, high := freeRange(t, 3)
		p := newPathOn(t, loopback4, low, high)
		for range 3 {
			open(t, p, netip.AddrPort{})
		}
		p.Shutdown()
		if !portsFree(int(low), int(high-low)+1) {
			t.Fatalf("ports %d-%d still bound after Shutdown", low, high)
		}
	})
}
