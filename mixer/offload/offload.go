// Package offload is the pure-Go codec and mix engine behind the HAL's
// offload interfaces (hal.CodecOffload, hal.MixOffload): the work a DSP
// coprocessor would do, done on the host with the mixer's own codecs
// (mixer/codec) and mix arithmetic (mixer/mix).
//
// It has three uses. The mixer runs every frame's decode, mix and encode
// batches through it when no device is fitted, so the device and the host
// differ only in who executes a batch. It is the fallback the mixer redoes a
// batch on when a device faults. And it is the reference a device driver and
// its emulator are tested against: an emulator built on it produces the
// same bits.
//
// After Open, a batch allocates nothing. An Engine is safe for concurrent
// use by many frame workers as long as each channel is used by one of them
// at a time (the mixer keeps a conference, and so its channels, on one
// worker).
package offload

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"confab/hal"
	"confab/mixer/codec"
	"confab/mixer/codec/opus"
	"confab/mixer/codec/registry"
	"confab/mixer/mix"
)

// ErrUnknownChannel is the per-job error for a job on a channel that is not
// open (never opened, or closed). It wraps hal.ErrNoChannel.
var ErrUnknownChannel = fmt.Errorf("%w: unknown channel", hal.ErrNoChannel)

// ErrWrongKind is the per-job error for a decode job on an encoder channel
// or an encode job on a decoder channel.
var ErrWrongKind = errors.New("offload: job on a channel of the other kind")

// ErrBadJob is returned for a mix job whose buffers do not fit together
// (fewer Minus outputs than Inputs, a buffer shorter than Full). It is the
// caller's mistake, not a device fault.
var ErrBadJob = errors.New("offload: malformed mix job")

// Defaults of the limits.
const (
	// DefaultMaxChannels bounds the open channels: two for each of the
	// mixer's 10000 participants, and the shared encoders.
	DefaultMaxChannels = 1 << 15
	// DefaultMaxInputs is the most talkers one mix job may carry (the
	// mixer's MaxTalkers is at most 64).
	DefaultMaxInputs = 64
)

// Option configures an Engine.
type Option func(*Engine)

// WithCodecs sets the table codecs are found in by SDP name (default
// registry.Default(), the table the mixer negotiates from).
func WithCodecs(t *codec.Table) Option { return func(e *Engine) { e.codecs = t } }

// WithMaxChannels sets how many channels may be open at once; Open fails
// with hal.ErrNoChannel beyond it.
func WithMaxChannels(n int) Option { return func(e *Engine) { e.maxChannels = n } }

// WithMaxInputs sets MaxInputs, the most inputs of one mix job.
func WithMaxInputs(n int) Option { return func(e *Engine) { e.maxInputs = n } }

// Engine is the pure-Go codec and mix engine. It implements
// hal.CodecOffload and hal.MixOffload.
type Engine struct {
	codecs      *codec.Table
	maxChannels int
	maxInputs   int

	// mu guards the channel table: batches read it (shared), Open and Close
	// change it (exclusive). A channel's codec state is only touched by the
	// one worker that uses the channel.
	mu    sync.RWMutex
	chans []channel
	free  []uint32 // indexes of closed slots, reused first
	open  int
}

var (
	_ hal.CodecOffload = (*Engine)(nil)
	_ hal.MixOffload   = (*Engine)(nil)
)

// channel is one slot of the table. The ChannelID of a slot is its index
// plus one in the low 20 bits and a generation above, so an ID held past
// Close never reaches the slot's next owner.
type channel struct {
	gen  uint32
	used bool
	spec hal.ChannelSpec
	dec  codec.Decoder
	fec  codec.FECDecoder // dec, when it can rebuild from FEC
	enc  codec.Encoder
}

const (
	indexBits = 20
	indexMask = 1<<indexBits - 1
)

// New returns an engine with no channels open.
func New(opts ...Option) *Engine {
	e := &Engine{codecs: registry.Default(), maxChannels: DefaultMaxChannels, maxInputs: DefaultMaxInputs}
	for _, o := range opts {
		o(e)
	}
	if e.maxChannels > indexMask {
		e.maxChannels = indexMask
	}
	return e
}

// Open builds a decoder or an encoder for spec and returns its channel.
// A codec the table does not hold, or a rate it cannot run at, is
// hal.ErrUnsupported; a full table is hal.ErrNoChannel.
func (e *Engine) Open(spec hal.ChannelSpec) (hal.ChannelID, error) {
	c, err := e.build(spec)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.open >= e.maxChannels {
		return 0, fmt.Errorf("%w: all %d channels open", hal.ErrNoChannel, e.maxChannels)
	}
	var idx uint32
	if n := len(e.free); n > 0 {
		idx = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		idx = uint32(len(e.chans))
		e.chans = append(e.chans, channel{})
	}
	c.gen = e.chans[idx].gen + 1
	e.chans[idx] = c
	e.open++
	return hal.ChannelID(c.gen<<indexBits | (idx + 1)), nil
}

