package codec

import "strings"

// Spec describes one codec the MCU can negotiate and builds its encoders and
// decoders. The Table of the codecs Confab offers is built by package
// registry, which may import every codec package; this package cannot.
type Spec struct {
	// Info is the codec as SDP names it (RFC 4566 §6 rtpmap: encoding name,
	// clock rate) with its default payload type. Its SampleRate is the
	// codec's native PCM rate.
	Info Info
	// SDPChannels is the encoding parameter of the rtpmap line, the channel
	// count ("opus/48000/2", RFC 7587 §6.2); 0 leaves it out.
	SDPChannels int
	// Fmtp holds the format parameters Confab offers (a=fmtp), or "".
	Fmtp string
	// NewEncoder returns an encoder that takes PCM at pcmRate Hz; the
	// result's Info().SampleRate is pcmRate. It fails with ErrRate for a
	// rate the codec cannot be fed at.
	NewEncoder func(pcmRate int) (Encoder, error)
	// NewDecoder returns a decoder that gives PCM at pcmRate Hz.
	NewDecoder func(pcmRate int) (Decoder, error)
}

// Table is a set of codecs in order of preference, most preferred first:
// the order an SDP offer lists them in and an answer picks from.
type Table struct {
	specs []Spec
}

// NewTable returns a table of specs, in order of preference.
func NewTable(specs ...Spec) *Table {
	return &Table{specs: append([]Spec(nil), specs...)}
}

// Lookup finds the codec with an SDP encoding name and clock rate. Names
// compare without regard to case, as media type names do (RFC 6838 §4.2):
// "OPUS/48000" finds opus.
func (t *Table) Lookup(name string, clockRate uint32) (Spec, bool) {
	for _, s := range t.specs {
		if s.Info.ClockRate == clockRate && strings.EqualFold(s.Info.Name, name) {
			return s, true
		}
	}
	return Spec{}, false
}

// Specs returns the codecs in order of preference. The slice is a copy.
func (t *Table) Specs() []Spec {
	return append([]Spec(nil), t.specs...)
}
