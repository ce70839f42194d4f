// Package opus wraps libopus (through github.com/hraban/opus, cgo; build with
// -tags nolibopusfile, libopus-dev installed) as a mono Opus encoder and
// decoder for the audio MCU.
//
// In SDP, Opus is always "opus/48000/2" (RFC 7587 §6.2): the RTP clock runs at
// 48 kHz whatever the audio bandwidth, and the "/2" only says a receiver may
// get stereo. Confab sends and decodes mono. The PCM side runs at a rate
// chosen at construction, 8, 12, 16, 24 or 48 kHz, which libopus codes and
// decodes natively, so the mixer never resamples for Opus; a 20 ms frame is
// 960 RTP timestamp units at any of them.
//
// The encoder is set up for speech (OPUS_APPLICATION_VOIP) with complexity 5,
// in-band forward error correction (RFC 6716 §2.1.7) for an expected 5 %
// loss, and a bitrate by PCM rate; options change each. The decoder conceals
// lost frames with libopus's own concealment, or rebuilds them from the FEC
// in the next packet (codec.FECDecoder). Nothing on the per-frame path
// allocates in Go; the cgo calls release the P while libopus works.
package opus

import (
	"errors"
	"fmt"

	"confab/mixer/codec"

	hopus "github.com/hraban/opus"
)

// ErrOption is returned for an option value out of its range. Other errors
// are the codec sentinels: codec.ErrRate for a PCM rate libopus does not run
// at, codec.ErrFrameSize for a frame that is not 2.5, 5, 10, 20, 40 or 60 ms
// (RFC 6716 §2.1.4), and codec.ErrBadPayload or codec.ErrShortBuffer
// wrapping what libopus reports.
var ErrOption = errors.New("opus: invalid option")

const (
	// ClockRate is the RTP clock rate of Opus (RFC 7587 §4.1).
	ClockRate = 48000
	// DefaultPayloadType is the dynamic payload type Confab offers Opus with.
	DefaultPayloadType = 111
	// DefaultComplexity trades encoder CPU for quality: 5 of 0–10 costs
	// about 40 % of complexity 10 for speech that is hard to tell apart.
	DefaultComplexity = 5
	// DefaultLossPercent is the packet loss the encoder plans FEC for.
	DefaultLossPercent = 5
	// MaxPacketSize holds any one-frame packet: a frame is at most 1275
	// octets, plus the TOC octet (RFC 6716 §3.2.1, §3.2.2). libopus keeps
	// within len(dst) anyway, trading quality for size.
	MaxPacketSize = 1276
	// DTXMaxLen is the largest payload Encode returns for a frame that DTX
	// (RFC 7587 §3.1.3) left out: payloads this short need not be sent.
	DTXMaxLen = 2
)

// Info returns the description of Opus with PCM at rate Hz.
func Info(rate int) codec.Info {
	return codec.Info{Name: "opus", PayloadType: DefaultPayloadType, ClockRate: ClockRate, SampleRate: rate, Channels: 1}
}

func checkRate(rate int) error {
	switch rate {
	case 8000, 12000, 16000, 24000, 48000:
		return nil
	}
	return fmt.Errorf("%w: opus runs at 8000, 12000, 16000, 24000 or 48000 Hz, not %d", codec.ErrRate, rate)
}

// frameOK reports whether n samples at rate is a duration Opus codes:
// 1, 2, 4, 8, 16 or 24 times 2.5 ms.
func frameOK(n, rate int) bool {
	unit := rate / 400
	if n <= 0 || n%unit != 0 {
		return false
	}
	switch n / unit {
	case 1, 2, 4, 8, 16, 24:
		return true
	}
	return false
}

// defaultBitrate picks a speech bitrate in or just above the ranges RFC 7587
// §3.1.1 recommends for each audio bandwidth, leaving room for FEC.
func defaultBitrate(rate int) int {
	switch {
	case rate <= 8000:
		return 16000
	case rate <= 16000:
		return 24000
	default:
		return 32000
	}
}

type config struct {
	bitrate    int
	complexity int
	loss       int
	dtx        bool
}

