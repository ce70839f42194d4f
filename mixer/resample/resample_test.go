package resample

import (
	"errors"
	"fmt"
	"math"
	"testing"
)

// tone returns n samples of a sine at freq Hz sampled at rate, with the given
// peak amplitude.
func tone(n, rate int, freq, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return s
}

// fitSine returns the amplitude of the freq Hz component of x (least squares
// over whole samples) and the energy of what remains after subtracting it.
func fitSine(x []int16, rate int, freq float64) (amp, residual, total float64) {
	var ss, sc, cc, ys, yc float64
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		s, c := math.Sin(w), math.Cos(w)
		ss += s * s
		sc += s * c
		cc += c * c
		ys += float64(v) * s
		yc += float64(v) * c
	}
	det := ss*cc - sc*sc
	a := (ys*cc - yc*sc) / det
	b := (yc*ss - ys*sc) / det
	for i, v := range x {
		w := 2 * math.Pi * freq * float64(i) / float64(rate)
		e := float64(v) - a*math.Sin(w) - b*math.Cos(w)
		residual += e * e
		total += float64(v) * float64(v)
	}
	return math.Hypot(a, b), residual, total
}

func db(ratio float64) float64 { return 10 * math.Log10(ratio) }

// run feeds in to r in 20 ms frames, as the mixer does.
func run(t testing.TB, r *Resampler, in []int16) []int16 {
	t.Helper()
	frame := r.FromRate() / 50
	out := make([]int16, 0, len(in)*r.ToRate()/r.FromRate())
	buf := make([]int16, r.ToRate()/50)
	for len(in) >= frame {
		n := r.Process(in[:frame], buf)
		if n != len(buf) {
			t.Fatalf("Process wrote %d samples for a 20 ms frame, want %d", n, len(buf))
		}
		out = append(out, buf[:n]...)
		in = in[frame:]
	}
	return out
}

func mustNew(t testing.TB, from, to int) *Resampler {
	t.Helper()
	r, err := New(from, to)
	if err != nil {
		t.Fatalf("New(%d, %d): %v", from, to, err)
	}
	return r
}

var ratios = []struct{ from, to int }{
	{8000, 16000}, {16000, 8000},
	{16000, 48000}, {48000, 16000},
	{8000, 48000}, {48000, 8000},
}

func TestNew(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		wantErr  error
	}{
		{"an integer ratio up is accepted", 8000, 48000, nil},
		{"an integer ratio down is accepted", 48000, 16000, nil},
		{"equal rates are accepted", 16000, 16000, nil},
		{"a small rational ratio is accepted", 16000, 24000, nil},
		{"a zero rate is refused", 0, 8000, ErrRate},
		{"a negative rate is refused", 8000, -16000, ErrRate},
		{"a ratio with large terms is refused", 44100, 48000, ErrRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.from, tt.to)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%d, %d) error = %v, want %v", tt.from, tt.to, err, tt.wantErr)
			}
		})
	}
}

func TestRoundTripKeepsToneClean(t *testing.T) {
	tests := []struct {
		name string
		low  int
		high int
	}{
		{"a 1 kHz tone survives 8 kHz to 48 kHz and back", 8000, 48000},
		{"a 1 kHz tone survives 8 kHz to 16 kHz and back", 8000, 16000},
		{"a 1 kHz tone survives 16 kHz to 48 kHz and back", 16000, 48000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, down := mustNew(t, tt.low, tt.high), mustNew(t, tt.high, tt.low)
			in := tone(tt.low, tt.low, 1000, 12000) // one second
			out := run(t, down, run(t, up, in))
			delay := up.Delay()*tt.low/tt.high + down.Delay()
			var sig, noise float64
			for i := tt.low / 10; i+delay < len(out); i++ {
				e := float64(out[i+delay]) - float64(in[i])
				sig += float64(in[i]) * float64(in[i])
				noise += e * e
			}
			if snr := db(sig / noise); snr < 50 {
				t.Fatalf("SNR after round trip with delay %d = %.1f dB, want >= 50 dB", delay, snr)
			}
		})
	}
}

