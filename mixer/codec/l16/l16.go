// Package l16 implements the L16 RTP payload: uncompressed 16-bit linear PCM,
// two's complement, network (big-endian) byte order, mono, at any sample rate
// (RFC 3551 §4.5.11). Its payload type is dynamic except for L16/44100 (PT
// 11, and PT 10 for stereo, which Confab does not use); the default dynamic
// payload type offered here is 118. Lost frames are concealed by waveform
// repetition (package plc).
package l16

import (
	"encoding/binary"
	"fmt"

	"confab/mixer/codec"
	"confab/mixer/codec/plc"
)

const (
	// DefaultPayloadType is the dynamic payload type Confab offers L16 with.
	DefaultPayloadType = 118
	// PayloadType44100 is the static payload type of L16/44100 mono (RFC 3551 Table 4).
	PayloadType44100 = 11
)

// Info returns the description of L16 at rate Hz, with the static payload
// type for 44.1 kHz and DefaultPayloadType otherwise.
func Info(rate int) codec.Info {
	pt := uint8(DefaultPayloadType)
	if rate == 44100 {
		pt = PayloadType44100
	}
	return codec.Info{Name: "L16", PayloadType: pt, ClockRate: uint32(rate), SampleRate: rate, Channels: 1}
}

func checkRate(rate int) error {
	if rate < 8000 || rate > 48000 {
		return fmt.Errorf("%w: L16 is offered at 8000–48000 Hz, not %d", codec.ErrRate, rate)
	}
	return nil
}

// Encoder writes PCM as L16 payloads. It is stateless and safe for concurrent use.
type Encoder struct{ info codec.Info }

var _ codec.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder for PCM at rate Hz (8000–48000, else
// codec.ErrRate).
func NewEncoder(rate int) (*Encoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	return &Encoder{info: Info(rate)}, nil
}

// Info describes the codec.
func (e *Encoder) Info() codec.Info { return e.info }

// Encode writes two octets per sample, most significant first, and returns
// 2·len(pcm).
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	n := 2 * len(pcm)
	if len(dst) < n {
		return 0, codec.ErrShortBuffer
	}
	for i, s := range pcm {
		binary.BigEndian.PutUint16(dst[2*i:], uint16(s))
	}
	return n, nil
}

// Decoder reads L16 payloads and conceals lost ones. It is not safe for
// concurrent use: it keeps the recent signal for concealment.
type Decoder struct {
	info codec.Info
	plc  *plc.Concealer
}

var _ codec.Decoder = (*Decoder)(nil)

// NewDecoder returns a decoder for L16 at rate Hz (8000–48000).
func NewDecoder(rate int) (*Decoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	return &Decoder{info: Info(rate), plc: plc.New(rate)}, nil
}

// Info describes the codec.
func (d *Decoder) Info() codec.Info { return d.info }

// Decode writes len(payload)/2 samples into pcm. An empty payload or one with
// an odd number of octets is malformed.
func (d *Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 || len(payload)%2 != 0 {
		return 0, codec.ErrBadPayload
	}
	n := len(payload) / 2
	if len(pcm) < n {
		return 0, codec.ErrShortBuffer
	}
	pcm = pcm[:n]
	for i := range pcm {
		pcm[i] = int16(binary.BigEndian.Uint16(payload[2*i:]))
	}
	d.plc.Received(pcm)
	return n, nil
}

// Conceal fills pcm in place of a lost payload by repeating the last pitch
// period, fading to silence over 60 ms of consecutive loss.
func (d *Decoder) Conceal(pcm []int16) (int, error) {
	return d.plc.Conceal(pcm), nil
}

// Reset forgets the stream, for reuse on a new one.
func (d *Decoder) Reset() { d.plc.Reset() }
