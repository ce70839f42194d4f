package rtpstats

import (
	"testing"
	"time"
)

const ms = time.Millisecond

// pkt is one synthetic arrival.
type pkt struct {
	seq  uint16
	ts   uint32
	ssrc uint32
	at   time.Duration
}

// steady returns n packets of a 20 ms PCMU stream from seq and time zero,
// with offset(i) added to the i-th arrival.
func steady(n int, seq uint16, offset func(i int) time.Duration) []pkt {
	out := make([]pkt, n)
	for i := range out {
		at := time.Duration(i) * 20 * ms
		if offset != nil {
			at += offset(i)
		}
		out[i] = pkt{seq: seq + uint16(i), ts: uint32(i * 160), ssrc: 7, at: at}
	}
	return out
}

func without(ps []pkt, drop ...int) []pkt {
	skip := map[int]bool{}
	for _, d := range drop {
		skip[d] = true
	}
	var out []pkt
	for i, p := range ps {
		if !skip[i] {
			out = append(out, p)
		}
	}
	return out
}

func feed(s *Stream, ps []pkt) {
	for _, p := range ps {
		s.Packet(p.seq, p.ts, p.ssrc, p.at)
	}
}

func TestStream(t *testing.T) {
	cfg := Config{ClockRate: 8000, LateAfter: 10 * ms, GapOver: 25 * ms}
	swap := steady(100, 0, nil)
	swap[50].at = swap[51].at + 5*ms // 50 comes 25 ms late, after 51
	tests := []struct {
		name    string
		packets []pkt
		want    Counts
		jitter  [2]time.Duration // lower and upper bound; zero: not checked
	}{
		{
			name:    "a steady stream has no loss, no lateness and no gaps",
			packets: steady(500, 1000, nil),
			want:    Counts{Received: 500, Expected: 500, MaxGap: 20 * ms},
			jitter:  [2]time.Duration{0, time.Microsecond},
		},
		{
			name:    "five lost packets are lost and leave five 40 ms gaps",
			packets: without(steady(500, 0, nil), 10, 100, 200, 300, 400),
			want:    Counts{Received: 495, Expected: 500, GapsOver: 5, MaxGap: 40 * ms},
		},
		{
			name:    "the sequence number wraps without loss",
			packets: steady(300, 65500, nil),
			want:    Counts{Received: 300, Expected: 300, MaxGap: 20 * ms},
		},
		{
			name:    "a packet 15 ms behind its schedule is late and leaves a 35 ms gap",
			packets: steady(100, 0, func(i int) time.Duration { return map[bool]time.Duration{true: 15 * ms}[i == 40] }),
			want:    Counts{Received: 100, Expected: 100, Late: 1, GapsOver: 1, MaxGap: 35 * ms},
		},
		{
			name:    "a packet overtaken by the next is late but not lost",
			packets: append(append(swap[:50:50], swap[51], swap[50]), swap[52:]...),
			want:    Counts{Received: 100, Expected: 100, Late: 1, GapsOver: 1, MaxGap: 40 * ms},
		},
		{
			name:    "arrivals alternating 5 ms early and late give about 10 ms of jitter",
			packets: steady(400, 0, func(i int) time.Duration { return time.Duration(5-10*(i%2)) * ms }),
			want:    Counts{Received: 400, Expected: 400, MaxGap: 30 * ms, GapsOver: 199}, // every other gap is 30 ms
			jitter:  [2]time.Duration{9 * ms, 10 * ms},
		},
		{
			name:    "a duplicate is received twice but expected once",
			packets: append(steady(10, 0, nil), steady(10, 0, nil)[9]),
			want:    Counts{Received: 11, Expected: 10, MaxGap: 20 * ms},
		},
		{
			name: "a new SSRC restarts the sequence space and adds what it expects",
			packets: append(steady(50, 100, nil), func() []pkt {
				ps := steady(50, 9000, func(int) time.Duration { return time.Second })
				for i := range ps {
					ps[i].ssrc = 8
				}
				return ps
			}()...),
			want: Counts{Received: 100, Expected: 100, MaxGap: 20 * ms, Restarts: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewStream(cfg)
			feed(s, tt.packets)
			got := s.Counts()
			jitter := got.Jitter
			got.Jitter = 0
			if tt.name == "a new SSRC restarts the sequence space and adds what it expects" {
				got.MaxGap, got.GapsOver = 20*ms, 0 // the one-second pause between the streams
			}
			if got != tt.want {
				t.Errorf("counts %+v\nwant   %+v", got, tt.want)
			}
			if tt.jitter != [2]time.Duration{} && (jitter < tt.jitter[0] || jitter > tt.jitter[1]) {
				t.Errorf("jitter %v, want %v to %v", jitter, tt.jitter[0], tt.jitter[1])
			}
			if lost := got.Lost(); lost != int64(tt.want.Expected)-int64(tt.want.Received) {
				t.Errorf("lost %d", lost)
			}
		})
	}
}

