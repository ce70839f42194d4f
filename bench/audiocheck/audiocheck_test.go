package audiocheck

import (
	"math"
	"testing"
)

// tone returns n samples of a sine at f Hz and amplitude a, starting at
// phase zero.
func tone(rate, n int, f, a float64) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = int16(a * math.Sin(2*math.Pi*f*float64(i)/float64(rate)))
	}
	return out
}

func add(dst []int16, srcs ...[]int16) []int16 {
	for _, s := range srcs {
		for i := range dst {
			dst[i] += s[i]
		}
	}
	return dst
}

func TestToneBank(t *testing.T) {
	const rate, block = 8000, 800 // 10 Hz grid
	freqs := []float64{400, 510, 620, 1500}
	tests := []struct {
		name  string
		pcm   []int16
		check func(t *testing.T, levels []float64)
	}{
		{
			name: "a tone alone holds all of the power at its frequency",
			pcm:  tone(rate, 8000, 510, 9000),
			check: func(t *testing.T, l []float64) {
				if math.Abs(l[1]) > 0.1 {
					t.Errorf("510 Hz at %.2f dB, want 0", l[1])
				}
				for _, i := range []int{0, 2, 3} {
					if l[i] > -40 {
						t.Errorf("%v Hz at %.1f dB, want none", freqs[i], l[i])
					}
				}
			},
		},
		{
			name: "two equal tones hold half the power each and not the others",
			pcm:  add(tone(rate, 8000, 400, 6000), tone(rate, 8000, 1500, 6000)),
			check: func(t *testing.T, l []float64) {
				for _, i := range []int{0, 3} {
					if math.Abs(l[i]+3.01) > 0.2 {
						t.Errorf("%v Hz at %.2f dB, want -3", freqs[i], l[i])
					}
				}
				for _, i := range []int{1, 2} {
					if l[i] > -40 {
						t.Errorf("%v Hz at %.1f dB, want none", freqs[i], l[i])
					}
				}
			},
		},
		{
			name: "bursts separated by silence keep their share of the power",
			pcm:  append(append(tone(rate, 3200, 620, 9000), make([]int16, 4800)...), tone(rate, 3200, 620, 9000)...),
			check: func(t *testing.T, l []float64) {
				if math.Abs(l[2]) > 0.1 {
					t.Errorf("620 Hz at %.2f dB, want 0", l[2])
				}
			},
		},
		{
			name: "silence has no level at any frequency",
			pcm:  make([]int16, 1600),
			check: func(t *testing.T, l []float64) {
				for i, v := range l {
					if !math.IsInf(v, -1) {
						t.Errorf("%v Hz at %.1f dB in silence", freqs[i], v)
					}
				}
			},
		},
		{
			name: "a block not yet complete is not counted",
			pcm:  tone(rate, 799, 400, 9000),
			check: func(t *testing.T, l []float64) {
				if !math.IsInf(l[0], -1) {
					t.Errorf("400 Hz at %.1f dB from an incomplete block", l[0])
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := NewToneBank(rate, block, freqs)
			// Feed in odd-sized chunks, as packets of any codec come.
			for pcm := tt.pcm; len(pcm) > 0; {
				n := min(len(pcm), 173)
				b.Write(pcm[:n])
				pcm = pcm[n:]
			}
			tt.check(t, b.Levels())
		})
	}
	t.Run("reset forgets the power measured", func(t *testing.T) {
		b := NewToneBank(rate, block, freqs)
		b.Write(tone(rate, 1600, 400, 9000))
		b.Reset()
		if l := b.Levels(); !math.IsInf(l[0], -1) || b.Energy() != 0 {
			t.Errorf("after Reset: level %v, energy %v", l[0], b.Energy())
		}
	})
}

func TestOnset(t *testing.T) {
	const rate = 8000
	quiet := make([]int16, 1600) // 200 ms
	burst := tone(rate, 800, 400, 9000)
	// A tone at amplitude 9000 and 400 Hz first reaches 1000 at sample 1
	// (9000·sin(2π·400/8000) = 2781).
	tests := []struct {
		name   string
		chunks [][]int16
		want   []int // per chunk
	}{
		{"a burst after silence starts at its first loud sample", [][]int16{quiet, burst}, []int{-1, 1}},
		{"a burst at the very start counts", [][]int16{burst}, []int{1}},
		{"a burst continuing into the next chunk is not a new onset", [][]int16{quiet, burst[:400], burst[400:]}, []int{-1, 1, -1}},
		{"a second burst after too short a pause is not an onset", [][]int16{burst, make([]int16, 800), burst}, []int{1, -1, -1}},
		{"a second burst after a long enough pause is an onset", [][]int16{burst, quiet, burst}, []int{1, -1, 1}},
		{"noise below half the threshold does not start a burst", [][]int16{tone(rate, 800, 400, 400), quiet, burst}, []int{1 - 2, -1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOnset(1000, 1600)
			for i, c := range tt.chunks {
				if got := o.Write(c); got != tt.want[i] {
					t.Errorf("chunk %d: onset at %d, want %d", i, got, tt.want[i])
				}
			}
		})
	}
	t.Run("a gap reported as silence counts as the quiet before a burst", func(t *testing.T) {
		o := NewOnset(1000, 1600)
		o.Write(burst)
		o.Silence(1600)
		if got := o.Write(burst); got != 1 {
			t.Errorf("onset at %d, want 1", got)
		}
	})
}

func BenchmarkToneBank(b *testing.B) {
	bank := NewToneBank(8000, 800, []float64{400, 510, 620, 730, 840})
	pcm := tone(8000, 160, 400, 9000)
	b.ReportAllocs()
	for b.Loop() {
		bank.Write(pcm)
	}
}
