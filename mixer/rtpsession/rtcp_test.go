package rtpsession

import (
	"errors"
	"math"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// rtcpFrom is the phone's RTCP source: its SDP address, port plus one.
var rtcpFrom = netip.AddrPortFrom(sdpAddr.Addr(), sdpAddr.Port()+1)

// parseRTCP parses b with pion/rtcp, an implementation independent of ours.
func parseRTCP(t *testing.T, b []byte) []rtcp.Packet {
	t.Helper()
	pkts, err := rtcp.Unmarshal(b)
	if err != nil {
		t.Fatalf("pion/rtcp cannot parse % x: %v", b, err)
	}
	return pkts
}

// ourReport writes our RTCP at now and returns its single report block.
func ourReport(t *testing.T, s *Session, now time.Time) rtcp.ReceptionReport {
	t.Helper()
	buf := make([]byte, 1500)
	n, err := s.WriteRTCP(buf, now)
	if err != nil {
		t.Fatal(err)
	}
	pkts := parseRTCP(t, buf[:n])
	var reports []rtcp.ReceptionReport
	switch p := pkts[0].(type) {
	case *rtcp.ReceiverReport:
		reports = p.Reports
	case *rtcp.SenderReport:
		reports = p.Reports
	}
	if len(reports) != 1 {
		t.Fatalf("report carries %d blocks, want 1", len(reports))
	}
	return reports[0]
}

func TestLossAccounting(t *testing.T) {
	tests := []struct {
		name       string
		seqs       []uint16
		wantLost   int64
		wantExtMax uint32
	}{
		{"packets in order lose nothing", []uint16{1, 2, 3, 4, 5}, 0, 5},
		{"two gaps lose two", []uint16{1, 2, 4, 5, 7}, 2, 7},
		{"reordered packets are not lost", []uint16{1, 3, 2, 4}, 0, 4},
		{"a duplicate makes the count negative", []uint16{1, 2, 2, 3}, -1, 3},
		{"the sequence number wraps into a new cycle", []uint16{65534, 65535, 0, 2}, 1, 65536 + 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			for i, seq := range tc.seqs {
				if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: seq, ts: uint32(seq) * 160}.build(t), sdpAddr, ms(20*i)); v != Media {
					t.Fatalf("seq %d: verdict %v", seq, v)
				}
			}
			if got := s.Stats().Lost; got != tc.wantLost {
				t.Errorf("Stats().Lost = %d, want %d", got, tc.wantLost)
			}
			rb := ourReport(t, s, ms(1000))
			if rb.SSRC != peer || int64(int32(rb.TotalLost<<8)>>8) != tc.wantLost || rb.LastSequenceNumber != tc.wantExtMax {
				t.Errorf("report block SSRC %#x lost %d ext max %d, want %#x %d %d",
					rb.SSRC, rb.TotalLost, rb.LastSequenceNumber, peer, tc.wantLost, tc.wantExtMax)
			}
		})
	}
}

func TestFractionLostPerInterval(t *testing.T) {
	s := newSession(t, nil)
	seq := 0
	send := func(n int, skip map[int]bool) {
		for i := range n {
			if !skip[i] {
				s.HandleRTP(pkt{pt: ptPCMU, seq: uint16(seq)}.build(t), sdpAddr, ms(20*seq))
			}
			seq++
		}
	}
	send(100, map[int]bool{5: true, 10: true})
	first := ourReport(t, s, ms(2000))
	send(50, nil)
	second := ourReport(t, s, ms(4000))
	// 2 of 100 lost: 2*256/100 = 5 in the 8-bit fixed point (RFC 3550 A.3).
	if first.FractionLost != 5 || first.TotalLost != 2 {
		t.Errorf("first interval fraction %d cumulative %d, want 5 and 2", first.FractionLost, first.TotalLost)
	}
	if second.FractionLost != 0 || second.TotalLost != 2 {
		t.Errorf("second interval fraction %d cumulative %d, want 0 and 2", second.FractionLost, second.TotalLost)
	}
	if got := s.Stats().FractionLost; got != 0 {
		t.Errorf("Stats().FractionLost = %v after a clean interval, want 0", got)
	}
}