// Option configures an Encoder.
type Option func(*config)

// WithBitrate sets the target bitrate in bit/s (6000–510000).
func WithBitrate(bps int) Option { return func(c *config) { c.bitrate = bps } }

// WithComplexity sets the encoder complexity (0–10).
func WithComplexity(n int) Option { return func(c *config) { c.complexity = n } }

// WithFEC sets the packet loss, in percent (0–100), that in-band FEC is
// planned for; 0 turns FEC off. Send FEC when the peer's fmtp says
// useinbandfec=1 (RFC 7587 §6.1).
func WithFEC(lossPercent int) Option { return func(c *config) { c.loss = lossPercent } }

// WithDTX turns discontinuous transmission on: during silence, Encode
// returns payloads of at most DTXMaxLen octets that need not be sent, as the
// peer's usedtx=1 allows (RFC 7587 §6.1).
func WithDTX() Option { return func(c *config) { c.dtx = true } }

// Encoder encodes mono PCM to Opus. It is not safe for concurrent use.
type Encoder struct {
	enc  *hopus.Encoder
	info codec.Info
}

var _ codec.Encoder = (*Encoder)(nil)

// NewEncoder returns an encoder for mono PCM at rate Hz.
func NewEncoder(rate int, opts ...Option) (*Encoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	c := config{bitrate: defaultBitrate(rate), complexity: DefaultComplexity, loss: DefaultLossPercent}
	for _, o := range opts {
		o(&c)
	}
	switch {
	case c.bitrate < 6000 || c.bitrate > 510000:
		return nil, fmt.Errorf("%w: bitrate %d bit/s (want 6000–510000)", ErrOption, c.bitrate)
	case c.complexity < 0 || c.complexity > 10:
		return nil, fmt.Errorf("%w: complexity %d (want 0–10)", ErrOption, c.complexity)
	case c.loss < 0 || c.loss > 100:
		return nil, fmt.Errorf("%w: packet loss %d %% (want 0–100)", ErrOption, c.loss)
	}
	enc, err := hopus.NewEncoder(rate, 1, hopus.AppVoIP)
	if err != nil {
		return nil, fmt.Errorf("opus: new encoder: %w", err)
	}
	e := &Encoder{enc: enc, info: Info(rate)}
	for _, set := range []func() error{
		func() error { return enc.SetBitrate(c.bitrate) },
		func() error { return enc.SetComplexity(c.complexity) },
		func() error { return enc.SetInBandFEC(c.loss > 0) },
		func() error { return enc.SetPacketLossPerc(c.loss) },
		func() error { return enc.SetDTX(c.dtx) },
	} {
		if err := set(); err != nil {
			return nil, fmt.Errorf("opus: configure encoder: %w", err)
		}
	}
	return e, nil
}

// Info describes the codec.
func (e *Encoder) Info() codec.Info { return e.info }

// Encode codes one frame of pcm (2.5 to 60 ms) into dst and returns the
// payload length. With DTX on, a payload of at most DTXMaxLen octets means
// the frame need not be sent.
func (e *Encoder) Encode(pcm []int16, dst []byte) (int, error) {
	if !frameOK(len(pcm), e.info.SampleRate) {
		return 0, codec.ErrFrameSize
	}
	if len(dst) == 0 {
		return 0, codec.ErrShortBuffer
	}
	// libopus writes up to cap(dst); keep it to what the caller gave.
	n, err := e.enc.Encode(pcm, dst[:len(dst):len(dst)])
	if err != nil {
		if errors.Is(err, hopus.ErrBufferTooSmall) {
			return 0, codec.ErrShortBuffer
		}
		return 0, fmt.Errorf("opus: encode: %w", err)
	}
	return n, nil
}

// SetBitrate changes the target bitrate, e.g. after the peer's b=AS or a
// TMMBR (6000–510000 bit/s).
func (e *Encoder) SetBitrate(bps int) error {
	if bps < 6000 || bps > 510000 {
		return fmt.Errorf("%w: bitrate %d bit/s (want 6000–510000)", ErrOption, bps)
	}
	return e.enc.SetBitrate(bps)
}

