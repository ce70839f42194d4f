package plc

import (
	"fmt"
	"math"
	"testing"
)

// voiced returns n samples of a harmonic-rich periodic signal with the given
// period in samples, like a voiced vowel: a few harmonics of decreasing level.
func voiced(n, period int, start int) []int16 {
	s := make([]int16, n)
	for i := range s {
		ph := 2 * math.Pi * float64(start+i) / float64(period)
		v := 6000*math.Sin(ph) + 3000*math.Sin(2*ph+0.5) + 1500*math.Sin(3*ph+1) + 700*math.Sin(5*ph+2)
		s[i] = int16(v)
	}
	return s
}

func energy(s []int16) float64 {
	var e float64
	for _, v := range s {
		e += float64(v) * float64(v)
	}
	return e
}

func snr(want, got []int16) float64 {
	var noise float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		noise += d * d
	}
	return 10 * math.Log10(energy(want)/noise)
}

// primed returns a Concealer that has played 100 ms of a voiced signal.
func primed(rate, period int) *Concealer {
	c := New(rate)
	frame := rate / 50
	for f := range 5 {
		c.Received(voiced(frame, period, f*frame))
	}
	return c
}

func TestFindPitch(t *testing.T) {
	tests := []struct {
		rate, period int
	}{
		{8000, 40}, {8000, 57}, {8000, 120},
		{16000, 97}, {16000, 200},
		{48000, 301}, {48000, 700},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("a period of %d samples at %d Hz is found", tt.period, tt.rate), func(t *testing.T) {
			c := primed(tt.rate, tt.period)
			if got := c.findPitch(); got != tt.period {
				t.Fatalf("findPitch() = %d, want %d", got, tt.period)
			}
		})
	}
}

func TestConcealContinuesVoicedSignal(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run(fmt.Sprintf("the first 10 ms at %d Hz follow the true signal within 20 dB", rate), func(t *testing.T) {
			period := rate / 125 // 8 ms
			c := primed(rate, period)
			frame := rate / 50
			got := make([]int16, frame)
			c.Conceal(got)
			want := voiced(frame, period, 5*frame)
			n := rate / 100
			if s := snr(want[:n], got[:n]); s < 20 {
				t.Fatalf("SNR of the first 10 ms = %.1f dB, want >= 20 dB", s)
			}
		})
	}
}

func TestConcealFadesToSilence(t *testing.T) {
	const rate = 8000
	c := primed(rate, 61)
	frame := rate / 100 // 10 ms frames
	level := make([]float64, 8)
	buf := make([]int16, frame)
	for i := range level {
		c.Conceal(buf)
		level[i] = energy(buf)
	}
	t.Run("the first 10 ms keep the level of the signal", func(t *testing.T) {
		ref := energy(voiced(frame, 61, 0))
		if r := level[0] / ref; r < 0.7 || r > 1.3 {
			t.Fatalf("energy ratio of the first 10 ms = %.2f, want about 1", r)
		}
	})
	t.Run("each 10 ms after the first is quieter than the one before", func(t *testing.T) {
		for i := 1; i < 6; i++ {
			if level[i] >= level[i-1] {
				t.Fatalf("energy of 10 ms block %d = %.0f, not below block %d (%.0f)", i, level[i], i-1, level[i-1])
			}
		}
	})
	t.Run("after 60 ms of loss the output is silent", func(t *testing.T) {
		for i := 6; i < len(level); i++ {
			if level[i] != 0 {
				t.Fatalf("energy of 10 ms block %d = %.0f, want 0", i, level[i])
			}
		}
	})
}

func TestConcealWithoutHistoryIsSilent(t *testing.T) {
	c := New(16000)
	buf := make([]int16, 320)
	for i := range buf {
		buf[i] = 1234
	}
	if n := c.Conceal(buf); n != len(buf) {
		t.Fatalf("Conceal returned %d, want %d", n, len(buf))
	}
	if e := energy(buf); e != 0 {
		t.Fatalf("energy = %.0f, want 0", e)
	}
}

