//go:build linux

package rtpfilter_test

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"confab/ebpf/rtpfilter"
)

// XDP actions (include/uapi/linux/bpf.h enum xdp_action).
const (
	xdpAborted  = 0
	xdpDrop     = 1
	xdpPass     = 2
	xdpTx       = 3
	xdpRedirect = 4
)

func actionName(a uint32) string {
	return [...]string{"XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX", "XDP_REDIRECT", "?"}[min(a, 5)]
}

var testConfig = rtpfilter.Config{
	MediaLow: 40000, MediaHigh: 40999,
	SIPPort: 5060, SIPRate: 10, SIPBurst: 3,
}

// Addresses from the documentation ranges (RFC 5737, RFC 3849).
var (
	box4    = netip.MustParseAddr("192.0.2.1")
	phone4  = netip.MustParseAddr("192.0.2.77")
	phone4b = netip.MustParseAddr("198.51.100.9")
	box6    = netip.MustParseAddr("2001:db8::1")
	phone6  = netip.MustParseAddr("2001:db8::77")
)

// load loads the filter or skips when the kernel refuses for want of
// privilege: loading XDP programs needs CAP_BPF and CAP_NET_ADMIN.
func load(t testing.TB, cfg rtpfilter.Config) *rtpfilter.Filter {
	t.Helper()
	f, err := rtpfilter.Load(cfg)
	if errors.Is(err, os.ErrPermission) {
		t.Skipf("loading an XDP program needs root (CAP_BPF, CAP_NET_ADMIN): %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// run runs the program once on data with BPF_PROG_TEST_RUN and returns its
// action and the frame as the program left it.
func run(t testing.TB, f *rtpfilter.Filter, data []byte) (uint32, []byte) {
	t.Helper()
	opts := ebpf.RunOptions{Data: data, DataOut: make([]byte, len(data)+256)}
	act, err := f.Program().Run(&opts)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return act, opts.DataOut
}

func verdicts(t testing.TB, f *rtpfilter.Filter) rtpfilter.VerdictCounts {
	t.Helper()
	vc, err := f.Verdicts()
	if err != nil {
		t.Fatal(err)
	}
	return vc
}

func udp4(dport uint16, payload []byte) frame {
	return frame{src: netip.AddrPortFrom(phone4, 30000), dst: netip.AddrPortFrom(box4, dport), payload: payload}
}

func udp6(dport uint16, payload []byte) frame {
	return frame{src: netip.AddrPortFrom(phone6, 30000), dst: netip.AddrPortFrom(box6, dport), payload: payload}
}

func TestEveryVerdict(t *testing.T) {
	f := load(t, testConfig)
	for _, port := range []uint16{40000, 40010} {
		if err := f.OpenFlow(port); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.OpenFlow(40020); err != nil {
		t.Fatal(err)
	}
	if err := f.SetPayloadTypes(40020, []uint8{0, 101}); err != nil {
		t.Fatal(err)
	}
	media := rtp{pt: 0, seq: 1, ts: 160, ssrc: 0x11223344}.bytes()
	sipMsg := []byte("OPTIONS sip:box SIP/2.0\r\n\r\n")

	tests := []struct {
		name    string
		frame   []byte
		action  uint32
		verdict rtpfilter.Verdict
	}{
		{"an ARP frame passes as not IP", frame{ethType: 0x0806}.bytes(), xdpPass, rtpfilter.PassNotIP},
		{"a truncated Ethernet header passes as not IP", make([]byte, 14)[:14], xdpPass, rtpfilter.PassNotIP},
		{"TCP passes as not UDP", frame{src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), proto: 6, payload: make([]byte, 20)}.bytes(), xdpPass, rtpfilter.PassNotUDP},
		{"ICMPv6 passes as not UDP", frame{src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 1), proto: 58, payload: make([]byte, 8)}.bytes(), xdpPass, rtpfilter.PassNotUDP},
		{"UDP to another port passes", udp4(53, []byte("dns")).bytes(), xdpPass, rtpfilter.PassOtherPort},
		{"UDP just above the media range passes", udp4(41000, media).bytes(), xdpPass, rtpfilter.PassOtherPort},
		{"a later IPv4 fragment passes", frame{src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), fragOffset: 100, payload: media}.bytes(), xdpPass, rtpfilter.PassFragment},
		{"a later IPv6 fragment passes", frame{src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 40000), ip6Frag: true, fragOffset: 100, payload: media}.bytes(), xdpPass, rtpfilter.PassFragment},
		{"RTP of an open flow passes to the socket", udp4(40000, media).bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP over IPv6 passes", udp6(40010, media).bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP under a VLAN tag passes", frame{vlans: []uint16{100}, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: media}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP under two VLAN tags passes", frame{vlans: []uint16{10, 100}, src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 40000), payload: media}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP after an IPv6 hop-by-hop header passes", frame{hopByHop: true, src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 40000), payload: media}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP in an unfragmented IPv6 fragment header passes", frame{ip6Frag: true, src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 40000), payload: media}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP with Ethernet padding passes", frame{pad: 5, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: rtp{pt: 0, payloadSz: 1}.bytes()}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP without a UDP checksum passes", frame{noUDPChecksum: true, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: media}.bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTP with CSRCs, an extension and padding passes", udp4(40000, rtp{pt: 8, csrcs: 2, ext: make([]byte, 8), padding: 4}.bytes()).bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTCP on the RTCP port passes", udp4(40001, rtcpRR(1, 1)).bytes(), xdpPass, rtpfilter.PassFlow},
		{"RTCP multiplexed on the RTP port passes", udp4(40000, rtcpRR(1, 1)).bytes(), xdpPass, rtpfilter.PassFlow},
		{"a negotiated payload type passes", udp4(40020, rtp{pt: 101, payloadSz: 4}.bytes()).bytes(), xdpPass, rtpfilter.PassFlow},
		{"SIP passes the guard", udp4(5060, sipMsg).bytes(), xdpPass, rtpfilter.PassSIP},
		{"RTP to a port with no flow is dropped", udp4(40002, media).bytes(), xdpDrop, rtpfilter.DropUnknownFlow},
		{"RTCP to a port with no flow is dropped", udp4(40003, rtcpRR(1, 1)).bytes(), xdpDrop, rtpfilter.DropUnknownFlow},
		{"a UDP length beyond the IP packet is dropped", frame{udpLenDelta: 40, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: media}.bytes(), xdpDrop, rtpfilter.DropMalformed},
		{"a UDP length below its header is dropped", frame{udpLenDelta: -(8 + len(media) - 4), src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: media}.bytes(), xdpDrop, rtpfilter.DropMalformed},
		{"a first IPv4 fragment of media is dropped", frame{moreFragments: true, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40000), payload: media}.bytes(), xdpDrop, rtpfilter.DropFragment},
		{"a first IPv6 fragment of media is dropped", frame{ip6Frag: true, moreFragments: true, src: netip.AddrPortFrom(phone6, 1), dst: netip.AddrPortFrom(box6, 40000), payload: media}.bytes(), xdpDrop, rtpfilter.DropFragment},
		{"RTP version 1 is dropped", udp4(40000, rtp{version: 1}.bytes()).bytes(), xdpDrop, rtpfilter.DropVersion},
		{"a STUN message on the media port is dropped as not version 2", udp4(40000, make([]byte, 20)).bytes(), xdpDrop, rtpfilter.DropVersion},
		{"three bytes of RTP are dropped", udp4(40000, []byte{0x80, 0, 1}).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"RTP shorter than its fixed header is dropped", udp4(40000, media[:10]).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"RTP shorter than its CSRC list is dropped", udp4(40000, rtp{csrcs: 15, payloadSz: 1}.bytes()[:40]).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"RTP whose extension runs past the end is dropped", udp4(40000, rtp{ext: make([]byte, 4), extWords: 100}.bytes()).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"RTP with a zero padding count is dropped", udp4(40000, append(rtp{padding: 1, payloadSz: 4}.bytes()[:16], 0)).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"RTP padding longer than the payload is dropped", udp4(40000, rtp{padding: 4, padCount: 200, payloadSz: 4}.bytes()).bytes(), xdpDrop, rtpfilter.DropRTPLength},
		{"payload type 72, reserved against RTCP, is dropped", udp4(40000, rtp{pt: 72}.bytes()).bytes(), xdpDrop, rtpfilter.DropPayloadType},
		{"a payload type that was not negotiated is dropped", udp4(40020, rtp{pt: 8}.bytes()).bytes(), xdpDrop, rtpfilter.DropPayloadType},
		{"RTP on the RTCP port is dropped", udp4(40001, media).bytes(), xdpDrop, rtpfilter.DropRTCP},
		{"RTCP shorter than a receiver report is dropped", udp4(40001, rtcpRR(1, 1)[:6]).bytes(), xdpDrop, rtpfilter.DropRTCP},
		{"RTCP whose length runs past the datagram is dropped", udp4(40001, rtcpRR(1, 9)).bytes(), xdpDrop, rtpfilter.DropRTCP},
		{"a short datagram on the RTCP port is dropped", udp4(40001, []byte{0x80}).bytes(), xdpDrop, rtpfilter.DropRTCP},
	}
	seen := make(map[rtpfilter.Verdict]bool)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := verdicts(t, f)
			act, _ := run(t, f, tt.frame)
			after := verdicts(t, f)
			if act != tt.action {
				t.Errorf("action %s, want %s", actionName(act), actionName(tt.action))
			}
			for v := range rtpfilter.NumVerdicts {
				want := uint64(0)
				if v == tt.verdict {
					want = 1
				}
				if got := after[v].Packets - before[v].Packets; got != want {
					t.Errorf("verdict %s counted %d packets, want %d", v, got, want)
				}
			}
			if got, want := after[tt.verdict].Bytes-before[tt.verdict].Bytes, uint64(len(tt.frame)); got != want {
				t.Errorf("verdict %s counted %d bytes, want %d", tt.verdict, got, want)
			}
			seen[tt.verdict] = true
		})
	}
	// RedirectFlow and TxBypass need an AF_XDP socket or a bypass; their
	// own tests cover them, as DropSIPFlood's does.
	for v := range rtpfilter.NumVerdicts {
		if !seen[v] && v != rtpfilter.RedirectFlow && v != rtpfilter.TxBypass && v != rtpfilter.DropSIPFlood {
			t.Errorf("no case for verdict %s", v)
		}
	}
}

