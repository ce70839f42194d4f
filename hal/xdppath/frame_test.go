package xdppath

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"testing"
)

var (
	macUs   = [6]byte{0x02, 0, 0, 0, 0, 1}
	macPeer = [6]byte{0x02, 0, 0, 0, 0, 2}
)

func TestBuiltFramesParseBack(t *testing.T) {
	payload := bytes.Repeat([]byte{0xa5}, 171) // odd, to exercise checksum padding
	tests := []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"an IPv4 datagram round-trips", netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("198.51.100.7:5004")},
		{"an IPv6 datagram round-trips", netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::7]:5004")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := make([]byte, headerLen(tt.src.Addr())+len(payload))
			n := buildUDP(b, macUs, macPeer, tt.src, tt.dst, payload)
			if n != len(b) {
				t.Fatalf("built %d bytes, want %d", n, len(b))
			}
			f, ok := parseUDP(b[:n])
			if !ok {
				t.Fatal("the frame does not parse")
			}
			if f.src != tt.src || f.dst != tt.dst || f.srcMAC != macUs || !bytes.Equal(f.payload, payload) {
				t.Errorf("parsed %s -> %s from %x with %d bytes", f.src, f.dst, f.srcMAC, len(f.payload))
			}
			if !checksumsValid(b[:n]) {
				t.Error("a checksum is wrong")
			}
		})
	}
}

// checksumsValid verifies the IPv4 header checksum and the UDP checksum
// (RFC 1071: the sum over the covered words, checksum included, is all
// ones).
func checksumsValid(b []byte) bool {
	var pseudo uint32
	var u []byte
	if binary.BigEndian.Uint16(b[12:]) == etherIP {
		ip := b[ethLen : ethLen+ip4Len]
		if fold(sum16(0, ip)) != 0xffff {
			return false
		}
		pseudo = sum16(0, ip[12:20])
		u = b[ethLen+ip4Len:]
	} else {
		ip := b[ethLen : ethLen+ip6Len]
		pseudo = sum16(0, ip[8:40])
		u = b[ethLen+ip6Len:]
	}
	ulen := int(binary.BigEndian.Uint16(u[4:]))
	return fold(sum16(pseudo+protUDP+uint32(ulen), u[:ulen])) == 0xffff
}

func TestParseTakesWhatTheFilterPasses(t *testing.T) {
	src, dst := netip.MustParseAddrPort("[2001:db8::7]:5004"), netip.MustParseAddrPort("[2001:db8::1]:40000")
	plain := make([]byte, headerLen(src.Addr())+4)
	buildUDP(plain, macPeer, macUs, src, dst, []byte{0x80, 0, 0, 1})
	v4 := make([]byte, headerLen(netip.MustParseAddr("192.0.2.7"))+4)
	buildUDP(v4, macPeer, macUs, netip.MustParseAddrPort("192.0.2.7:5004"), netip.MustParseAddrPort("192.0.2.1:40000"), []byte{0x80, 0, 0, 1})

	tagged := func(b []byte, tags ...uint16) []byte {
		out := append([]byte{}, b[:12]...)
		for i, id := range tags {
			tpid := uint16(0x8100)
			if i == 0 && len(tags) > 1 {
				tpid = 0x88a8
			}
			out = binary.BigEndian.AppendUint16(out, tpid)
			out = binary.BigEndian.AppendUint16(out, id)
		}
		return append(out, b[12:]...)
	}
	// withExt inserts an IPv6 extension header (8 octets) before UDP.
	withExt := func(b []byte, typ uint8, body [6]byte) []byte {
		ip := b[ethLen:]
		next := ip[6]
		ip[6] = typ
		binary.BigEndian.PutUint16(ip[4:], binary.BigEndian.Uint16(ip[4:])+8)
		ext := append([]byte{next, 0}, body[:]...)
		out := append([]byte{}, b[:ethLen+ip6Len]...)
		out = append(out, ext...)
		return append(out, b[ethLen+ip6Len:]...)
	}
	ipv4Options := func(b []byte) []byte {
		out := append([]byte{}, b[:ethLen+ip4Len]...)
		out = append(out, 1, 1, 1, 0) // NOP NOP NOP EOL
		out = append(out, b[ethLen+ip4Len:]...)
		ip := out[ethLen:]
		ip[0] = 0x46
		binary.BigEndian.PutUint16(ip[2:], binary.BigEndian.Uint16(ip[2:])+4)
		return out
	}
	mod := func(b []byte, at int, v byte) []byte {
		out := append([]byte{}, b...)
		out[at] = v
		return out
	}

	tests := []struct {
		name  string
		frame []byte
		ok    bool
	}{
		{"a plain IPv6 datagram parses", plain, true},
		{"a VLAN-tagged datagram parses", tagged(plain, 100), true},
		{"a double-tagged datagram parses", tagged(plain, 10, 100), true},
		{"a datagram after a hop-by-hop header parses", withExt(append([]byte{}, plain...), 0, [6]byte{1, 4}), true},
		{"a datagram after a whole-datagram fragment header parses", withExt(append([]byte{}, plain...), 44, [6]byte{}), true},
		{"a fragment of a datagram does not parse", withExt(append([]byte{}, plain...), 44, [6]byte{0, 1}), false},
		{"an IPv4 datagram with options parses", ipv4Options(v4), true},
		{"an IPv4 fragment does not parse", mod(v4, ethLen+6, 0x20), false},
		{"TCP does not parse", mod(v4, ethLen+9, 6), false},
		{"ARP does not parse", mod(v4, 13, 0x06), false},
		{"a truncated frame does not parse", plain[:len(plain)-1], false},
		{"a UDP length beyond the packet does not parse", mod(v4, len(v4)-4-8+5, 200), false},
		{"an Ethernet header alone does not parse", plain[:ethLen], false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, ok := parseUDP(tt.frame)
			if ok != tt.ok {
				t.Fatalf("ok %v, want %v", ok, tt.ok)
			}
			if ok && (len(f.payload) != 4 || f.payload[0] != 0x80 || f.dst.Port() != 40000) {
				t.Errorf("parsed %s -> %s with payload %x", f.src, f.dst, f.payload)
			}
		})
	}
}

