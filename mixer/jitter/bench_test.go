package jitter

import (
	"testing"
	"time"
)

// steady returns a Buffer that has played a second of a clean 20 ms stream,
// and the sequence number, timestamp and time of its next packet.
func steady(tb testing.TB) (b *Buffer, seq uint16, ts uint32, at time.Time) {
	tb.Helper()
	b, err := New(Config{ClockRate: 8000})
	if err != nil {
		tb.Fatal(err)
	}
	payload := make([]byte, 160)
	at = epoch
	for range 50 {
		b.Push(seq, ts, 1, false, payload, at)
		for {
			if _, st := b.Pop(at); st == StatusWait {
				break
			}
		}
		seq++
		ts += 160
		at = at.Add(20 * time.Millisecond)
	}
	return b, seq, ts, at
}

func TestPushPopDoNotAllocate(t *testing.T) {
	tests := []struct {
		name    string
		reorder bool // swap every other pair
		lose    int  // lose one packet in lose (0: none)
	}{
		{"a clean stream", false, 0},
		{"a stream with every pair swapped", true, 0},
		{"a stream losing one packet in ten", false, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name+" allocates nothing", func(t *testing.T) {
			b, seq, ts, at := steady(t)
			payload := make([]byte, 160)
			i := 0
			allocs := testing.AllocsPerRun(2000, func() {
				s, x := seq, ts
				if tt.reorder && i%4 == 1 {
					s, x = seq+1, ts+160
				} else if tt.reorder && i%4 == 2 {
					s, x = seq-1, ts-160
				}
				if tt.lose == 0 || i%tt.lose != 3 {
					b.Push(s, x, 1, false, payload, at)
				}
				for {
					if _, st := b.Pop(at); st == StatusWait {
						break
					}
				}
				seq++
				ts += 160
				at = at.Add(20 * time.Millisecond)
				i++
			})
			if allocs != 0 {
				t.Fatalf("Push and Pop allocate %.1f times per packet, want 0", allocs)
			}
			if got := b.Stats(); got.Resets != 0 || got.Late != 0 || got.Dropped != 0 {
				t.Fatalf("stats = %+v, want a steady stream", got)
			}
		})
	}
}

// BenchmarkPushPop measures one packet through the buffer: Push, then Pop
// until StatusWait, as the participant code does on every frame.
func BenchmarkPushPop(b *testing.B) {
	buf, seq, ts, at := steady(b)
	payload := make([]byte, 160)
	b.ReportAllocs()
	for b.Loop() {
		buf.Push(seq, ts, 1, false, payload, at)
		for {
			if _, st := buf.Pop(at); st == StatusWait {
				break
			}
		}
		seq++
		ts += 160
		at = at.Add(20 * time.Millisecond)
	}
}

// BenchmarkPushPopLossy is BenchmarkPushPop with 5 % of packets lost and
// every tenth pair swapped.
func BenchmarkPushPopLossy(b *testing.B) {
	buf, seq, ts, at := steady(b)
	payload := make([]byte, 160)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s, x := seq, ts
		switch i % 20 {
		case 5:
			s, x = seq+1, ts+160
		case 6:
			s, x = seq-1, ts-160
		}
		if i%20 != 13 {
			buf.Push(s, x, 1, false, payload, at)
		}
		for {
			if _, st := buf.Pop(at); st == StatusWait {
				break
			}
		}
		seq++
		ts += 160
		at = at.Add(20 * time.Millisecond)
		i++
	}
}

// BenchmarkPopWait measures the common Pop that finds nothing due.
func BenchmarkPopWait(b *testing.B) {
	buf, _, _, at := steady(b)
	b.ReportAllocs()
	for b.Loop() {
		buf.Pop(at)
	}
}
