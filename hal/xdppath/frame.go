package xdppath

import (
	"encoding/binary"
	"net/netip"
)

// Frame layout constants (IEEE 802.3, RFC 791, RFC 8200, RFC 768).
const (
	ethLen  = 14
	ip4Len  = 20
	ip6Len  = 40
	udpLen  = 8
	ttl     = 64 // our default hop limit for packets we originate
	etherIP = 0x0800
	etherV6 = 0x86dd
	protUDP = 17
)

// udpFrame is what parseUDP finds in a received frame.
type udpFrame struct {
	src, dst netip.AddrPort
	srcMAC   [6]byte
	payload  []byte
}

// parseUDP reads an Ethernet frame that the XDP program redirected: up to
// two VLAN tags, IPv4 (with options) or IPv6 (with hop-by-hop, routing,
// destination-options and unfragmented fragment headers), then UDP. It
// reports false for anything else. The program has already checked the
// lengths it relies on; parseUDP checks them again, since a frame is
// outside input. It does not allocate.
func parseUDP(b []byte) (f udpFrame, ok bool) {
	if len(b) < ethLen {
		return f, false
	}
	copy(f.srcMAC[:], b[6:12])
	et := binary.BigEndian.Uint16(b[12:])
	off := ethLen
	for range 2 {
		if et != 0x8100 && et != 0x88a8 {
			break
		}
		if len(b) < off+4 {
			return f, false
		}
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	var l3left int // bytes after the IP header(s), by the IP length field
	switch et {
	case etherIP:
		if len(b) < off+ip4Len || b[off]>>4 != 4 {
			return f, false
		}
		ihl := int(b[off]&0x0f) * 4
		tot := int(binary.BigEndian.Uint16(b[off+2:]))
		if ihl < ip4Len || tot < ihl || len(b) < off+tot || b[off+9] != protUDP ||
			binary.BigEndian.Uint16(b[off+6:])&0x3fff != 0 { // MF or an offset: a fragment
			return f, false
		}
		f.src = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[off+12:off+16])), 0)
		f.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[off+16:off+20])), 0)
		l3left = tot - ihl
		off += ihl
	case etherV6:
		if len(b) < off+ip6Len || b[off]>>4 != 6 {
			return f, false
		}
		next := b[off+6]
		l3left = int(binary.BigEndian.Uint16(b[off+4:]))
		f.src = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[off+8:off+24])), 0)
		f.dst = netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[off+24:off+40])), 0)
		off += ip6Len
		if len(b) < off+l3left {
			return f, false
		}
		for range 4 {
			var n int
			switch next {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(b) < off+2 {
					return f, false
				}
				n = (int(b[off+1]) + 1) * 8
			case 44: // fragment: only a whole datagram (offset 0, no M)
				if len(b) < off+8 || binary.BigEndian.Uint16(b[off+2:]) != 0 {
					return f, false
				}
				n = 8
			default:
				n = -1
			}
			if n < 0 {
				break
			}
			if l3left < n {
				return f, false
			}
			next = b[off]
			off += n
			l3left -= n
		}
		if next != protUDP {
			return f, false
		}
	default:
		return f, false
	}
	if l3left < udpLen || len(b) < off+udpLen {
		return f, false
	}
	ulen := int(binary.BigEndian.Uint16(b[off+4:]))
	if ulen < udpLen || ulen > l3left || len(b) < off+ulen {
		return f, false
	}
	f.src = netip.AddrPortFrom(f.src.Addr(), binary.BigEndian.Uint16(b[off:]))
	f.dst = netip.AddrPortFrom(f.dst.Addr(), binary.BigEndian.Uint16(b[off+2:]))
	f.payload = b[off+udpLen : off+ulen]
	return f, true
}

// headerLen is the length of the Ethernet, IP and UDP headers buildUDP
// writes for a packet from src.
func headerLen(src netip.Addr) int {
	if src.Is4() {
		return ethLen + ip4Len + udpLen
	}
	return ethLen + ip6Len + udpLen
}

// buildUDP writes an untagged Ethernet frame carrying payload from src to
// dst into b, which must hold headerLen(src)+len(payload) bytes, and
// returns the frame's length. src and dst are of one family, IPv4 plain
// (not mapped). IPv4 datagrams carry DF and ID 0 (RFC 6864 §4.1: an atomic
// datagram needs no ID); both families carry a UDP checksum (RFC 768, and
// RFC 8200 §8.1 where it is mandatory). It does not allocate.
func buildUDP(b []byte, srcMAC, dstMAC [6]byte, src, dst netip.AddrPort, payload []byte) int {
	copy(b[0:6], dstMAC[:])
	copy(b[6:12], srcMAC[:])
	ulen := udpLen + len(payload)
	var u []byte
	var sum uint32
	if src.Addr().Is4() {
		binary.BigEndian.PutUint16(b[12:], etherIP)
		ip := b[ethLen : ethLen+ip4Len]
		ip[0], ip[1] = 0x45, 0
		binary.BigEndian.PutUint16(ip[2:], uint16(ip4Len+ulen))
		binary.BigEndian.PutUint32(ip[4:], 0x00004000) // ID 0, DF
		ip[8], ip[9] = ttl, protUDP
		ip[10], ip[11] = 0, 0
		s, d := src.Addr().As4(), dst.Addr().As4()
		copy(ip[12:16], s[:])
		copy(ip[16:20], d[:])
		binary.BigEndian.PutUint16(ip[10:], ^fold(sum16(0, ip)))
		sum = sum16(sum16(0, s[:]), d[:])
		u = b[ethLen+ip4Len:]
	} else {
		binary.BigEndian.PutUint16(b[12:], etherV6)
		ip := b[ethLen : ethLen+ip6Len]
		binary.BigEndian.PutUint32(ip[0:], 6<<28)
		binary.BigEndian.PutUint16(ip[4:], uint16(ulen))
		ip[6], ip[7] = protUDP, ttl
		s, d := src.Addr().As16(), dst.Addr().As16()
		copy(ip[8:24], s[:])
		copy(ip[24:40], d[:])
		sum = sum16(sum16(0, s[:]), d[:])
		u = b[ethLen+ip6Len:]
	}
	binary.BigEndian.PutUint16(u[0:], src.Port())
	binary.BigEndian.PutUint16(u[2:], dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(ulen))
	u[6], u[7] = 0, 0
	copy(u[udpLen:], payload)
	// Pseudo-header: addresses (above), protocol and UDP length.
	sum += protUDP + uint32(ulen)
	c := ^fold(sum16(sum, u[:ulen]))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return len(b) - len(u) + ulen
}

// sum16 adds b to s as big-endian 16-bit words, one's complement style
// (RFC 1071), with an odd last byte padded with zero.
func sum16(s uint32, b []byte) uint32 {
	for len(b) >= 8 {
		s += uint32(binary.BigEndian.Uint16(b)) + uint32(binary.BigEndian.Uint16(b[2:])) +
			uint32(binary.BigEndian.Uint16(b[4:])) + uint32(binary.BigEndian.Uint16(b[6:]))
		b = b[8:]
		s = s&0xffff + s>>16
	}
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
