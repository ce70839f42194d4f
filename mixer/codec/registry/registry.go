// Package registry builds the table of codecs Confab's audio MCU offers and
// accepts, in order of preference:
//
//  1. Opus (opus/48000/2, RFC 7587): wideband to fullband, FEC, the best
//     quality per bit; preferred whenever the peer has it.
//  2. G.722 (G722/8000, payload type 9): wideband, what most desk phones
//     that are not Opus-capable do best.
//  3. PCMU (payload type 0): narrowband, the one codec every SIP endpoint
//     and trunk has (RFC 3551 §4.5.14).
//  4. PCMA (payload type 8): the same, the usual choice outside North America.
//  5. L16/16000 (dynamic, 118): uncompressed, for tests and local tools.
//
// Every codec is built for the PCM rate the mixer runs at. Opus codes 8, 12,
// 16, 24 and 48 kHz natively; the others are wrapped with a resampler
// (package resample) between the mixer's rate and their own, so a caller
// never deals with a codec's native rate.
package registry

import (
	"confab/mixer/codec"
	"confab/mixer/codec/g711"
	"confab/mixer/codec/g722"
	"confab/mixer/codec/l16"
	"confab/mixer/codec/opus"
)

// OpusFmtp is the format parameters offered with Opus: 10 ms frames are the
// shortest we accept, and we decode in-band FEC (RFC 7587 §6.1).
const OpusFmtp = "minptime=10;useinbandfec=1"

// Default returns the table of codecs in Confab's order of preference.
// Each call returns a new table.
func Default() *codec.Table {
	return codec.NewTable(Opus(), G722(), PCMU(), PCMA(), L16(16000))
}

// Opus returns the spec of Opus with the encoder defaults of package opus.
func Opus() codec.Spec {
	return codec.Spec{
		Info:        opus.Info(opus.ClockRate),
		SDPChannels: 2,
		Fmtp:        OpusFmtp,
		NewEncoder: func(rate int) (codec.Encoder, error) {
			return opus.NewEncoder(rate)
		},
		NewDecoder: func(rate int) (codec.Decoder, error) {
			return opus.NewDecoder(rate)
		},
	}
}

// G722 returns the spec of G.722 at 64 kbit/s.
func G722() codec.Spec {
	return codec.Spec{
		Info: g722.NewEncoder().Info(),
		NewEncoder: func(rate int) (codec.Encoder, error) {
			return resampleEncoder(g722.NewEncoder(), rate)
		},
		NewDecoder: func(rate int) (codec.Decoder, error) {
			return resampleDecoder(g722.NewDecoder(), rate)
		},
	}
}

// PCMU returns the spec of G.711 µ-law.
func PCMU() codec.Spec {
	return codec.Spec{
		Info: g711.NewPCMUEncoder().Info(),
		NewEncoder: func(rate int) (codec.Encoder, error) {
			return resampleEncoder(g711.NewPCMUEncoder(), rate)
		},
		NewDecoder: func(rate int) (codec.Decoder, error) {
			return resampleDecoder(g711.NewPCMUDecoder(), rate)
		},
	}
}

// PCMA returns the spec of G.711 A-law.
func PCMA() codec.Spec {
	return codec.Spec{
		Info: g711.NewPCMAEncoder().Info(),
		NewEncoder: func(rate int) (codec.Encoder, error) {
			return resampleEncoder(g711.NewPCMAEncoder(), rate)
		},
		NewDecoder: func(rate int) (codec.Decoder, error) {
			return resampleDecoder(g711.NewPCMADecoder(), rate)
		},
	}
}

// L16 returns the spec of L16 on the wire at wireRate Hz (8000–48000), with
// the default payload type of package l16.
func L16(wireRate int) codec.Spec {
	return codec.Spec{
		Info: l16.Info(wireRate),
		NewEncoder: func(rate int) (codec.Encoder, error) {
			enc, err := l16.NewEncoder(wireRate)
			if err != nil {
				return nil, err
			}
			return resampleEncoder(enc, rate)
		},
		NewDecoder: func(rate int) (codec.Decoder, error) {
			dec, err := l16.NewDecoder(wireRate)
			if err != nil {
				return nil, err
			}
			return resampleDecoder(dec, rate)
		},
	}
}