func TestClosedFlowIsDroppedAgain(t *testing.T) {
	f := load(t, testConfig)
	pkt := udp4(40100, rtp{}.bytes()).bytes()
	steps := []struct {
		name string
		do   func() error
		want uint32
	}{
		{"before the flow opens its packets are dropped", func() error { return nil }, xdpDrop},
		{"once open they pass", func() error { return f.OpenFlow(40100) }, xdpPass},
		{"once closed they are dropped again", func() error { return f.CloseFlow(40100) }, xdpDrop},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			if err := s.do(); err != nil {
				t.Fatal(err)
			}
			if act, _ := run(t, f, pkt); act != s.want {
				t.Errorf("action %s, want %s", actionName(act), actionName(s.want))
			}
		})
	}
}

func TestFlowCounters(t *testing.T) {
	f := load(t, testConfig)
	if err := f.OpenFlow(40200); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	// Sequence 10, 11, 14 (two missing), 12 (late), 11 (duplicate), 15;
	// then a new SSRC restarts the count.
	for _, seq := range []uint16{10, 11, 14, 12, 11, 15} {
		run(t, f, udp4(40200, rtp{seq: seq, ssrc: 7, payloadSz: 100}.bytes()).bytes())
	}
	run(t, f, udp4(40200, rtp{seq: 9000, ssrc: 8, payloadSz: 100}.bytes()).bytes())
	run(t, f, udp4(40201, rtcpRR(7, 1)).bytes())
	run(t, f, udp4(40200, rtcpRR(7, 1)).bytes()) // rtcp-mux
	run(t, f, udp4(40200, rtp{version: 1}.bytes()).bytes())

	st, err := f.FlowStats(40200)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want uint64
	}{
		{"valid RTP packets are counted", st.RTPPackets, 7},
		{"RTP bytes are UDP payload bytes", st.RTPBytes, 7 * 112},
		{"RTCP on either port is counted", st.RTCPPackets, 2},
		{"RTCP bytes are UDP payload bytes", st.RTCPBytes, 16},
		{"skipped sequence numbers are gaps, late and duplicate ones are not", st.SeqGaps, 2},
		{"the stream followed is the newest SSRC", uint64(st.SSRC), 8},
		{"its highest sequence number is kept", uint64(st.MaxSeq), 9000},
	}
	for _, c := range checks {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Errorf("got %d, want %d", c.got, c.want)
			}
		})
	}
	t.Run("the link the last packet came by is kept", func(t *testing.T) {
		want := rtpfilter.Link{Ifindex: 1, NextHop: macA, Local: macB, VLAN: [2]uint16{0, 0}}
		if st.Link != want {
			t.Errorf("link %+v, want %+v", st.Link, want)
		}
	})
	t.Run("the last arrival is the time of the last valid packet", func(t *testing.T) {
		if st.LastArrival.Before(start.Add(-time.Millisecond)) || st.LastArrival.After(time.Now().Add(time.Millisecond)) {
			t.Errorf("last arrival %v, want between %v and now", st.LastArrival, start)
		}
	})
	t.Run("the VLAN tags of the last packet are kept", func(t *testing.T) {
		run(t, f, frame{vlans: []uint16{10, 100}, src: netip.AddrPortFrom(phone4, 1), dst: netip.AddrPortFrom(box4, 40200), payload: rtp{seq: 9001, ssrc: 8}.bytes()}.bytes())
		st, err := f.FlowStats(40200)
		if err != nil {
			t.Fatal(err)
		}
		if st.Link.VLAN != [2]uint16{10, 100} {
			t.Errorf("VLAN %v, want [10 100]", st.Link.VLAN)
		}
	})
	t.Run("reopening the flow starts its counters from zero", func(t *testing.T) {
		if err := f.CloseFlow(40200); err != nil {
			t.Fatal(err)
		}
		if err := f.OpenFlow(40200); err != nil {
			t.Fatal(err)
		}
		st, err := f.FlowStats(40200)
		if err != nil {
			t.Fatal(err)
		}
		if st != (rtpfilter.FlowStats{}) {
			t.Errorf("counters after reopening: %+v", st)
		}
	})
}

