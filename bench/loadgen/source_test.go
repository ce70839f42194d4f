package loadgen

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"confab/bench/audiocheck"
)

// decodeLoop decodes every frame of a loop.
func decodeLoop(t *testing.T, ci *codecInfo, src *source) []int16 {
	t.Helper()
	dec, err := ci.spec.NewDecoder(ci.rate)
	if err != nil {
		t.Fatal(err)
	}
	var out []int16
	pcm := make([]int16, 4*ci.frameLen)
	for i := range src.frames() {
		p, _ := src.frame(i)
		n, err := dec.Decode(p, pcm)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		out = append(out, pcm[:n]...)
	}
	return out
}

func TestToneLoop(t *testing.T) {
	for _, name := range []string{"PCMU", "PCMA", "G722", "opus"} {
		t.Run("a "+name+" burst loop decodes to the tone, then silence", func(t *testing.T) {
			ci := mustCodec(t, name)
			src, err := encodeLoop(*ci, burstPCM(*ci, 730, 20, 50), false)
			if err != nil {
				t.Fatal(err)
			}
			if src.frames() != 50 {
				t.Fatalf("%d frames, want 50", src.frames())
			}
			pcm := decodeLoop(t, ci, src)
			on := pcm[ci.frameLen*2 : ci.frameLen*20] // past the codec's start-up
			bank := audiocheck.NewToneBank(ci.rate, ci.rate/10, []float64{730, 840})
			bank.Write(on[:len(on)/(ci.rate/10)*(ci.rate/10)])
			l := bank.Levels()
			if l[0] < -1 || l[1] > -30 {
				t.Errorf("in the burst: 730 Hz %.1f dB, 840 Hz %.1f dB; want about 0 and none", l[0], l[1])
			}
			quiet := pcm[ci.frameLen*30:]
			for i, v := range quiet {
				if v > 300 || v < -300 {
					t.Fatalf("sample %d after the burst is %d, want near silence", i, v)
				}
			}
		})
	}
	t.Run("with DTX, Opus silence is not sent but the burst is", func(t *testing.T) {
		ci := mustCodec(t, "opus")
		src, err := encodeLoop(*ci, burstPCM(*ci, 730, 20, 50), true)
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for i := range 50 {
			if _, ok := src.frame(i); ok {
				sent++
			} else if i < 20 {
				t.Errorf("burst frame %d is not sent", i)
			}
		}
		// libopus keeps sending for about 200 ms after speech ends, then
		// one frame in 400 ms.
		if sent > 35 {
			t.Errorf("%d of 50 frames sent; DTX should leave most of the 30 silent ones out", sent)
		}
	})
	t.Run("frames wrap around the loop in both directions", func(t *testing.T) {
		src := &source{data: []byte{1, 2, 3}, off: []int{0, 1, 2, 3}}
		for _, tc := range []struct{ i, want int }{{0, 1}, {4, 2}, {-1, 3}} {
			if p, _ := src.frame(tc.i); int(p[0]) != tc.want {
				t.Errorf("frame %d is %d, want %d", tc.i, p[0], tc.want)
			}
		}
	})
}

func TestSpeechLoop(t *testing.T) {
	t.Run("speech fills the on frames of whole talk periods", func(t *testing.T) {
		ci := mustCodec(t, "PCMU")
		speech := make([]int16, 3*8000) // 3 s of a 500 Hz "voice"
		for i := range speech {
			speech[i] = int16(5000 * math.Sin(2*math.Pi*500*float64(i)/8000))
		}
		pcm := speechPCM(*ci, speech, 20, 50)
		// 150 frames of speech in bursts of 20: 8 periods of 50 frames.
		if len(pcm) != 8*50*160 {
			t.Fatalf("%d samples, want %d", len(pcm), 8*50*160)
		}
		for p := range 8 {
			if pcm[p*50*160+1] == 0 || pcm[p*50*160+30*160] != 0 {
				t.Errorf("period %d: the burst or the pause is not where it belongs", p)
			}
		}
	})
	t.Run("speech at 16 kHz is resampled for G.711 and a rate without a small ratio is refused", func(t *testing.T) {
		out, err := resampleTo(make([]int16, 16000), 16000, 8000)
		if err != nil || len(out) < 7900 || len(out) > 8000 {
			t.Errorf("got %d samples, %v; want about 8000", len(out), err)
		}
		if _, err := resampleTo(make([]int16, 44100), 44100, 8000); err == nil {
			t.Error("44.1 kHz to 8 kHz: no error")
		}
	})
}

