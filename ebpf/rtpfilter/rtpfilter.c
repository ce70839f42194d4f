//go:build ignore

/*
 * rtpfilter: Confab's XDP program for the media interface.
 *
 * For every frame it parses Ethernet (up to two VLAN tags, IEEE 802.1Q and
 * 802.1ad), IPv4 or IPv6 (with hop-by-hop, routing, destination-options and
 * fragment extension headers) and UDP, then:
 *
 *  - UDP to the media port range: the flow slot ((port - low) / 2; RTP on
 *    the even port, RTCP on the odd one, RFC 3550 §11) must be open in
 *    flow_rules, or the packet is dropped. The payload must be plausible
 *    RTP or RTCP (version 2, lengths, payload type, RFC 3550 §5.1, §6.4 and
 *    A.1, RFC 5761 §4), or it is dropped. Valid packets update the flow's
 *    counters and are redirected to the AF_XDP socket of their RX queue
 *    (when the driver runs one), forwarded to the peer (two-party bypass),
 *    or passed to the kernel's UDP socket.
 *  - UDP to the SIP port: a per-source token bucket (GCRA, the virtual
 *    scheduling form of the token bucket, ITU-T I.371 Annex A) drops floods.
 *  - Everything else passes untouched.
 *
 * Every verdict is counted by reason in verdicts.
 */

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

char __license[] SEC("license") = "Dual MIT/GPL";

/* Packet headers, as on the wire (IEEE 802.3, RFC 791, RFC 8200, RFC 768). */

struct eth_hdr {
	__u8 dst[6];
	__u8 src[6];
	__be16 proto;
};

struct vlan_tag {
	__be16 tci;
	__be16 proto;
};

struct ip4_hdr {
	__u8 ver_ihl;
	__u8 tos;
	__be16 tot_len;
	__be16 id;
	__be16 frag_off;
	__u8 ttl;
	__u8 proto;
	__u16 check;
	__u8 saddr[4];
	__u8 daddr[4];
};

struct ip6_hdr {
	__be32 vtc_flow;
	__be16 payload_len;
	__u8 nexthdr;
	__u8 hop_limit;
	__u8 saddr[16];
	__u8 daddr[16];
};

struct ip6_ext {
	__u8 nexthdr;
	__u8 len; /* in 8-octet units, not counting the first 8 (RFC 8200 §4.3) */
};

struct ip6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 id;
};

struct udp_hdr {
	__be16 sport;
	__be16 dport;
	__be16 len;
	__u16 check;
};

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8
#define IPPROTO_UDP_ 17
#define IP6_HOPOPTS 0
#define IP6_ROUTING 43
#define IP6_FRAGMENT 44
#define IP6_DSTOPTS 60
#define IP4_MF 0x2000
#define IP4_OFFSET 0x1FFF

/* Configuration, set by the loader before the program is loaded, so the
 * verifier folds it into the code. */
volatile const __u16 media_low;  /* first RTP port, even; 0 = no media range */
volatile const __u16 media_high; /* last port of the range, inclusive */
volatile const __u16 sip_port;   /* 0 = no SIP guard */
volatile const __u8 redirect;    /* 1: known flows go to the AF_XDP socket */
volatile const __u64 sip_interval_ns;  /* GCRA emission interval: 1 s / rate */
volatile const __u64 sip_tolerance_ns; /* interval * (burst - 1) */

/* Verdicts, counted per reason. Keep in step with verdict.go. */
enum verdict {
	V_PASS_NOT_IP = 0,      /* not IPv4 or IPv6: ARP, LLDP ... */
	V_PASS_NOT_UDP,         /* IP but not UDP, or headers we do not parse */
	V_PASS_OTHER_PORT,      /* UDP outside the media range and not SIP */
	V_PASS_FRAGMENT,        /* a later IP fragment: no UDP header to judge */
	V_PASS_FLOW,            /* known flow, to the kernel's socket */
	V_REDIRECT_FLOW,        /* known flow, to the AF_XDP socket */
	V_TX_BYPASS,            /* known flow, forwarded to its two-party peer */
	V_PASS_SIP,             /* SIP within its source's rate */
	V_DROP_SIP_FLOOD,       /* SIP over its source's rate */
	V_DROP_UNKNOWN_FLOW,    /* media port with no open flow */
	V_DROP_MALFORMED,       /* IP/UDP lengths that do not add up */
	V_DROP_FRAGMENT,        /* fragmented media: RTP never needs it */
	V_DROP_VERSION,         /* RTP/RTCP version is not 2 */
	V_DROP_RTP_LENGTH,      /* shorter than its header, CSRCs, extension, padding */
	V_DROP_PAYLOAD_TYPE,    /* reserved or not negotiated payload type */
	V_DROP_RTCP,            /* RTCP port: not RTCP, or a bad length */
	V_MAX,
};

