package netconf

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// DHCPv4 (RFC 2131) message types, option 53.
const (
	dhcpDiscover = 1
	dhcpOffer    = 2
	dhcpRequest  = 3
	dhcpAck      = 5
	dhcpNak      = 6
)

// DHCP options used here (RFC 2132).
const (
	optSubnetMask  = 1
	optRouter      = 3
	optDNS         = 6
	optHostname    = 12
	optRequestedIP = 50
	optLeaseTime   = 51
	optMessageType = 53
	optServerID    = 54
	optParamList   = 55
	optMaxSize     = 57
	optRenewalT1   = 58
	optClientID    = 61
	optEnd         = 255
	optPad         = 0
)

// magicCookie opens a DHCP message's options (RFC 2131 §3).
const magicCookie = "\x63\x82\x53\x63"

// Errors callers tell apart.
var (
	// ErrNak means the server refused the address.
	ErrNak = errors.New("dhcp: server refused the request (NAK)")
	// ErrNoLease means no server answered in time.
	ErrNoLease = errors.New("dhcp: no answer from a DHCP server")
	// ErrMalformed means a message could not be parsed.
	ErrMalformed = errors.New("dhcp: malformed message")
)

// Lease is an address from a DHCP server.
type Lease struct {
	Addr     netip.Prefix
	Router   netip.Addr
	DNS      []netip.Addr
	Server   netip.Addr
	Duration time.Duration
	T1       time.Duration // when to renew
	Acquired time.Time
}

// message is the part of a DHCP message this client reads or writes.
type message struct {
	op       byte
	xid      uint32
	flags    uint16
	ciaddr   netip.Addr
	yiaddr   netip.Addr
	chaddr   net.HardwareAddr
	msgType  byte
	options  map[byte][]byte
	optOrder []byte // order of options when marshalling
}

func (m *message) set(code byte, v []byte) {
	if m.options == nil {
		m.options = map[byte][]byte{}
	}
	if _, ok := m.options[code]; !ok {
		m.optOrder = append(m.optOrder, code)
	}
	m.options[code] = v
}

func (m *message) marshal() []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = m.op, 1, 6 // BOOTREQUEST, Ethernet, 6-byte MAC
	binary.BigEndian.PutUint32(b[4:], m.xid)
	binary.BigEndian.PutUint16(b[10:], m.flags)
	if m.ciaddr.Is4() {
		a := m.ciaddr.As4()
		copy(b[12:16], a[:])
	}
	if m.yiaddr.Is4() {
		a := m.yiaddr.As4()
		copy(b[16:20], a[:])
	}
	copy(b[28:44], m.chaddr)
	copy(b[236:240], magicCookie)
	b = append(b, optMessageType, 1, m.msgType)
	for _, code := range m.optOrder {
		v := m.options[code]
		b = append(b, code, byte(len(v)))
		b = append(b, v...)
	}
	b = append(b, optEnd)
	for len(b) < 300 { // BOOTP minimum size some relays insist on
		b = append(b, optPad)
	}
	return b
}

func parseMessage(b []byte) (message, error) {
	var m message
	if len(b) < 240 || string(b[236:240]) != magicCookie {
		return m, ErrMalformed
	}
	if b[1] != 1 || b[2] != 6 {
		return m, fmt.Errorf("%w: hardware type %d length %d", ErrMalformed, b[1], b[2])
	}
	m.op = b[0]
	m.xid = binary.BigEndian.Uint32(b[4:])
	m.flags = binary.BigEndian.Uint16(b[10:])
	m.ciaddr = netip.AddrFrom4([4]byte(b[12:16]))
	m.yiaddr = netip.AddrFrom4([4]byte(b[16:20]))
	m.chaddr = net.HardwareAddr(append([]byte(nil), b[28:34]...))
	m.options = map[byte][]byte{}
	opts := b[240:]
	for i := 0; i < len(opts); {
		code := opts[i]
		if code == optPad {
			i++
			continue
		}
		if code == optEnd {
			break
		}
		if i+1 >= len(opts) || i+2+int(opts[i+1]) > len(opts) {
			return m, fmt.Errorf("%w: option %d runs past the end", ErrMalformed, code)
		}
		v := opts[i+2 : i+2+int(opts[i+1])]
		// RFC 3396: a repeated option is concatenated.
		m.options[code] = append(m.options[code], v...)
		i += 2 + len(v)
	}
	if t := m.options[optMessageType]; len(t) == 1 {
		m.msgType = t[0]
	} else {
		return m, fmt.Errorf("%w: no message type", ErrMalformed)
	}
	return m, nil
}

func (m message) addr(code byte) netip.Addr {
	if v := m.options[code]; len(v) >= 4 {
		return netip.AddrFrom4([4]byte(v[:4]))
	}
	return netip.Addr{}
}

func (m message) seconds(code byte) time.Duration {
	if v := m.options[code]; len(v) == 4 {
		return time.Duration(binary.BigEndian.Uint32(v)) * time.Second
	}
	return 0
}