// wavFile builds a RIFF/WAVE file.
func wavFile(format, channels uint16, rate uint32, bits uint16, extensible bool, samples []int16) []byte {
	var b bytes.Buffer
	fmtSize := uint32(16)
	if extensible {
		fmtSize = 40
	}
	data := new(bytes.Buffer)
	for _, s := range samples {
		_ = binary.Write(data, binary.LittleEndian, s)
	}
	b.WriteString("RIFF")
	_ = binary.Write(&b, binary.LittleEndian, uint32(4+8+fmtSize+8+uint32(data.Len())))
	b.WriteString("WAVE")
	b.WriteString("LIST") // a chunk to skip
	_ = binary.Write(&b, binary.LittleEndian, uint32(3))
	b.Write([]byte{1, 2, 3, 0})
	b.WriteString("fmt ")
	_ = binary.Write(&b, binary.LittleEndian, fmtSize)
	tag := format
	if extensible {
		tag = 0xfffe
	}
	_ = binary.Write(&b, binary.LittleEndian, tag)
	_ = binary.Write(&b, binary.LittleEndian, channels)
	_ = binary.Write(&b, binary.LittleEndian, rate)
	_ = binary.Write(&b, binary.LittleEndian, rate*uint32(channels)*uint32(bits/8))
	_ = binary.Write(&b, binary.LittleEndian, channels*bits/8)
	_ = binary.Write(&b, binary.LittleEndian, bits)
	if extensible {
		_ = binary.Write(&b, binary.LittleEndian, uint16(22))
		_ = binary.Write(&b, binary.LittleEndian, bits)
		_ = binary.Write(&b, binary.LittleEndian, uint32(4))
		_ = binary.Write(&b, binary.LittleEndian, format)
		b.Write(make([]byte, 14))
	}
	b.WriteString("data")
	_ = binary.Write(&b, binary.LittleEndian, uint32(data.Len()))
	b.Write(data.Bytes())
	return b.Bytes()
}

func TestReadWAV(t *testing.T) {
	tests := []struct {
		name string
		file []byte
		want []int16
		rate int
		err  error
	}{
		{"mono 16-bit PCM is read as it is", wavFile(1, 1, 16000, 16, false, []int16{1, -2, 300}), []int16{1, -2, 300}, 16000, nil},
		{"stereo is averaged to mono", wavFile(1, 2, 8000, 16, false, []int16{100, 300, -10, -30}), []int16{200, -20}, 8000, nil},
		{"the extensible format with a PCM subformat is read", wavFile(1, 1, 48000, 16, true, []int16{7}), []int16{7}, 48000, nil},
		{"8-bit audio is refused", wavFile(1, 1, 8000, 8, false, nil), nil, 0, ErrWAV},
		{"floating-point audio is refused", wavFile(3, 1, 8000, 16, false, []int16{1}), nil, 0, ErrWAV},
		{"a file that is not RIFF is refused", []byte("ID3\x03 not a wave file"), nil, 0, ErrWAV},
		{"a file without a data chunk is refused", wavFile(1, 1, 8000, 16, false, nil)[:36], nil, 0, ErrWAV},
		{"an empty data chunk is refused", wavFile(1, 1, 8000, 16, false, nil), nil, 0, ErrWAV},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pcm, rate, err := ReadWAV(bytes.NewReader(tt.file))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rate != tt.rate || !equal(pcm, tt.want) {
				t.Errorf("got %v at %d Hz, want %v at %d Hz", pcm, rate, tt.want, tt.rate)
			}
		})
	}
}

func equal(a, b []int16) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func FuzzReadWAV(f *testing.F) {
	f.Add(wavFile(1, 1, 16000, 16, false, []int16{1, 2, 3}))
	f.Add(wavFile(1, 2, 8000, 16, true, []int16{1, 2, 3, 4}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt \x10\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pcm, rate, err := ReadWAV(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(pcm) == 0 || rate < 8000 || rate > 192000 {
			t.Fatalf("accepted %d samples at %d Hz", len(pcm), rate)
		}
		if len(pcm) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(pcm), len(b))
		}
	})
}
