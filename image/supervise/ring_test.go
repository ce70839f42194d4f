package supervise

import (
	"strings"
	"testing"
)

func TestRing(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		writes []string
		want   string
	}{
		{"output that fits is kept whole", 64, []string{"one\n", "two\n"}, "one\ntwo\n"},
		{"old output is dropped from a full line", 10, []string{"first\n", "second\n", "third\n"}, "third\n"},
		{"a write longer than the ring keeps its end", 8, []string{"aaaa\nbbbbbbbbbbb\ncc\n"}, "cc\n"},
		{"many small writes wrap around", 12, []string{"a\n", "b\n", "c\n", "d\n", "e\n", "f\n", "g\n", "h\n"}, "c\nd\ne\nf\ng\nh\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRing(tt.size)
			total := 0
			for _, w := range tt.writes {
				n, err := r.Write([]byte(w))
				if err != nil || n != len(w) {
					t.Fatalf("Write = %d, %v", n, err)
				}
				total += n
			}
			if got := string(r.Bytes()); got != tt.want {
				t.Fatalf("Bytes = %q, want %q", got, tt.want)
			}
			if r.Total() != int64(total) {
				t.Fatalf("Total = %d, want %d", r.Total(), total)
			}
		})
	}
	t.Run("the ring never holds more than its size", func(t *testing.T) {
		r := NewRing(100)
		for i := 0; i < 1000; i++ {
			_, _ = r.Write([]byte(strings.Repeat("x", i%17) + "\n"))
		}
		if n := len(r.Bytes()); n > 100 {
			t.Fatalf("ring holds %d bytes", n)
		}
	})
}

type blockedWriter struct{ release chan struct{} }

func (b blockedWriter) Write(p []byte) (int, error) { <-b.release; return len(p), nil }

func TestLossy(t *testing.T) {
	sink := blockedWriter{release: make(chan struct{})}
	defer close(sink.release)
	l := Lossy(sink, 2)
	t.Run("writes to a stuck sink never block and are counted when dropped", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			if n, err := l.Write([]byte("line\n")); n != 5 || err != nil {
				t.Fatalf("Write = %d, %v", n, err)
			}
		}
		// One write is with the stuck sink, two wait in the queue.
		if d := l.Dropped(); d < 7 || d > 8 {
			t.Fatalf("dropped %d of 10", d)
		}
	})
}
