package sockpath

import (
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

func TestSockaddrRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		family  int
		in      netip.AddrPort
		want    netip.AddrPort
		wantLen uint32
	}{
		{"keeps an IPv4 address on an AF_INET socket", unix.AF_INET,
			netip.MustParseAddrPort("192.0.2.1:5004"), netip.MustParseAddrPort("192.0.2.1:5004"), sockaddrLen4},
		{"unmaps an IPv4-mapped address for an AF_INET socket", unix.AF_INET,
			netip.MustParseAddrPort("[::ffff:192.0.2.1]:5004"), netip.MustParseAddrPort("192.0.2.1:5004"), sockaddrLen4},
		{"keeps an IPv6 address on an AF_INET6 socket", unix.AF_INET6,
			netip.MustParseAddrPort("[2001:db8::1]:65535"), netip.MustParseAddrPort("[2001:db8::1]:65535"), sockaddrLen6},
		{"maps IPv4 for an AF_INET6 socket and reports it back unmapped", unix.AF_INET6,
			netip.MustParseAddrPort("198.51.100.9:1"), netip.MustParseAddrPort("198.51.100.9:1"), sockaddrLen6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rsa unix.RawSockaddrInet6
			if n := putSockaddr(&rsa, tt.family, tt.in); n != tt.wantLen {
				t.Fatalf("putSockaddr length = %d, want %d", n, tt.wantLen)
			}
			if int(rsa.Family) != tt.family {
				t.Fatalf("sa_family = %d, want %d", rsa.Family, tt.family)
			}
			if got := sockaddrAddrPort(&rsa); got != tt.want {
				t.Fatalf("round trip of %s = %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestSockaddrPortIsBigEndian(t *testing.T) {
	var rsa unix.RawSockaddrInet6
	putSockaddr(&rsa, unix.AF_INET6, netip.MustParseAddrPort("[::1]:5004")) // 0x138c
	b := (*[2]byte)(unsafe.Pointer(&rsa.Port))
	if b[0] != 0x13 || b[1] != 0x8c {
		t.Fatalf("sin6_port bytes = %#x %#x, want 0x13 0x8c (network byte order)", b[0], b[1])
	}
}

func TestSockaddrRejectsUnknownFamilies(t *testing.T) {
	rsa := unix.RawSockaddrInet6{Family: unix.AF_UNIX}
	if got := sockaddrAddrPort(&rsa); got.IsValid() {
		t.Fatalf("AF_UNIX sockaddr decoded as %s, want the zero AddrPort", got)
	}
}

func TestSockaddrDoesNotAllocate(t *testing.T) {
	var rsa unix.RawSockaddrInet6
	ap := netip.MustParseAddrPort("[2001:db8::1]:5004")
	var got netip.AddrPort
	allocs := testing.AllocsPerRun(100, func() {
		putSockaddr(&rsa, unix.AF_INET6, ap)
		got = sockaddrAddrPort(&rsa)
	})
	if allocs != 0 || got != ap {
		t.Fatalf("round trip allocates %.1f times and gives %s; want 0 and %s", allocs, got, ap)
	}
}