// SetPacketLoss changes the loss FEC is planned for, e.g. from the fraction
// lost in the peer's RTCP receiver reports (RFC 3550 §6.4.1); 0 turns FEC off.
func (e *Encoder) SetPacketLoss(percent int) error {
	if percent < 0 || percent > 100 {
		return fmt.Errorf("%w: packet loss %d %% (want 0–100)", ErrOption, percent)
	}
	if err := e.enc.SetInBandFEC(percent > 0); err != nil {
		return err
	}
	return e.enc.SetPacketLossPerc(percent)
}

// Reset returns the encoder to its state after NewEncoder, keeping its
// settings, for a new stream.
func (e *Encoder) Reset() error { return e.enc.Reset() }

// Decoder decodes Opus to mono PCM (a stereo stream is mixed down by
// libopus) and conceals lost frames. It is not safe for concurrent use.
type Decoder struct {
	dec  *hopus.Decoder
	info codec.Info
}

var _ codec.FECDecoder = (*Decoder)(nil)

// NewDecoder returns a decoder that gives mono PCM at rate Hz.
func NewDecoder(rate int) (*Decoder, error) {
	if err := checkRate(rate); err != nil {
		return nil, err
	}
	dec, err := hopus.NewDecoder(rate, 1)
	if err != nil {
		return nil, fmt.Errorf("opus: new decoder: %w", err)
	}
	return &Decoder{dec: dec, info: Info(rate)}, nil
}

// Info describes the codec.
func (d *Decoder) Info() codec.Info { return d.info }

// Decode decodes one packet into pcm and returns the number of samples, the
// packet's duration (up to 120 ms: pcm should hold 120 ms to take any
// packet). A packet libopus cannot parse is codec.ErrBadPayload.
func (d *Decoder) Decode(payload []byte, pcm []int16) (int, error) {
	if len(payload) == 0 {
		return 0, codec.ErrBadPayload
	}
	if len(pcm) == 0 {
		return 0, codec.ErrShortBuffer
	}
	n, err := d.dec.Decode(payload, pcm[:len(pcm):len(pcm)])
	if err != nil {
		return 0, decodeError(err)
	}
	return n, nil
}

// Conceal fills pcm, which must be 2.5 to 60 ms long (else
// codec.ErrFrameSize), with libopus's packet
// loss concealment, extrapolated from the frames before.
func (d *Decoder) Conceal(pcm []int16) (int, error) {
	if !frameOK(len(pcm), d.info.SampleRate) {
		return 0, codec.ErrFrameSize
	}
	if err := d.dec.DecodePLC(pcm[:len(pcm):len(pcm)]); err != nil {
		return 0, fmt.Errorf("opus: conceal: %w", err)
	}
	return len(pcm), nil
}

// DecodeFEC rebuilds the lost frame before next from the FEC data in next
// and writes it to pcm, which must be exactly the lost duration. When next
// carries no FEC, libopus conceals instead, so the result is never worse
// than Conceal. Decode next itself afterwards as usual.
func (d *Decoder) DecodeFEC(next []byte, pcm []int16) (int, error) {
	if len(next) == 0 {
		return 0, codec.ErrBadPayload
	}
	if !frameOK(len(pcm), d.info.SampleRate) {
		return 0, codec.ErrFrameSize
	}
	if err := d.dec.DecodeFEC(next, pcm[:len(pcm):len(pcm)]); err != nil {
		return 0, decodeError(err)
	}
	return len(pcm), nil
}

// Reset forgets the stream, for reuse on a new one.
func (d *Decoder) Reset() error {
	dec, err := hopus.NewDecoder(d.info.SampleRate, 1)
	if err != nil {
		return fmt.Errorf("opus: reset decoder: %w", err)
	}
	d.dec = dec
	return nil
}

// decodeError sorts a libopus decode error into the codec sentinels.
func decodeError(err error) error {
	if errors.Is(err, hopus.ErrBufferTooSmall) {
		return fmt.Errorf("%w: %w", codec.ErrShortBuffer, err)
	}
	return fmt.Errorf("%w: %w", codec.ErrBadPayload, err)
}