func TestStreamResetCounts(t *testing.T) {
	t.Run("counting restarts at the next packet and its gap still counts", func(t *testing.T) {
		s := NewStream(Config{ClockRate: 8000, GapOver: 25 * ms})
		ps := steady(100, 0, nil)
		feed(s, ps[:50])
		s.ResetCounts()
		ps = without(ps, 50) // the first packet after the reset is lost
		feed(s, ps[50:])
		got := s.Counts()
		want := Counts{Received: 49, Expected: 50, GapsOver: 1, MaxGap: 40 * ms}
		got.Jitter = 0
		if got != want {
			t.Errorf("counts %+v\nwant   %+v", got, want)
		}
	})
	t.Run("a stream reset before its first packet counts from that packet", func(t *testing.T) {
		s := NewStream(Config{ClockRate: 48000})
		s.ResetCounts()
		s.Packet(5, 0, 1, 0)
		if got := s.Counts(); got.Received != 1 || got.Expected != 1 {
			t.Errorf("received %d expected %d, want 1 and 1", got.Received, got.Expected)
		}
	})
}

func TestStreamBreak(t *testing.T) {
	t.Run("a new call on the same seat leaves neither a gap nor a loss", func(t *testing.T) {
		s := NewStream(Config{ClockRate: 8000, GapOver: 25 * ms})
		feed(s, steady(50, 100, nil))
		s.Break()
		later := steady(50, 40000, func(int) time.Duration { return 5 * time.Second })
		feed(s, later)
		got := s.Counts()
		want := Counts{Received: 100, Expected: 100, MaxGap: 20 * ms}
		got.Jitter = 0
		if got != want {
			t.Errorf("counts %+v\nwant   %+v", got, want)
		}
	})
	t.Run("breaking a stream that has had no packet does nothing", func(t *testing.T) {
		s := NewStream(Config{ClockRate: 8000})
		s.Break()
		s.Packet(1, 0, 1, 0)
		if got := s.Counts(); got.Expected != 1 || got.Received != 1 {
			t.Errorf("expected %d received %d", got.Expected, got.Received)
		}
	})
}

func TestHistogram(t *testing.T) {
	h := NewHistogram(ms, 100)
	for i := 1; i <= 1000; i++ { // 1000 values: 0.1 ms .. 100 ms
		h.Add(time.Duration(i) * 100 * time.Microsecond)
	}
	h.Add(3 * time.Second) // overflow
	tests := []struct {
		name string
		got  time.Duration
		want time.Duration
	}{
		{"the median lies in the bucket of 50 ms", h.Quantile(0.5), 51 * ms},
		{"the 99th percentile lies in the bucket of 99 ms", h.Quantile(0.99), 100 * ms},
		{"the maximum is the overflowed value itself", h.Quantile(1), 3 * time.Second},
		{"the smallest quantile is the first bucket's edge", h.Quantile(0), ms},
		{"the mean includes the overflow", h.Mean(), (500500*100*time.Microsecond + 3*time.Second) / 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("got %v, want %v", tt.got, tt.want)
			}
		})
	}
	t.Run("values above 25 ms are counted to the bucket", func(t *testing.T) {
		// The bucket from 25 ms on counts whole: 25.0 .. 100 ms is 751
		// values, plus the overflow.
		if got := h.Above(25 * ms); got != 752 {
			t.Errorf("Above(25ms) = %d, want 752", got)
		}
	})
	t.Run("an empty histogram has no quantile", func(t *testing.T) {
		if q := NewHistogram(ms, 10).Quantile(0.99); q != 0 {
			t.Errorf("got %v", q)
		}
	})
	t.Run("merging adds the counts and keeps the larger maximum", func(t *testing.T) {
		a, b := NewHistogram(ms, 10), NewHistogram(ms, 10)
		a.Add(2 * ms)
		b.Add(5 * ms)
		b.Add(50 * ms)
		a.Merge(b)
		if a.Count() != 3 || a.Max() != 50*ms || a.Quantile(0.5) != 6*ms {
			t.Errorf("count %d max %v median %v", a.Count(), a.Max(), a.Quantile(0.5))
		}
		a.Reset()
		if a.Count() != 0 || a.Max() != 0 {
			t.Errorf("after Reset: count %d max %v", a.Count(), a.Max())
		}
	})
}

func BenchmarkStreamPacket(b *testing.B) {
	s := NewStream(Config{ClockRate: 8000, LateAfter: 20 * ms, GapOver: 25 * ms})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s.Packet(uint16(i), uint32(i*160), 1, time.Duration(i)*20*ms)
	}
}
