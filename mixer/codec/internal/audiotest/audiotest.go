// Package audiotest holds the signal generators and measurements the codec
// tests share: tones, sweeps, Goertzel power, SNR and delay alignment.
package audiotest

import "math"

// Tone returns n samples of a sine of freq Hz at rate Hz with peak amplitude amp.
func Tone(n, rate int, freq, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(math.Round(amp * math.Sin(2*math.Pi*freq*float64(i)/float64(rate))))
	}
	return s
}

// Sweep returns n samples of a linear chirp from f0 to f1 Hz at rate Hz.
func Sweep(n, rate int, f0, f1, amp float64) []int16 {
	s := make([]int16, n)
	dur := float64(n) / float64(rate)
	for i := range s {
		t := float64(i) / float64(rate)
		ph := 2 * math.Pi * (f0*t + (f1-f0)*t*t/(2*dur))
		s[i] = int16(math.Round(amp * math.Sin(ph)))
	}
	return s
}

// Goertzel returns the amplitude of the freq Hz component of x, sampled at
// rate Hz: a full-scale sine of amplitude A at freq gives about A.
func Goertzel(x []int16, rate int, freq float64) float64 {
	w := 2 * math.Pi * freq / float64(rate)
	coeff := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s0 := float64(v) + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	power := s1*s1 + s2*s2 - coeff*s1*s2
	return 2 * math.Sqrt(math.Max(power, 0)) / float64(len(x))
}

// Energy returns the sum of squares of x.
func Energy(x []int16) float64 {
	var e float64
	for _, v := range x {
		e += float64(v) * float64(v)
	}
	return e
}

// SNR returns the ratio in dB of the energy of ref to the energy of got−ref,
// over the shorter of the two; +Inf when they are equal.
func SNR(ref, got []int16) float64 {
	n := min(len(ref), len(got))
	var noise float64
	for i := range n {
		d := float64(got[i]) - float64(ref[i])
		noise += d * d
	}
	return 10 * math.Log10(Energy(ref[:n])/noise)
}

// Correlation returns the normalised cross-correlation of a and b over the
// shorter of the two, in [-1, 1].
func Correlation(a, b []int16) float64 {
	n := min(len(a), len(b))
	var ab, aa, bb float64
	for i := range n {
		x, y := float64(a[i]), float64(b[i])
		ab += x * y
		aa += x * x
		bb += y * y
	}
	if aa == 0 || bb == 0 {
		return 0
	}
	return ab / math.Sqrt(aa*bb)
}

// Delay returns the lag in [0, maxLag] at which got best matches ref, so that
// got[i+lag] ≈ ref[i].
func Delay(ref, got []int16, maxLag int) int {
	best, bestCorr := 0, math.Inf(-1)
	for lag := 0; lag <= maxLag && lag < len(got); lag++ {
		if c := Correlation(ref, got[lag:]); c > bestCorr {
			best, bestCorr = lag, c
		}
	}
	return best
}