func TestJitter(t *testing.T) {
	tests := []struct {
		name  string
		pt    uint8
		rate  float64
		frame int // ms
		late  int // ms every other packet arrives late
	}{
		{"jitter of PCMU at 8 kHz follows RFC 3550 A.8", ptPCMU, 8000, 20, 10},
		{"jitter of Opus at 48 kHz is converted with its own clock", ptOpus, 48000, 20, 6},
		{"a steady stream has no jitter", ptPCMU, 8000, 20, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			ticks := tc.rate * float64(tc.frame) / 1000
			// The model: J += (|D| - J) / 16 in floating point, with D the
			// change of transit time between packets.
			var model, prevTransit float64
			for i := range 100 {
				arrival := 20*i + tc.late*(i%2)
				ts := 5000 + float64(i)*ticks
				s.HandleRTP(pkt{pt: tc.pt, seq: uint16(i), ts: uint32(ts)}.build(t), sdpAddr, ms(arrival))
				transit := float64(arrival)*tc.rate/1000 - ts
				if i > 0 {
					model += (math.Abs(transit-prevTransit) - model) / 16
				}
				prevTransit = transit
			}
			rb := ourReport(t, s, ms(3000))
			if math.Abs(float64(rb.Jitter)-model) > 1 {
				t.Errorf("reported jitter %d timestamp units, model %.2f", rb.Jitter, model)
			}
			wantDur := time.Duration(model / tc.rate * float64(time.Second))
			tick := time.Duration(float64(time.Second) / tc.rate)
			if got := s.Stats().Jitter; got < wantDur-tick || got > wantDur+tick {
				t.Errorf("Stats().Jitter = %v, model %v", got, wantDur)
			}
		})
	}
}

func TestRoundTripTime(t *testing.T) {
	const sentAt, delay, rtt = 1000, 1500, 120 // ms
	tests := []struct {
		name       string
		block      func(lsr uint32) rtcp.ReceptionReport
		wantRTT    time.Duration
		wantLost   int64
		wantFrac   float64
		wantJitter time.Duration
	}{
		{
			name: "RTT is arrival minus LSR minus DLSR, and the remote's figures are kept",
			block: func(lsr uint32) rtcp.ReceptionReport {
				return rtcp.ReceptionReport{SSRC: ourSSRC, FractionLost: 64, TotalLost: 7, Jitter: 80, LastSenderReport: lsr, Delay: delay * 65536 / 1000}
			},
			wantRTT: rtt * time.Millisecond, wantLost: 7, wantFrac: 0.25, wantJitter: 10 * time.Millisecond,
		},
		{
			name: "an LSR that echoes none of our SRs gives no RTT",
			block: func(lsr uint32) rtcp.ReceptionReport {
				return rtcp.ReceptionReport{SSRC: ourSSRC, LastSenderReport: lsr + 1, Delay: delay * 65536 / 1000}
			},
		},
		{
			name: "a delay longer than the time since our SR gives no RTT",
			block: func(lsr uint32) rtcp.ReceptionReport {
				return rtcp.ReceptionReport{SSRC: ourSSRC, LastSenderReport: lsr, Delay: 2 * 65536}
			},
		},
		{
			name: "a negative cumulative loss is sign-extended from 24 bits",
			block: func(uint32) rtcp.ReceptionReport {
				return rtcp.ReceptionReport{SSRC: ourSSRC, TotalLost: 0xffffff}
			},
			wantLost: -1,
		},
		{
			name: "a block about another source is ignored",
			block: func(lsr uint32) rtcp.ReceptionReport {
				return rtcp.ReceptionReport{SSRC: 0x999, FractionLost: 64, TotalLost: 7, LastSenderReport: lsr, Delay: delay * 65536 / 1000}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			buf := make([]byte, 1500)
			if _, err := s.WriteRTP(buf, make([]byte, 160), 160, false, ms(0)); err != nil {
				t.Fatal(err)
			}
			n, err := s.WriteRTCP(buf, ms(sentAt))
			if err != nil {
				t.Fatal(err)
			}
			sr, ok := parseRTCP(t, buf[:n])[0].(*rtcp.SenderReport)
			if !ok {
				t.Fatal("a sender's report is not an SR")
			}
			raw, err := (&rtcp.ReceiverReport{SSRC: peer, Reports: []rtcp.ReceptionReport{tc.block(uint32(sr.NTPTime >> 16))}}).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if v := s.HandleRTCP(raw, rtcpFrom, ms(sentAt+delay+rtt)); v != Control {
				t.Fatalf("verdict %v, want control", v)
			}
			st := s.Stats()
			// LSR and DLSR are in 1/65536 s; allow one unit of each.
			if d := st.RTT - tc.wantRTT; d < -31*time.Microsecond || d > 31*time.Microsecond {
				t.Errorf("RTT = %v, want %v", st.RTT, tc.wantRTT)
			}
			if st.RemoteLost != tc.wantLost || st.RemoteFractionLost != tc.wantFrac || st.RemoteJitter != tc.wantJitter {
				t.Errorf("remote lost %d fraction %v jitter %v, want %d %v %v",
					st.RemoteLost, st.RemoteFractionLost, st.RemoteJitter, tc.wantLost, tc.wantFrac, tc.wantJitter)
			}
		})
	}
}