func FuzzParseUDP(f *testing.F) {
	b := make([]byte, headerLen(netip.MustParseAddr("192.0.2.1"))+12)
	buildUDP(b, macUs, macPeer, netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("192.0.2.2:5004"), make([]byte, 12))
	f.Add(b)
	b6 := make([]byte, headerLen(netip.MustParseAddr("::1"))+12)
	buildUDP(b6, macUs, macPeer, netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:5004"), make([]byte, 12))
	f.Add(b6)
	f.Fuzz(func(t *testing.T, frame []byte) {
		p, ok := parseUDP(frame)
		if !ok {
			return
		}
		// The payload lies inside the frame, and building the same
		// datagram again gives a frame that parses to the same thing.
		if len(p.payload) > len(frame) {
			t.Fatalf("payload of %d bytes from a %d-byte frame", len(p.payload), len(frame))
		}
		if p.src.Addr().Is4() != p.dst.Addr().Is4() {
			t.Fatalf("mixed families %s -> %s", p.src, p.dst)
		}
		out := make([]byte, headerLen(p.src.Addr())+len(p.payload))
		buildUDP(out, p.srcMAC, macPeer, p.src, p.dst, p.payload)
		q, ok := parseUDP(out)
		if !ok || q.src != p.src || q.dst != p.dst || !bytes.Equal(q.payload, p.payload) || !checksumsValid(out) {
			t.Fatalf("rebuilt frame parses to %+v, %v", q, ok)
		}
	})
}

func BenchmarkBuildUDP(b *testing.B) {
	payload := make([]byte, 172)
	src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("198.51.100.7:5004")
	buf := make([]byte, headerLen(src.Addr())+len(payload))
	b.ReportAllocs()
	for b.Loop() {
		buildUDP(buf, macUs, macPeer, src, dst, payload)
	}
}

func BenchmarkParseUDP(b *testing.B) {
	payload := make([]byte, 172)
	src, dst := netip.MustParseAddrPort("192.0.2.1:40000"), netip.MustParseAddrPort("198.51.100.7:5004")
	buf := make([]byte, headerLen(src.Addr())+len(payload))
	buildUDP(buf, macUs, macPeer, src, dst, payload)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := parseUDP(buf); !ok {
			b.Fatal("no parse")
		}
	}
}