struct verdict_count {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, V_MAX);
	__type(key, __u32);
	__type(value, struct verdict_count);
} verdicts SEC(".maps");

/* flow_rule is what user space says about a flow slot. It is written only
 * by user space; the program reads it. */
enum {
	RULE_OPEN = 1 << 0,   /* the slot's ports belong to a participant */
	RULE_BYPASS = 1 << 1, /* forward its RTP media to the peer below */
};

struct flow_rule {
	__u32 flags;
	__u64 pt_mask[2]; /* negotiated RTP payload types; all zero = any */

	/* Two-party bypass: where this caller's media goes instead of the MCU. */
	__u32 epoch;    /* changes whenever the bypass below changes */
	__u32 ifindex;  /* egress interface; 0 or the ingress one = XDP_TX */
	__u8 in_pt;     /* the media payload type that is forwarded */
	__u8 out_pt;    /* the payload type the peer negotiated for it */
	__u8 family;    /* 4 or 6 */
	__u8 pad;
	__u16 out_sport; /* our port the peer's stream comes from */
	__u16 out_dport; /* the peer's RTP port */
	__u32 out_ssrc;  /* the SSRC the peer knows our stream by */
	__u16 seq_next;  /* the peer's stream continues at this sequence number */
	__u16 pad2;
	__u32 ts_next;   /* ... and this timestamp */
	__u8 smac[6];
	__u8 dmac[6];
	__u8 saddr[16]; /* IPv4 in the first 4 bytes */
	__u8 daddr[16];
};

/* flow_stats is what the program learns about a flow slot. It is written by
 * the program; user space reads it, and zeroes it when a flow opens. */
struct flow_stats {
	__u64 rtp_packets;
	__u64 rtp_bytes;
	__u64 rtcp_packets;
	__u64 rtcp_bytes;
	__u64 seq_gaps; /* RTP sequence numbers skipped (RFC 3550 A.1) */
	__u64 last_ns;  /* CLOCK_MONOTONIC of the last valid packet */
	__u32 ssrc;
	__u16 max_seq;
	__u8 seq_valid;
	__u8 pad;

	/* Where the last valid packet came from on the link: the next hop
	 * toward the caller (its MAC, or its router's), our own MAC, the
	 * interface and VLAN tags (TCI, 0 for none). A two-party bypass sends
	 * the caller's peer's media back the same way. */
	__u32 ifindex;
	__u8 src_mac[6];
	__u8 dst_mac[6];
	__u16 vlan[2];

	/* Two-party bypass, for the epoch it last forwarded in. */
	__u64 fwd_packets;
	__u64 fwd_bytes;
	__u64 fwd_ns;     /* CLOCK_MONOTONIC of the last forwarded packet */
	__u32 fwd_epoch;
	__u32 ts_delta;   /* out timestamp = in timestamp + ts_delta */
	__u32 fwd_ts;     /* timestamp of the last forwarded packet, as sent */
	__u16 seq_delta;  /* out sequence = in sequence + seq_delta */
	__u16 fwd_seq;    /* sequence number of the last forwarded packet, as sent */
	__u16 fwd_in_seq; /* ... and as it arrived */
	__u16 pad2;
};

/* One slot per RTP/RTCP port pair: 32768 covers every even port. */
#define MAX_SLOTS 32768

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct flow_rule);
} flow_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, __u32);
	__type(value, struct flow_stats);
} flow_counters SEC(".maps");

/* AF_XDP sockets by RX queue. */
struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* SIP guard: one bucket per source address (IPv4 as ::ffff:a.b.c.d), LRU so
 * a flood of spoofed sources evicts old entries instead of failing. */