// build makes the codec of a channel (outside the table lock: an Opus
// encoder takes a while to set up).
func (e *Engine) build(spec hal.ChannelSpec) (channel, error) {
	if spec.Rate <= 0 || spec.Frame <= 0 || spec.Frame > 120*time.Millisecond {
		return channel{}, fmt.Errorf("%w: %s at %d Hz, %v frames", hal.ErrUnsupported, spec.Codec, spec.Rate, spec.Frame)
	}
	s, ok := e.lookup(spec.Codec)
	if !ok {
		return channel{}, fmt.Errorf("%w: codec %q", hal.ErrUnsupported, spec.Codec)
	}
	c := channel{used: true, spec: spec}
	var err error
	switch {
	case spec.Encoder && spec.Bitrate != 0 && s.Info.Name == "opus":
		c.enc, err = opus.NewEncoder(spec.Rate, opus.WithBitrate(spec.Bitrate))
	case spec.Encoder:
		// The table's encoder with its defaults (Opus: FEC on), exactly
		// what the mixer builds when it codes in Go.
		c.enc, err = s.NewEncoder(spec.Rate)
	default:
		c.dec, err = s.NewDecoder(spec.Rate)
		c.fec, _ = c.dec.(codec.FECDecoder)
	}
	if err != nil {
		return channel{}, fmt.Errorf("%w: %s at %d Hz: %w", hal.ErrUnsupported, spec.Codec, spec.Rate, err)
	}
	return c, nil
}

// lookup finds a codec by SDP name; names compare without regard to case.
func (e *Engine) lookup(name string) (codec.Spec, bool) {
	for _, s := range e.codecs.Specs() {
		if strings.EqualFold(s.Info.Name, name) {
			return s, true
		}
	}
	return codec.Spec{}, false
}

// Close frees a channel. Closing a channel that is not open does nothing.
func (e *Engine) Close(ch hal.ChannelID) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.slot(ch)
	if c == nil {
		return
	}
	*c = channel{gen: c.gen}
	e.free = append(e.free, uint32(ch&indexMask)-1)
	e.open--
}

// Channels is the number of open channels.
func (e *Engine) Channels() int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.open
}

// slot returns the open channel ch names, or nil. Table lock held.
func (e *Engine) slot(ch hal.ChannelID) *channel {
	idx := int(ch & indexMask)
	if idx == 0 || idx > len(e.chans) {
		return nil
	}
	c := &e.chans[idx-1]
	if !c.used || c.gen != uint32(ch)>>indexBits {
		return nil
	}
	return c
}

// Decode runs decode jobs in order. Each job's failure is its own (Err);
// the Go engine never faults, so the batch error is always nil.
func (e *Engine) Decode(jobs []hal.CodecJob) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i := range jobs {
		j := &jobs[i]
		j.N, j.Err = 0, nil
		c := e.slot(j.Channel)
		switch {
		case c == nil:
			j.Err = ErrUnknownChannel
			continue
		case c.dec == nil:
			j.Err = ErrWrongKind
			continue
		}
		switch j.Op {
		case hal.DecodePayload:
			j.N, j.Err = c.dec.Decode(j.Payload, j.PCM)
		case hal.DecodeConceal:
			j.N, j.Err = c.dec.Conceal(j.PCM)
		case hal.DecodeFEC:
			if c.fec == nil {
				j.Err = hal.ErrUnsupported
				continue
			}
			j.N, j.Err = c.fec.DecodeFEC(j.Payload, j.PCM)
		default:
			j.Err = hal.ErrUnsupported
		}
	}
	return nil
}

// Encode runs encode jobs in order; as Decode, failures are per job.
func (e *Engine) Encode(jobs []hal.CodecJob) error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for i := range jobs {
		j := &jobs[i]
		j.N, j.Err = 0, nil
		c := e.slot(j.Channel)
		switch {
		case c == nil:
			j.Err = ErrUnknownChannel
		case c.enc == nil:
			j.Err = ErrWrongKind
		default:
			j.N, j.Err = c.enc.Encode(j.PCM, j.Payload)
		}
	}
	return nil
}

// MaxInputs is the most inputs one mix job may carry.
func (e *Engine) MaxInputs() int { return e.maxInputs }

// block is how many samples are summed at a time: the accumulator lives on
// the stack, so concurrent Mix calls share nothing and allocate nothing,
// and a frame of any length is mixed in blocks.
const block = 480

// Mix runs mix jobs: each one's sum, and each input's sum without itself,
// with the arithmetic the mixer has always used (sum in 32 bits, saturate
// once at the end), so results are bit-identical to mixing in the mixer.
// A malformed job fails the batch with ErrBadJob before any output is
// written.
func (e *Engine) Mix(jobs []hal.MixJob) error {
	for i := range jobs {
		if err := e.check(&jobs[i]); err != nil {
			return fmt.Errorf("%w: job %d: %v", ErrBadJob, i, err)
		}
	}
	var acc [block]int32
	for i := range jobs {
		j := &jobs[i]
		n := len(j.Full)
		for lo := 0; lo < n; lo += block {
			hi := min(lo+block, n)
			a := acc[:hi-lo]
			mix.Clear(a)
			for _, in := range j.Inputs {
				mix.Add(a, in[lo:hi])
			}
			if j.Extra != nil {
				mix.Add(a, j.Extra[lo:hi])
			}
			mix.Saturate(j.Full[lo:hi], a)
			for k, in := range j.Inputs {
				mix.MinusSelf(j.Minus[k][lo:hi], a, in[lo:hi])
			}
		}
	}
	return nil
}

// check validates one mix job without allocating on success.
func (e *Engine) check(j *hal.MixJob) error {
	n := len(j.Full)
	switch {
	case len(j.Inputs) > e.maxInputs:
		return fmt.Errorf("%d inputs, at most %d", len(j.Inputs), e.maxInputs)
	case len(j.Minus) < len(j.Inputs):
		return fmt.Errorf("%d minus outputs for %d inputs", len(j.Minus), len(j.Inputs))
	case j.Extra != nil && len(j.Extra) < n:
		return fmt.Errorf("extra of %d samples, frame of %d", len(j.Extra), n)
	}
	for k, in := range j.Inputs {
		if len(in) < n || len(j.Minus[k]) < n {
			return fmt.Errorf("input %d: %d samples in, %d out, frame of %d", k, len(in), len(j.Minus[k]), n)
		}
	}
	return nil
}