// lease reads the lease an ACK grants.
func (m message) lease(now time.Time) (Lease, error) {
	if !m.yiaddr.Is4() || m.yiaddr.IsUnspecified() {
		return Lease{}, fmt.Errorf("%w: no address offered", ErrMalformed)
	}
	bits := 24
	if mask := m.options[optSubnetMask]; len(mask) == 4 {
		ones, size := net.IPMask(mask).Size()
		if size == 0 {
			return Lease{}, fmt.Errorf("%w: subnet mask %v", ErrMalformed, net.IP(mask))
		}
		bits = ones
	}
	l := Lease{Addr: netip.PrefixFrom(m.yiaddr, bits), Router: m.addr(optRouter), Server: m.addr(optServerID),
		Duration: m.seconds(optLeaseTime), T1: m.seconds(optRenewalT1), Acquired: now}
	dns := m.options[optDNS]
	for i := 0; i+4 <= len(dns); i += 4 {
		l.DNS = append(l.DNS, netip.AddrFrom4([4]byte(dns[i:i+4])))
	}
	if l.Duration == 0 {
		l.Duration = time.Hour
	}
	if l.T1 == 0 || l.T1 > l.Duration {
		l.T1 = l.Duration / 2
	}
	return l, nil
}

// Transport carries DHCP messages: broadcast to servers, and their
// answers to port 68.
type Transport interface {
	Send(b []byte) error
	Receive(ctx context.Context) ([]byte, error)
}

// Client gets and renews a lease for one interface.
type Client struct {
	tr       Transport
	mac      net.HardwareAddr
	hostname string
	now      func() time.Time
	// retry is the first retransmission interval; it doubles (RFC 2131
	// §4.1 suggests 4 s; a box on a quiet LAN boots faster with less).
	retry time.Duration
}

// NewClient returns a client for the interface with hardware address mac.
func NewClient(tr Transport, mac net.HardwareAddr, hostname string) *Client {
	return &Client{tr: tr, mac: mac, hostname: hostname, now: time.Now, retry: time.Second}
}

func (c *Client) request(xid uint32, typ byte) message {
	m := message{op: 1, xid: xid, flags: 0x8000, chaddr: c.mac, msgType: typ}
	m.set(optClientID, append([]byte{1}, c.mac...))
	m.set(optMaxSize, []byte{0x05, 0xdc}) // 1500
	m.set(optParamList, []byte{optSubnetMask, optRouter, optDNS, optHostname, optLeaseTime, optRenewalT1})
	if c.hostname != "" {
		m.set(optHostname, []byte(c.hostname))
	}
	return m
}

// exchange sends req until an answer of one of the wanted types with its
// xid arrives, retransmitting with a doubling interval until ctx ends.
func (c *Client) exchange(ctx context.Context, req message, want ...byte) (message, error) {
	out := req.marshal()
	for wait := c.retry; ; wait = min(2*wait, 16*time.Second) {
		if err := c.tr.Send(out); err != nil {
			return message{}, fmt.Errorf("dhcp: send: %w", err)
		}
		rctx, cancel := context.WithTimeout(ctx, wait)
		m, err := c.await(rctx, req.xid, want)
		cancel()
		if err == nil || errors.Is(err, ErrNak) {
			return m, err
		}
		if ctx.Err() != nil {
			return message{}, ErrNoLease
		}
	}
}

func (c *Client) await(ctx context.Context, xid uint32, want []byte) (message, error) {
	for {
		b, err := c.tr.Receive(ctx)
		if err != nil {
			return message{}, err
		}
		m, err := parseMessage(b)
		if err != nil || m.op != 2 || m.xid != xid || !bytes.Equal(m.chaddr, c.mac) {
			continue // not an answer to us
		}
		if m.msgType == dhcpNak {
			return m, ErrNak
		}
		for _, w := range want {
			if m.msgType == w {
				return m, nil
			}
		}
	}
}

func newXID() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

// Acquire runs DISCOVER, OFFER, REQUEST, ACK (RFC 2131 §3.1).
func (c *Client) Acquire(ctx context.Context) (Lease, error) {
	xid := newXID()
	offer, err := c.exchange(ctx, c.request(xid, dhcpDiscover), dhcpOffer)
	if err != nil {
		return Lease{}, err
	}
	req := c.request(xid, dhcpRequest)
	a := offer.yiaddr.As4()
	req.set(optRequestedIP, a[:])
	if s := offer.addr(optServerID); s.Is4() {
		sid := s.As4()
		req.set(optServerID, sid[:])
	}
	ack, err := c.exchange(ctx, req, dhcpAck)
	if err != nil {
		return Lease{}, err
	}
	return ack.lease(c.now())
}

// Renew asks any server to extend the lease (REBINDING style, RFC 2131
// §4.4.5: broadcast, ciaddr set).
func (c *Client) Renew(ctx context.Context, l Lease) (Lease, error) {
	req := c.request(newXID(), dhcpRequest)
	req.ciaddr = l.Addr.Addr()
	ack, err := c.exchange(ctx, req, dhcpAck)
	if err != nil {
		return Lease{}, err
	}
	return ack.lease(c.now())
}