struct sip_key {
	__u8 addr[16];
};

struct sip_bucket {
	__u64 tat; /* GCRA theoretical arrival time, CLOCK_MONOTONIC ns */
	__u64 passed;
	__u64 dropped;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sip_key);
	__type(value, struct sip_bucket);
} sip_buckets SEC(".maps");

/* Sources the guard never limits (the SIP trunk, a proxy). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct sip_key);
	__type(value, __u8);
} sip_trusted SEC(".maps");

/* count counts a frame of len bytes under verdict v and returns action. */
static __always_inline int count(__u64 len, __u32 v, int action)
{
	struct verdict_count *c = bpf_map_lookup_elem(&verdicts, &v);
	if (c) {
		c->packets++;
		c->bytes += len;
	}
	return action;
}

/* Incremental checksum update (RFC 1624 eqn. 3): HC' = ~(~HC + ~m + m').
 * The one's complement sum does not depend on byte order (RFC 1071 §2(B)),
 * so fields are taken as they lie in the packet. */
static __always_inline void csum_replace(__u16 *sum, __u16 old, __u16 new)
{
	__u32 s = (__u16)~*sum;
	s += (__u16)~old;
	s += new;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	*sum = (__u16)~s;
}

static __always_inline void csum_replace32(__u16 *sum, __u32 old, __u32 new)
{
	csum_replace(sum, (__u16)old, (__u16)new);
	csum_replace(sum, (__u16)(old >> 16), (__u16)(new >> 16));
}

/* MAX_UDP_WORDS bounds the checksum loop: a 1500-octet MTU's datagram. */
#define MAX_UDP_WORDS 740

/* udp_checksum computes the UDP checksum (RFC 768, RFC 8200 §8.1) of the
 * datagram of ulen octets at offset off in the frame, from scratch: the
 * pseudo-header sum given plus the datagram, whose checksum field must be
 * zero. An incremental update (RFC 1624) would be cheaper, but a datagram
 * from a local sender over a veth carries only the pseudo-header part of
 * its checksum (the kernel's CHECKSUM_PARTIAL, for a NIC that never sees
 * it), and updating that yields garbage once the frame leaves by XDP_TX.
 * Words are summed as they lie in memory (RFC 1071 §2(B)).
 *
 * It is a global function so that the verifier checks its loop once, on
 * its own, instead of along every path that reaches it. */
__attribute__((noinline)) int udp_checksum(struct xdp_md *ctx, __u32 off, __u32 ulen, __u32 sum)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	if (off > 512)
		return 0;
	__u16 *w = data + off;

	for (int i = 0; i < MAX_UDP_WORDS; i++) {
		if ((__u32)i * 2 + 2 > ulen || (void *)(w + 1) > data_end)
			break;
		sum += *w;
		w++;
	}
	if (ulen & 1) {
		__u8 *last = (__u8 *)w;
		if ((void *)(last + 1) <= data_end)
			sum += *last; /* padded with a zero octet, as the last word's first */
	}
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	__u16 c = (__u16)~sum;
	return c ? c : 0xffff; /* a computed zero is sent as all ones */
}

/* sip_guard applies the source's token bucket. */
static __always_inline int sip_guard(__u64 len, struct sip_key *key)
{
	if (bpf_map_lookup_elem(&sip_trusted, key))
		return count(len, V_PASS_SIP, XDP_PASS);

	__u64 now = bpf_ktime_get_ns();
	struct sip_bucket *b = bpf_map_lookup_elem(&sip_buckets, key);
	if (!b) {
		struct sip_bucket fresh = {.tat = now + sip_interval_ns, .passed = 1};
		bpf_map_update_elem(&sip_buckets, key, &fresh, BPF_ANY);
		return count(len, V_PASS_SIP, XDP_PASS);
	}
	/* GCRA: a packet conforms when it arrives no earlier than TAT minus
	 * the tolerance; each conforming packet moves TAT one interval on. */
	__u64 tat = b->tat;
	if (tat < now)
		tat = now;
	if (tat - now > sip_tolerance_ns) {
		b->dropped++;
		return count(len, V_DROP_SIP_FLOOD, XDP_DROP);
	}
	b->tat = tat + sip_interval_ns;
	b->passed++;
	return count(len, V_PASS_SIP, XDP_PASS);
}

