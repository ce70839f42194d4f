package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Type is a frame's message type (§4). A response carries its request's
// type with the high bit set; TypeError answers any request that failed as
// a whole.
type Type uint8

// Message types.
const (
	TypeHello  Type = 0x01
	TypeOpen   Type = 0x02
	TypeClose  Type = 0x03
	TypeDecode Type = 0x10
	TypeEncode Type = 0x11
	TypeMix    Type = 0x12
	TypeReset  Type = 0x7F

	ResponseBit Type = 0x80
	TypeError   Type = 0xFF
)

// Response returns the response type of a request type.
func (t Type) Response() Type { return t | ResponseBit }

func (t Type) String() string {
	switch t &^ ResponseBit {
	case TypeHello:
		return "HELLO"
	case TypeOpen:
		return "OPEN"
	case TypeClose:
		return "CLOSE"
	case TypeDecode:
		return "DECODE"
	case TypeEncode:
		return "ENCODE"
	case TypeMix:
		return "MIX"
	case TypeReset:
		if t == TypeError {
			return "ERROR"
		}
		return "RESET"
	}
	return fmt.Sprintf("type(0x%02x)", uint8(t))
}

// Code is the reason in an ERROR response (§4.8).
type Code uint8

// Error codes.
const (
	CodeBadFrame    Code = 1 // the request failed its header or payload CRC
	CodeSequence    Code = 2 // the request's sequence number is not the one expected
	CodeNotReady    Code = 3 // the device has restarted and waits for HELLO
	CodeUnsupported Code = 4 // codec, rate or frame length the device cannot do
	CodeNoChannel   Code = 5 // no free channel
	CodeBadRequest  Code = 6 // malformed payload, unknown type
	CodeTooBig      Code = 7 // the request or its response exceeds the device's limits
	CodeVersion     Code = 8 // no protocol version in common
)

func (c Code) String() string {
	switch c {
	case CodeBadFrame:
		return "bad frame"
	case CodeSequence:
		return "sequence"
	case CodeNotReady:
		return "not ready (device restarted)"
	case CodeUnsupported:
		return "unsupported"
	case CodeNoChannel:
		return "no free channel"
	case CodeBadRequest:
		return "bad request"
	case CodeTooBig:
		return "too big"
	case CodeVersion:
		return "version"
	}
	return fmt.Sprintf("code(%d)", uint8(c))
}

// ErrorLen is the payload length of an ERROR response: code, the request
// type it answers, two reserved bytes and an argument (the expected
// sequence number for CodeSequence).
const ErrorLen = 8

// Status is one job's result inside a DECODE, ENCODE or MIX response (§4.5).
type Status uint8

// Job statuses.
const (
	StatusOK         Status = 0
	StatusNoChannel  Status = 1 // the channel is not open (or of the other kind)
	StatusBadPayload Status = 2 // the payload could not be decoded
	StatusFrameSize  Status = 3 // a PCM length the channel cannot code
	StatusShort      Status = 4 // the room the host gave is too small
)

// Codec numbers the codecs on the wire (§4.2).
type Codec uint8

// Codecs.
const (
	CodecPCMU Codec = 1
	CodecPCMA Codec = 2
	CodecG722 Codec = 3
	CodecL16  Codec = 4
	CodecOpus Codec = 5
)

// CodecByName maps SDP encoding names to wire numbers.
func CodecByName(name string) (Codec, bool) {
	switch name {
	case "PCMU":
		return CodecPCMU, true
	case "PCMA":
		return CodecPCMA, true
	case "G722":
		return CodecG722, true
	case "L16":
		return CodecL16, true
	case "opus":
		return CodecOpus, true
	}
	return 0, false
}

// Name is the SDP encoding name of c.
func (c Codec) Name() string {
	switch c {
	case CodecPCMU:
		return "PCMU"
	case CodecPCMA:
		return "PCMA"
	case CodecG722:
		return "G722"
	case CodecL16:
		return "L16"
	case CodecOpus:
		return "opus"
	}
	return ""
}

// Codec capability flags in HELLO.
const (
	CodecDecode = 1 << 0
	CodecEncode = 1 << 1
	CodecFEC    = 1 << 2
)

// Rates are the PCM rates of the rate mask in HELLO, bit i for Rates[i].
var Rates = [...]int{8000, 12000, 16000, 24000, 32000, 48000}

// RateBit returns the mask bit of a PCM rate, 0 if it has none.
func RateBit(rate int) uint16 {
	for i, r := range Rates {
		if r == rate {
			return 1 << i
		}
	}
	return 0
}

