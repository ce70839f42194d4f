// Package rtpfilter is Confab's XDP program for the media interface and its
// Go loader. The program (rtpfilter.c, compiled by bpf2go into the committed
// rtpfilter_bpfel.o) runs on every frame the interface receives, before the
// kernel allocates a socket buffer for it:
//
//   - UDP to the media port range is dropped unless its port pair belongs to
//     an open flow (OpenFlow) and it is plausible RTP or RTCP: version 2,
//     header, CSRC, extension and padding lengths that fit (RFC 3550 §5.1,
//     §6.4), a payload type that is not reserved (RFC 3551 §6, RFC 5761 §4)
//     and, once SetPayloadTypes has been called, one that was negotiated.
//     Valid packets update the flow's counters (packets, bytes, sequence
//     gaps, last arrival: FlowStats) and go to the flow's kernel UDP socket,
//     to an AF_XDP socket (Config.Redirect, SetSocket), or, under a two-party
//     bypass (SetBypass), straight back out to the other party.
//   - UDP to the SIP port passes a per-source token bucket (Config.SIPRate,
//     SIPBurst) unless the source is trusted (TrustSIPSource); a flood from
//     one address is dropped before the stack sees it.
//   - Everything else passes untouched.
//
// Every verdict is counted by reason (Verdicts).
//
// Kernel and privileges: Linux 6.1 or later with BTF (Debian 12's kernel),
// BPF JIT and XDP sockets (CONFIG_XDP_SOCKETS) for the AF_XDP path; loading
// needs CAP_BPF and CAP_NET_ADMIN (root on the appliance). Locked memory is
// charged to the memory cgroup since Linux 5.11, so RLIMIT_MEMLOCK needs no
// raising. Attaching the program to an interface is the caller's business
// (hal/xdppath); this package loads it and manages its maps.
//
// The object is built for little-endian targets only (amd64, arm64), the
// appliance's two architectures. `make generate` rebuilds it with Debian's
// clang; ebpf/check-generated.sh fails when the committed files are stale.
package rtpfilter

//go:generate go tool bpf2go -tags linux -target bpfel -type flow_rule -type flow_stats -type verdict_count -type sip_key -type sip_bucket rtpfilter rtpfilter.c -- -I../include -O2 -g -Wall -Werror -mcpu=v3
