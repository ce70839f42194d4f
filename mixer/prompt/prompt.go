// Package prompt holds the audio the MCU plays into a conference: spoken
// prompts (enter PIN, wrong PIN, muted, ...) and join/leave tones.
//
// Spoken prompts are 16 kHz WAV files made with espeak-ng by gen.sh and
// embedded in the binary; tones are synthesised. A prompt is resampled once
// per mixing rate and cached, so playing it costs a copy per frame.
package prompt

import (
	"fmt"
	"math"
	"sync"

	"confab/mixer/resample"
)

// Prompt is a piece of mono 16-bit PCM audio at Rate samples per second.
// It is immutable once made and safe for concurrent use.
type Prompt struct {
	Name string
	Rate int
	PCM  []int16

	mu     sync.Mutex
	byRate map[int][]int16
}

// New makes a prompt from PCM samples at rate.
func New(name string, rate int, pcm []int16) *Prompt {
	return &Prompt{Name: name, Rate: rate, PCM: pcm}
}

// Duration is how long the prompt plays, in milliseconds.
func (p *Prompt) DurationMillis() int {
	if p.Rate == 0 {
		return 0
	}
	return len(p.PCM) * 1000 / p.Rate
}

// ForRate returns the prompt's samples at rate (8000, 16000 or 48000),
// resampling once and caching the result.
func (p *Prompt) ForRate(rate int) ([]int16, error) {
	if rate == p.Rate {
		return p.PCM, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if pcm, ok := p.byRate[rate]; ok {
		return pcm, nil
	}
	r, err := resample.New(p.Rate, rate)
	if err != nil {
		return nil, fmt.Errorf("prompt %s: %w", p.Name, err)
	}
	// Pad the input with the filter's delay worth of silence so the tail is
	// flushed, then drop the leading delay so the prompt starts on time.
	n := len(p.PCM) * rate / p.Rate
	delay := r.Delay()
	padIn := (delay + 1) * p.Rate / rate
	padIn += (p.Rate / gcd(p.Rate, rate)) - padIn%(p.Rate/gcd(p.Rate, rate))
	in := make([]int16, len(p.PCM)+padIn)
	copy(in, p.PCM)
	out := make([]int16, len(in)*rate/p.Rate+1)
	w := r.Process(in, out)
	if w < delay+n {
		n = w - delay
	}
	pcm := make([]int16, n)
	copy(pcm, out[delay:delay+n])
	if p.byRate == nil {
		p.byRate = make(map[int][]int16)
	}
	p.byRate[rate] = pcm
	return pcm, nil
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Tone synthesises a sequence of sine beeps: each of freqs plays for on
// milliseconds followed by off milliseconds of silence, at amplitude amp
// (0..1 of full scale).
func Tone(name string, rate int, amp float64, on, off int, freqs ...float64) *Prompt {
	onN, offN := rate*on/1000, rate*off/1000
	pcm := make([]int16, 0, len(freqs)*(onN+offN))
	for _, f := range freqs {
		for i := 0; i < onN; i++ {
			// A 5 ms raised-cosine ramp at both ends avoids clicks.
			env := 1.0
			ramp := rate / 200
			if i < ramp {
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(i)/float64(ramp))
			} else if i > onN-ramp {
				env = 0.5 - 0.5*math.Cos(math.Pi*float64(onN-i)/float64(ramp))
			}
			pcm = append(pcm, int16(amp*env*32767*math.Sin(2*math.Pi*f*float64(i)/float64(rate))))
		}
		pcm = append(pcm, make([]int16, offN)...)
	}
	return New(name, rate, pcm)
}
