// Package audiocheck analyses the audio a simulated caller receives from a
// conference bridge: which tones it hears and how loud (a bank of Goertzel
// filters over fixed blocks), and when a tone burst begins (an onset
// detector), from which the load generator computes the bridge's added
// latency.
//
// It works on decoded 16-bit PCM at any sample rate and reads no clock; the
// caller says what time a chunk of samples belongs to. Nothing here is safe
// for concurrent use.
package audiocheck

import (
	"math"
)

// ToneBank measures the power of a set of frequencies, block by block, with
// one Goertzel filter each (the DFT term at that frequency). A frequency
// with a whole number of cycles per block is orthogonal to every other such
// frequency, so the levels of simultaneous tones do not leak into each
// other: choose frequencies on a grid of rate/block Hz.
type ToneBank struct {
	block int
	coef  []float64
	s1    []float64
	s2    []float64
	n     int     // samples in the current block
	sq    float64 // sum of squares in the current block
	power []float64
	total float64
}

// NewToneBank returns a bank for freqs (Hz) at rate, over blocks of block
// samples.
func NewToneBank(rate, block int, freqs []float64) *ToneBank {
	b := &ToneBank{block: max(block, 1), coef: make([]float64, len(freqs)), s1: make([]float64, len(freqs)),
		s2: make([]float64, len(freqs)), power: make([]float64, len(freqs))}
	for i, f := range freqs {
		b.coef[i] = 2 * math.Cos(2*math.Pi*f/float64(rate))
	}
	return b
}

// Write feeds samples; a block completes every block samples.
func (b *ToneBank) Write(pcm []int16) {
	for len(pcm) > 0 {
		n := min(len(pcm), b.block-b.n)
		for i, k := range b.coef {
			s1, s2 := b.s1[i], b.s2[i]
			for _, v := range pcm[:n] {
				s1, s2 = float64(v)+k*s1-s2, s1
			}
			b.s1[i], b.s2[i] = s1, s2
		}
		for _, v := range pcm[:n] {
			b.sq += float64(v) * float64(v)
		}
		b.n += n
		pcm = pcm[n:]
		if b.n == b.block {
			b.endBlock()
		}
	}
}

// endBlock adds the block's tone powers. For a block of N samples the
// power of a sine of amplitude A at a filter's frequency is
// 2·|X|²/N = N·A²/2, the same as its sum of squares, so the ratio of the
// two is the tone's share of the signal.
func (b *ToneBank) endBlock() {
	n := float64(b.n)
	for i, k := range b.coef {
		s1, s2 := b.s1[i], b.s2[i]
		b.power[i] += 2 * (s1*s1 + s2*s2 - k*s1*s2) / n
		b.s1[i], b.s2[i] = 0, 0
	}
	b.total += b.sq
	b.sq, b.n = 0, 0
}

// Levels returns each frequency's share of the power of every complete
// block so far, in dB (0 dB: the signal is that tone alone; -Inf: no
// signal or no trace of the tone).
func (b *ToneBank) Levels() []float64 {
	out := make([]float64, len(b.power))
	for i, p := range b.power {
		if b.total <= 0 || p <= 0 {
			out[i] = math.Inf(-1)
			continue
		}
		out[i] = 10 * math.Log10(p/b.total)
	}
	return out
}

// Energy is the sum of squares of every complete block so far.
func (b *ToneBank) Energy() float64 { return b.total }

// Reset forgets every block, and the one under way.
func (b *ToneBank) Reset() {
	clear(b.s1)
	clear(b.s2)
	clear(b.power)
	b.n, b.sq, b.total = 0, 0, 0
}