func TestSIPGuard(t *testing.T) {
	f := load(t, testConfig) // 10 per second, bursts of 3
	msg := []byte("REGISTER sip:box SIP/2.0\r\n\r\n")
	from := func(a netip.Addr) []byte {
		return frame{src: netip.AddrPortFrom(a, 5060), dst: netip.AddrPortFrom(box4, 5060), payload: msg}.bytes()
	}
	trunk := netip.MustParseAddr("203.0.113.5")
	if err := f.TrustSIPSource(trunk); err != nil {
		t.Fatal(err)
	}
	send := func(a netip.Addr, n int) (passed, dropped int) {
		for range n {
			switch act, _ := run(t, f, from(a)); act {
			case xdpPass:
				passed++
			case xdpDrop:
				dropped++
			default:
				t.Fatalf("action %s", actionName(act))
			}
		}
		return passed, dropped
	}
	t.Run("a burst passes and the rest of a flood is dropped", func(t *testing.T) {
		if p, d := send(phone4, 20); p != 3 || d != 17 {
			t.Errorf("passed %d, dropped %d; want 3 and 17", p, d)
		}
	})
	t.Run("another source has its own bucket", func(t *testing.T) {
		if p, d := send(phone4b, 2); p != 2 || d != 0 {
			t.Errorf("passed %d, dropped %d; want 2 and 0", p, d)
		}
	})
	t.Run("a trusted source is never limited", func(t *testing.T) {
		if p, d := send(trunk, 50); p != 50 || d != 0 {
			t.Errorf("passed %d, dropped %d; want 50 and 0", p, d)
		}
	})
	t.Run("the bucket refills at the configured rate", func(t *testing.T) {
		time.Sleep(250 * time.Millisecond) // 2.5 intervals of 100 ms
		if p, d := send(phone4, 4); p != 2 || d != 2 {
			t.Errorf("passed %d, dropped %d; want 2 and 2", p, d)
		}
	})
	t.Run("the flood is counted by verdict and by source", func(t *testing.T) {
		vc := verdicts(t, f)
		if vc[rtpfilter.DropSIPFlood].Packets != 19 {
			t.Errorf("drop_sip_flood %d, want 19", vc[rtpfilter.DropSIPFlood].Packets)
		}
		if vc[rtpfilter.PassSIP].Packets != 3+2+50+2 {
			t.Errorf("pass_sip %d, want %d", vc[rtpfilter.PassSIP].Packets, 3+2+50+2)
		}
		srcs, err := f.SIPSources()
		if err != nil {
			t.Fatal(err)
		}
		got := map[netip.Addr]rtpfilter.SIPSource{}
		for _, s := range srcs {
			got[s.Addr] = s
		}
		if s := got[phone4]; s.Passed != 5 || s.Dropped != 19 {
			t.Errorf("flooding source: %+v, want 5 passed and 19 dropped", s)
		}
		if _, ok := got[trunk]; ok {
			t.Errorf("the trusted source has a bucket")
		}
	})
	t.Run("a distrusted source is limited again", func(t *testing.T) {
		if err := f.DistrustSIPSource(trunk); err != nil {
			t.Fatal(err)
		}
		if p, d := send(trunk, 5); p != 3 || d != 2 {
			t.Errorf("passed %d, dropped %d; want 3 and 2", p, d)
		}
	})
}

