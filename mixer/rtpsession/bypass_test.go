package rtpsession

import (
	"encoding/binary"
	"testing"
	"time"
)

func TestOurStreamContinuesAfterABypass(t *testing.T) {
	s := newSession(t, nil)
	dst := make([]byte, 1500)
	payload := make([]byte, 160)
	for i := range 3 {
		if _, err := s.WriteRTP(dst, payload, 160, false, t0.Add(time.Duration(i)*20*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	seq, ts := s.SendPosition()
	t.Run("the position is what the next packet would carry", func(t *testing.T) {
		n, err := s.WriteRTP(dst, payload, 160, false, t0.Add(60*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if got, gotTS := binary.BigEndian.Uint16(dst[2:n]), binary.BigEndian.Uint32(dst[4:n]); got != seq || gotTS != ts {
			t.Errorf("sent seq %d ts %d, position said %d %d", got, gotTS, seq, ts)
		}
	})
	// A bypass forwarded 250 packets as our stream; the last carried
	// sequence 4000 and timestamp 900000 and left at 5 s.
	at := t0.Add(5 * time.Second)
	s.ContinueSendFrom(4000, 900000, 160, at, 250)
	t.Run("the next packet follows the forwarded ones", func(t *testing.T) {
		n, err := s.WriteRTP(dst, payload, 160, false, at.Add(30*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		if got, gotTS := binary.BigEndian.Uint16(dst[2:n]), binary.BigEndian.Uint32(dst[4:n]); got != 4001 || gotTS != 900160 {
			t.Errorf("sent seq %d ts %d, want 4001 900160", got, gotTS)
		}
		if dst[1]&0x80 != 0 {
			t.Error("marker set: the stream did not break")
		}
	})
	t.Run("the forwarded packets count as sent", func(t *testing.T) {
		if got := s.Stats().PacketsSent; got != 4+250+1 {
			t.Errorf("packets sent %d, want %d", got, 4+250+1)
		}
	})
}

func TestTheirStreamContinuesAfterABypass(t *testing.T) {
	tests := []struct {
		name     string
		around   uint64 // packets forwarded around the session
		lastSeq  uint16 // the last of them
		next     uint16 // the first packet after
		first    bool   // it reached the session before the news of the bypass
		wantLost int64
	}{
		{"a short bypass leaves no loss behind", 100, 109, 110, false, 0},
		{"a bypass across a sequence wrap leaves no loss", 65530, 65539 % 65536, 65540 % 65536, false, 0},
		{"a bypass longer than a whole cycle leaves no loss", 70000, uint16((9 + 70000) % 65536), uint16((10 + 70000) % 65536), false, 0},
		{"packets lost during the bypass stay lost", 90, 109, 110, false, 10},
		{"a packet after the bypass that came first is not taken for a wrap", 100, 109, 110, true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSession(t, nil)
			now := t0
			for seq := uint16(0); seq < 10; seq++ {
				now = now.Add(20 * time.Millisecond)
				if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: seq, ts: uint32(seq) * 160}.build(t), sdpAddr, now); v != Media {
					t.Fatalf("packet %d: %v", seq, v)
				}
			}
			now = now.Add(time.Minute)
			next := func() {
				if _, v := s.HandleRTP(pkt{pt: ptPCMU, seq: tt.next, ts: 1}.build(t), sdpAddr, now); v != Media {
					t.Fatalf("the first packet after the bypass: %v", v)
				}
			}
			if tt.first {
				next()
			}
			s.ReceivedAround(tt.lastSeq, tt.around, now)
			if s.CheckTimeout(now.Add(time.Second)) {
				t.Error("the session timed out although the stream went on around it")
			}
			now = now.Add(20 * time.Millisecond)
			if !tt.first {
				next()
			}
			st := s.Stats()
			if st.Lost != tt.wantLost {
				t.Errorf("lost %d, want %d", st.Lost, tt.wantLost)
			}
			if want := 10 + tt.around + 1; st.PacketsReceived != want {
				t.Errorf("received %d, want %d", st.PacketsReceived, want)
			}
		})
	}
}
