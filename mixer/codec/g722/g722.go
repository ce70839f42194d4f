// Package g722 implements ITU-T G.722 sub-band ADPCM at 64 kbit/s (mode 1):
// 16 kHz mono PCM in and out, one octet per pair of samples.
//
// The transmit quadrature mirror filter (§3.1) splits the input into a lower
// and a higher band at 8 kHz each; the lower band is coded with a 6-bit
// adaptive quantizer, the higher with a 2-bit one, each behind an adaptive
// predictor of two poles and six zeros (block 4). The decoder mirrors it and
// the receive QMF (§4.4) rebuilds 16 kHz. The arithmetic is the fixed-point
// arithmetic of the Recommendation: on the vectors in testdata/, made with
// ffmpeg's G.722 encoder and decoder, the output matches bit for bit.
//
// In RTP, G.722 is payload type 9 with a clock rate of 8000 although it
// samples at 16 kHz, an error in RFC 1890 kept for compatibility (RFC 3551
// §4.5.2): a 20 ms frame is 320 samples, 160 octets and 160 timestamp units.
// Each octet carries the 2 higher-band bits above the 6 lower-band bits.
//
// Encoders and decoders keep their state from frame to frame and do not
// allocate. Lost frames are concealed by pitch-synchronous waveform
// repetition (package plc) while the ADPCM state stays as the last good frame
// left it.
package g722

import (
	"confab/mixer/codec"
	"confab/mixer/codec/plc"
)

const (
	// SampleRate is the audio sample rate of G.722.
	SampleRate = 16000
	// ClockRate is the RTP clock rate of G.722 (RFC 3551 §4.5.2).
	ClockRate = 8000
	// PayloadType is the static RTP payload type (RFC 3551 Table 4).
	PayloadType = 9
)

// Info is the description of G.722 that the encoder and the decoder report.
var info = codec.Info{Name: "G722", PayloadType: PayloadType, ClockRate: ClockRate, SampleRate: SampleRate, Channels: 1}

// qmf holds the 24 coefficients of the QMF of G.722 §3.1, scaled by 2^13.
// They are symmetric, h[i] = h[23-i].
var qmf = [24]int32{
	3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876,
	3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3,
}

// Encoder encodes 16 kHz PCM to G.722. It is not safe for concurrent use.
type Encoder struct {
	x         [24]int32 // the last 24 input samples, oldest first
	low, high band
}

var _ codec.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder in the reset state of G.722.
func NewEncoder() *Encoder {
	e := &Encoder{}
	e.Reset()
	return e
}

// Reset returns the encoder to its initial state, for a new stream.
func (e *Encoder) Reset() {
	e.x = [24]int32{}
	e.low.reset(detLowMin)
	e.high.reset(detHighMin)
}

// Info describes the codec.
func (e *Encoder) Info() codec.Info { return info }

// Encode codes pcm into len(pcm)/2 octets of dst. G.722 codes samples in
// pairs, so an odd number of samples is codec.ErrFrameSize.
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if len(pcm)%2 != 0 {
		return 0, codec.ErrFrameSize
	}
	n := len(pcm) / 2
	if len(dst) < n {
		return 0, codec.ErrShortBuffer
	}
	dst = dst[:n]
	for i := range dst {
		// Transmit QMF (§3.1): with x[23] the newest sample, the sum over
		// odd positions is xA and over even positions xB; the lower band is
		// their sum and the higher their difference. Taking 16-bit input
		// and shifting by 14 gives the 15-bit sub-band signals of §3.1.
		copy(e.x[:22], e.x[2:])
		e.x[22], e.x[23] = int32(pcm[2*i]), int32(pcm[2*i+1])
		var xa, xb int32
		for k := 0; k < 24; k += 2 {
			xb += qmf[k] * e.x[k]
			xa += qmf[k+1] * e.x[k+1]
		}
		il := e.low.encodeLow((xa + xb) >> 14)
		ih := e.high.encodeHigh((xa - xb) >> 14)
		dst[i] = ih<<6 | il
	}
	return n, nil
}

// Decoder decodes G.722 to 16 kHz PCM and conceals lost frames. It is not
// safe for concurrent use.
type Decoder struct {
	xd, xs    [12]int32 // receive QMF inputs rl−rh and rl+rh, oldest first
	low, high band
	plc       *plc.Concealer
}

var _ codec.Decoder = (*Decoder)(nil)

// NewDecoder returns a decoder in the reset state of G.722.
func NewDecoder() *Decoder {
	d := &Decoder{plc: plc.New(SampleRate)}
	d.Reset()
	return d
}

// Reset returns the decoder to its initial state, for a new stream.
func (d *Decoder) Reset() {
	d.xd, d.xs = [12]int32{}, [12]int32{}
	d.low.reset(detLowMin)
	d.high.reset(detHighMin)
	d.plc.Reset()
}

// Info describes the codec.
func (d *Decoder) Info() codec.Info { return info }

// Decode writes two samples per octet of payload into pcm. Every octet is a
// valid code, so only an empty payload is malformed.
func (d *Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 {
		return 0, codec.ErrBadPayload
	}
	n := 2 * len(payload)
	if len(pcm) < n {
		return 0, codec.ErrShortBuffer
	}
	pcm = pcm[:n]
	for i, c := range payload {
		rl := d.low.decodeLow(c & 63)
		rh := d.high.decodeHigh(c >> 6)
		// Receive QMF (§4.4): the first output sample filters rl−rh with
		// the odd-indexed coefficients, the second rl+rh with the even ones
		// (oldest first). The shift by 11 gives 16-bit output.
		copy(d.xd[:11], d.xd[1:])
		copy(d.xs[:11], d.xs[1:])
		d.xd[11], d.xs[11] = rl-rh, rl+rh
		var o0, o1 int32
		for k := range 12 {
			o0 += qmf[2*k+1] * d.xd[k]
			o1 += qmf[2*k] * d.xs[k]
		}
		pcm[2*i] = int16(sat16(o0 >> 11))
		pcm[2*i+1] = int16(sat16(o1 >> 11))
	}
	d.plc.Received(pcm)
	return n, nil
}

// Conceal fills pcm in place of a lost payload by repeating the last pitch
// period, fading to silence over 60 ms of consecutive loss.
func (d *Decoder) Conceal(pcm []int16) (int, error) {
	return d.plc.Conceal(pcm), nil
}