func TestBypassRewritesIntoThePeersStream(t *testing.T) {
	f := load(t, testConfig)
	for _, port := range []uint16{40300, 40302} {
		if err := f.OpenFlow(port); err != nil {
			t.Fatal(err)
		}
	}
	peer := netip.MustParseAddrPort("198.51.100.20:50002")
	gw := [6]byte{0x02, 0, 0, 0, 0, 0x99}
	self := [6]byte{0x02, 0, 0, 0, 0, 0x01}
	bp := rtpfilter.Bypass{
		InPT: 0, OutPT: 0,
		From: netip.AddrPortFrom(box4, 40302), To: peer,
		SrcMAC: self, DstMAC: gw,
		SSRC: 0xcafef00d, NextSeq: 5000, NextTimestamp: 800000,
	}
	if err := f.SetBypass(40300, bp); err != nil {
		t.Fatal(err)
	}
	in := func(seq uint16, ts uint32, pt uint8) []byte {
		return udp4(40300, rtp{pt: pt, seq: seq, ts: ts, ssrc: 0x1234, marker: seq == 100}.bytes()).bytes()
	}

	type want struct {
		seq uint16
		ts  uint32
	}
	for i, w := range []want{{5000, 800000}, {5001, 800160}, {5003, 800480}} {
		seq := []uint16{100, 101, 103}[i]
		ts := []uint32{16000, 16160, 16480}[i]
		act, out := run(t, f, in(seq, ts, 0))
		t.Run("a media packet leaves by XDP_TX as the peer's stream", func(t *testing.T) {
			if act != xdpTx {
				t.Fatalf("action %s, want XDP_TX", actionName(act))
			}
			checkRewritten(t, out, bp, w.seq, w.ts, seq == 100)
		})
	}
	t.Run("a datagram with a partial checksum leaves with a whole one", func(t *testing.T) {
		f4 := udp4(40300, rtp{seq: 103, ts: 16480, ssrc: 0x1234, payloadSz: 161}.bytes())
		f4.partialChecksum = true
		act, out := run(t, f, f4.bytes())
		if act != xdpTx {
			t.Fatalf("action %s, want XDP_TX", actionName(act))
		}
		checkRewritten(t, out, bp, 5003, 800480, false)
	})
	t.Run("other payload types still reach the MCU", func(t *testing.T) {
		if act, _ := run(t, f, in(104, 16640, 101)); act != xdpPass {
			t.Errorf("telephone-event: action %s, want XDP_PASS", actionName(act))
		}
		if act, _ := run(t, f, udp4(40300, rtcpRR(0x1234, 1)).bytes()); act != xdpPass {
			t.Errorf("RTCP: action %s, want XDP_PASS", actionName(act))
		}
	})
	t.Run("the handover tells where the peer's stream stands", func(t *testing.T) {
		h, err := f.ClearBypass(40300)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Forwarded || h.Seq != 5003 || h.Timestamp != 800480 || time.Since(h.At) > time.Second {
			t.Errorf("handover %+v, want seq 5003 ts 800480 just now", h)
		}
		st, _ := f.FlowStats(40300)
		if st.ForwardedPackets != 4 {
			t.Errorf("forwarded %d packets, want 4", st.ForwardedPackets)
		}
		if vc := verdicts(t, f); vc[rtpfilter.TxBypass].Packets != 4 {
			t.Errorf("tx_bypass %d, want 4", vc[rtpfilter.TxBypass].Packets)
		}
	})
	t.Run("after the bypass media reaches the MCU again", func(t *testing.T) {
		if act, _ := run(t, f, in(105, 16800, 0)); act != xdpPass {
			t.Errorf("action %s, want XDP_PASS", actionName(act))
		}
	})
	t.Run("a new bypass continues from its own starting point", func(t *testing.T) {
		bp.NextSeq, bp.NextTimestamp = 7000, 1
		if err := f.SetBypass(40300, bp); err != nil {
			t.Fatal(err)
		}
		act, out := run(t, f, in(106, 16960, 0))
		if act != xdpTx {
			t.Fatalf("action %s, want XDP_TX", actionName(act))
		}
		checkRewritten(t, out, bp, 7000, 1, false)
	})
	t.Run("an IPv6 bypass rewrites the IPv6 header", func(t *testing.T) {
		peer6 := netip.MustParseAddrPort("[2001:db8::99]:50004")
		b6 := bp
		b6.From, b6.To = netip.AddrPortFrom(box6, 40302), peer6
		b6.NextSeq, b6.NextTimestamp = 1, 2
		if err := f.SetBypass(40300, b6); err != nil {
			t.Fatal(err)
		}
		act, out := run(t, f, udp6(40300, rtp{seq: 9, ts: 9, ssrc: 1}.bytes()).bytes())
		if act != xdpTx {
			t.Fatalf("action %s, want XDP_TX", actionName(act))
		}
		checkRewritten(t, out, b6, 1, 2, false)
	})
	t.Run("a packet of the other address family is not forwarded", func(t *testing.T) {
		if act, _ := run(t, f, in(107, 17120, 0)); act != xdpPass {
			t.Errorf("action %s, want XDP_PASS", actionName(act))
		}
	})
	t.Run("a bypass between address families is refused", func(t *testing.T) {
		b := bp
		b.To = netip.MustParseAddrPort("[2001:db8::99]:50004")
		if err := f.SetBypass(40300, b); !errors.Is(err, rtpfilter.ErrBypass) {
			t.Errorf("err %v, want ErrBypass", err)
		}
	})
}

