// Package g711 implements ITU-T G.711 pulse code modulation: µ-law (RTP
// "PCMU", static payload type 0) and A-law ("PCMA", payload type 8), 8 kHz
// mono, one octet per sample (RFC 3551 §4.5.14).
//
// Both laws are table driven. The 256-entry decode tables and the encode
// tables (indexed by the 14 most significant bits of a sample for µ-law and
// the 13 for A-law, which is all G.711 looks at) are computed at start-up from
// the segment rules of G.711 §2–3. Negative samples are folded by one's
// complement, as in the ITU-T G.191 reference implementation, so that the
// encode tables need no more input bits than the law itself. Lost frames are
// concealed by pitch-synchronous waveform repetition (package plc, after
// G.711 Appendix I).
package g711

import (
	"math/bits"

	"confab/mixer/codec"
	"confab/mixer/codec/plc"
)

// SampleRate is the G.711 sample rate and RTP clock rate.
const SampleRate = 8000

// Static payload types from RFC 3551 Table 4.
const (
	PayloadTypePCMU = 0
	PayloadTypePCMA = 8
)

// Tables computed once by init from the G.711 definition and never written
// afterwards.
var (
	muDecode [256]int16
	aDecode  [256]int16
	muEncode [1 << 14]uint8 // by the 14-bit sample, uint16(s)>>2
	aEncode  [1 << 13]uint8 // by the 13-bit sample, uint16(s)>>3
)

func init() {
	for c := range 256 {
		muDecode[c] = muExpand(uint8(c))
		aDecode[c] = aExpand(uint8(c))
	}
	for i := range muEncode {
		muEncode[i] = muCompress(int(int16(i<<2)) >> 2)
	}
	for i := range aEncode {
		aEncode[i] = aCompress(int(int16(i<<3)) >> 3)
	}
}

// muCompress encodes a 14-bit sample by G.711 Table 2a: the magnitude plus a
// bias of 33 is in [32·2^seg, 64·2^seg) for segment seg 0–7, quantised in 16
// steps of 2^(seg+1); the octet is sign, segment and step, all bits inverted.
func muCompress(v int) uint8 {
	var sign uint8
	if v < 0 {
		v = ^v
		sign = 0x80
	}
	m := min(v+33, 0x1fff)
	seg := bits.Len(uint(m)) - 6
	step := (m >> (seg + 1)) & 0x0f
	return ^(sign | uint8(seg<<4) | uint8(step))
}

// muExpand decodes an octet to the middle of its interval, scaled to 16 bits.
func muExpand(c uint8) int16 {
	c = ^c
	seg := int(c>>4) & 7
	step := int(c) & 0x0f
	v := ((2*step+33)<<seg - 33) << 2
	if c&0x80 != 0 {
		v = -v
	}
	return int16(v)
}

// aCompress encodes a 13-bit sample by G.711 Table 1a: segment 0 covers
// magnitudes below 32 in steps of 2, segment seg 1–7 covers [16·2^seg,
// 32·2^seg) in 16 steps of 2^seg; the octet is sign (1 for positive),
// segment and step, with the even bits inverted (XOR 0x55).
func aCompress(v int) uint8 {
	sign := uint8(0x80)
	if v < 0 {
		v = ^v
		sign = 0
	}
	v = min(v, 0x0fff)
	var seg, step int
	if v < 32 {
		step = v >> 1
	} else {
		seg = bits.Len(uint(v)) - 5
		step = (v >> seg) & 0x0f
	}
	return (sign | uint8(seg<<4) | uint8(step)) ^ 0x55
}

// aExpand decodes an octet to the middle of its interval, scaled to 16 bits.
func aExpand(c uint8) int16 {
	c ^= 0x55
	seg := int(c>>4) & 7
	step := int(c) & 0x0f
	var v int
	if seg == 0 {
		v = step<<4 + 8
	} else {
		v = (step<<4 + 0x108) << (seg - 1)
	}
	if c&0x80 == 0 {
		v = -v
	}
	return int16(v)
}

// EncodeMuLaw returns the µ-law octet for a 16-bit sample.
func EncodeMuLaw(s int16) uint8 { return muEncode[uint16(s)>>2] }

// DecodeMuLaw returns the 16-bit sample for a µ-law octet.
func DecodeMuLaw(c uint8) int16 { return muDecode[c] }

// EncodeALaw returns the A-law octet for a 16-bit sample.
func EncodeALaw(s int16) uint8 { return aEncode[uint16(s)>>3] }

// DecodeALaw returns the 16-bit sample for an A-law octet.
func DecodeALaw(c uint8) int16 { return aDecode[c] }

func info(name string, pt uint8) codec.Info {
	return codec.Info{Name: name, PayloadType: pt, ClockRate: SampleRate, SampleRate: SampleRate, Channels: 1}
}

// Encoder encodes 8 kHz PCM to PCMU or PCMA payloads. It is stateless and safe
// for concurrent use.
type Encoder struct {
	info codec.Info
	mu   bool
}

var _ codec.Encoder = (*Encoder)(nil)

// NewPCMUEncoder returns a µ-law encoder.
func NewPCMUEncoder() *Encoder { return &Encoder{info: info("PCMU", PayloadTypePCMU), mu: true} }

// NewPCMAEncoder returns an A-law encoder.
func NewPCMAEncoder() *Encoder { return &Encoder{info: info("PCMA", PayloadTypePCMA)} }

// Info describes the codec.
func (e *Encoder) Info() codec.Info { return e.info }

// Encode writes one octet per sample of pcm into dst and returns len(pcm).
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if len(dst) < len(pcm) {
		return 0, codec.ErrShortBuffer
	}
	dst = dst[:len(pcm)]
	if e.mu {
		for i, s := range pcm {
			dst[i] = muEncode[uint16(s)>>2]
		}
	} else {
		for i, s := range pcm {
			dst[i] = aEncode[uint16(s)>>3]
		}
	}
	return len(pcm), nil
}

// Decoder decodes PCMU or PCMA payloads and conceals lost ones. It is not
// safe for concurrent use: it keeps the recent signal for concealment.
type Decoder struct {
	info  codec.Info
	table *[256]int16
	plc   *plc.Concealer
}

var _ codec.Decoder = (*Decoder)(nil)

// NewPCMUDecoder returns a µ-law decoder.
func NewPCMUDecoder() *Decoder {
	return &Decoder{info: info("PCMU", PayloadTypePCMU), table: &muDecode, plc: plc.New(SampleRate)}
}

// NewPCMADecoder returns an A-law decoder.
func NewPCMADecoder() *Decoder {
	return &Decoder{info: info("PCMA", PayloadTypePCMA), table: &aDecode, plc: plc.New(SampleRate)}
}

// Info describes the codec.
func (d *Decoder) Info() codec.Info { return d.info }

// Decode writes one sample per octet of payload into pcm. Every octet is a
// valid code, so only an empty payload is malformed.
func (d *Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 {
		return 0, codec.ErrBadPayload
	}
	if len(pcm) < len(payload) {
		return 0, codec.ErrShortBuffer
	}
	pcm = pcm[:len(payload)]
	for i, c := range payload {
		pcm[i] = d.table[c]
	}
	d.plc.Received(pcm)
	return len(pcm), nil
}

// Conceal fills pcm in place of a lost payload by repeating the last pitch
// period, fading to silence over 60 ms of consecutive loss.
func (d *Decoder) Conceal(pcm []int16) (int, error) {
	return d.plc.Conceal(pcm), nil
}

// Reset forgets the stream, for reuse on a new one.
func (d *Decoder) Reset() { d.plc.Reset() }
