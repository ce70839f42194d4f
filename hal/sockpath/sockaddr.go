package sockpath

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The hot paths exchange addresses with the kernel as raw struct sockaddr
// (ip(7), ipv6(7)) held in preallocated RawSockaddrInet6 storage, which is
// large enough for either family. These helpers convert between that form
// and netip.AddrPort without allocating, unlike unix.Sockaddr.

// sockaddrLen4 and sockaddrLen6 are the address lengths handed to the kernel.
const (
	sockaddrLen4 = unix.SizeofSockaddrInet4
	sockaddrLen6 = unix.SizeofSockaddrInet6
)

// putSockaddr writes ap into rsa as a sockaddr of the given family and
// returns its length. The caller has checked that ap is reachable from a
// socket of that family (see Path.reachable): an AF_INET socket takes an IPv4
// or IPv4-mapped address, an AF_INET6 socket takes anything, IPv4 as mapped.
func putSockaddr(rsa *unix.RawSockaddrInet6, family int, ap netip.AddrPort) uint32 {
	if family == unix.AF_INET {
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		*sa = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: ap.Addr().Unmap().As4()}
		putPort(&sa.Port, ap.Port())
		return sockaddrLen4
	}
	// As16 yields ::ffff:a.b.c.d for an IPv4 address, the form a dual-stack
	// socket expects (RFC 4291 §2.5.5.2). Scope IDs are not carried.
	*rsa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: ap.Addr().As16()}
	putPort(&rsa.Port, ap.Port())
	return sockaddrLen6
}

// sockaddrAddrPort decodes a sockaddr written by the kernel. An IPv4-mapped
// IPv6 address (a v4 peer on a dual-stack socket) comes back as plain IPv4 so
// that it compares equal to the address in the peer's SDP. Unknown families
// give the zero AddrPort.
func sockaddrAddrPort(rsa *unix.RawSockaddrInet6) netip.AddrPort {
	switch rsa.Family {
	case unix.AF_INET:
		sa := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), getPort(&sa.Port))
	case unix.AF_INET6:
		return netip.AddrPortFrom(netip.AddrFrom16(rsa.Addr).Unmap(), getPort(&rsa.Port))
	}
	return netip.AddrPort{}
}

// putPort and getPort handle sin_port/sin6_port, which hold the port in
// network byte order whatever the host's byte order.
func putPort(field *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(field))
	b[0], b[1] = byte(port>>8), byte(port)
}

func getPort(field *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(field))
	return uint16(b[0])<<8 | uint16(b[1])
}
