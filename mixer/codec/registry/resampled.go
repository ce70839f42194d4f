package registry

import (
	"fmt"

	"confab/mixer/codec"
	"confab/mixer/resample"
)

// maxNative bounds the samples, at the codec's own rate, of one frame through
// a resampling wrapper: a 1500-octet G.722 payload, about the largest an
// Ethernet MTU carries, decodes to 3000.
const maxNative = 4096

// resampleEncoder returns enc fed at rate Hz: enc itself when that is its
// own rate, else a wrapper that resamples each frame first.
func resampleEncoder(enc codec.Encoder, rate int) (codec.Encoder, error) {
	info := enc.Info()
	if rate == info.SampleRate {
		return enc, nil
	}
	rs, err := resample.New(rate, info.SampleRate)
	if err != nil {
		return nil, fmt.Errorf("%w: %s fed at %d Hz: %w", codec.ErrRate, info.Name, rate, err)
	}
	info.SampleRate = rate
	return &resampledEncoder{enc: enc, rs: rs, info: info, buf: make([]int16, maxNative)}, nil
}

// resampledEncoder converts each frame to the codec's rate and encodes it.
type resampledEncoder struct {
	enc  codec.Encoder
	rs   *resample.Resampler
	info codec.Info
	buf  []int16
}

func (e *resampledEncoder) Info() codec.Info { return e.info }

// Encode takes whole frames only (len(pcm)·native/rate an integer, true of
// every 10 and 20 ms frame), so the resampler stays aligned to frames.
func (e *resampledEncoder) Encode(pcm []int16, dst []byte) (int, error) {
	native := e.rs.ToRate()
	if len(pcm)*native%e.info.SampleRate != 0 || len(pcm)*native/e.info.SampleRate > len(e.buf) {
		return 0, codec.ErrFrameSize
	}
	n := e.rs.Process(pcm, e.buf)
	return e.enc.Encode(e.buf[:n], dst)
}

// resampleDecoder returns dec giving PCM at rate Hz: dec itself when that is
// its own rate, else a wrapper that resamples what it decodes.
func resampleDecoder(dec codec.Decoder, rate int) (codec.Decoder, error) {
	info := dec.Info()
	if rate == info.SampleRate {
		return dec, nil
	}
	rs, err := resample.New(info.SampleRate, rate)
	if err != nil {
		return nil, fmt.Errorf("%w: %s decoded to %d Hz: %w", codec.ErrRate, info.Name, rate, err)
	}
	info.SampleRate = rate
	return &resampledDecoder{dec: dec, rs: rs, info: info, buf: make([]int16, maxNative)}, nil
}

// resampledDecoder decodes at the codec's rate and converts the result.
type resampledDecoder struct {
	dec  codec.Decoder
	rs   *resample.Resampler
	info codec.Info
	buf  []int16
}

func (d *resampledDecoder) Info() codec.Info { return d.info }

// Decode decodes payload and converts it into pcm. pcm must hold the whole
// frame: if it does not, the error is codec.ErrShortBuffer and the frame is
// lost, since the codec has already consumed it.
func (d *resampledDecoder) Decode(payload []byte, pcm []int16) (int, error) {
	n, err := d.dec.Decode(payload, d.buf)
	if err != nil {
		return 0, err
	}
	return d.convert(n, pcm)
}

// Conceal conceals one frame of len(pcm) samples at the codec's rate and
// converts it; the frame must be whole, as for Encode.
func (d *resampledDecoder) Conceal(pcm []int16) (int, error) {
	native := d.rs.FromRate()
	if len(pcm)*native%d.info.SampleRate != 0 || len(pcm)*native/d.info.SampleRate > len(d.buf) {
		return 0, codec.ErrFrameSize
	}
	n, err := d.dec.Conceal(d.buf[:len(pcm)*native/d.info.SampleRate])
	if err != nil {
		return 0, err
	}
	return d.convert(n, pcm)
}

func (d *resampledDecoder) convert(n int, pcm []int16) (int, error) {
	if d.rs.OutLen(n) > len(pcm) {
		return 0, codec.ErrShortBuffer
	}
	return d.rs.Process(d.buf[:n], pcm), nil
}
