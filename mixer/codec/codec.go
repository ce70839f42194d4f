// Package codec defines how the audio MCU encodes and decodes RTP payloads.
//
// Every codec works on caller-owned buffers: Encode and Decode never allocate,
// so the per-frame path of the mixer stays allocation-free. Each codec lives in
// its own sub-package (g711, g722, opus, l16); this package holds the small
// interfaces they implement and the table of known codecs.
package codec

import "errors"

// ErrShortBuffer is returned when a destination buffer cannot hold the result.
var ErrShortBuffer = errors.New("codec: destination buffer too short")

// ErrBadPayload is returned when a payload cannot be decoded.
var ErrBadPayload = errors.New("codec: malformed payload")

// ErrFrameSize is returned when a frame of PCM has a length the codec cannot
// code or conceal (an odd count for G.722, 15 ms for Opus, ...).
var ErrFrameSize = errors.New("codec: unsupported frame length")

// ErrRate is returned when a codec cannot be built for a PCM sample rate.
var ErrRate = errors.New("codec: unsupported PCM sample rate")

// Info describes a codec as SDP and the mixer see it.
type Info struct {
	Name        string // SDP encoding name: "PCMU", "PCMA", "G722", "opus", "L16"
	PayloadType uint8  // static payload type, or the default dynamic one
	ClockRate   uint32 // RTP clock rate as written in SDP (8000 for G.722, RFC 3551 §4.5.2)
	SampleRate  int    // audio sample rate of the PCM the codec takes and gives
	Channels    int    // always 1 in Confab's mixer
}

// RTPTicks converts a frame of n PCM samples to RTP timestamp units.
func (i Info) RTPTicks(n int) uint32 {
	return uint32(int64(n) * int64(i.ClockRate) / int64(i.SampleRate))
}

// Encoder turns one frame of PCM (mono, Info.SampleRate) into one RTP payload.
type Encoder interface {
	Info() Info
	// Encode writes the payload for pcm into dst and returns its length.
	Encode(pcm []int16, dst []byte) (int, error)
}

// Decoder turns one RTP payload into PCM.
type Decoder interface {
	Info() Info
	// Decode writes the samples of payload into pcm and returns how many.
	Decode(payload []byte, pcm []int16) (int, error)
	// Conceal fills pcm (len(pcm) samples, one frame) in place of a lost
	// payload: the codec's own loss concealment, or waveform repeat with fade.
	Conceal(pcm []int16) (int, error)
}

// FECDecoder is a Decoder that can rebuild a lost frame from the in-band
// forward error correction carried in the next payload (Opus, RFC 6716 §2.1.7).
type FECDecoder interface {
	Decoder
	// DecodeFEC rebuilds the frame before next into pcm (len(pcm) samples).
	DecodeFEC(next []byte, pcm []int16) (int, error)
}