func TestReportsParseWithPion(t *testing.T) {
	payload := make([]byte, 160)
	tests := []struct {
		name  string
		cname string
		setup func(t *testing.T, s *Session)
		check func(t *testing.T, pkts []rtcp.Packet)
	}{
		{
			name:  "a session that has heard nothing sends an empty RR and its CNAME",
			cname: "a",
			setup: func(*testing.T, *Session) {},
			check: func(t *testing.T, pkts []rtcp.Packet) {
				rr, ok := pkts[0].(*rtcp.ReceiverReport)
				if !ok || rr.SSRC != ourSSRC || len(rr.Reports) != 0 {
					t.Errorf("first packet %#v, want an empty RR", pkts[0])
				}
			},
		},
		{
			name:  "a listener sends an RR about the remote's source",
			cname: "abc",
			setup: func(t *testing.T, s *Session) {
				s.HandleRTP(pkt{pt: ptPCMU, seq: 9}.build(t), sdpAddr, ms(0))
			},
			check: func(t *testing.T, pkts []rtcp.Packet) {
				rr, ok := pkts[0].(*rtcp.ReceiverReport)
				if !ok || len(rr.Reports) != 1 || rr.Reports[0].SSRC != peer || rr.Reports[0].LastSequenceNumber != 9 {
					t.Errorf("first packet %#v, want an RR about %#x", pkts[0], peer)
				}
			},
		},
		{
			name:  "a sender sends an SR with its counts and the RTP time of the report",
			cname: "abcd",
			setup: func(t *testing.T, s *Session) {
				s.tx.nextTS = 1000
				for i := range 3 {
					if _, err := s.WriteRTP(make([]byte, 200), payload, 160, false, ms(20*i)); err != nil {
						t.Fatal(err)
					}
				}
			},
			check: func(t *testing.T, pkts []rtcp.Packet) {
				sr, ok := pkts[0].(*rtcp.SenderReport)
				if !ok {
					t.Fatalf("first packet %#v, want an SR", pkts[0])
				}
				// The report goes out at 50 ms: 10 ms after the third frame
				// started at timestamp 1320.
				wantNTP := uint64(t0.Unix()+2208988800)<<32 | uint64(50*time.Millisecond)<<32/uint64(time.Second)
				if sr.SSRC != ourSSRC || sr.PacketCount != 3 || sr.OctetCount != 480 || sr.RTPTime != 1400 || sr.NTPTime != wantNTP {
					t.Errorf("SR %+v, want 3 packets, 480 octets, RTP time 1400, NTP %#x", sr, wantNTP)
				}
			},
		},
		{
			name:  "the report block echoes the remote's last SR in LSR and DLSR",
			cname: "abcde",
			setup: func(t *testing.T, s *Session) {
				s.HandleRTP(pkt{pt: ptPCMU, seq: 1}.build(t), sdpAddr, ms(-300))
				raw, err := (&rtcp.SenderReport{SSRC: peer, NTPTime: 0x0123456789abcdef}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				if v := s.HandleRTCP(raw, rtcpFrom, ms(50-250)); v != Control {
					t.Fatalf("remote SR verdict %v", v)
				}
			},
			check: func(t *testing.T, pkts []rtcp.Packet) {
				rb := pkts[0].(*rtcp.ReceiverReport).Reports[0]
				if rb.LastSenderReport != 0x456789ab || rb.Delay != 65536/4 {
					t.Errorf("LSR %#x DLSR %d, want 0x456789ab and %d", rb.LastSenderReport, rb.Delay, 65536/4)
				}
			},
		},
		{
			name:  "a CNAME of 255 bytes fits its SDES item",
			cname: string(make255()),
			setup: func(*testing.T, *Session) {},
			check: func(*testing.T, []rtcp.Packet) {},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, func(c *Config) { c.CNAME = tc.cname })
			tc.setup(t, s)
			buf := make([]byte, 1500)
			n, err := s.WriteRTCP(buf, ms(50))
			if err != nil {
				t.Fatal(err)
			}
			if n%4 != 0 {
				t.Errorf("compound of %d bytes is not 32-bit aligned", n)
			}
			pkts := parseRTCP(t, buf[:n])
			if len(pkts) != 2 {
				t.Fatalf("%d packets, want report and SDES", len(pkts))
			}
			sdes, ok := pkts[1].(*rtcp.SourceDescription)
			if !ok || len(sdes.Chunks) != 1 || sdes.Chunks[0].Source != ourSSRC ||
				len(sdes.Chunks[0].Items) != 1 || sdes.Chunks[0].Items[0].Type != rtcp.SDESCNAME || sdes.Chunks[0].Items[0].Text != tc.cname {
				t.Errorf("second packet %#v, want SDES CNAME %q", pkts[1], tc.cname)
			}
			tc.check(t, pkts)
			if s.Stats().RTCPSent != 1 {
				t.Errorf("RTCPSent = %d, want 1", s.Stats().RTCPSent)
			}
		})
	}
}