// checkRewritten checks a forwarded frame against the bypass: Ethernet,
// IP and UDP addressing, RTP SSRC, payload type, sequence number,
// timestamp, marker, and valid IPv4 and UDP checksums.
func checkRewritten(t *testing.T, out []byte, bp rtpfilter.Bypass, seq uint16, ts uint32, marker bool) {
	t.Helper()
	if [6]byte(out[0:6]) != bp.DstMAC || [6]byte(out[6:12]) != bp.SrcMAC {
		t.Errorf("MACs %x -> %x, want %x -> %x", out[6:12], out[0:6], bp.SrcMAC, bp.DstMAC)
	}
	var udp []byte
	if bp.To.Addr().Is4() {
		ip := out[14:34]
		if onesSum(0, ip) != 0xffff {
			t.Errorf("IPv4 header checksum is wrong")
		}
		s, d := netip.AddrFrom4([4]byte(ip[12:16])), netip.AddrFrom4([4]byte(ip[16:20]))
		if s != bp.From.Addr() || d != bp.To.Addr() {
			t.Errorf("IP %s -> %s, want %s -> %s", s, d, bp.From.Addr(), bp.To.Addr())
		}
		if ip[8] != 64 {
			t.Errorf("TTL %d, want 64", ip[8])
		}
		udp = out[34:]
		if onesSum(pseudo4([4]byte(ip[12:16]), [4]byte(ip[16:20]), len(udp)), udp) != 0xffff {
			t.Errorf("UDP checksum is wrong")
		}
	} else {
		ip := out[14:54]
		s, d := netip.AddrFrom16([16]byte(ip[8:24])), netip.AddrFrom16([16]byte(ip[24:40]))
		if s != bp.From.Addr() || d != bp.To.Addr() {
			t.Errorf("IP %s -> %s, want %s -> %s", s, d, bp.From.Addr(), bp.To.Addr())
		}
		if ip[7] != 64 {
			t.Errorf("hop limit %d, want 64", ip[7])
		}
		udp = out[54:]
		if onesSum(pseudo6([16]byte(ip[8:24]), [16]byte(ip[24:40]), len(udp)), udp) != 0xffff {
			t.Errorf("UDP checksum is wrong")
		}
	}
	if sp, dp := binary.BigEndian.Uint16(udp[0:]), binary.BigEndian.Uint16(udp[2:]); sp != bp.From.Port() || dp != bp.To.Port() {
		t.Errorf("UDP %d -> %d, want %d -> %d", sp, dp, bp.From.Port(), bp.To.Port())
	}
	r := udp[8:]
	if got := r[1] & 0x7f; got != bp.OutPT {
		t.Errorf("payload type %d, want %d", got, bp.OutPT)
	}
	if got := r[1]&0x80 != 0; got != marker {
		t.Errorf("marker %v, want %v", got, marker)
	}
	if got := binary.BigEndian.Uint16(r[2:]); got != seq {
		t.Errorf("seq %d, want %d", got, seq)
	}
	if got := binary.BigEndian.Uint32(r[4:]); got != ts {
		t.Errorf("timestamp %d, want %d", got, ts)
	}
	if got := binary.BigEndian.Uint32(r[8:]); got != bp.SSRC {
		t.Errorf("SSRC %#x, want %#x", got, bp.SSRC)
	}
}

