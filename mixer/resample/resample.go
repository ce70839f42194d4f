// Package resample converts mono 16-bit PCM between the sample rates the
// audio MCU mixes and codes at: 8, 16 and 48 kHz (ratios ×2, ×3, ×6 either
// way). Any ratio L/M of two rates is accepted, although the filters are
// sized for the small ratios above.
//
// The converter is a polyphase FIR filter: one linear-phase low-pass
// prototype (a windowed sinc, Kaiser window) is designed at the rate
// fromRate·L = toRate·M when the Resampler is built, then split into L
// sub-filters so that each output sample costs one short dot product and no
// zero-stuffed input is ever multiplied. State is kept between calls, so a
// stream may be fed in frames of any size; Process does not allocate.
//
// The low-pass passes up to 0.425·min(fromRate, toRate) (3.4 kHz when 8 kHz is
// involved, the telephone band of ITU-T G.712) flat within ±0.01 dB, and stops
// from 0.575·min(fromRate, toRate) with at least 70 dB of attenuation. The
// transition band straddles the lower Nyquist frequency, so what aliases (or
// images) lands only between the passband edge and that Nyquist frequency.
package resample

import (
	"errors"
	"fmt"
	"math"
)

// ErrRate is returned by New for a rate that is not positive or a ratio whose
// polyphase filter would be unreasonably large.
var ErrRate = errors.New("resample: unsupported sample rate")

const (
	// passEdge and stopEdge are the band edges of the low-pass, as fractions
	// of the lower of the two rates.
	passEdge = 0.425
	stopEdge = 0.575
	// stopAtten is the stopband attenuation the Kaiser design aims for, in dB.
	stopAtten = 70.0
	// maxPhases bounds L (and M) after reduction so that tap tables stay small.
	maxPhases = 16
	// chunk is how many input samples are filtered per pass; longer inputs are
	// processed in several passes over a fixed buffer, so Process never allocates.
	chunk = 960
)

// Resampler converts one mono stream from one rate to another. It is not safe
// for concurrent use; give each stream its own.
type Resampler struct {
	from, to int
	up, down int // L and M: output rate = input rate · up / down

	taps  int       // taps per polyphase branch (K)
	bank  []float32 // up branches of taps coefficients each, time-reversed
	buf   []float32 // taps-1 samples of history, then up to chunk new samples
	phase int       // position of the next output, in 1/up input samples, from the first new sample
	delay int       // group delay in output samples
}

// New returns a Resampler from fromRate to toRate (in Hz). Equal rates give a
// Resampler that copies.
func New(fromRate, toRate int) (*Resampler, error) {
	if fromRate <= 0 || toRate <= 0 {
		return nil, fmt.Errorf("%w: %d Hz to %d Hz", ErrRate, fromRate, toRate)
	}
	g := gcd(fromRate, toRate)
	r := &Resampler{from: fromRate, to: toRate, up: toRate / g, down: fromRate / g}
	if r.up > maxPhases || r.down > maxPhases {
		return nil, fmt.Errorf("%w: ratio %d/%d is not a small integer ratio", ErrRate, r.up, r.down)
	}
	if r.up == 1 && r.down == 1 {
		return r, nil
	}
	r.design()
	return r, nil
}

// design computes the Kaiser-windowed sinc prototype and splits it into the
// polyphase bank. The half-length is rounded up to a multiple of L·M so that
// the group delay is a whole number of both input and output samples, which
// keeps frame alignment simple for callers.
func (r *Resampler) design() {
	high := float64(r.from) * float64(r.up) // the prototype's sample rate
	low := float64(min(r.from, r.to))
	cutoff := 0.5 * low / high                                // cycles per high-rate sample
	width := 2 * math.Pi * (stopEdge - passEdge) * low / high // transition, rad per sample

	// Kaiser's estimates (Oppenheim & Schafer, Discrete-Time Signal
	// Processing, §7.5.3): order and β for the wanted attenuation.
	order := (stopAtten - 7.95) / (2.285 * width)
	beta := 0.1102 * (stopAtten - 8.7)
	step := r.up * r.down
	half := (int(math.Ceil(order/2)) + step - 1) / step * step
	n := 2*half + 1

	proto := make([]float64, n)
	i0beta := besselI0(beta)
	for i := range proto {
		t := float64(i - half)
		x := 2 * cutoff * t
		sinc := 1.0
		if x != 0 {
			sinc = math.Sin(math.Pi*x) / (math.Pi * x)
		}
		ratio := t / float64(half)
		w := besselI0(beta*math.Sqrt(1-ratio*ratio)) / i0beta
		proto[i] = 2 * cutoff * sinc * w
	}

	// Branches are padded with zero taps (at the old end) to a multiple of
	// four, the unroll of dot.
	r.taps = ((n+r.up-1)/r.up + 3) &^ 3
	r.bank = make([]float32, r.up*r.taps)
	for p := range r.up {
		// Branch p holds proto[p], proto[p+L], ... Each branch is scaled to
		// unit DC gain: the L branches then agree at DC, so a constant input
		// makes no image at multiples of the input rate.
		var sum float64
		for k := range r.taps {
			if j := k*r.up + p; j < n {
				sum += proto[j]
			}
		}
		branch := r.bank[p*r.taps : (p+1)*r.taps]
		for k := range r.taps {
			if j := k*r.up + p; j < n {
				branch[r.taps-1-k] = float32(proto[j] / sum)
			}
		}
	}
	r.buf = make([]float32, r.taps-1+chunk)
	r.delay = half / r.down
}

