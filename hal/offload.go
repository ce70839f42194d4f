package hal

import (
	"errors"
	"time"
)

// Codec and mix offload: a coprocessor (a DSP on an SPI bus, say) that
// decodes, mixes and encodes audio frames for the MCU. Work is handed over in
// batches, one call for many channels, because each crossing to the device
// has a fixed cost (an SPI transaction) that must be shared by all the
// channels of a frame.
//
// The MCU never depends on a device being there: the pure-Go engines of the
// mixer implement the same interfaces (mixer/offload) and are both the
// fallback and the reference the drivers are tested against. When a device
// call fails, the MCU does that frame's work in Go at once, so a caller hears
// at most one frame of difference, and moves the conference back to the
// device only after the driver says it is healthy again.

// ErrOffloadFault means the device did not do the work: a timeout, a frame
// that failed its CRC, a device reset, a sequence gap. The caller redoes the
// batch on the pure-Go engines. Drivers wrap it with detail.
var ErrOffloadFault = errors.New("hal: offload device fault")

// ErrNoChannel means the device has no free channel (or no room for another
// conference) of the kind asked for.
var ErrNoChannel = errors.New("hal: no free offload channel")

// ErrUnsupported means the device cannot do what was asked (a codec, a rate,
// a frame length, more inputs than its mix size).
var ErrUnsupported = errors.New("hal: not supported by the offload device")

// ChannelID names one codec channel on a device: a decoder or an encoder with
// its own state (ADPCM predictor, Opus state, loss concealment history).
type ChannelID uint32

// ChannelSpec says what a codec channel does.
type ChannelSpec struct {
	Codec   string        // SDP encoding name: "PCMU", "PCMA", "G722", "opus", "L16"
	Rate    int           // PCM sample rate it decodes to or encodes from
	Frame   time.Duration // PCM frame length of one job (10, 20, 40 ms ...)
	Encoder bool          // an encoder; otherwise a decoder
	// Bitrate and FEC apply to Opus encoders (0/false: device default).
	Bitrate int
	FEC     bool
}

// DecodeOp says what a decode job asks for.
type DecodeOp uint8

// Decode operations.
const (
	DecodePayload DecodeOp = iota // decode Payload
	DecodeConceal                 // conceal one lost frame (the codec's PLC)
	DecodeFEC                     // rebuild the frame before Payload from its in-band FEC (Opus)
)

// CodecJob is one channel's work in a batch. Buffers are the caller's; the
// driver fills the results and never keeps a reference after the call.
type CodecJob struct {
	Channel ChannelID
	Op      DecodeOp // decode jobs only
	// Decode: Payload is the input and PCM receives the samples (len(PCM)
	// is the room, and for DecodeConceal/DecodeFEC exactly one frame).
	// Encode: PCM is the input frame and Payload the room for the result.
	Payload []byte
	PCM     []int16
	// Results: N is samples decoded or bytes encoded; Err is this job's
	// own failure (a malformed payload, say), the rest of the batch stands.
	N   int
	Err error
}

// CodecOffload decodes and encodes frames for many channels at once.
type CodecOffload interface {
	// Open reserves a channel; Close frees it (and is safe on a channel the
	// device has since lost).
	Open(spec ChannelSpec) (ChannelID, error)
	Close(ch ChannelID)
	// Decode and Encode run one batch, each job on its channel in order.
	// An error wrapping ErrOffloadFault means no job's result can be
	// trusted and the batch must be redone elsewhere.
	Decode(jobs []CodecJob) error
	Encode(jobs []CodecJob) error
}

// MixJob is one conference's frame to mix: the N-1 ("mix-minus") mix.
type MixJob struct {
	// Inputs are the frames of the participants heard this frame (the
	// loudest talkers), all of Samples length at the conference rate.
	Inputs [][]int16
	// Extra is added to everyone's mix without a minus-self (a prompt for
	// the whole conference); nil for none.
	Extra []int16
	// Full receives the sum of Inputs and Extra, saturated to 16 bits: what
	// a listener who is not talking hears. Minus[i] receives the same sum
	// without Inputs[i]: what talker i hears.
	Full  []int16
	Minus [][]int16
}

// MixOffload mixes conferences' frames.
type MixOffload interface {
	// MaxInputs is the most frames one MixJob may carry.
	MaxInputs() int
	// Mix runs one batch of conferences' frames (one SPI transaction for
	// all of them on the DSP driver).
	Mix(jobs []MixJob) error
}

// Offload is what the MCU is handed at start: either part may be nil (the
// pure-Go engine does that work).
type Offload struct {
	Codec CodecOffload
	Mix   MixOffload
	// Healthy reports whether the device is back after a fault, so the MCU
	// may move conferences onto it again; nil means always.
	Healthy func() bool
}

// Capability is one kind of work the HAL can hand to a driver.
type Capability string

// Capabilities, as the HAL reports them.
const (
	CapPacketPath Capability = "packet-path"
	CapCodec      Capability = "codec"
	CapMix        Capability = "mix"
	CapPanel      Capability = "panel"
	CapWatchdog   Capability = "watchdog"
)

// DriverStatus is one line of the HAL's report at start: for a capability,
// which driver is active, and for each driver tried and refused, why.
type DriverStatus struct {
	Capability Capability
	Driver     string // "dsp-spi", "go", "socket", "xdp", "gpio", "none" ...
	Active     bool
	Reason     string // why it is active, or why it was not used
}