func TestReceivedEndsLoss(t *testing.T) {
	const rate = 8000
	frame := rate / 50
	t.Run("a good frame resets the fade so the next loss starts at full level", func(t *testing.T) {
		c := primed(rate, 50)
		buf := make([]int16, frame)
		for range 3 {
			c.Conceal(buf) // 60 ms: silent by now
		}
		for f := range 3 {
			c.Received(voiced(frame, 50, f*frame))
		}
		if c.Lost() != 0 {
			t.Fatalf("Lost() = %d after a good frame, want 0", c.Lost())
		}
		c.Conceal(buf)
		ref := energy(voiced(frame, 50, 0)[:rate/100])
		if r := energy(buf[:rate/100]) / ref; r < 0.7 {
			t.Fatalf("energy ratio of the first 10 ms of the new loss = %.2f, want about 1", r)
		}
	})
	t.Run("the first good frame fades in from the concealed signal and is untouched after", func(t *testing.T) {
		c := primed(rate, 50)
		buf := make([]int16, frame)
		for range 3 {
			c.Conceal(buf) // silent by now, so the good frame must fade in from zero
		}
		good := voiced(frame, 50, 0)
		played := append([]int16(nil), good...)
		c.Received(played)
		if played[0] == good[0] && good[0] != 0 {
			t.Fatalf("first sample = %d, unchanged; want a fade from silence", played[0])
		}
		if a, b := math.Abs(float64(played[0])), math.Abs(float64(good[0])); a > b/5+1 {
			t.Fatalf("first sample = %d, want near silence (good frame has %d)", played[0], good[0])
		}
		fadeLen := rate * recoverMaxMs / 1000
		for i := fadeLen; i < frame; i++ {
			if played[i] != good[i] {
				t.Fatalf("sample %d = %d after the cross-fade, want %d", i, played[i], good[i])
			}
		}
	})
	t.Run("a frame without a loss before it is not changed", func(t *testing.T) {
		c := primed(rate, 50)
		good := voiced(frame, 50, 17)
		played := append([]int16(nil), good...)
		c.Received(played)
		for i := range good {
			if played[i] != good[i] {
				t.Fatalf("sample %d = %d, want %d", i, played[i], good[i])
			}
		}
	})
}

func TestConcealHasNoClick(t *testing.T) {
	for _, period := range []int{40, 53, 88, 120} {
		t.Run(fmt.Sprintf("with a period of %d samples no step exceeds the signal's own largest step", period), func(t *testing.T) {
			c := primed(8000, period)
			ref := voiced(800, period, 0)
			maxStep := 0.0
			for i := 1; i < len(ref); i++ {
				maxStep = math.Max(maxStep, math.Abs(float64(ref[i])-float64(ref[i-1])))
			}
			buf := make([]int16, 160)
			prev := voiced(160, period, 4*160)[159] // last sample played by primed
			for range 3 {
				c.Conceal(buf)
				for i, v := range buf {
					if step := math.Abs(float64(v) - float64(prev)); step > 1.2*maxStep {
						t.Fatalf("step of %.0f at sample %d, signal's largest is %.0f", step, i, maxStep)
					}
					prev = v
				}
			}
		})
	}
}

func TestNewPanicsOnBadRate(t *testing.T) {
	for _, rate := range []int{0, -8000, 1000, 384000} {
		t.Run(fmt.Sprintf("a rate of %d Hz panics", rate), func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatalf("New(%d) did not panic", rate)
				}
			}()
			New(rate)
		})
	}
}

func TestDoesNotAllocate(t *testing.T) {
	c := primed(48000, 333)
	buf := make([]int16, 960)
	good := voiced(960, 333, 0)
	a := testing.AllocsPerRun(50, func() {
		c.Conceal(buf)
		c.Conceal(buf)
		copy(buf, good)
		c.Received(buf)
	})
	if a != 0 {
		t.Fatalf("%v allocations per loss and recovery, want 0", a)
	}
}

func BenchmarkConceal(b *testing.B) {
	for _, rate := range []int{8000, 16000, 48000} {
		b.Run(fmt.Sprintf("%dk_first_20ms", rate/1000), func(b *testing.B) {
			c := primed(rate, rate/150)
			good := voiced(rate/50, rate/150, 0)
			buf := make([]int16, rate/50)
			b.ReportAllocs()
			for b.Loop() {
				c.Conceal(buf) // includes the pitch search
				copy(buf, good)
				c.Received(buf)
			}
		})
	}
}
