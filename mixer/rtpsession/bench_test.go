package rtpsession

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/pion/rtcp"
)

// mediaStream returns a packet and a func that turns it into the next one
// of a 20 ms PCMU stream and returns its arrival time.
func mediaStream(t testing.TB) ([]byte, func() time.Time) {
	buf := pkt{pt: ptPCMU, seq: 0, payload: make([]byte, 160)}.build(t)
	i := 0
	return buf, func() time.Time {
		i++
		binary.BigEndian.PutUint16(buf[2:], uint16(i))
		binary.BigEndian.PutUint32(buf[4:], uint32(i*160))
		return ms(20 * i)
	}
}

func TestHotPathsDoNotAllocate(t *testing.T) {
	rr, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.SenderReport{SSRC: peer, NTPTime: 1 << 40, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC, LastSenderReport: 1}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, 1500)
	payload := make([]byte, 160)
	tests := []struct {
		name string
		run  func(t *testing.T, s *Session) func()
	}{
		{"HandleRTP of media packets", func(t *testing.T, s *Session) func() {
			buf, next := mediaStream(t)
			return func() {
				if _, v := s.HandleRTP(buf, sdpAddr, next()); v != Media {
					t.Fatalf("verdict %v", v)
				}
			}
		}},
		{"HandleRTP of telephone-events", func(t *testing.T, s *Session) func() {
			i := 0
			buf := dtmfPkt(t, 0, 0, TelephoneEvent{Event: 1, Duration: 160})
			events := make([]Event, 0, eventQueueLen)
			return func() {
				i++
				binary.BigEndian.PutUint16(buf[2:], uint16(i))
				binary.BigEndian.PutUint32(buf[4:], uint32(i*1000))
				if _, v := s.HandleRTP(buf, sdpAddr, ms(20*i)); v != Control {
					t.Fatalf("verdict %v", v)
				}
				events = s.Events(events[:0])
			}
		}},
		{"HandleRTP of packets it drops", func(t *testing.T, s *Session) func() {
			bad := [][]byte{{0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, pkt{pt: ptOther}.build(t), {0x9f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}}
			i := 0
			return func() {
				i++
				if _, v := s.HandleRTP(bad[i%len(bad)], sdpAddr, ms(i)); v != Dropped {
					t.Fatalf("verdict %v", v)
				}
			}
		}},
		{"HandleRTP of RTCP on the RTP port", func(t *testing.T, s *Session) func() {
			return func() {
				if _, v := s.HandleRTP(rr, sdpAddr, t0); v != Control {
					t.Fatalf("verdict %v", v)
				}
			}
		}},
		{"HandleRTCP of an SR and SDES", func(t *testing.T, s *Session) func() {
			return func() {
				if v := s.HandleRTCP(rr, rtcpFrom, t0); v != Control {
					t.Fatalf("verdict %v", v)
				}
			}
		}},
		{"WriteRTP", func(t *testing.T, s *Session) func() {
			i := 0
			return func() {
				i++
				if _, err := s.WriteRTP(out, payload, 160, false, ms(20*i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"WriteRTPWithPT", func(t *testing.T, s *Session) func() {
			i := 0
			return func() {
				i++
				if _, err := s.WriteRTPWithPT(out, ptOpus, payload, 960, false, ms(20*i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"WriteDTMF", func(t *testing.T, s *Session) func() {
			g, err := NewDTMFGenerator('5', time.Second, 20*time.Millisecond, 8000)
			if err != nil {
				t.Fatal(err)
			}
			i := 0
			return func() {
				i++
				if _, _, err := s.WriteDTMF(out, &g, ms(20*i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"WriteRTCP with a report block", func(t *testing.T, s *Session) func() {
			buf, next := mediaStream(t)
			s.HandleRTP(buf, sdpAddr, next())
			s.WriteRTP(out, payload, 160, false, t0)
			i := 0
			return func() {
				i++
				if _, err := s.WriteRTCP(out, ms(5000*i)); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"WriteBye", func(t *testing.T, s *Session) func() {
			return func() {
				if _, err := s.WriteBye(out); err != nil {
					t.Fatal(err)
				}
			}
		}},
		{"the per-frame housekeeping calls", func(t *testing.T, s *Session) func() {
			events := make([]Event, 0, eventQueueLen)
			i := 0
			return func() {
				i++
				s.RTCPDue(ms(20 * i))
				s.CheckTimeout(ms(20 * i))
				events = s.Events(events[:0])
				_ = s.Stats()
				_, _, _ = s.Remote()
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name+" does not allocate", func(t *testing.T) {
			s := newSession(t, nil)
			if allocs := testing.AllocsPerRun(200, tc.run(t, s)); allocs != 0 {
				t.Errorf("%v allocations per call, want 0", allocs)
			}
		})
	}
}

func BenchmarkHandleRTP(b *testing.B) {
	s := newSession(b, nil)
	buf, next := mediaStream(b)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, v := s.HandleRTP(buf, sdpAddr, next()); v != Media {
			b.Fatalf("verdict %v", v)
		}
	}
}

func BenchmarkHandleRTPDropped(b *testing.B) {
	s := newSession(b, nil)
	bad := pkt{pt: ptPCMU, ssrc: 0xbad}.build(b)
	s.HandleRTP(pkt{pt: ptPCMU}.build(b), sdpAddr, t0)
	b.ReportAllocs()
	for b.Loop() {
		if _, v := s.HandleRTP(bad, strangr, t0); v != Dropped {
			b.Fatalf("verdict %v", v)
		}
	}
}

func BenchmarkWriteRTP(b *testing.B) {
	s := newSession(b, nil)
	out := make([]byte, 1500)
	payload := make([]byte, 160)
	now := t0
	b.SetBytes(rtpHeaderLen + int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(20 * time.Millisecond)
		if _, err := s.WriteRTP(out, payload, 160, false, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleRTCP(b *testing.B) {
	s := newSession(b, nil)
	raw, err := rtcp.Marshal([]rtcp.Packet{
		&rtcp.ReceiverReport{SSRC: peer, Reports: []rtcp.ReceptionReport{{SSRC: ourSSRC}}},
		&rtcp.SourceDescription{Chunks: []rtcp.SourceDescriptionChunk{{Source: peer, Items: []rtcp.SourceDescriptionItem{{Type: rtcp.SDESCNAME, Text: "phone"}}}}},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if v := s.HandleRTCP(raw, rtcpFrom, t0); v != Control {
			b.Fatalf("verdict %v", v)
		}
	}
}

func BenchmarkWriteRTCP(b *testing.B) {
	s := newSession(b, nil)
	buf, next := mediaStream(b)
	s.HandleRTP(buf, sdpAddr, next())
	out := make([]byte, 1500)
	s.WriteRTP(out, make([]byte, 160), 160, false, t0)
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(5 * time.Second)
		if _, err := s.WriteRTCP(out, now); err != nil {
			b.Fatal(err)
		}
	}
}
