// Package wire is the byte format of the DSP coprocessor protocol that the
// host driver (hal/dsp) and the device emulator (hal/dsp/dspemu) both speak:
// frame headers, CRC-32C, message types, error codes and the little helpers
// that write and read payloads into caller-owned buffers without allocating.
// docs/dsp-protocol.md is the specification; this package follows it and
// cites its sections.
package wire

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Magic opens every frame (docs/dsp-protocol.md §3). Its first byte is not
// zero, so the device can tell a request from the 0x00 filler the host
// clocks out while it reads a response.
const (
	Magic0 = 0xD5
	Magic1 = 0x50
)

// Version is the protocol version this package speaks.
const Version = 1

// HeaderLen is the length of a frame header; TrailerLen of the payload CRC
// after the payload.
const (
	HeaderLen  = 16
	TrailerLen = 4
)

// MaxPayload is the largest payload either side may ever announce. A device
// announces its own (smaller) limit in HELLO.
const MaxPayload = 1 << 20

// Errors of frame parsing. The driver counts them by kind.
var (
	ErrMagic     = errors.New("wire: bad magic")
	ErrVersion   = errors.New("wire: unsupported protocol version")
	ErrHeaderCRC = errors.New("wire: header CRC mismatch")
	ErrCRC       = errors.New("wire: payload CRC mismatch")
	ErrLength    = errors.New("wire: payload length out of range")
	ErrShort     = errors.New("wire: frame shorter than its header says")
	ErrTruncated = errors.New("wire: payload ends inside a field")
)

// castagnoli is CRC-32C (iSCSI polynomial 0x1EDC6F41, reflected), the CRC
// of every frame (§3.2). Go computes it with SSE4.2/ARMv8 CRC instructions.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CRC returns the CRC-32C of b.
func CRC(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Header is a decoded frame header (§3.1).
type Header struct {
	Version uint8
	Type    Type
	Seq     uint32
	Len     uint32 // payload length, without the trailer
}

// PutHeader writes h into b[:HeaderLen], with its header CRC.
func PutHeader(b []byte, h Header) {
	_ = b[HeaderLen-1]
	b[0] = Magic0
	b[1] = Magic1
	b[2] = h.Version
	b[3] = byte(h.Type)
	binary.LittleEndian.PutUint32(b[4:], h.Seq)
	binary.LittleEndian.PutUint32(b[8:], h.Len)
	binary.LittleEndian.PutUint32(b[12:], CRC(b[:12]))
}

// ParseHeader checks and decodes a frame header. maxLen bounds the payload
// length the caller has room for.
func ParseHeader(b []byte, maxLen int) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, ErrShort
	}
	if b[0] != Magic0 || b[1] != Magic1 {
		return Header{}, ErrMagic
	}
	if binary.LittleEndian.Uint32(b[12:]) != CRC(b[:12]) {
		return Header{}, ErrHeaderCRC
	}
	h := Header{
		Version: b[2],
		Type:    Type(b[3]),
		Seq:     binary.LittleEndian.Uint32(b[4:]),
		Len:     binary.LittleEndian.Uint32(b[8:]),
	}
	if h.Version != Version {
		return h, ErrVersion
	}
	if h.Len > MaxPayload || int(h.Len) > maxLen {
		return h, ErrLength
	}
	return h, nil
}

// FrameLen is the length on the wire of a frame with n payload bytes.
func FrameLen(n int) int { return HeaderLen + n + TrailerLen }

// Seal finishes a frame in b whose payload (b[HeaderLen:HeaderLen+n]) is
// already written: it writes the header and the payload CRC, and returns
// the frame, b[:FrameLen(n)].
func Seal(b []byte, typ Type, seq uint32, n int) []byte {
	PutHeader(b, Header{Version: Version, Type: typ, Seq: seq, Len: uint32(n)})
	binary.LittleEndian.PutUint32(b[HeaderLen+n:], CRC(b[HeaderLen:HeaderLen+n]))
	return b[:FrameLen(n)]
}

// CheckPayload checks the CRC trailer of body, which holds a payload and
// its trailer, and returns the payload.
func CheckPayload(body []byte) ([]byte, error) {
	if len(body) < TrailerLen {
		return nil, ErrShort
	}
	n := len(body) - TrailerLen
	if binary.LittleEndian.Uint32(body[n:]) != CRC(body[:n]) {
		return nil, ErrCRC
	}
	return body[:n], nil
}

// ParseFrame checks and splits a whole frame held in b.
func ParseFrame(b []byte, maxLen int) (Header, []byte, error) {
	h, err := ParseHeader(b, maxLen)
	if err != nil {
		return h, nil, err
	}
	end := FrameLen(int(h.Len))
	if len(b) < end {
		return h, nil, ErrShort
	}
	p, err := CheckPayload(b[HeaderLen:end])
	return h, p, err
}