static __always_inline int pt_allowed(struct flow_rule *r, __u8 pt)
{
	__u64 lo = r->pt_mask[0], hi = r->pt_mask[1];
	if ((lo | hi) == 0)
		return 1;
	if (pt < 64)
		return (lo >> pt) & 1;
	return (hi >> (pt - 64)) & 1;
}

/* track_seq follows the highest sequence number seen and counts the
 * numbers skipped, as RFC 3550 A.1 does: jumps of MAX_DROPOUT or more, and
 * a new SSRC, restart the count instead. */
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100

static __always_inline void track_seq(struct flow_stats *st, __u32 ssrc, __u16 seq)
{
	if (!st->seq_valid || st->ssrc != ssrc) {
		st->ssrc = ssrc;
		st->max_seq = seq;
		st->seq_valid = 1;
		return;
	}
	__u16 delta = seq - st->max_seq;
	if (delta == 0 || delta >= (__u16)(0 - MAX_MISORDER))
		return; /* duplicate, or late */
	if (delta < MAX_DROPOUT)
		__sync_fetch_and_add(&st->seq_gaps, delta - 1);
	st->max_seq = seq;
}

/* Media headers located by the parser, for the bypass rewrite. */
struct pkt {
	struct eth_hdr *eth;
	__u16 vlan[2];
	void *l3;  /* struct ip4_hdr or, when v6, struct ip6_hdr */
	struct udp_hdr *udp;
	__u8 *rtp;
	int v6;
};

/* bypass rewrites a caller's RTP into the peer's stream and sends it back
 * out, as if the MCU had sent it: our MAC, address and port as the source,
 * the peer's as the destination, and the peer's SSRC, payload type,
 * sequence numbers and timestamps continuing what the MCU last sent it. */
static __always_inline int bypass(struct xdp_md *ctx, struct pkt *p, struct flow_rule *r,
				  struct flow_stats *st, __u64 now, __u64 len, __u32 ulen)
{
	void *data_end = (void *)(long)ctx->data_end;
	__u8 *rtp = p->rtp;
	if ((void *)(rtp + 12) > data_end)
		return -1;
	if (p->v6 != (r->family == 6))
		return -1;

	__u16 in_seq = ((__u16)rtp[2] << 8) | rtp[3];
	__u32 in_ts = ((__u32)rtp[4] << 24) | ((__u32)rtp[5] << 16) | ((__u32)rtp[6] << 8) | rtp[7];
	if (st->fwd_epoch != r->epoch) {
		st->seq_delta = r->seq_next - in_seq;
		st->ts_delta = r->ts_next - in_ts;
		st->fwd_epoch = r->epoch;
	}
	__u16 out_seq = in_seq + st->seq_delta;
	__u32 out_ts = in_ts + st->ts_delta;

	struct udp_hdr *udp = p->udp;

	/* RTP: payload type (keeping the marker), sequence, timestamp, SSRC. */
	rtp[1] = (rtp[1] & 0x80) | (r->out_pt & 0x7f);
	*(__u16 *)(rtp + 2) = bpf_htons(out_seq);
	*(__u32 *)(rtp + 4) = bpf_htonl(out_ts);
	*(__u32 *)(rtp + 8) = bpf_htonl(r->out_ssrc);
	udp->sport = bpf_htons(r->out_sport);
	udp->dport = bpf_htons(r->out_dport);

