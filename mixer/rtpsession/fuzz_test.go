package rtpsession

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// datagrams cuts fuzz input into datagrams, each prefixed by a length byte,
// so one input drives a session through a sequence of packets.
func datagrams(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(int(data[0]), len(data)-1)
		out = append(out, data[1:1+n])
		data = data[1+n:]
	}
	return out
}

// framed is the inverse of datagrams, for seeds.
func framed(t testing.TB, pkts ...[]byte) []byte {
	var out []byte
	for _, p := range pkts {
		if len(p) > 255 {
			t.Fatalf("seed datagram of %d bytes", len(p))
		}
		out = append(append(out, byte(len(p))), p...)
	}
	return out
}

// checkReports makes sure the session still builds a report pion parses.
func checkReports(t *testing.T, s *Session, now time.Time) {
	t.Helper()
	buf := make([]byte, 1500)
	n, err := s.WriteRTCP(buf, now)
	if err != nil {
		t.Fatalf("WriteRTCP: %v", err)
	}
	if _, err := rtcp.Unmarshal(buf[:n]); err != nil {
		t.Fatalf("our report does not parse: %v", err)
	}
}

func FuzzHandleRTP(f *testing.F) {
	media := func(seq uint16, ssrc uint32) []byte {
		return pkt{pt: ptPCMU, seq: seq, ts: uint32(seq) * 160, ssrc: ssrc, payload: make([]byte, 20)}.build(f)
	}
	rr, err := rtcp.Marshal([]rtcp.Packet{&rtcp.ReceiverReport{SSRC: peer, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC}}}})
	if err != nil {
		f.Fatal(err)
	}
	padded := append(media(9, 0), 0, 0, 3)
	padded[0] |= paddingBit
	f.Add(framed(f, media(1, 0), media(2, 0), media(4, 0)), false)
	f.Add(framed(f, media(1, 0), media(1, 7), media(2, 7), media(3, 0)), true)
	f.Add(framed(f,
		dtmfPkt(f, 1, 100, TelephoneEvent{Event: 3, Duration: 160}),
		dtmfPkt(f, 2, 100, TelephoneEvent{Event: 3, Duration: 320, End: true}),
		dtmfPkt(f, 3, 100, TelephoneEvent{Event: 3, Duration: 320, End: true})), false)
	f.Add(framed(f, rr, media(5, 0), padded), true)
	f.Add(framed(f, media(1, 0), media(40000, 0), media(40001, 0)), false)
	f.Fuzz(func(t *testing.T, data []byte, latch bool) {
		s := newSession(t, func(c *Config) { c.Latch = latch })
		var media, control, dropped uint64
		pkts := datagrams(data)
		for i, d := range pkts {
			from := sdpAddr
			if i%4 == 3 {
				from = natAddr
			}
			in, v := s.HandleRTP(d, from, ms(20*i))
			switch v {
			case Media:
				media++
				if len(in.Payload) > len(d)-rtpHeaderLen {
					t.Fatalf("payload of %d bytes from a %d-byte datagram", len(in.Payload), len(d))
				}
				if s.rates[in.PayloadType] == 0 {
					t.Fatalf("media with payload type %d that was not negotiated", in.PayloadType)
				}
			case Control:
				control++
			case Dropped:
				dropped++
			default:
				t.Fatalf("verdict %v", v)
			}
		}
		st := s.Stats()
		if st.PacketsReceived+st.RTCPReceived != media+control || st.Dropped.Total() != dropped {
			t.Fatalf("counters %+v disagree with %d media, %d control, %d dropped", st, media, control, dropped)
		}
		if n := len(s.Events(nil)); n > eventQueueLen {
			t.Fatalf("%d events queued, bound is %d", n, eventQueueLen)
		}
		checkReports(t, s, ms(20*len(pkts)))
	})
}

func FuzzHandleRTCP(f *testing.F) {
	seeds := [][]rtcp.Packet{
		{&rtcp.ReceiverReport{SSRC: peer, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC, FractionLost: 3, TotalLost: 9, LastSenderReport: 1, Delay: 2}}}},
		{&rtcp.SenderReport{SSRC: peer, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC}}},
			&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "x"}}}}}},
		{&rtcp.ReceiverReport{SSRC: peer}, &rtcp.Goodbye{Sources: []uint32{peer}, Reason: "bye"}},
	}
	for _, pkts := range seeds {
		b, err := rtcp.Marshal(pkts)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := newSession(t, nil)
		s.HandleRTP(pkt{pt: ptPCMU, seq: 1}.build(t), sdpAddr, t0)
		if _, err := s.WriteRTP(make([]byte, 200), make([]byte, 160), 160, false, t0); err != nil {
			t.Fatal(err)
		}
		checkReports(t, s, ms(100))
		v := s.HandleRTCP(data, rtcpFrom, ms(200))
		st := s.Stats()
		switch v {
		case Control:
			if st.RTCPReceived != 1 || st.Dropped.Total() != 0 {
				t.Fatalf("accepted, but counters %+v", st)
			}
		case Dropped:
			if st.RTCPReceived != 0 || st.Dropped.Total() != 1 {
				t.Fatalf("dropped, but counters %+v", st)
			}
		default:
			t.Fatalf("verdict %v", v)
		}
		if st.RTT < 0 || st.RemoteFractionLost < 0 || st.RemoteFractionLost >= 1 {
			t.Fatalf("remote figures out of range: %+v", st)
		}
		checkReports(t, s, ms(300))
	})
}
