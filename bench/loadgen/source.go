package loadgen

import (
	"errors"
	"fmt"
	"math"
	"time"

	"confab/mixer/codec"
	"confab/mixer/codec/opus"
	"confab/mixer/codec/registry"
	"confab/mixer/resample"
)

// ErrCodec means the generator cannot send a codec the scenario names.
var ErrCodec = errors.New("loadgen: unsupported codec")

// toneAmplitude is the peak of every talker's tone: -12 dBFS, loud enough
// for any bridge's talker detection, with room for four in a sum.
const toneAmplitude = 0.25 * 32767

// source is a loop of encoded frames, precomputed once so that sending is
// a copy: the generator's CPU must not grow with the number of talkers.
type source struct {
	data []byte
	off  []int  // frame i is data[off[i]:off[i+1]]
	skip []bool // DTX: frame i need not be sent (RFC 7587 §3.1.3); nil if none
}

func (s *source) frames() int { return len(s.off) - 1 }

// frame returns loop frame i (taken modulo the loop) and whether to send it.
func (s *source) frame(i int) ([]byte, bool) {
	i %= s.frames()
	if i < 0 {
		i += s.frames()
	}
	return s.data[s.off[i]:s.off[i+1]], s.skip == nil || !s.skip[i]
}

func (s *source) maxLen() int {
	m := 0
	for i := range s.frames() {
		m = max(m, s.off[i+1]-s.off[i])
	}
	return m
}

// codecInfo is what the generator knows of a codec it sends.
type codecInfo struct {
	spec        codec.Spec
	rate        int    // PCM rate it encodes from
	ticks       uint32 // RTP timestamp units per frame
	frameLen    int    // PCM samples per frame
	payloadType uint8
	eventClock  uint32 // telephone-event clock: the codec's RTP clock (RFC 4733 §2.1)
}

func lookupCodec(name string, ptime time.Duration) (codecInfo, error) {
	clock := uint32(8000)
	if name == "opus" {
		clock = opus.ClockRate
	}
	spec, ok := registry.Default().Lookup(name, clock)
	if !ok {
		return codecInfo{}, fmt.Errorf("%w: %s", ErrCodec, name)
	}
	rate := spec.Info.SampleRate
	n := int(int64(rate) * int64(ptime) / int64(time.Second))
	return codecInfo{spec: spec, rate: rate, frameLen: n, ticks: spec.Info.RTPTicks(n),
		payloadType: spec.Info.PayloadType, eventClock: spec.Info.ClockRate}, nil
}

// encodeLoop encodes pcm (a whole number of frames) as a loop. The loop is
// encoded twice and the second pass kept, so that a stateful codec (ADPCM,
// Opus) starts the loop in the state the loop's end leaves it in, as it
// does when the sender wraps around.
func encodeLoop(ci codecInfo, pcm []int16, dtx bool) (*source, error) {
	var enc codec.Encoder
	var err error
	if ci.spec.Info.Name == "opus" {
		opts := []opus.Option{}
		if dtx {
			opts = append(opts, opus.WithDTX())
		}
		enc, err = opus.NewEncoder(ci.rate, opts...)
	} else {
		enc, err = ci.spec.NewEncoder(ci.rate)
	}
	if err != nil {
		return nil, fmt.Errorf("loadgen: %s encoder: %w", ci.spec.Info.Name, err)
	}
	frames := len(pcm) / ci.frameLen
	s := &source{off: make([]int, 0, frames+1)}
	buf := make([]byte, opus.MaxPacketSize)
	for pass := range 2 {
		for i := range frames {
			n, err := enc.Encode(pcm[i*ci.frameLen:(i+1)*ci.frameLen], buf)
			if err != nil {
				return nil, fmt.Errorf("loadgen: %s encode: %w", ci.spec.Info.Name, err)
			}
			if pass == 0 {
				continue
			}
			s.off = append(s.off, len(s.data))
			s.data = append(s.data, buf[:n]...)
			if dtx && ci.spec.Info.Name == "opus" {
				if s.skip == nil {
					s.skip = make([]bool, frames)
				}
				s.skip[i] = n <= opus.DTXMaxLen
			}
		}
	}
	s.off = append(s.off, len(s.data))
	return s, nil
}

// burstPCM is one talk period of a tone: on frames of a sine at freq from
// phase zero, then silence to the end of the period.
func burstPCM(ci codecInfo, freq float64, on, period int) []int16 {
	pcm := make([]int16, period*ci.frameLen)
	for i := range on * ci.frameLen {
		pcm[i] = int16(toneAmplitude * math.Sin(2*math.Pi*freq*float64(i)/float64(ci.rate)))
	}
	return pcm
}

// speechPCM is a loop of whole talk periods in which speech (already at
// the codec's rate, looped as needed) fills the on frames.
func speechPCM(ci codecInfo, speech []int16, on, period int) []int16 {
	periods := (len(speech)/ci.frameLen + on - 1) / on
	periods = max(periods, 1)
	pcm := make([]int16, periods*period*ci.frameLen)
	k := 0
	for p := range periods {
		start := p * period * ci.frameLen
		for i := range on * ci.frameLen {
			pcm[start+i] = speech[k%len(speech)]
			k++
		}
	}
	return pcm
}

// resampleTo converts speech at rate to the codec's rate.
func resampleTo(speech []int16, rate, to int) ([]int16, error) {
	if rate == to {
		return speech, nil
	}
	r, err := resample.New(rate, to)
	if err != nil {
		return nil, fmt.Errorf("loadgen: WAV at %d Hz cannot be converted to %d Hz (use 8, 16 or 48 kHz, e.g. sox in.wav -r 48000 out.wav): %w", rate, to, err)
	}
	out := make([]int16, r.OutLen(len(speech))+64)
	n := r.Process(speech, out)
	return out[:n], nil
}
