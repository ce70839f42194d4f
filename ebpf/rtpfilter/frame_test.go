//go:build linux

package rtpfilter_test

import (
	"encoding/binary"
	"net/netip"
)

// frame describes a test frame; bytes builds it as it would arrive on the
// wire, with valid IPv4 and UDP checksums unless told otherwise.
type frame struct {
	ethType  uint16   // default IPv4 or IPv6 from src
	vlans    []uint16 // VLAN IDs, outermost first; 802.1ad for the outer of two
	src, dst netip.AddrPort
	proto    uint8 // default UDP (17)
	payload  []byte
	// IPv4 fragmentation: MF and a fragment offset in 8-octet units.
	moreFragments bool
	fragOffset    uint16
	// IPv6 extension headers before UDP: hop-by-hop options, and a
	// fragment header.
	hopByHop, ip6Frag bool
	// udpLenDelta is added to the UDP length field.
	udpLenDelta int
	// noUDPChecksum leaves the IPv4 UDP checksum zero (RFC 768).
	noUDPChecksum bool
	// partialChecksum leaves only the pseudo-header sum in the UDP
	// checksum field, as a local sender's CHECKSUM_PARTIAL datagram
	// crosses a veth.
	partialChecksum bool
	// pad appends Ethernet padding after the IP packet.
	pad int
}

var (
	macA = [6]byte{0x02, 0, 0, 0, 0, 0xa}
	macB = [6]byte{0x02, 0, 0, 0, 0, 0xb}
)

func (f frame) bytes() []byte {
	b := make([]byte, 0, 128+len(f.payload))
	b = append(b, macB[:]...)
	b = append(b, macA[:]...)
	v6 := f.src.Addr().Is6()
	et := f.ethType
	if et == 0 {
		et = 0x0800
		if v6 {
			et = 0x86dd
		}
	}
	for i, id := range f.vlans {
		tpid := uint16(0x8100)
		if i == 0 && len(f.vlans) > 1 {
			tpid = 0x88a8
		}
		b = binary.BigEndian.AppendUint16(b, tpid)
		b = binary.BigEndian.AppendUint16(b, id)
	}
	b = binary.BigEndian.AppendUint16(b, et)
	if et != 0x0800 && et != 0x86dd {
		return append(b, make([]byte, 46)...) // e.g. an ARP body
	}
	proto := f.proto
	if proto == 0 {
		proto = 17
	}
	l4 := f.l4(proto)
	if v6 {
		b = f.ip6(b, proto, l4)
	} else {
		b = f.ip4(b, proto, l4)
	}
	return append(b, make([]byte, f.pad)...)
}

// l4 is the UDP datagram (or a bare payload for other protocols), with its
// checksum left for the IP layer to fill in.
func (f frame) l4(proto uint8) []byte {
	if proto != 17 {
		return append([]byte(nil), f.payload...)
	}
	u := make([]byte, 8, 8+len(f.payload))
	binary.BigEndian.PutUint16(u[0:], f.src.Port())
	binary.BigEndian.PutUint16(u[2:], f.dst.Port())
	binary.BigEndian.PutUint16(u[4:], uint16(8+len(f.payload)+f.udpLenDelta))
	return append(u, f.payload...)
}

func (f frame) ip4(b []byte, proto uint8, l4 []byte) []byte {
	h := make([]byte, 20)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(20+len(l4)))
	frag := f.fragOffset & 0x1fff
	if f.moreFragments {
		frag |= 0x2000
	}
	binary.BigEndian.PutUint16(h[6:], frag)
	h[8], h[9] = 31, proto
	s, d := f.src.Addr().As4(), f.dst.Addr().As4()
	copy(h[12:], s[:])
	copy(h[16:], d[:])
	binary.BigEndian.PutUint16(h[10:], ^onesSum(0, h))
	switch {
	case proto != 17 || f.noUDPChecksum:
	case f.partialChecksum:
		binary.BigEndian.PutUint16(l4[6:], fold(pseudo4(s, d, len(l4))))
	default:
		putUDPChecksum(l4, pseudo4(s, d, len(l4)))
	}
	return append(append(b, h...), l4...)
}