	/* IP addresses and hop limit: we originate the packet, so it starts
	 * with our own default of 64. The UDP pseudo-header sums the new
	 * addresses, the protocol and the UDP length. */
	__u32 pseudo = bpf_htons(IPPROTO_UDP_) + bpf_htons((__u16)ulen);
	if (!p->v6) {
		struct ip4_hdr *ip = p->l3;
		if ((void *)(ip + 1) > data_end)
			return -1;
		__u32 o = *(__u32 *)ip->saddr, n = *(__u32 *)r->saddr;
		*(__u32 *)ip->saddr = n;
		csum_replace32(&ip->check, o, n);
		pseudo += (n & 0xffff) + (n >> 16);
		o = *(__u32 *)ip->daddr;
		n = *(__u32 *)r->daddr;
		*(__u32 *)ip->daddr = n;
		csum_replace32(&ip->check, o, n);
		pseudo += (n & 0xffff) + (n >> 16);
		__u16 old16 = *(__u16 *)&ip->ttl;
		ip->ttl = 64;
		csum_replace(&ip->check, old16, *(__u16 *)&ip->ttl);
	} else {
		struct ip6_hdr *ip = p->l3;
		if ((void *)(ip + 1) > data_end)
			return -1;
#pragma unroll
		for (int i = 0; i < 16; i += 4) {
			__u32 n = *(__u32 *)&r->saddr[i];
			*(__u32 *)&ip->saddr[i] = n;
			pseudo += (n & 0xffff) + (n >> 16);
			n = *(__u32 *)&r->daddr[i];
			*(__u32 *)&ip->daddr[i] = n;
			pseudo += (n & 0xffff) + (n >> 16);
		}
		ip->hop_limit = 64;
	}
	__u32 off = (__u8 *)udp - (__u8 *)p->eth;
	udp->check = 0;
	int check = udp_checksum(ctx, off, ulen, pseudo);
	/* Packet pointers do not outlive a call; find the header again. */
	void *data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	if (off > 512)
		return -1;
	udp = data + off;
	if ((void *)(udp + 1) > data_end)
		return -1;
	udp->check = (__u16)check;
	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;

	__builtin_memcpy(eth->dst, r->dmac, 6);
	__builtin_memcpy(eth->src, r->smac, 6);

	st->fwd_seq = out_seq;
	st->fwd_in_seq = in_seq;
	st->fwd_ts = out_ts;
	st->fwd_ns = now;
	__sync_fetch_and_add(&st->fwd_packets, 1);
	__sync_fetch_and_add(&st->fwd_bytes, len);

	if (r->ifindex == 0 || r->ifindex == ctx->ingress_ifindex)
		return count(len, V_TX_BYPASS, XDP_TX);
	int act = bpf_redirect(r->ifindex, 0);
	return count(len, V_TX_BYPASS, act);
}

/* learn_link records when and by which way a valid packet arrived. */
static __always_inline void learn_link(struct xdp_md *ctx, struct pkt *p, struct flow_stats *st, __u64 now)
{
	st->last_ns = now;
	st->ifindex = ctx->ingress_ifindex;
	__builtin_memcpy(st->src_mac, p->eth->src, 6);
	__builtin_memcpy(st->dst_mac, p->eth->dst, 6);
	st->vlan[0] = p->vlan[0];
	st->vlan[1] = p->vlan[1];
}