func TestStopbandIsAttenuated(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		freq     float64
	}{
		{"a 6 kHz tone going 48 kHz to 8 kHz", 48000, 8000, 6000},
		{"a 6 kHz tone going 16 kHz to 8 kHz", 16000, 8000, 6000},
		{"a 4.7 kHz tone going 48 kHz to 8 kHz", 48000, 8000, 4700},
		{"a 12 kHz tone going 48 kHz to 16 kHz", 48000, 16000, 12000},
		{"a 20 kHz tone going 48 kHz to 16 kHz", 48000, 16000, 20000},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is attenuated by at least 50 dB", func(t *testing.T) {
			r := mustNew(t, tt.from, tt.to)
			in := tone(tt.from, tt.from, tt.freq, 16000)
			out := run(t, r, in)[tt.to/10:] // past the filter's start-up
			var ein, eout float64
			for _, v := range in {
				ein += float64(v) * float64(v)
			}
			for _, v := range out {
				eout += float64(v) * float64(v)
			}
			ein /= float64(len(in))
			eout /= float64(len(out))
			if att := db(ein / math.Max(eout, 1e-3)); att < 50 {
				t.Fatalf("attenuation = %.1f dB, want >= 50 dB", att)
			}
		})
	}
}

func TestPassbandIsFlat(t *testing.T) {
	for _, rt := range ratios {
		for _, freq := range []float64{100, 300, 1000, 2000, 3000, 3400} {
			name := fmt.Sprintf("a %.0f Hz tone going %d Hz to %d Hz keeps its level within 0.05 dB and gains no images", freq, rt.from, rt.to)
			t.Run(name, func(t *testing.T) {
				r := mustNew(t, rt.from, rt.to)
				out := run(t, r, tone(rt.from, rt.from, freq, 10000))[rt.to/10:]
				amp, residual, total := fitSine(out, rt.to, freq)
				if g := 20 * math.Log10(amp/10000); math.Abs(g) > 0.05 {
					t.Errorf("gain = %+.3f dB, want within ±0.05 dB", g)
				}
				if clean := db(total / residual); clean < 50 {
					t.Errorf("tone to everything else = %.1f dB, want >= 50 dB", clean)
				}
			})
		}
	}
}

func TestEqualRatesCopy(t *testing.T) {
	r := mustNew(t, 16000, 16000)
	in := tone(320, 16000, 440, 20000)
	out := make([]int16, 320)
	if n := r.Process(in, out); n != len(in) {
		t.Fatalf("Process wrote %d samples, want %d", n, len(in))
	}
	for i := range in {
		if in[i] != out[i] {
			t.Fatalf("sample %d = %d, want %d", i, out[i], in[i])
		}
	}
	if d := r.Delay(); d != 0 {
		t.Fatalf("Delay() = %d, want 0", d)
	}
}

func TestImpulseComesOutAfterDelay(t *testing.T) {
	for _, rt := range ratios {
		t.Run(fmt.Sprintf("going %d Hz to %d Hz the peak is at the reported delay", rt.from, rt.to), func(t *testing.T) {
			r := mustNew(t, rt.from, rt.to)
			in := make([]int16, rt.from/10)
			at := rt.from / 50
			in[at] = 30000
			out := run(t, r, in)
			peak := 0
			for i := range out {
				if abs(out[i]) > abs(out[peak]) {
					peak = i
				}
			}
			if want := at*rt.to/rt.from + r.Delay(); peak != want {
				t.Fatalf("peak at output sample %d, want %d", peak, want)
			}
		})
	}
}

func abs(v int16) int {
	if v < 0 {
		return -int(v)
	}
	return int(v)
}

