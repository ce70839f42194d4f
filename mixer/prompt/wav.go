package prompt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrBadWAV is returned for a file that is not mono 16-bit PCM WAV.
var ErrBadWAV = errors.New("prompt: not a mono 16-bit PCM WAV file")

// ParseWAV reads a RIFF/WAVE file holding mono 16-bit little-endian PCM
// (format tag 1, or WAVE_FORMAT_EXTENSIBLE with the PCM sub-format) and
// returns its sample rate and samples. Unknown chunks are skipped.
func ParseWAV(b []byte) (rate int, pcm []int16, err error) {
	if len(b) < 12 || string(b[0:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, nil, fmt.Errorf("%w: no RIFF/WAVE header", ErrBadWAV)
	}
	var haveFmt bool
	p := 12
	for p+8 <= len(b) {
		id := string(b[p : p+4])
		size := int(binary.LittleEndian.Uint32(b[p+4 : p+8]))
		body := p + 8
		if size < 0 || size > len(b)-body {
			// espeak-ng writes 0x7fffffff for a streamed data chunk: take what is there.
			if id == "data" {
				size = len(b) - body
			} else {
				return 0, nil, fmt.Errorf("%w: chunk %q runs past the end", ErrBadWAV, id)
			}
		}
		switch id {
		case "fmt ":
			if size < 16 {
				return 0, nil, fmt.Errorf("%w: short fmt chunk", ErrBadWAV)
			}
			tag := binary.LittleEndian.Uint16(b[body:])
			channels := binary.LittleEndian.Uint16(b[body+2:])
			rate = int(binary.LittleEndian.Uint32(b[body+4:]))
			bits := binary.LittleEndian.Uint16(b[body+14:])
			if tag != 1 && tag != 0xFFFE {
				return 0, nil, fmt.Errorf("%w: format tag %d", ErrBadWAV, tag)
			}
			if channels != 1 || bits != 16 {
				return 0, nil, fmt.Errorf("%w: %d channels, %d bits", ErrBadWAV, channels, bits)
			}
			if rate < 8000 || rate > 48000 {
				return 0, nil, fmt.Errorf("%w: sample rate %d", ErrBadWAV, rate)
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, nil, fmt.Errorf("%w: data before fmt", ErrBadWAV)
			}
			n := size / 2
			pcm = make([]int16, n)
			for i := range pcm {
				pcm[i] = int16(binary.LittleEndian.Uint16(b[body+2*i:]))
			}
			return rate, pcm, nil
		}
		p = body + size + size&1 // chunks are padded to even length
	}
	return 0, nil, fmt.Errorf("%w: no data chunk", ErrBadWAV)
}
