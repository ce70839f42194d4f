package rtpsession

import (
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// write describes one call to the send path.
type write struct {
	at      int    // ms after t0
	pt      int    // -1 for WriteRTP, else WriteRTPWithPT
	ticks   uint32 // frame duration
	marker  bool
	advance uint32 // AdvanceTime before the write
}

// sentHeader is what the test expects of one sent packet, relative to the
// first packet's sequence number and timestamp.
type sentHeader struct {
	seq    uint16
	ts     uint32
	pt     uint8
	marker bool
}

func TestSendContinuity(t *testing.T) {
	tests := []struct {
		name   string
		writes []write
		want   []sentHeader
	}{
		{
			name: "sequence numbers and timestamps continue across payload types",
			writes: []write{
				{at: 0, pt: -1, ticks: 160}, {at: 20, pt: -1, ticks: 160},
				{at: 40, pt: ptDTMF, ticks: 160}, {at: 60, pt: ptPCMU, ticks: 160}, {at: 80, pt: -1, ticks: 160},
			},
			want: []sentHeader{{0, 0, ptPCMU, false}, {1, 160, ptPCMU, false}, {2, 320, ptDTMF, false}, {3, 480, ptPCMU, false}, {4, 640, ptPCMU, false}},
		},
		{
			name:   "the caller's marker bit is sent",
			writes: []write{{at: 0, pt: -1, ticks: 160, marker: true}, {at: 20, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, true}, {1, 160, ptPCMU, false}},
		},
		{
			name:   "a skipped interval jumps the timestamp by whole frames with the marker set",
			writes: []write{{at: 0, pt: -1, ticks: 160}, {at: 20, pt: -1, ticks: 160}, {at: 5020, pt: -1, ticks: 160}, {at: 5040, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, false}, {1, 160, ptPCMU, false}, {2, 40160, ptPCMU, true}, {3, 40320, ptPCMU, false}},
		},
		{
			name:   "a skip that is not a whole number of frames rounds down to one",
			writes: []write{{at: 0, pt: -1, ticks: 160}, {at: 1015, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, false}, {1, 8000, ptPCMU, true}},
		},
		{
			name:   "scheduling delays under the threshold keep timestamps regular",
			writes: []write{{at: 0, pt: -1, ticks: 160}, {at: 45, pt: -1, ticks: 160}, {at: 60, pt: -1, ticks: 160}, {at: 110, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, false}, {1, 160, ptPCMU, false}, {2, 320, ptPCMU, false}, {3, 480, ptPCMU, false}},
		},
		{
			name:   "a burst faster than real time keeps advancing by frames",
			writes: []write{{at: 0, pt: -1, ticks: 160}, {at: 0, pt: -1, ticks: 160}, {at: 1, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, false}, {1, 160, ptPCMU, false}, {2, 320, ptPCMU, false}},
		},
		{
			name:   "AdvanceTime moves the timestamp exactly and marks the next packet",
			writes: []write{{at: 0, pt: -1, ticks: 160}, {at: 120, pt: -1, ticks: 160, advance: 800}, {at: 140, pt: -1, ticks: 160}},
			want:   []sentHeader{{0, 0, ptPCMU, false}, {1, 960, ptPCMU, true}, {2, 1120, ptPCMU, false}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			s.tx.nextTS = 0xffffff00 // wrap around 2^32 on the way
			buf := make([]byte, 200)
			payload := make([]byte, 160)
			var first rtp.Header
			for i, w := range tc.writes {
				if w.advance != 0 {
					s.AdvanceTime(w.advance)
				}
				var n int
				var err error
				if w.pt < 0 {
					n, err = s.WriteRTP(buf, payload, w.ticks, w.marker, ms(w.at))
				} else {
					n, err = s.WriteRTPWithPT(buf, uint8(w.pt), payload, w.ticks, w.marker, ms(w.at))
				}
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				var p rtp.Packet
				if err := p.Unmarshal(buf[:n]); err != nil {
					t.Fatalf("write %d does not parse: %v", i, err)
				}
				if i == 0 {
					first = p.Header
				}
				got := sentHeader{p.SequenceNumber - first.SequenceNumber, p.Timestamp - first.Timestamp, p.PayloadType, p.Marker}
				if got != tc.want[i] {
					t.Errorf("packet %d = %+v, want %+v", i, got, tc.want[i])
				}
				if p.SSRC != ourSSRC || p.Version != 2 || len(p.Payload) != len(payload) {
					t.Errorf("packet %d SSRC %#x version %d payload %d bytes", i, p.SSRC, p.Version, len(p.Payload))
				}
			}
			if st := s.Stats(); st.PacketsSent != uint64(len(tc.writes)) || st.BytesSent != uint64(172*len(tc.writes)) {
				t.Errorf("sent %d packets %d bytes", st.PacketsSent, st.BytesSent)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	tests := []struct {
		name  string
		write func(s *Session) error
		want  error
	}{
		{"WriteRTP refuses a buffer too short for the packet", func(s *Session) error {
			_, err := s.WriteRTP(make([]byte, 171), make([]byte, 160), 160, false, t0)
			return err
		}, ErrShortBuffer},
		{"WriteRTPWithPT refuses a payload type not negotiated", func(s *Session) error {
			_, err := s.WriteRTPWithPT(make([]byte, 200), ptOther, nil, 160, false, t0)
			return err
		}, ErrPayloadType},
		{"WriteRTPWithPT refuses a payload type above 127", func(s *Session) error {
			_, err := s.WriteRTPWithPT(make([]byte, 200), 200, nil, 160, false, t0)
			return err
		}, ErrPayloadType},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			if err := tc.write(s); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if st := s.Stats(); st.PacketsSent != 0 {
				t.Errorf("a refused write counted %d packets", st.PacketsSent)
			}
		})
	}
}

func TestSendStartsAtRandomSequenceAndTimestamp(t *testing.T) {
	// RFC 3550 §5.1. Two sessions agreeing on both by chance is a 2^-48 event.
	var seqs [2]uint16
	var tss [2]uint32
	for i := range 2 {
		s := newSession(t, nil)
		buf := make([]byte, 64)
		n, err := s.WriteRTP(buf, nil, 160, false, t0)
		if err != nil {
			t.Fatal(err)
		}
		var h rtp.Header
		if _, err := h.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		seqs[i], tss[i] = h.SequenceNumber, h.Timestamp
	}
	if seqs[0] == seqs[1] && tss[0] == tss[1] {
		t.Errorf("two sessions start at the same sequence number %d and timestamp %d", seqs[0], tss[0])
	}
}

func TestSendOpusClock(t *testing.T) {
	s := newSession(t, func(c *Config) { c.SendPayloadType = ptOpus })
	buf := make([]byte, 64)
	var ts [2]uint32
	for i, at := range []time.Duration{0, 3 * time.Second} {
		n, err := s.WriteRTP(buf, nil, 960, false, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		var h rtp.Header
		if _, err := h.Unmarshal(buf[:n]); err != nil {
			t.Fatal(err)
		}
		ts[i] = h.Timestamp
	}
	if got := ts[1] - ts[0]; got != 3*48000 {
		t.Errorf("3 s on hold at 48 kHz advanced the timestamp by %d, want %d", got, 3*48000)
	}
}

func TestConcurrentUse(t *testing.T) {
	// The receive loop, the mixer clock and a stats reader share a session;
	// run under -race this shows they may.
	s := newSession(t, nil)
	done := make(chan struct{})
	buf, next := mediaStream(t)
	go func() {
		defer close(done)
		for range 500 {
			s.HandleRTP(buf, sdpAddr, next())
		}
	}()
	out := make([]byte, 1500)
	for i := range 500 {
		if _, err := s.WriteRTP(out, make([]byte, 160), 160, false, ms(20*i)); err != nil {
			t.Fatal(err)
		}
		if s.RTCPDue(ms(20 * i)) {
			if _, err := s.WriteRTCP(out, ms(20*i)); err != nil {
				t.Fatal(err)
			}
		}
		_ = s.Stats()
	}
	<-done
	if st := s.Stats(); st.PacketsReceived != 500 || st.PacketsSent != 500 {
		t.Errorf("received %d sent %d, want 500 each", st.PacketsReceived, st.PacketsSent)
	}
}