func (f frame) ip6(b []byte, proto uint8, l4 []byte) []byte {
	var ext []byte
	next := proto
	if f.ip6Frag {
		fh := make([]byte, 8)
		fh[0] = next
		if f.moreFragments {
			fh[3] = 1
		}
		binary.BigEndian.PutUint16(fh[2:], f.fragOffset<<3|uint16(fh[3]))
		ext = append(fh, ext...)
		next = 44
	}
	if f.hopByHop {
		hh := []byte{next, 0, 1, 4, 0, 0, 0, 0} // PadN option fills 8 octets
		ext = append(hh, ext...)
		next = 0
	}
	h := make([]byte, 40)
	h[0] = 0x60
	binary.BigEndian.PutUint16(h[4:], uint16(len(ext)+len(l4)))
	h[6], h[7] = next, 31
	s, d := f.src.Addr().As16(), f.dst.Addr().As16()
	copy(h[8:], s[:])
	copy(h[24:], d[:])
	if proto == 17 {
		putUDPChecksum(l4, pseudo6(s, d, len(l4)))
	}
	return append(append(append(b, h...), ext...), l4...)
}

func pseudo4(s, d [4]byte, n int) uint32 {
	p := append(append([]byte{}, s[:]...), d[:]...)
	p = append(p, 0, 17)
	p = binary.BigEndian.AppendUint16(p, uint16(n))
	return onesSumRaw(0, p)
}

func pseudo6(s, d [16]byte, n int) uint32 {
	p := append(append([]byte{}, s[:]...), d[:]...)
	p = binary.BigEndian.AppendUint32(p, uint32(n))
	p = append(p, 0, 0, 0, 17)
	return onesSumRaw(0, p)
}

func putUDPChecksum(u []byte, pseudo uint32) {
	u[6], u[7] = 0, 0
	c := ^fold(onesSumRaw(pseudo, u))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(u[6:], c)
}

// onesSumRaw adds b as big-endian 16-bit words to s (RFC 1071).
func onesSumRaw(s uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	return s
}

func fold(s uint32) uint16 {
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}

func onesSum(s uint32, b []byte) uint16 { return fold(onesSumRaw(s, b)) }

// rtp is an RTP packet (RFC 3550 §5.1) with a 160-octet payload.
type rtp struct {
	version   uint8 // default 2
	marker    bool
	pt        uint8
	seq       uint16
	ts, ssrc  uint32
	csrcs     int
	ext       []byte // extension body, a multiple of 4 octets
	extWords  int    // overrides the extension length field when > 0
	padding   int    // padding octets, the last holding the count
	padCount  int    // overrides the count octet when > 0
	payloadSz int    // default 160
}

func (r rtp) bytes() []byte {
	v := r.version
	if v == 0 {
		v = 2
	}
	b := []byte{v<<6 | uint8(r.csrcs&0x0f), r.pt & 0x7f}
	if r.marker {
		b[1] |= 0x80
	}
	if r.ext != nil {
		b[0] |= 0x10
	}
	if r.padding > 0 {
		b[0] |= 0x20
	}
	b = binary.BigEndian.AppendUint16(b, r.seq)
	b = binary.BigEndian.AppendUint32(b, r.ts)
	b = binary.BigEndian.AppendUint32(b, r.ssrc)
	for i := range r.csrcs {
		b = binary.BigEndian.AppendUint32(b, uint32(i+1))
	}
	if r.ext != nil {
		words := len(r.ext) / 4
		if r.extWords > 0 {
			words = r.extWords
		}
		b = append(b, 0xbe, 0xde)
		b = binary.BigEndian.AppendUint16(b, uint16(words))
		b = append(b, r.ext...)
	}
	n := r.payloadSz
	if n == 0 {
		n = 160
	}
	for i := range n {
		b = append(b, byte(i))
	}
	if r.padding > 0 {
		b = append(b, make([]byte, r.padding)...)
		c := r.padding
		if r.padCount > 0 {
			c = r.padCount
		}
		b[len(b)-1] = byte(c)
	}
	return b
}

// rtcpRR is an empty receiver report (RFC 3550 §6.4.2): 8 octets, with
// the length field overridable.
func rtcpRR(ssrc uint32, words int) []byte {
	b := []byte{0x80, 201}
	b = binary.BigEndian.AppendUint16(b, uint16(words))
	return binary.BigEndian.AppendUint32(b, ssrc)
}
