// Package sockpath is the pure-Go packet-path driver of the HAL: it moves
// RTP and RTCP between the network and the MCU through ordinary kernel UDP
// sockets, and works on any Linux without XDP, BPF or extra privileges.
//
// Each flow (one participant's media) owns two sockets bound to the
// configured listen address: an even RTP port and the RTCP port above it
// (RFC 3550 §11). Per-participant ports are what SIP phones expect, and they
// let the MCU tell two callers behind one NAT apart before symmetric-RTP
// latching (RFC 4961 §3); a single shared port could not.
//
// A goroutine per socket would cost one netpoll wakeup per packet, which is
// what made RX fall behind at 1000 participants (performance anchors §2.3).
// So there is no goroutine per socket. All flow sockets sit in one epoll
// set (epoll(7), level-triggered); Read waits on it and drains each ready
// socket with recvmmsg(2) straight into the caller's buffers, and Write sends
// with sendto(2), or sendmmsg(2) for runs of packets on the same socket. The
// hot paths make raw system calls over preallocated message headers and raw
// socket addresses, so they neither allocate nor take a global lock.
//
// The listen address decides the address family: an IPv4 address gives
// AF_INET sockets that reach IPv4 remotes; a specific IPv6 address gives
// IPv6-only sockets; the IPv6 unspecified address "::" gives dual-stack
// sockets (ipv6(7) IPV6_V6ONLY off) that reach both, and reports IPv4 peers
// as plain IPv4 addresses. Zoned (link-local) listen addresses are not
// supported.
//
// The package needs Linux (epoll, recvmmsg and sendmmsg, kernel 2.6.33 or
// later) and nothing else: no root, no capabilities, no Debian packages.
package sockpath
