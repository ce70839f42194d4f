// Package plc conceals lost audio frames for codecs that have no concealment
// of their own (G.711, G.722, L16), by pitch-synchronous waveform repetition
// in the manner of ITU-T G.711 Appendix I.
//
// When a frame is lost, the last pitch period of the played signal is found
// by normalised autocorrelation and repeated; after 10 ms and 20 ms of loss
// the repeated segment grows to two and then three periods so the sound does
// not turn buzzy (as Appendix I does). The level holds for the first 10 ms
// and then falls linearly to silence at 60 ms of consecutive loss
// (also as Appendix I). Splices are smoothed by overlap-adding a quarter pitch period,
// and the first good frame after a loss is cross-faded from the concealed
// signal (4 ms, plus 1 ms for each further 10 ms lost, at most 10 ms).
//
// Unlike Appendix I, which delays all output by 3.75 ms to have room for the
// first splice, the Concealer adds no delay: the first repeated period starts
// right after the last played sample, where the correlation search makes the
// join smooth. A Concealer works on 16-bit mono PCM at any rate from 4 to
// 192 kHz and never allocates after New.
package plc

import (
	"fmt"
	"math"
)

// Durations from G.711 Appendix I, in milliseconds (and tenths for the
// pitch range, which is 66.7 to 200 Hz).
const (
	minPitchMs   = 5
	maxPitchMs   = 15
	corrWindowMs = 20 // the recent signal the lagged copy is compared with
	holdMs       = 10 // full level, then the fade starts
	silentMs     = 60 // the fade reaches silence
	growMs       = 10 // one more period is repeated at each multiple, up to three
	recoverMs    = 4  // cross-fade into the first good frame ...
	recoverMaxMs = 10 // ... growing by 1 ms per 10 ms lost, up to this
)

// Concealer fills lost frames of one stream. Feed it every frame that is
// played, in order: Received for decoded frames, Conceal in place of lost
// ones. It is not safe for concurrent use.
type Concealer struct {
	rate               int
	minPitch, maxPitch int
	window             int // correlation window in samples
	step               int // lag step of the coarse pitch search
	hold, silent, grow int // fade and growth points, in samples of loss

	hist []int16 // the last len(hist) samples played, oldest first

	// State of the current run of lost frames; lost is 0 between runs.
	lost    int     // samples concealed so far in this run
	pitch   int     // pitch period found at the start of the run
	overlap int     // splice cross-fade, a quarter period
	src     []int16 // the history at the start of the run: three periods and an overlap
	cycle   []int16 // the repeated segment, periods·pitch samples
	periods int
	pos     int     // next sample of cycle
	fade    []int16 // the old segment's continuation, faded out after growing
	fadePos int     // next sample of fade; len(fade) when no fade is running
}

// New returns a Concealer for PCM at sampleRate Hz. It panics for a rate
// outside 4000–192000 Hz, which no codec uses: callers validate rates first.
func New(sampleRate int) *Concealer {
	if sampleRate < 4000 || sampleRate > 192000 {
		panic(fmt.Sprintf("plc: sample rate %d Hz out of range", sampleRate))
	}
	ms := func(n int) int { return n * sampleRate / 1000 }
	c := &Concealer{
		rate:     sampleRate,
		minPitch: ms(minPitchMs),
		maxPitch: ms(maxPitchMs),
		window:   ms(corrWindowMs),
		step:     max(1, sampleRate/4000),
		hold:     ms(holdMs),
		silent:   ms(silentMs),
		grow:     ms(growMs),
	}
	maxOverlap := c.maxPitch / 4
	c.hist = make([]int16, max(c.window+c.maxPitch+c.step, 3*c.maxPitch+maxOverlap))
	c.src = make([]int16, 3*c.maxPitch+maxOverlap)
	c.cycle = make([]int16, 3*c.maxPitch)
	c.fade = make([]int16, maxOverlap)
	return c
}

// SampleRate returns the rate the Concealer was built for.
func (c *Concealer) SampleRate() int { return c.rate }

// Reset forgets the stream, as after New.
func (c *Concealer) Reset() {
	clear(c.hist)
	c.lost = 0
}

// Received records a decoded frame. When it ends a run of lost frames, the
// first milliseconds of pcm are rewritten in place to cross-fade from the
// concealed signal into the decoded one (as G.711 Appendix I does), so pcm must be
// the buffer that will be played.
func (c *Concealer) Received(pcm []int16) {
	if c.lost > 0 {
		ms := min(recoverMs+c.lost*100/c.rate, recoverMaxMs) // +1 ms per 10 ms lost
		n := min(c.rate*ms/1000, len(pcm))
		for i := range n {
			w := float32(i+1) / float32(n+1)
			concealed := float32(c.next()) * c.gain()
			pcm[i] = sat((1-w)*concealed + w*float32(pcm[i]))
			c.lost++
		}
		c.lost = 0
	}
	c.remember(pcm)
}

// Conceal fills pcm with the continuation of the stream in place of a lost
// frame and returns len(pcm).
func (c *Concealer) Conceal(pcm []int16) int {
	if c.lost == 0 {
		c.start()
	}
	for i := range pcm {
		if c.lost >= c.silent {
			clear(pcm[i:])
			c.lost += len(pcm) - i
			break
		}
		if c.lost%c.grow == 0 && c.lost > 0 && c.periods < 3 {
			c.addPeriod()
		}
		pcm[i] = sat(float32(c.next()) * c.gain())
		c.lost++
	}
	c.remember(pcm)
	return len(pcm)
}