func make255() []byte {
	b := make([]byte, 255)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func TestSenderReportsUntilTwoQuietIntervals(t *testing.T) {
	// RFC 3550 §6.3.8: we stay a sender until two intervals pass without RTP.
	s := newSession(t, nil)
	buf := make([]byte, 1500)
	if _, err := s.WriteRTP(buf, nil, 160, false, ms(0)); err != nil {
		t.Fatal(err)
	}
	want := []bool{true, true, false}
	for i, w := range want {
		n, err := s.WriteRTCP(buf, ms(5000*(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		if _, got := parseRTCP(t, buf[:n])[0].(*rtcp.SenderReport); got != w {
			t.Errorf("report %d is an SR: %v, want %v", i, got, w)
		}
	}
}

func TestWriteBye(t *testing.T) {
	s := newSession(t, nil)
	buf := make([]byte, 1500)
	n, err := s.WriteBye(buf)
	if err != nil {
		t.Fatal(err)
	}
	pkts := parseRTCP(t, buf[:n])
	if len(pkts) != 3 {
		t.Fatalf("%d packets, want RR, SDES, BYE", len(pkts))
	}
	rr, okRR := pkts[0].(*rtcp.ReceiverReport)
	_, okSDES := pkts[1].(*rtcp.SourceDescription)
	bye, okBye := pkts[2].(*rtcp.Goodbye)
	if !okRR || !okSDES || !okBye || rr.SSRC != ourSSRC || len(bye.Sources) != 1 || bye.Sources[0] != ourSSRC {
		t.Errorf("BYE compound %#v", pkts)
	}
}

func TestRTCPShortBuffer(t *testing.T) {
	s := newSession(t, nil)
	if _, err := s.WriteRTCP(make([]byte, 20), t0); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("WriteRTCP err = %v, want ErrShortBuffer", err)
	}
	if _, err := s.WriteBye(make([]byte, 20)); !errors.Is(err, ErrShortBuffer) {
		t.Errorf("WriteBye err = %v, want ErrShortBuffer", err)
	}
	if s.Stats().RTCPSent != 0 {
		t.Error("a refused write was counted")
	}
}

func TestRTCPInterval(t *testing.T) {
	s := newSession(t, nil)
	if s.RTCPDue(t0) {
		t.Fatal("a report is due at the first call")
	}
	// dueAfter steps 10 ms at a time until a report is due.
	now := t0
	dueAfter := func() time.Duration {
		from := now
		for !s.RTCPDue(now) {
			now = now.Add(10 * time.Millisecond)
		}
		return now.Sub(from)
	}
	if first := dueAfter(); first < 1250*time.Millisecond || first > 3760*time.Millisecond {
		t.Errorf("first report after %v, want 1.25-3.75 s (half of Tmin, randomised)", first)
	}
	lo, hi := time.Hour, time.Duration(0)
	for range 200 {
		if _, err := s.WriteRTCP(make([]byte, 1500), now); err != nil {
			t.Fatal(err)
		}
		d := dueAfter()
		lo, hi = min(lo, d), max(hi, d)
	}
	if lo < 2500*time.Millisecond || hi > 7510*time.Millisecond {
		t.Errorf("intervals range %v-%v, want within 2.5-7.5 s", lo, hi)
	}
	if hi-lo < 3*time.Second {
		t.Errorf("intervals range %v-%v is not randomised over 0.5-1.5 Tmin", lo, hi)
	}
}

func TestHandleRTCPValidation(t *testing.T) {
	marshal := func(t *testing.T, pkts ...rtcp.Packet) []byte {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	rr := &rtcp.ReceiverReport{SSRC: peer, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC}}}
	sdes := &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}}
	tests := []struct {
		name    string
		raw     func(t *testing.T) []byte
		from    netip.AddrPort
		verdict Verdict
		counter func(Drops) uint64
	}{
		{"an RR and SDES compound is accepted", func(t *testing.T) []byte { return marshal(t, rr, sdes) }, rtcpFrom, Control, nil},
		{"an SR followed by SDES and APP is accepted", func(t *testing.T) []byte {
			return marshal(t, &rtcp.SenderReport{SSRC: peer}, sdes, &rtcp.ApplicationDefined{SSRC: peer, Name: "test", Data: []byte{1, 2, 3, 4}})
		}, rtcpFrom, Control, nil},
		{"a lone BYE is accepted", func(t *testing.T) []byte { return marshal(t, &rtcp.Goodbye{Sources: []uint32{peer}}) }, rtcpFrom, Control, nil},
		{"RTCP from the remote's address on another port is accepted", func(t *testing.T) []byte { return marshal(t, rr) },
			netip.AddrPortFrom(sdpAddr.Addr(), 7), Control, nil},
		{"RTCP from another address is refused", func(t *testing.T) []byte { return marshal(t, rr) }, strangr, Dropped,
			func(d Drops) uint64 { return d.WrongSource }},
		{"fewer than four bytes are truncated", func(t *testing.T) []byte { return marshal(t, rr)[:3] }, rtcpFrom, Dropped,
			func(d Drops) uint64 { return d.Truncated }},
		{"a trailing fragment shorter than a header is truncated", func(t *testing.T) []byte { return append(marshal(t, rr), 0x80, 0xca) }, rtcpFrom, Dropped,
			func(d Drops) uint64 { return d.Truncated }},
		{"a length beyond the datagram is truncated", func(t *testing.T) []byte { return marshal(t, rr)[:20] }, rtcpFrom, Dropped,
			func(d Drops) uint64 { return d.Truncated }},
		{"version 1 is refused", func(t *testing.T) []byte {
			b := marshal(t, rr, sdes)
			i := len(marshal(t, rr))
			b[i] = b[i]&0x3f | 1<<6
			return b
		}, rtcpFrom, Dropped, func(d Drops) uint64 { return d.BadVersion }},
		{"padding on a packet that is not last is refused", func(t *testing.T) []byte {
			b := marshal(t, rr, sdes)
			b[0] |= paddingBit
			return b
		}, rtcpFrom, Dropped, func(d Drops) uint64 { return d.BadRTCP }},
		{"a padding count of zero is refused", func(t *testing.T) []byte {
			b := append(marshal(t, rr), 0, 0, 0, 0)
			b[0] |= paddingBit
			b[3]++
			return b
		}, rtcpFrom, Dropped, func(d Drops) uint64 { return d.BadPadding }},
		{"a compound that starts with SDES is refused", func(t *testing.T) []byte { return marshal(t, sdes, rr) }, rtcpFrom, Dropped,
			func(d Drops) uint64 { return d.BadRTCP }},
		{"an RR counting more blocks than it holds is truncated", func(t *testing.T) []byte {
			b := marshal(t, rr)
			b[0]++
			return b
		}, rtcpFrom, Dropped, func(d Drops) uint64 { return d.Truncated }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			if v := s.HandleRTCP(tc.raw(t), tc.from, t0); v != tc.verdict {
				t.Fatalf("verdict %v, want %v (drops %+v)", v, tc.verdict, s.Stats().Dropped)
			}
			st := s.Stats()
			if tc.counter != nil && tc.counter(st.Dropped) != 1 {
				t.Errorf("drop counter %d, want 1 (drops %+v)", tc.counter(st.Dropped), st.Dropped)
			}
			if tc.verdict == Control && st.RTCPReceived != 1 {
				t.Errorf("RTCPReceived = %d, want 1", st.RTCPReceived)
			}
		})
	}
}

