package rtpsession

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
)

func TestHandleRTPValidation(t *testing.T) {
	payload := bytes.Repeat([]byte{0xd5}, 160)
	valid := func(t *testing.T) []byte { return pkt{pt: ptPCMU, seq: 7, ts: 800, payload: payload}.build(t) }
	tests := []struct {
		name    string
		raw     func(t *testing.T) []byte
		verdict Verdict
		counter func(Drops) uint64
		payload []byte
	}{
		{
			name:    "a valid PCMU packet is media",
			raw:     valid,
			verdict: Media,
			payload: payload,
		},
		{
			name:    "an empty datagram is truncated",
			raw:     func(*testing.T) []byte { return nil },
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
		{
			name:    "a datagram shorter than the fixed header is truncated",
			raw:     func(t *testing.T) []byte { return valid(t)[:11] },
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
		{
			name: "version 1 is refused",
			raw: func(t *testing.T) []byte {
				b := valid(t)
				b[0] = 1<<6 | b[0]&0x3f
				return b
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.BadVersion },
		},
		{
			name: "a CSRC count beyond the datagram is truncated",
			raw: func(t *testing.T) []byte {
				b := valid(t)[:20]
				b[0] |= 0x0f // 15 CSRCs need 72 bytes
				return b
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
		{
			name: "CSRCs are skipped to reach the payload",
			raw: func(t *testing.T) []byte {
				b, err := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: ptPCMU, SSRC: peer, CSRC: []uint32{1, 2}}, Payload: payload}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			verdict: Media,
			payload: payload,
		},
		{
			name: "an extension bit without the extension header is truncated",
			raw: func(t *testing.T) []byte {
				b := valid(t)[:14]
				b[0] |= extensionBit
				return b
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
		{
			name: "an extension length beyond the datagram is truncated",
			raw: func(t *testing.T) []byte {
				b := append(valid(t)[:12], 0xbe, 0xde, 0x01, 0x00) // 256 words
				b[0] |= extensionBit
				return append(b, payload...)
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
		{
			name: "a header extension is skipped to reach the payload",
			raw: func(t *testing.T) []byte {
				h := rtp.Header{Version: 2, PayloadType: ptPCMU, SSRC: peer}
				if err := h.SetExtension(1, []byte{0x80}); err != nil { // RFC 6464 audio level
					t.Fatal(err)
				}
				b, err := (&rtp.Packet{Header: h, Payload: payload}).Marshal()
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			verdict: Media,
			payload: payload,
		},
		{
			name: "padding is removed from the payload",
			raw: func(t *testing.T) []byte {
				b := append(valid(t), 0, 0, 0, 4)
				b[0] |= paddingBit
				return b
			},
			verdict: Media,
			payload: payload,
		},
		{
			name: "a padding count of zero is refused",
			raw: func(t *testing.T) []byte {
				b := append(valid(t), 0, 0, 0, 0)
				b[0] |= paddingBit
				return b
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.BadPadding },
		},
		{
			name: "a padding count larger than the payload is refused",
			raw: func(t *testing.T) []byte {
				b := valid(t)[:16]
				b[15] = 5
				b[0] |= paddingBit
				return b
			},
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.BadPadding },
		},
		{
			name:    "a payload type not negotiated is refused",
			raw:     func(t *testing.T) []byte { return pkt{pt: ptOther, seq: 7}.build(t) },
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.UnknownPT },
		},
		{
			name:    "a telephone-event shorter than four octets is truncated",
			raw:     func(t *testing.T) []byte { return pkt{pt: ptDTMF, seq: 7, payload: []byte{1, 2}}.build(t) },
			verdict: Dropped,
			counter: func(d Drops) uint64 { return d.Truncated },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			in, v := s.HandleRTP(tc.raw(t), sdpAddr, t0)
			if v != tc.verdict {
				t.Fatalf("verdict = %v, want %v", v, tc.verdict)
			}
			st := s.Stats()
			if tc.counter != nil && tc.counter(st.Dropped) != 1 {
				t.Errorf("drop counter = %d, want 1 (drops %+v)", tc.counter(st.Dropped), st.Dropped)
			}
			if tc.verdict == Dropped && st.Dropped.Total() != 1 {
				t.Errorf("total drops = %d, want 1", st.Dropped.Total())
			}
			if !bytes.Equal(in.Payload, tc.payload) {
				t.Errorf("payload = %d bytes, want %d", len(in.Payload), len(tc.payload))
			}
		})
	}
}

func TestHandleRTPHeaderFields(t *testing.T) {
	s := newSession(t, nil)
	in, v := s.HandleRTP(pkt{pt: ptOpus, seq: 65535, ts: 0xfffffff0, marker: true, payload: []byte{9}}.build(t), sdpAddr, t0)
	want := InboundMedia{PayloadType: ptOpus, Seq: 65535, Timestamp: 0xfffffff0, SSRC: peer, Marker: true, Payload: []byte{9}}
	if v != Media || in.PayloadType != want.PayloadType || in.Seq != want.Seq || in.Timestamp != want.Timestamp ||
		in.SSRC != want.SSRC || in.Marker != want.Marker || !bytes.Equal(in.Payload, want.Payload) {
		t.Fatalf("got %+v %v, want %+v media", in, v, want)
	}
	st := s.Stats()
	if st.PacketsReceived != 1 || st.BytesReceived != 13 {
		t.Errorf("received %d packets %d bytes, want 1 and 13", st.PacketsReceived, st.BytesReceived)
	}
}

func TestSourceLatching(t *testing.T) {
	media := func(t *testing.T, seq uint16) []byte { return pkt{pt: ptPCMU, seq: seq}.build(t) }
	type step struct {
		from    netip.AddrPort
		at      time.Time
		bad     bool // send an unknown payload type instead
		verdict Verdict
	}
	tests := []struct {
		name        string
		latch       bool
		steps       []step
		wantRemote  netip.AddrPort
		wantRTCP    netip.AddrPort
		wantLatched bool
		wantChanges int
	}{
		{
			name:        "the first valid packet latches the remote and reports it once",
			latch:       true,
			steps:       []step{{natAddr, ms(0), false, Media}, {natAddr, ms(20), false, Media}, {natAddr, ms(40), false, Media}},
			wantRemote:  natAddr,
			wantRTCP:    netip.AddrPortFrom(natAddr.Addr(), natAddr.Port()+1),
			wantLatched: true,
			wantChanges: 1,
		},
		{
			name:        "an invalid packet does not latch",
			latch:       true,
			steps:       []step{{strangr, ms(0), true, Dropped}, {natAddr, ms(20), false, Media}},
			wantRemote:  natAddr,
			wantRTCP:    netip.AddrPortFrom(natAddr.Addr(), natAddr.Port()+1),
			wantLatched: true,
			wantChanges: 1,
		},
		{
			name:        "another source is dropped while the latched one is live",
			latch:       true,
			steps:       []step{{natAddr, ms(0), false, Media}, {strangr, ms(1990), false, Dropped}, {natAddr, ms(2000), false, Media}, {strangr, ms(3500), false, Dropped}},
			wantRemote:  natAddr,
			wantRTCP:    netip.AddrPortFrom(natAddr.Addr(), natAddr.Port()+1),
			wantLatched: true,
			wantChanges: 1,
		},
		{
			name:        "a source silent for over two seconds is replaced, as after NAT rebinding",
			latch:       true,
			steps:       []step{{natAddr, ms(0), false, Media}, {natAddr2, ms(2001), false, Media}, {natAddr, ms(2100), false, Dropped}},
			wantRemote:  natAddr2,
			wantRTCP:    netip.AddrPortFrom(natAddr2.Addr(), natAddr2.Port()+1),
			wantLatched: true,
			wantChanges: 2,
		},
		{
			name:        "latching to the SDP address itself reports no change",
			latch:       true,
			steps:       []step{{sdpAddr, ms(0), false, Media}},
			wantRemote:  sdpAddr,
			wantRTCP:    netip.AddrPortFrom(sdpAddr.Addr(), sdpAddr.Port()+1),
			wantLatched: true,
		},
		{
			name:       "without latching only the SDP address is accepted",
			steps:      []step{{natAddr, ms(0), false, Dropped}, {sdpAddr, ms(20), false, Media}, {natAddr, ms(5000), false, Dropped}},
			wantRemote: sdpAddr,
			wantRTCP:   netip.AddrPortFrom(sdpAddr.Addr(), sdpAddr.Port()+1),
		},
		{
			name:       "an IPv4-mapped source matches the IPv4 SDP address",
			steps:      []step{{netip.AddrPortFrom(netip.AddrFrom16(sdpAddr.Addr().As16()), sdpAddr.Port()), ms(0), false, Media}},
			wantRemote: sdpAddr,
			wantRTCP:   netip.AddrPortFrom(sdpAddr.Addr(), sdpAddr.Port()+1),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, func(c *Config) { c.Latch = tc.latch })
			for i, st := range tc.steps {
				b := media(t, uint16(i))
				if st.bad {
					b = pkt{pt: ptOther, seq: uint16(i)}.build(t)
				}
				if _, v := s.HandleRTP(b, st.from, st.at); v != st.verdict {
					t.Fatalf("step %d from %v: verdict %v, want %v", i, st.from, v, st.verdict)
				}
			}
			rtpAddr, rtcpAddr, latched := s.Remote()
			if rtpAddr != tc.wantRemote || rtcpAddr != tc.wantRTCP || latched != tc.wantLatched {
				t.Errorf("Remote() = %v %v %v, want %v %v %v", rtpAddr, rtcpAddr, latched, tc.wantRemote, tc.wantRTCP, tc.wantLatched)
			}
			evs := s.Events(nil)
			if n := countKind(evs, EventRemoteChanged); n != tc.wantChanges {
				t.Errorf("%d remote-changed events, want %d: %+v", n, tc.wantChanges, evs)
			}
			if tc.wantChanges > 0 && evs[len(evs)-1].Remote != tc.wantRemote {
				t.Errorf("last event remote = %v, want %v", evs[len(evs)-1].Remote, tc.wantRemote)
			}
		})
	}
}

func TestRemoteRTCPAddress(t *testing.T) {
	sdpRTCP := netip.MustParseAddrPort("192.168.1.20:40009")
	tests := []struct {
		name   string
		mutate func(*Config)
		want   netip.AddrPort
	}{
		{"RTCP goes to the RTP port plus one by default", func(*Config) {}, netip.MustParseAddrPort("192.168.1.20:40001")},
		{"RTCP goes to the RTP port with rtcp-mux", func(c *Config) { c.RTCPMux = true }, sdpAddr},
		{"RTCP goes to the SDP a=rtcp address", func(c *Config) { c.RemoteRTCP = sdpRTCP }, sdpRTCP},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, tc.mutate)
			if _, got, _ := s.Remote(); got != tc.want {
				t.Errorf("RTCP remote = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSSRCChurn(t *testing.T) {
	t.Run("a flood of random SSRCs is dropped without allocating and the stream goes on", func(t *testing.T) {
		s := newSession(t, nil)
		if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: 1}.build(t), sdpAddr, t0); v != Media {
			t.Fatalf("first packet verdict %v", v)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		flood := make([][]byte, 1000)
		for i := range flood {
			flood[i] = pkt{pt: ptPCMU, seq: uint16(rng.Uint32()), ssrc: rng.Uint32() | 1}.build(t)
		}
		i := 0
		allocs := testing.AllocsPerRun(len(flood)-1, func() {
			if _, v := s.HandleRTP(flood[i], sdpAddr, ms(i)); v != Dropped {
				t.Fatalf("flood packet %d verdict %v", i, v)
			}
			i++
		})
		if allocs != 0 {
			t.Errorf("%v allocations per flood packet, want 0", allocs)
		}
		if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: 2}.build(t), sdpAddr, ms(2000)); v != Media {
			t.Errorf("stream packet after flood: verdict %v, want media", v)
		}
		if got := s.Stats().Dropped.SSRCChurn; got != uint64(len(flood)) {
			t.Errorf("SSRCChurn = %d, want %d", got, len(flood))
		}
	})
	t.Run("a new SSRC takes over after two packets in sequence and restarts the statistics", func(t *testing.T) {
		s := newSession(t, nil)
		for seq := range uint16(5) {
			s.HandleRTP(pkt{pt: ptPCMU, seq: seq * 2}.build(t), sdpAddr, ms(int(seq)*20)) // every other packet lost
		}
		if s.Stats().Lost != 4 {
			t.Fatalf("lost = %d before switch, want 4", s.Stats().Lost)
		}
		steps := []struct {
			ssrc uint32
			seq  uint16
			want Verdict
		}{{0xbbbb, 500, Dropped}, {0xbbbb, 501, Media}, {0xbbbb, 502, Media}, {peer, 10, Dropped}}
		for i, st := range steps {
			if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: st.seq, ssrc: st.ssrc}.build(t), sdpAddr, ms(200+20*i)); v != st.want {
				t.Errorf("step %d (SSRC %#x seq %d): verdict %v, want %v", i, st.ssrc, st.seq, v, st.want)
			}
		}
		if st := s.Stats(); st.Lost != 0 || st.Dropped.SSRCChurn != 2 {
			t.Errorf("after switch lost = %d churn = %d, want 0 and 2", st.Lost, st.Dropped.SSRCChurn)
		}
	})
	t.Run("no more than three SSRC changes are taken in ten seconds", func(t *testing.T) {
		s := newSession(t, nil)
		s.HandleRTP(pkt{pt: ptPCMU, seq: 1}.build(t), sdpAddr, t0)
		switchTo := func(ssrc uint32, at time.Time) Verdict {
			s.HandleRTP(pkt{pt: ptPCMU, seq: 100, ssrc: ssrc}.build(t), sdpAddr, at)
			_, v := s.HandleRTP(pkt{pt: ptPCMU, seq: 101, ssrc: ssrc}.build(t), sdpAddr, at.Add(20*time.Millisecond))
			return v
		}
		for i, ssrc := range []uint32{0xa1, 0xa2, 0xa3} {
			if v := switchTo(ssrc, ms(1000*i)); v != Media {
				t.Fatalf("switch %d: verdict %v, want media", i+1, v)
			}
		}
		if v := switchTo(0xa4, ms(5000)); v != Dropped {
			t.Errorf("fourth switch within ten seconds: verdict %v, want dropped", v)
		}
		if v := switchTo(0xa5, ms(10500)); v != Media {
			t.Errorf("switch once the first left the window: verdict %v, want media", v)
		}
	})
}