// CodecCap is one codec a device offers.
type CodecCap struct {
	Codec Codec
	Flags uint8
	Rates uint16 // mask of Rates
}

// Hello is the payload of a HELLO response (§4.1).
type Hello struct {
	Version     uint16
	BootID      uint32
	MaxChannels uint16
	MaxInputs   uint16 // most frames in one conference's MIX entry
	MaxJobs     uint16 // most jobs (or conferences) in one batch
	MaxSamples  uint16 // most PCM samples in one job's frame
	MaxPayload  uint32 // largest payload of a request or a response
	Codecs      []CodecCap
	Name        string
}

// helloFixed is the length of a HELLO response before its codec list.
const helloFixed = 24

// Append writes h's encoding after b.
func (h *Hello) Append(b []byte) []byte {
	var f [helloFixed]byte
	binary.LittleEndian.PutUint16(f[0:], h.Version)
	binary.LittleEndian.PutUint32(f[4:], h.BootID)
	binary.LittleEndian.PutUint16(f[8:], h.MaxChannels)
	binary.LittleEndian.PutUint16(f[10:], h.MaxInputs)
	binary.LittleEndian.PutUint16(f[12:], h.MaxJobs)
	binary.LittleEndian.PutUint16(f[14:], h.MaxSamples)
	binary.LittleEndian.PutUint32(f[16:], h.MaxPayload)
	f[20] = byte(len(h.Codecs))
	f[21] = byte(len(h.Name))
	b = append(b, f[:]...)
	for _, c := range h.Codecs {
		b = append(b, byte(c.Codec), c.Flags, byte(c.Rates), byte(c.Rates>>8))
	}
	return append(b, h.Name[:min(len(h.Name), 255)]...)
}

// ErrHello means a HELLO response payload is malformed.
var ErrHello = errors.New("wire: malformed HELLO response")

// ParseHello decodes a HELLO response payload.
func ParseHello(p []byte) (Hello, error) {
	if len(p) < helloFixed {
		return Hello{}, ErrHello
	}
	h := Hello{
		Version:     binary.LittleEndian.Uint16(p[0:]),
		BootID:      binary.LittleEndian.Uint32(p[4:]),
		MaxChannels: binary.LittleEndian.Uint16(p[8:]),
		MaxInputs:   binary.LittleEndian.Uint16(p[10:]),
		MaxJobs:     binary.LittleEndian.Uint16(p[12:]),
		MaxSamples:  binary.LittleEndian.Uint16(p[14:]),
		MaxPayload:  binary.LittleEndian.Uint32(p[16:]),
	}
	nc, nn := int(p[20]), int(p[21])
	if len(p) != helloFixed+4*nc+nn {
		return Hello{}, ErrHello
	}
	q := p[helloFixed:]
	for i := 0; i < nc; i++ {
		h.Codecs = append(h.Codecs, CodecCap{Codec: Codec(q[0]), Flags: q[1], Rates: binary.LittleEndian.Uint16(q[2:])})
		q = q[4:]
	}
	h.Name = string(q)
	return h, nil
}

// Has reports whether h offers codec c at rate for the work in flags.
func (h *Hello) Has(c Codec, rate int, flags uint8) bool {
	bit := RateBit(rate)
	for _, cc := range h.Codecs {
		if cc.Codec == c && cc.Flags&flags == flags && cc.Rates&bit != 0 {
			return true
		}
	}
	return false
}

// Fixed layouts (§4). Lengths of the per-item headers inside payloads.
const (
	HelloReqLen   = 4  // min version u16, max version u16
	OpenReqLen    = 12 // codec u8, flags u8, frame samples u16, rate u32, bitrate u32
	OpenRespLen   = 4  // channel u16, reserved u16
	CloseReqLen   = 4  // channel u16, reserved u16
	BatchHdrLen   = 4  // count u16, reserved u16
	DecodeJobLen  = 8  // channel u16, op u8, reserved u8, payload len u16, PCM room u16
	EncodeJobLen  = 8  // channel u16, samples u16, payload room u16, reserved u16
	MixConfLen    = 4  // samples u16, inputs u8, flags u8
	ResultHdrLen  = 4  // status u8, reserved/inputs u8, count u16
	ResetRespLen  = 4  // new boot id u32
	OpenFlagEnc   = 1 << 0
	OpenFlagFEC   = 1 << 1
	MixFlagExtra  = 1 << 0
	ChannelIDBits = 16
)