func TestRTCPLatching(t *testing.T) {
	s := newSession(t, func(c *Config) { c.Latch = true })
	rr, err := (&rtcp.ReceiverReport{SSRC: peer}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	natRTCP := netip.AddrPortFrom(natAddr.Addr(), 51001)
	if v := s.HandleRTCP(rr, natRTCP, ms(0)); v != Dropped {
		t.Errorf("RTCP from the NAT before media latched: verdict %v, want dropped", v)
	}
	s.HandleRTP(pkt{pt: ptPCMU}.build(t), natAddr, ms(10))
	if v := s.HandleRTCP(rr, netip.AddrPortFrom(natAddr.Addr(), 61234), ms(20)); v != Control {
		t.Errorf("RTCP from the latched address: verdict %v, want control", v)
	}
	if _, got, _ := s.Remote(); got != netip.AddrPortFrom(natAddr.Addr(), 61234) {
		t.Errorf("RTCP remote %v, want the port RTCP came from", got)
	}
}

func TestRemoteBye(t *testing.T) {
	tests := []struct {
		name string
		ssrc uint32
		want int
	}{
		{"a BYE from the media source is reported", peer, 1},
		{"a BYE from another source is not", 0x777, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			s.HandleRTP(pkt{pt: ptPCMU}.build(t), sdpAddr, t0)
			raw, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: tc.ssrc}, &rtcp.Goodbye{Sources: []uint32{tc.ssrc}}})
			if err != nil {
				t.Fatal(err)
			}
			s.HandleRTCP(raw, rtcpFrom, t0)
			if got := countKind(s.Events(nil), EventBye); got != tc.want {
				t.Errorf("%d BYE events, want %d", got, tc.want)
			}
		})
	}
}

