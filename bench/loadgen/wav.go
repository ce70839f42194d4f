package loadgen

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrWAV means a file is not a WAV file the generator can send: RIFF/WAVE
// with 16-bit PCM, mono or stereo.
var ErrWAV = errors.New("loadgen: unsupported WAV file")

// maxWAVBytes bounds the audio read from a WAV file: ten minutes of 48 kHz
// stereo, far more than a looped talker needs.
const maxWAVBytes = 10 * 60 * 48000 * 4

// ReadWAVFile reads a WAV file's audio as mono samples and its rate.
func ReadWAVFile(path string) ([]int16, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, fmt.Errorf("loadgen: %w", err)
	}
	defer f.Close()
	pcm, rate, err := ReadWAV(f)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", path, err)
	}
	return pcm, rate, nil
}

// ReadWAV reads RIFF/WAVE audio (16-bit PCM, WAVE_FORMAT_PCM or
// WAVE_FORMAT_EXTENSIBLE with the PCM subformat) as mono samples, averaging
// the channels of stereo, and returns them with the sample rate.
func ReadWAV(r io.Reader) ([]int16, int, error) {
	var hdr [12]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, 0, fmt.Errorf("%w: no RIFF header", ErrWAV)
	}
	if string(hdr[0:4]) != "RIFF" || string(hdr[8:12]) != "WAVE" {
		return nil, 0, fmt.Errorf("%w: not RIFF/WAVE", ErrWAV)
	}
	var channels, bits, format uint16
	var rate uint32
	haveFmt := false
	for {
		var ch [8]byte
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return nil, 0, fmt.Errorf("%w: no data chunk", ErrWAV)
		}
		id, size := string(ch[0:4]), binary.LittleEndian.Uint32(ch[4:8])
		switch id {
		case "fmt ":
			if size < 16 || size > 1024 {
				return nil, 0, fmt.Errorf("%w: fmt chunk of %d bytes", ErrWAV, size)
			}
			b := make([]byte, size+size%2)
			if _, err := io.ReadFull(r, b); err != nil {
				return nil, 0, fmt.Errorf("%w: short fmt chunk", ErrWAV)
			}
			format = binary.LittleEndian.Uint16(b[0:2])
			channels = binary.LittleEndian.Uint16(b[2:4])
			rate = binary.LittleEndian.Uint32(b[4:8])
			bits = binary.LittleEndian.Uint16(b[14:16])
			if format == 0xfffe && size >= 26 { // WAVE_FORMAT_EXTENSIBLE: the subformat GUID starts with the format
				format = binary.LittleEndian.Uint16(b[24:26])
			}
			haveFmt = true
		case "data":
			if !haveFmt {
				return nil, 0, fmt.Errorf("%w: data before fmt", ErrWAV)
			}
			if format != 1 || bits != 16 || channels < 1 || channels > 2 || rate < 8000 || rate > 192000 {
				return nil, 0, fmt.Errorf("%w: format %d, %d bits, %d channels, %d Hz; want 16-bit PCM, mono or stereo",
					ErrWAV, format, bits, channels, rate)
			}
			n := int64(size)
			if n > maxWAVBytes {
				n = maxWAVBytes
			}
			b, err := io.ReadAll(io.LimitReader(r, n))
			if err != nil {
				return nil, 0, fmt.Errorf("%w: %v", ErrWAV, err)
			}
			frame := 2 * int(channels)
			pcm := make([]int16, len(b)/frame)
			for i := range pcm {
				var sum int
				for c := range int(channels) {
					sum += int(int16(binary.LittleEndian.Uint16(b[i*frame+2*c:])))
				}
				pcm[i] = int16(sum / int(channels))
			}
			if len(pcm) == 0 {
				return nil, 0, fmt.Errorf("%w: no samples", ErrWAV)
			}
			return pcm, int(rate), nil
		default:
			if _, err := io.CopyN(io.Discard, r, int64(size)+int64(size%2)); err != nil {
				return nil, 0, fmt.Errorf("%w: short %q chunk", ErrWAV, id)
			}
		}
	}
}