// besselI0 is the modified Bessel function of the first kind, order 0, by its
// power series; the terms fall fast for the β used here.
func besselI0(x float64) float64 {
	sum, term := 1.0, 1.0
	for k := 1; k < 200; k++ {
		f := x / (2 * float64(k))
		term *= f * f
		sum += term
		if term < sum*1e-17 {
			break
		}
	}
	return sum
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// FromRate returns the input sample rate in Hz.
func (r *Resampler) FromRate() int { return r.from }

// ToRate returns the output sample rate in Hz.
func (r *Resampler) ToRate() int { return r.to }

// Delay returns the group delay of the filter in output samples: an impulse
// at input sample i comes out at output sample i·toRate/fromRate + Delay().
// It is zero for equal rates.
func (r *Resampler) Delay() int { return r.delay }

// OutLen returns how many samples the next Process call writes for n input
// samples. For a stream fed in whole frames (n·toRate divisible by fromRate,
// e.g. any 10 or 20 ms frame at the rates above) it is exactly
// n·toRate/fromRate on every call.
func (r *Resampler) OutLen(n int) int {
	if n <= 0 {
		return 0
	}
	end := n * r.up
	if r.phase >= end {
		return 0
	}
	return (end - r.phase + r.down - 1) / r.down
}

// Reset forgets the stream: history is cleared and the next sample starts a
// new one, as after New.
func (r *Resampler) Reset() {
	clear(r.buf)
	r.phase = 0
}

// Process converts in and writes the result to out, returning how many
// samples it wrote (OutLen(len(in))). out must have room for them; a shorter
// out is a programming error and panics, since dropping samples silently
// would desynchronise the stream.
func (r *Resampler) Process(in, out []int16) int {
	if r.bank == nil {
		return copy(out[:len(in)], in)
	}
	if need := r.OutLen(len(in)); len(out) < need {
		panic(fmt.Sprintf("resample: output buffer holds %d samples, need %d", len(out), need))
	}
	written := 0
	for len(in) > 0 {
		c := min(len(in), chunk)
		written += r.processChunk(in[:c], out[written:])
		in = in[c:]
	}
	return written
}

// processChunk filters up to chunk input samples. buf holds taps-1 samples of
// history followed by the new ones; output sample n at high-rate time
// t = phase + n·M uses input sample i = t div L as its newest tap and
// branch p = t mod L.
func (r *Resampler) processChunk(in []int16, out []int16) int {
	hist := r.taps - 1
	buf := r.buf[:hist+len(in)]
	for j, s := range in {
		buf[hist+j] = float32(s)
	}
	end := len(in) * r.up
	i, p := r.phase/r.up, r.phase%r.up
	w := 0
	for t := r.phase; t < end; t += r.down {
		out[w] = toInt16(dot(r.bank[p*r.taps:(p+1)*r.taps], buf[i:i+r.taps]))
		w++
		p += r.down
		for p >= r.up {
			p -= r.up
			i++
		}
	}
	r.phase = i*r.up + p - end
	copy(r.buf[:hist], buf[len(in):])
	return w
}

// dot is the inner product of one branch with the input window, with four
// accumulators so that the multiplies overlap.
func dot(h, x []float32) float32 {
	x = x[:len(h)]
	var a0, a1, a2, a3 float32
	for len(h) >= 4 && len(x) >= 4 {
		a0 += h[0] * x[0]
		a1 += h[1] * x[1]
		a2 += h[2] * x[2]
		a3 += h[3] * x[3]
		h, x = h[4:], x[4:]
	}
	return (a0 + a1) + (a2 + a3)
}

// toInt16 rounds to nearest and saturates.
func toInt16(v float32) int16 {
	switch {
	case v >= math.MaxInt16:
		return math.MaxInt16
	case v <= math.MinInt16:
		return math.MinInt16
	case v >= 0:
		return int16(v + 0.5)
	default:
		return int16(v - 0.5)
	}
}