func TestConfigIsValidated(t *testing.T) {
	tests := []struct {
		name string
		cfg  rtpfilter.Config
	}{
		{"an odd low media port is refused", rtpfilter.Config{MediaLow: 40001, MediaHigh: 40999}},
		{"a range without a pair is refused", rtpfilter.Config{MediaLow: 40000, MediaHigh: 40000}},
		{"a SIP port inside the media range is refused", rtpfilter.Config{MediaLow: 5000, MediaHigh: 6000, SIPPort: 5060}},
		{"a negative SIP rate is refused", rtpfilter.Config{SIPPort: 5060, SIPRate: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := rtpfilter.Load(tt.cfg); !errors.Is(err, rtpfilter.ErrConfig) {
				t.Errorf("err %v, want ErrConfig", err)
			}
		})
	}
}

func TestPortsOutsideTheRangeAreRefused(t *testing.T) {
	f := load(t, testConfig)
	for _, port := range []uint16{39998, 40001, 41000} {
		if err := f.OpenFlow(port); !errors.Is(err, rtpfilter.ErrPort) {
			t.Errorf("OpenFlow(%d): err %v, want ErrPort", port, err)
		}
	}
	if err := f.SetPayloadTypes(40500, []uint8{0}); !errors.Is(err, rtpfilter.ErrFlowClosed) {
		t.Errorf("SetPayloadTypes on a closed flow: err %v, want ErrFlowClosed", err)
	}
}