func TestInactivityTimeout(t *testing.T) {
	good := func(t *testing.T, s *Session, at time.Time) { s.HandleRTP(pkt{pt: ptPCMU}.build(t), sdpAddr, at) }
	bad := func(t *testing.T, s *Session, at time.Time) { s.HandleRTP(pkt{pt: ptOther}.build(t), sdpAddr, at) }
	rtcpIn := func(t *testing.T, s *Session, at time.Time) {
		raw, err := (&rtcp.ReceiverReport{SSRC: peer}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		s.HandleRTCP(raw, rtcpFrom, at)
	}
	type feed struct {
		at int // ms
		fn func(*testing.T, *Session, time.Time)
	}
	tests := []struct {
		name    string
		timeout time.Duration
		feeds   []feed
		checks  []int // ms at which CheckTimeout is called
		want    []bool
	}{
		{"silence fires the default 30 s timeout once", 0, nil,
			[]int{0, 29999, 30000, 31000}, []bool{false, false, true, false}},
		{"a valid packet defers it", 0, []feed{{10000, good}},
			[]int{0, 30000, 40000}, []bool{false, false, true}},
		{"an invalid packet does not", 0, []feed{{10000, bad}},
			[]int{0, 30000}, []bool{false, true}},
		{"RTCP keeps the session alive", 0, []feed{{10000, rtcpIn}},
			[]int{0, 30000, 40000}, []bool{false, false, true}},
		{"a packet after the timeout re-arms it", 0, []feed{{35000, good}},
			[]int{0, 30000, 64999, 65000}, []bool{false, true, false, true}},
		{"a configured timeout is used", 5 * time.Second, nil,
			[]int{0, 4999, 5000}, []bool{false, false, true}},
		{"NoTimeout disables it", NoTimeout, nil,
			[]int{0, 3600000}, []bool{false, false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, func(c *Config) { c.InactivityTimeout = tc.timeout })
			feeds := tc.feeds
			fired := 0
			for i, at := range tc.checks {
				for len(feeds) > 0 && feeds[0].at <= at {
					feeds[0].fn(t, s, ms(feeds[0].at))
					feeds = feeds[1:]
				}
				got := s.CheckTimeout(ms(at))
				if got != tc.want[i] {
					t.Errorf("CheckTimeout at %d ms = %v, want %v", at, got, tc.want[i])
				}
				if got {
					fired++
				}
			}
			if n := countKind(s.Events(nil), EventTimeout); n != fired {
				t.Errorf("%d timeout events for %d timeouts", n, fired)
			}
		})
	}
}