func TestSequenceJump(t *testing.T) {
	s := newSession(t, nil)
	steps := []struct {
		seq  uint16
		want Verdict
	}{{1, Media}, {2, Media}, {3, Media}, {20000, Dropped}, {4, Media}, {30000, Dropped}, {30001, Media}, {30002, Media}}
	for i, st := range steps {
		if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: st.seq}.build(t), sdpAddr, ms(20*i)); v != st.want {
			t.Errorf("seq %d: verdict %v, want %v", st.seq, v, st.want)
		}
	}
	if st := s.Stats(); st.Dropped.SeqJump != 2 || st.Lost != 0 {
		t.Errorf("SeqJump = %d lost = %d, want 2 and 0 after resync", st.Dropped.SeqJump, st.Lost)
	}
}

func TestRTCPOnRTPPort(t *testing.T) {
	s := newSession(t, func(c *Config) { c.Latch = true; c.RTCPMux = true })
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: peer}, &rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, v := s.HandleRTP(rr, natAddr, t0); v != Control {
		t.Fatalf("verdict %v, want control", v)
	}
	if st := s.Stats(); st.RTCPReceived != 1 || st.PacketsReceived != 0 {
		t.Errorf("RTCP received %d, RTP %d; want 1 and 0", st.RTCPReceived, st.PacketsReceived)
	}
	if rtpAddr, rtcpAddr, _ := s.Remote(); rtpAddr != natAddr || rtcpAddr != natAddr {
		t.Errorf("Remote() = %v %v, want both %v", rtpAddr, rtcpAddr, natAddr)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"no payload types", func(c *Config) { c.PayloadTypes = nil }},
		{"a payload type above 127", func(c *Config) { c.PayloadTypes[200] = 8000 }},
		{"a payload type that collides with RTCP", func(c *Config) { c.PayloadTypes[72] = 8000 }},
		{"a clock rate of zero", func(c *Config) { c.PayloadTypes[ptOpus] = 0 }},
		{"telephone-event on a media payload type", func(c *Config) { c.DTMFPayloadType = ptOpus }},
		{"a send payload type without clock rate", func(c *Config) { c.SendPayloadType = ptOther }},
		{"no remote address without latching", func(c *Config) { c.Remote = netip.AddrPort{} }},
		{"a CNAME over 255 bytes", func(c *Config) { c.CNAME = string(make([]byte, 256)) }},
	}
	for _, tc := range tests {
		t.Run("New refuses "+tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.mutate(&cfg)
			if _, err := New(cfg); err == nil {
				t.Fatal("New succeeded")
			} else if !errors.Is(err, ErrConfig) {
				t.Errorf("error %v is not ErrConfig", err)
			}
		})
	}
	t.Run("New fills in SSRC, CNAME and the send clock rate", func(t *testing.T) {
		cfg := testConfig()
		cfg.LocalSSRC, cfg.CNAME, cfg.SendPayloadType = 0, "", ptOpus
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if s.LocalSSRC() == 0 || len(s.cname) != 16 || s.sendRate != 48000 {
			t.Errorf("SSRC %#x CNAME %q send rate %d", s.LocalSSRC(), s.cname, s.sendRate)
		}
	})
	t.Run("New copies the payload type map", func(t *testing.T) {
		cfg := testConfig()
		s := newSession(t, func(c *Config) { *c = cfg })
		delete(cfg.PayloadTypes, ptPCMU)
		if _, v := s.HandleRTP(pkt{pt: ptPCMU}.build(t), sdpAddr, t0); v != Media {
			t.Errorf("verdict %v after caller changed its map, want media", v)
		}
	})
}
