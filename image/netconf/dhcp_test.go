package netconf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// fakeServer is a DHCP server behind a Transport: each message the client
// sends is answered by handle (nil: no answer).
type fakeServer struct {
	mu      sync.Mutex
	handle  func(req message) *message
	replies chan []byte
	seen    []message
}

func newFakeServer(handle func(req message) *message) *fakeServer {
	return &fakeServer{handle: handle, replies: make(chan []byte, 16)}
}

func (f *fakeServer) Send(b []byte) error {
	req, err := parseMessage(b)
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.seen = append(f.seen, req)
	h := f.handle
	f.mu.Unlock()
	if res := h(req); res != nil {
		f.replies <- res.marshal()
	}
	return nil
}

func (f *fakeServer) Receive(ctx context.Context) ([]byte, error) {
	select {
	case b := <-f.replies:
		return b, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

var testMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}

// answer builds a server's reply to req.
func answer(req message, typ byte, yi string) *message {
	m := &message{op: 2, xid: req.xid, chaddr: req.chaddr, msgType: typ, yiaddr: netip.MustParseAddr(yi)}
	m.set(optServerID, []byte{10, 0, 2, 2})
	m.set(optSubnetMask, []byte{255, 255, 255, 0})
	m.set(optRouter, []byte{10, 0, 2, 2})
	m.set(optDNS, []byte{10, 0, 2, 3, 1, 1, 1, 1})
	m.set(optLeaseTime, []byte{0, 0, 0x0e, 0x10}) // 3600 s
	return m
}

// slirp answers like qemu's user-mode network.
func slirp(req message) *message {
	switch req.msgType {
	case dhcpDiscover:
		return answer(req, dhcpOffer, "10.0.2.15")
	case dhcpRequest:
		return answer(req, dhcpAck, "10.0.2.15")
	}
	return nil
}

func TestMessage(t *testing.T) {
	req := message{op: 1, xid: 0xdeadbeef, flags: 0x8000, chaddr: testMAC, msgType: dhcpDiscover}
	req.set(optHostname, []byte("confab-123456"))
	got, err := parseMessage(req.marshal())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a request reads back with its fields and options", func(t *testing.T) {
		if got.xid != req.xid || got.flags != 0x8000 || got.msgType != dhcpDiscover || got.chaddr.String() != testMAC.String() ||
			string(got.options[optHostname]) != "confab-123456" {
			t.Fatalf("parsed %+v", got)
		}
	})
	t.Run("a message is padded to the BOOTP minimum of 300 bytes", func(t *testing.T) {
		if n := len(req.marshal()); n < 300 {
			t.Fatalf("%d bytes", n)
		}
	})
	t.Run("an ACK gives a lease with mask, router, DNS and times", func(t *testing.T) {
		ack, _ := parseMessage(answer(req, dhcpAck, "10.0.2.15").marshal())
		l, err := ack.lease(time.Unix(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		if l.Addr != netip.MustParsePrefix("10.0.2.15/24") || l.Router != netip.MustParseAddr("10.0.2.2") ||
			len(l.DNS) != 2 || l.Duration != time.Hour || l.T1 != 30*time.Minute {
			t.Fatalf("lease %+v", l)
		}
	})
	bad := []struct {
		name string
		b    []byte
	}{
		{"a short message", make([]byte, 100)},
		{"a message without the magic cookie", make([]byte, 300)},
		{"an option running past the end", func() []byte {
			b := req.marshal()[:240]
			return append(b, optHostname, 50, 'x')
		}()},
		{"a message without a type", func() []byte {
			b := req.marshal()[:240]
			return append(b, optEnd)
		}()},
	}
	for _, tt := range bad {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			if _, err := parseMessage(tt.b); !errors.Is(err, ErrMalformed) {
				t.Fatalf("parseMessage = %v", err)
			}
		})
	}
}

func TestClient(t *testing.T) {
	ctx := context.Background()
	t.Run("DISCOVER, OFFER, REQUEST, ACK gives a lease", func(t *testing.T) {
		srv := newFakeServer(slirp)
		c := NewClient(srv, testMAC, "box")
		l, err := c.Acquire(ctx)
		if err != nil || l.Addr.Addr() != netip.MustParseAddr("10.0.2.15") {
			t.Fatalf("Acquire = %+v, %v", l, err)
		}
		if len(srv.seen) != 2 || srv.seen[1].addr(optRequestedIP) != netip.MustParseAddr("10.0.2.15") ||
			srv.seen[1].addr(optServerID) != netip.MustParseAddr("10.0.2.2") {
			t.Fatalf("the REQUEST does not name the offer: %+v", srv.seen)
		}
	})
	t.Run("a lost DISCOVER is sent again", func(t *testing.T) {
		n := 0
		srv := newFakeServer(func(req message) *message {
			n++
			if n == 1 {
				return nil
			}
			return slirp(req)
		})
		c := NewClient(srv, testMAC, "box")
		c.retry = 20 * time.Millisecond
		if _, err := c.Acquire(ctx); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("answers for another client are ignored", func(t *testing.T) {
		srv := newFakeServer(func(req message) *message {
			r := slirp(req)
			r.xid++
			return r
		})
		c := NewClient(srv, testMAC, "box")
		c.retry = 20 * time.Millisecond
		tctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		if _, err := c.Acquire(tctx); !errors.Is(err, ErrNoLease) {
			t.Fatalf("Acquire = %v, want ErrNoLease", err)
		}
	})
	t.Run("a NAK ends the request", func(t *testing.T) {
		srv := newFakeServer(func(req message) *message {
			if req.msgType == dhcpRequest {
				return answer(req, dhcpNak, "0.0.0.0")
			}
			return slirp(req)
		})
		if _, err := NewClient(srv, testMAC, "box").Acquire(ctx); !errors.Is(err, ErrNak) {
			t.Fatalf("Acquire = %v, want ErrNak", err)
		}
	})
	t.Run("a renewal names the leased address", func(t *testing.T) {
		srv := newFakeServer(slirp)
		c := NewClient(srv, testMAC, "box")
		l, _ := c.Acquire(ctx)
		if _, err := c.Renew(ctx, l); err != nil {
			t.Fatal(err)
		}
		if last := srv.seen[len(srv.seen)-1]; last.msgType != dhcpRequest || last.ciaddr != l.Addr.Addr() {
			t.Fatalf("renewal %+v", last)
		}
	})
}

func FuzzParseMessage(f *testing.F) {
	req := message{op: 2, xid: 1, chaddr: testMAC, msgType: dhcpAck, yiaddr: netip.MustParseAddr("10.0.0.2")}
	req.set(optSubnetMask, []byte{255, 0, 255, 0})
	f.Add(req.marshal())
	f.Add(answer(req, dhcpOffer, "192.168.1.2").marshal())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMessage(b)
		if err != nil {
			return
		}
		if l, err := m.lease(time.Unix(0, 0)); err == nil && (!l.Addr.IsValid() || l.T1 > l.Duration) {
			t.Fatalf("lease %+v", l)
		}
	})
}