func TestStreamingMatchesOneShot(t *testing.T) {
	for _, rt := range ratios {
		t.Run(fmt.Sprintf("going %d Hz to %d Hz odd-sized pieces give the same output as one call", rt.from, rt.to), func(t *testing.T) {
			in := tone(rt.from/2, rt.from, 1234, 15000)
			for i := range in {
				in[i] += int16(i*7919%1001 - 500) // some broadband content
			}
			whole := mustNew(t, rt.from, rt.to)
			want := make([]int16, whole.OutLen(len(in)))
			want = want[:whole.Process(in, want)]

			pieces := mustNew(t, rt.from, rt.to)
			var got []int16
			buf := make([]int16, 4096)
			for rest, step := in, 1; len(rest) > 0; step = step%97 + 13 {
				n := min(step, len(rest))
				w := pieces.Process(rest[:n], buf)
				got = append(got, buf[:w]...)
				rest = rest[n:]
			}
			if len(got) != len(want) {
				t.Fatalf("pieces gave %d samples, one call %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("sample %d = %d, want %d", i, got[i], want[i])
				}
			}
		})
	}
}

func TestOutLen(t *testing.T) {
	tests := []struct {
		name     string
		from, to int
		in       int
		want     int
	}{
		{"a 20 ms frame at 8 kHz gives 960 samples at 48 kHz", 8000, 48000, 160, 960},
		{"a 20 ms frame at 48 kHz gives 160 samples at 8 kHz", 48000, 8000, 960, 160},
		{"a 10 ms frame at 16 kHz gives 480 samples at 48 kHz", 16000, 48000, 160, 480},
		{"a 20 ms frame at 16 kHz gives 160 samples at 8 kHz", 16000, 8000, 320, 160},
		{"an input longer than a chunk gives all its samples", 48000, 16000, 3 * chunk, chunk},
		{"one sample at 48 kHz gives one sample at 8 kHz at the start", 48000, 8000, 1, 1},
		{"no input gives no output", 8000, 16000, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustNew(t, tt.from, tt.to)
			if got := r.OutLen(tt.in); got != tt.want {
				t.Fatalf("OutLen(%d) = %d, want %d", tt.in, got, tt.want)
			}
			out := make([]int16, tt.want)
			if got := r.Process(make([]int16, tt.in), out); got != tt.want {
				t.Fatalf("Process wrote %d, want %d", got, tt.want)
			}
		})
	}
}

func TestShortOutputPanics(t *testing.T) {
	r := mustNew(t, 8000, 16000)
	defer func() {
		if recover() == nil {
			t.Fatal("Process with a short output buffer did not panic")
		}
	}()
	r.Process(make([]int16, 160), make([]int16, 319))
}

func TestResetForgetsHistory(t *testing.T) {
	r := mustNew(t, 8000, 48000)
	out := make([]int16, 960)
	r.Process(tone(160, 8000, 500, 30000), out)
	r.Reset()
	r.Process(make([]int16, 160), out)
	for i, v := range out {
		if v != 0 {
			t.Fatalf("sample %d after Reset and silence = %d, want 0", i, v)
		}
	}
}

func TestProcessDoesNotAllocate(t *testing.T) {
	for _, rt := range ratios {
		t.Run(fmt.Sprintf("going %d Hz to %d Hz a 20 ms frame allocates nothing", rt.from, rt.to), func(t *testing.T) {
			r := mustNew(t, rt.from, rt.to)
			in := tone(rt.from/50, rt.from, 1000, 8000)
			out := make([]int16, rt.to/50)
			if a := testing.AllocsPerRun(100, func() { r.Process(in, out) }); a != 0 {
				t.Fatalf("%v allocations per frame, want 0", a)
			}
		})
	}
}

func BenchmarkProcess(b *testing.B) {
	for _, rt := range ratios {
		b.Run(fmt.Sprintf("%dto%d_20ms", rt.from/1000, rt.to/1000), func(b *testing.B) {
			r := mustNew(b, rt.from, rt.to)
			in := tone(rt.from/50, rt.from, 1000, 8000)
			out := make([]int16, rt.to/50)
			b.ReportAllocs()
			for b.Loop() {
				r.Process(in, out)
			}
		})
	}
}