/* media judges a datagram to the media port range. */
static __always_inline int media(struct xdp_md *ctx, __u64 len, struct pkt *p, __u16 dport, __u32 ulen, int fragment)
{
	if (fragment)
		return count(len, V_DROP_FRAGMENT, XDP_DROP);

	__u32 slot = (__u32)(dport - media_low) >> 1;
	int rtcp_port = (dport - media_low) & 1;
	if (slot >= MAX_SLOTS)
		return count(len, V_DROP_UNKNOWN_FLOW, XDP_DROP);
	struct flow_rule *r = bpf_map_lookup_elem(&flow_rules, &slot);
	if (!r || !(r->flags & RULE_OPEN))
		return count(len, V_DROP_UNKNOWN_FLOW, XDP_DROP);

	void *data_end = (void *)(long)ctx->data_end;
	__u8 *rtp = p->rtp;
	__u32 plen = ulen - sizeof(struct udp_hdr);
	if (plen < 4 || (void *)(rtp + 4) > data_end)
		return count(len, rtcp_port ? V_DROP_RTCP : V_DROP_RTP_LENGTH, XDP_DROP);
	if ((rtp[0] >> 6) != 2)
		return count(len, V_DROP_VERSION, XDP_DROP);

	/* RFC 5761 §4: a second octet of 192..223 is an RTCP packet type
	 * (SR 200, RR 201 ...), on the RTCP port or multiplexed on the RTP
	 * one; RTP payload types 64..95 are avoided for that reason. */
	__u8 b1 = rtp[1];
	int is_rtcp = b1 >= 192 && b1 <= 223;
	struct flow_stats *st = bpf_map_lookup_elem(&flow_counters, &slot);
	if (!st)
		return count(len, V_DROP_UNKNOWN_FLOW, XDP_DROP);
	__u64 now = bpf_ktime_get_ns();

	if (is_rtcp) {
		/* RFC 3550 §6.4.1: even an empty RR is 8 octets; the first
		 * packet's length (in 32-bit words minus one) must fit. */
		if (plen < 8)
			return count(len, V_DROP_RTCP, XDP_DROP);
		__u32 words = ((__u32)rtp[2] << 8) | rtp[3];
		if ((words + 1) * 4 > plen)
			return count(len, V_DROP_RTCP, XDP_DROP);
		__sync_fetch_and_add(&st->rtcp_packets, 1);
		__sync_fetch_and_add(&st->rtcp_bytes, plen);
		learn_link(ctx, p, st, now);
		goto deliver;
	}
	if (rtcp_port)
		return count(len, V_DROP_RTCP, XDP_DROP);

	/* RTP, RFC 3550 §5.1: 12 octets, CSRCs, an extension whose length
	 * (in words) follows its profile word, and padding whose count is the
	 * last octet. */
	__u32 hlen = 12 + 4 * (rtp[0] & 0x0f);
	if (plen < hlen)
		return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
	if (rtp[0] & 0x10) {
		if (hlen + 4 > plen)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
		__u8 *ext = rtp + hlen; /* hlen <= 72 */
		if ((void *)(ext + 4) > data_end)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
		hlen += 4 + 4 * (((__u32)ext[2] << 8) | ext[3]);
		if (hlen > plen)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
	}
	if (rtp[0] & 0x20) {
		__u32 last = plen - 1;
		if (last > 2048)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
		__u8 *pad = rtp + last;
		if ((void *)(pad + 1) > data_end)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
		if (*pad == 0 || *pad > plen - hlen)
			return count(len, V_DROP_RTP_LENGTH, XDP_DROP);
	}
	__u8 pt = b1 & 0x7f;
	/* RFC 3551 §6: 72-76 are reserved so that RTP and RTCP can be told
	 * apart; beyond that, only what was negotiated. */
	if ((pt >= 72 && pt <= 76) || !pt_allowed(r, pt))
		return count(len, V_DROP_PAYLOAD_TYPE, XDP_DROP);
	if ((void *)(rtp + 12) > data_end)
		return count(len, V_DROP_RTP_LENGTH, XDP_DROP);

	__u32 ssrc = ((__u32)rtp[8] << 24) | ((__u32)rtp[9] << 16) | ((__u32)rtp[10] << 8) | rtp[11];
	__u16 seq = ((__u16)rtp[2] << 8) | rtp[3];
	track_seq(st, ssrc, seq);
	__sync_fetch_and_add(&st->rtp_packets, 1);
	__sync_fetch_and_add(&st->rtp_bytes, plen);
	learn_link(ctx, p, st, now);

	if ((r->flags & RULE_BYPASS) && pt == r->in_pt) {
		int act = bypass(ctx, p, r, st, now, len, ulen);
		if (act >= 0)
			return act;
	}

deliver:
	if (redirect) {
		int act = bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
		if (act == XDP_REDIRECT)
			return count(len, V_REDIRECT_FLOW, act);
	}
	return count(len, V_PASS_FLOW, XDP_PASS);
}