// Lost reports how many samples have been concealed since the last received
// frame.
func (c *Concealer) Lost() int { return c.lost }

// gain is the level of the concealed signal after c.lost samples of loss:
// full for the first 10 ms, then falling linearly to zero at 60 ms.
func (c *Concealer) gain() float32 {
	switch {
	case c.lost < c.hold:
		return 1
	case c.lost >= c.silent:
		return 0
	default:
		return float32(c.silent-c.lost) / float32(c.silent-c.hold)
	}
}

// start begins a run of losses: it finds the pitch of the recent history,
// keeps the history the run will draw from and sets up one period.
func (c *Concealer) start() {
	c.pitch = c.findPitch()
	c.overlap = c.pitch / 4
	copy(c.src, c.hist[len(c.hist)-len(c.src):])
	c.periods = 0
	c.fadePos = len(c.fade)
	c.addPeriod()
	c.pos = 0
}

// addPeriod makes the repeated segment one pitch period longer, taking one
// more period from further back in the history, and cross-fades from the old
// segment into the new one over a quarter period, as G.711 Appendix I does. The
// new segment continues at the same point of the history as the old one.
func (c *Concealer) addPeriod() {
	if c.periods > 0 {
		old := c.cycle[:c.periods*c.pitch]
		at := c.pos
		c.fade = c.fade[:c.overlap]
		for i := range c.fade {
			c.fade[i] = old[c.pos]
			if c.pos++; c.pos == len(old) {
				c.pos = 0
			}
		}
		c.fadePos = 0
		// old[at] is src[end-len(old)+at]; the same sample of the longer
		// segment is one period further in.
		c.pos = at + c.pitch
	}
	c.periods++
	n := c.periods * c.pitch
	end := len(c.src)
	seg := c.cycle[:n]
	copy(seg, c.src[end-n:])
	// Smooth the wrap from the end of the segment back to its start: blend
	// its last samples into the ones that precede its start in the history,
	// which lead into seg[0] naturally.
	for m := range c.overlap {
		w := float32(m+1) / float32(c.overlap+1)
		a := float32(c.src[end-c.overlap+m])
		b := float32(c.src[end-n-c.overlap+m])
		seg[n-c.overlap+m] = sat((1-w)*a + w*b)
	}
}

// next returns the next sample of the repeated segment, through the
// cross-fade after a change of segment.
func (c *Concealer) next() int16 {
	seg := c.cycle[:c.periods*c.pitch]
	v := seg[c.pos]
	if c.pos++; c.pos == len(seg) {
		c.pos = 0
	}
	if c.fadePos < len(c.fade) {
		w := float32(c.fadePos+1) / float32(len(c.fade)+1)
		v = sat((1-w)*float32(c.fade[c.fadePos]) + w*float32(v))
		c.fadePos++
	}
	return v
}

// remember appends played samples to the history.
func (c *Concealer) remember(pcm []int16) {
	if len(pcm) >= len(c.hist) {
		copy(c.hist, pcm[len(pcm)-len(c.hist):])
		return
	}
	copy(c.hist, c.hist[len(pcm):])
	copy(c.hist[len(c.hist)-len(pcm):], pcm)
}

// findPitch returns the lag, between 5 and 15 ms, at which the history best
// matches its most recent 20 ms by normalised cross-correlation: first on a
// grid of one lag per step samples using every step-th sample, then at every
// lag around the best of those. A multiple of the period matches as well as
// the period itself, so if half or a third of the best lag matches nearly as
// well, that shorter lag is taken: repeating one true period gives the
// smoothest sound at the start of a loss.
func (c *Concealer) findPitch() int {
	fine := max(1, c.step/2) // window stride for lag-by-lag searches
	coarse, _ := c.search(c.minPitch, c.maxPitch, c.step, c.step)
	best, score := c.search(max(c.minPitch, coarse-c.step+1), min(c.maxPitch, coarse+c.step-1), 1, fine)
	for k := 3; k >= 2; k-- {
		if best/k < c.minPitch-c.step {
			continue
		}
		lo, hi := max(c.minPitch, best/k-c.step), min(c.maxPitch, best/k+c.step)
		if lo > hi {
			continue
		}
		if lag, s := c.search(lo, hi, 1, fine); s >= 0.9*score {
			return lag
		}
	}
	return best
}

// search returns the lag in [lo, hi], tried every lagStride, whose window
// (sampled every winStride) correlates best with the recent window, and its
// score, the correlation over the root energy of the lagged window.
func (c *Concealer) search(lo, hi, lagStride, winStride int) (int, float64) {
	end := len(c.hist)
	recent := c.hist[end-c.window:]
	best, bestScore := hi, math.Inf(-1)
	for lag := lo; lag <= hi; lag += lagStride {
		lagged := c.hist[end-c.window-lag : end-lag]
		var corr, energy float64
		for i := 0; i < len(recent); i += winStride {
			corr += float64(recent[i]) * float64(lagged[i])
			energy += float64(lagged[i]) * float64(lagged[i])
		}
		if energy == 0 {
			continue
		}
		if score := corr / math.Sqrt(energy); score > bestScore {
			best, bestScore = lag, score
		}
	}
	return best, bestScore
}

// sat rounds to nearest and saturates to 16 bits.
func sat(v float32) int16 {
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
