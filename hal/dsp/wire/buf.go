package wire

import (
	"encoding/binary"
	"unsafe"
)

// littleEndian is true on hosts whose int16 is already the wire's byte
// order, where PCM moves with one copy instead of a loop per sample.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// pcmBytes views s as its bytes in memory.
func pcmBytes(s []int16) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 2*len(s))
}

// Writer appends little-endian fields to a caller-owned buffer. It never
// grows the buffer: a write that does not fit sets Over and is dropped, so
// a batch that will not fit is found out without allocating.
type Writer struct {
	B    []byte
	N    int
	Over bool
}

func (w *Writer) room(n int) bool {
	if w.Over || len(w.B)-w.N < n {
		w.Over = true
		return false
	}
	return true
}

// U8 writes one byte.
func (w *Writer) U8(v uint8) {
	if w.room(1) {
		w.B[w.N] = v
		w.N++
	}
}

// U16 writes a little-endian uint16.
func (w *Writer) U16(v uint16) {
	if w.room(2) {
		binary.LittleEndian.PutUint16(w.B[w.N:], v)
		w.N += 2
	}
}

// U32 writes a little-endian uint32.
func (w *Writer) U32(v uint32) {
	if w.room(4) {
		binary.LittleEndian.PutUint32(w.B[w.N:], v)
		w.N += 4
	}
}

// Bytes writes b.
func (w *Writer) Bytes(b []byte) {
	if w.room(len(b)) {
		w.N += copy(w.B[w.N:], b)
	}
}

// PCM writes samples as little-endian int16.
func (w *Writer) PCM(s []int16) {
	if !w.room(2 * len(s)) {
		return
	}
	b := w.B[w.N : w.N+2*len(s)]
	if littleEndian {
		copy(b, pcmBytes(s))
		w.N += len(b)
		return
	}
	for i, v := range s {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	w.N += 2 * len(s)
}

// Skip reserves n bytes to be filled later and returns their offset.
func (w *Writer) Skip(n int) int {
	at := w.N
	if w.room(n) {
		clear(w.B[w.N : w.N+n])
		w.N += n
	}
	return at
}

// Reader takes little-endian fields from a payload. A read past the end
// sets Short and returns zeros, so a malformed payload is an error, never
// a panic.
type Reader struct {
	B     []byte
	N     int
	Short bool
}

func (r *Reader) has(n int) bool {
	if r.Short || n < 0 || len(r.B)-r.N < n {
		r.Short = true
		return false
	}
	return true
}

// Left is the number of unread bytes.
func (r *Reader) Left() int { return len(r.B) - r.N }

// U8 reads one byte.
func (r *Reader) U8() uint8 {
	if !r.has(1) {
		return 0
	}
	r.N++
	return r.B[r.N-1]
}

// U16 reads a little-endian uint16.
func (r *Reader) U16() uint16 {
	if !r.has(2) {
		return 0
	}
	r.N += 2
	return binary.LittleEndian.Uint16(r.B[r.N-2:])
}

// U32 reads a little-endian uint32.
func (r *Reader) U32() uint32 {
	if !r.has(4) {
		return 0
	}
	r.N += 4
	return binary.LittleEndian.Uint32(r.B[r.N-4:])
}

// Bytes returns the next n bytes (a slice of the payload, not a copy).
func (r *Reader) Bytes(n int) []byte {
	if !r.has(n) {
		return nil
	}
	r.N += n
	return r.B[r.N-n : r.N]
}

// PCM reads len(dst) samples into dst.
func (r *Reader) PCM(dst []int16) {
	b := r.Bytes(2 * len(dst))
	if b == nil {
		return
	}
	if littleEndian {
		copy(pcmBytes(dst), b)
		return
	}
	for i := range dst {
		dst[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
}