SEC("xdp")
int confab_rtp_filter(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct pkt p = {};

	struct eth_hdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return count(len, V_PASS_NOT_IP, XDP_PASS);
	p.eth = eth;
	__u16 proto = eth->proto;
	void *cur = eth + 1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_tag *tag = cur;
		if ((void *)(tag + 1) > data_end)
			return count(len, V_PASS_NOT_IP, XDP_PASS);
		proto = tag->proto;
		p.vlan[i] = bpf_ntohs(tag->tci);
		cur = tag + 1;
	}

	struct sip_key src = {};
	__u8 l4;
	int fragment = 0;
	__u32 l3_left; /* bytes from the L4 header to the end of the IP packet */

	if (proto == bpf_htons(ETH_P_IP)) {
		struct ip4_hdr *ip = cur;
		if ((void *)(ip + 1) > data_end)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
		__u32 ihl = (ip->ver_ihl & 0x0f) * 4;
		__u32 tot = bpf_ntohs(ip->tot_len);
		if ((ip->ver_ihl >> 4) != 4 || ihl < sizeof(*ip) || tot < ihl)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
		if (ip->proto != IPPROTO_UDP_)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
		__u16 frag = bpf_ntohs(ip->frag_off);
		if (frag & IP4_OFFSET)
			return count(len, V_PASS_FRAGMENT, XDP_PASS);
		fragment = !!(frag & IP4_MF);
		p.l3 = ip;
		src.addr[10] = 0xff;
		src.addr[11] = 0xff;
		__builtin_memcpy(&src.addr[12], ip->saddr, 4);
		cur = (void *)ip + ihl;
		l3_left = tot - ihl;
		l4 = IPPROTO_UDP_;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ip6_hdr *ip = cur;
		if ((void *)(ip + 1) > data_end)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
		if ((bpf_ntohl(ip->vtc_flow) >> 28) != 6)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
		p.l3 = ip;
		p.v6 = 1;
		__builtin_memcpy(src.addr, ip->saddr, 16);
		l4 = ip->nexthdr;
		l3_left = bpf_ntohs(ip->payload_len);
		cur = ip + 1;
		/* RFC 8200 §4.1 order: hop-by-hop, destination options,
		 * routing, fragment, destination options. */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			if (l4 == IP6_FRAGMENT) {
				struct ip6_frag *fh = cur;
				if ((void *)(fh + 1) > data_end)
					return count(len, V_PASS_NOT_UDP, XDP_PASS);
				__u16 off = bpf_ntohs(fh->frag_off);
				if (off & 0xfff8)
					return count(len, V_PASS_FRAGMENT, XDP_PASS);
				fragment = !!(off & 1);
				l4 = fh->nexthdr;
				cur = fh + 1;
				if (l3_left < sizeof(*fh))
					return count(len, V_PASS_NOT_UDP, XDP_PASS);
				l3_left -= sizeof(*fh);
			} else if (l4 == IP6_HOPOPTS || l4 == IP6_ROUTING || l4 == IP6_DSTOPTS) {
				struct ip6_ext *eh = cur;
				if ((void *)(eh + 1) > data_end)
					return count(len, V_PASS_NOT_UDP, XDP_PASS);
				__u32 elen = ((__u32)eh->len + 1) * 8;
				l4 = eh->nexthdr;
				cur += elen;
				if (l3_left < elen)
					return count(len, V_PASS_NOT_UDP, XDP_PASS);
				l3_left -= elen;
			}
		}
		if (l4 != IPPROTO_UDP_)
			return count(len, V_PASS_NOT_UDP, XDP_PASS);
	} else {
		return count(len, V_PASS_NOT_IP, XDP_PASS);
	}

	struct udp_hdr *udp = cur;
	if ((void *)(udp + 1) > data_end)
		return count(len, V_PASS_NOT_UDP, XDP_PASS);
	p.udp = udp;
	p.rtp = (__u8 *)(udp + 1);
	__u16 dport = bpf_ntohs(udp->dport);
	__u32 ulen = bpf_ntohs(udp->len);

	int in_media = media_low != 0 && dport >= media_low && dport <= media_high;
	int is_sip = sip_port != 0 && dport == sip_port;
	if (!in_media && !is_sip)
		return count(len, V_PASS_OTHER_PORT, XDP_PASS);

	/* Unless more fragments follow, the UDP length must fit the IP
	 * payload and the frame (which may carry Ethernet padding beyond
	 * it). The kernel would drop such a datagram too, only later. */
	if (ulen < sizeof(*udp) ||
	    (!fragment && (ulen > l3_left || (void *)udp + ulen > data_end)))
		return count(len, V_DROP_MALFORMED, XDP_DROP);

	if (is_sip)
		return sip_guard(len, &src);
	return media(ctx, len, &p, dport, ulen, fragment);
}
