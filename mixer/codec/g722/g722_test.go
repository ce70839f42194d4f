package g722

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"confab/mixer/codec"
	"confab/mixer/codec/internal/audiotest"
)

const frame = SampleRate / 50 // 20 ms, 320 samples

// readPCM reads a little-endian 16-bit PCM file from testdata.
func readPCM(t testing.TB, name string) []int16 {
	t.Helper()
	b := readFile(t, name)
	s := make([]int16, len(b)/2)
	for i := range s {
		s[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
	}
	return s
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading reference vector (testdata/gen.sh makes them): %v", err)
	}
	return b
}

// vectors made by testdata/gen.sh with ffmpeg's G.722 encoder and decoder.
var vectors = []struct{ name, desc string }{
	{"tone1k", "a 1 kHz tone"},
	{"sweep", "a 50 Hz to 7.95 kHz sweep"},
	{"noise", "full-scale white noise"},
	{"speech", "synthetic speech"},
}

func TestEncodeMatchesReference(t *testing.T) {
	for _, v := range vectors {
		t.Run(v.desc+" encodes bit for bit as the reference encoder does", func(t *testing.T) {
			in := readPCM(t, v.name+".raw")
			want := readFile(t, v.name+".g722")
			enc := NewEncoder()
			got := make([]byte, 0, len(want))
			buf := make([]byte, frame/2)
			for f := 0; f+1 < len(in); f += frame {
				pcm := in[f:min(f+frame, len(in)&^1)]
				n, err := enc.Encode(pcm, buf)
				if err != nil {
					t.Fatalf("Encode of frame at sample %d: %v", f, err)
				}
				got = append(got, buf[:n]...)
			}
			if len(got) != len(want) {
				t.Fatalf("encoded %d octets, reference has %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("octet %d = %#02x, reference %#02x", i, got[i], want[i])
				}
			}
		})
	}
}

func TestDecodeMatchesReference(t *testing.T) {
	all := append(vectors, struct{ name, desc string }{"random", "arbitrary octets"})
	for _, v := range all {
		t.Run(v.desc+" decode bit for bit as the reference decoder does", func(t *testing.T) {
			payload := readFile(t, v.name+".g722")
			want := readPCM(t, v.name+".dec.raw")
			dec := NewDecoder()
			got := make([]int16, 0, len(want))
			buf := make([]int16, frame)
			for f := 0; f < len(payload); f += frame / 2 {
				n, err := dec.Decode(payload[f:min(f+frame/2, len(payload))], buf)
				if err != nil {
					t.Fatalf("Decode of frame at octet %d: %v", f, err)
				}
				got = append(got, buf[:n]...)
			}
			if len(got) != len(want) {
				t.Fatalf("decoded %d samples, reference has %d", len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("sample %d = %d, reference %d", i, got[i], want[i])
				}
			}
		})
	}
}

func TestRoundTripQuality(t *testing.T) {
	tests := []struct {
		name   string
		freq   float64
		minSNR float64
	}{
		{"a 300 Hz tone in the lower band", 300, 50},
		{"a 1 kHz tone in the lower band", 1000, 40},
		{"a 3 kHz tone in the lower band", 3000, 35},
		{"a 5 kHz tone in the higher band", 5000, 18},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s comes back with SNR above %.0f dB", tt.name, tt.minSNR), func(t *testing.T) {
			in := audiotest.Tone(SampleRate, SampleRate, tt.freq, 10000)
			enc, dec := NewEncoder(), NewDecoder()
			payload := make([]byte, frame/2)
			out := make([]int16, len(in))
			for f := 0; f < len(in); f += frame {
				enc.Encode(in[f:f+frame], payload)
				dec.Decode(payload, out[f:f+frame])
			}
			skip, delay := SampleRate/10, codecDelay
			if snr := audiotest.SNR(in[skip:len(in)-delay], out[skip+delay:]); snr < tt.minSNR {
				t.Fatalf("SNR = %.1f dB, want >= %.0f dB", snr, tt.minSNR)
			}
		})
	}
}

// codecDelay is the delay of the two 24-tap QMFs, in 16 kHz samples.
const codecDelay = 22

func TestCodecDelay(t *testing.T) {
	in := readPCM(t, "speech.raw")
	enc, dec := NewEncoder(), NewDecoder()
	payload := make([]byte, len(in)/2)
	out := make([]int16, len(in)&^1)
	enc.Encode(in[:len(out)], payload)
	dec.Decode(payload, out)
	if d := audiotest.Delay(in[:16000], out, 64); d != codecDelay {
		t.Fatalf("speech comes out %d samples late, want %d (two 24-tap QMFs)", d, codecDelay)
	}
}

func TestStateCarriesAcrossFrames(t *testing.T) {
	in := readPCM(t, "speech.raw")[:16000]
	whole := make([]byte, len(in)/2)
	NewEncoder().Encode(in, whole)
	enc := NewEncoder()
	pieces := make([]byte, 0, len(whole))
	buf := make([]byte, 200)
	for rest, step := in, 2; len(rest) > 0; step = (step*7)%398 + 2 {
		n := min(step, len(rest))
		m, err := enc.Encode(rest[:n], buf)
		if err != nil {
			t.Fatal(err)
		}
		pieces = append(pieces, buf[:m]...)
		rest = rest[n:]
	}
	for i := range whole {
		if whole[i] != pieces[i] {
			t.Fatalf("octet %d differs between one call (%#02x) and uneven frames (%#02x)", i, whole[i], pieces[i])
		}
	}
}

func TestReset(t *testing.T) {
	in := audiotest.Tone(frame, SampleRate, 440, 12000)
	first := make([]byte, frame/2)
	again := make([]byte, frame/2)
	enc := NewEncoder()
	enc.Encode(in, first)
	enc.Encode(in, again)
	enc.Reset()
	enc.Encode(in, again)
	for i := range first {
		if first[i] != again[i] {
			t.Fatalf("octet %d after Reset = %#02x, want %#02x as from a new encoder", i, again[i], first[i])
		}
	}
	dec := NewDecoder()
	a, b := make([]int16, frame), make([]int16, frame)
	dec.Decode(first, a)
	dec.Decode(first, b)
	dec.Reset()
	dec.Decode(first, b)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("sample %d after Reset = %d, want %d as from a new decoder", i, b[i], a[i])
		}
	}
}

func TestInfo(t *testing.T) {
	want := codec.Info{Name: "G722", PayloadType: 9, ClockRate: 8000, SampleRate: 16000, Channels: 1}
	if got := NewEncoder().Info(); got != want {
		t.Errorf("encoder Info() = %+v, want %+v", got, want)
	}
	if got := NewDecoder().Info(); got != want {
		t.Errorf("decoder Info() = %+v, want %+v", got, want)
	}
	if ticks := want.RTPTicks(frame); ticks != 160 {
		t.Errorf("RTPTicks(320) = %d, want 160 (RFC 3551 §4.5.2)", ticks)
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		call func() (int, error)
		want error
	}{
		{"encoding an odd number of samples fails", func() (int, error) {
			return NewEncoder().Encode(make([]int16, 319), make([]byte, 160))
		}, codec.ErrFrameSize},
		{"encoding into a short buffer fails", func() (int, error) {
			return NewEncoder().Encode(make([]int16, 320), make([]byte, 159))
		}, codec.ErrShortBuffer},
		{"decoding into a short buffer fails", func() (int, error) {
			return NewDecoder().Decode(make([]byte, 160), make([]int16, 319))
		}, codec.ErrShortBuffer},
		{"decoding an empty payload fails", func() (int, error) {
			return NewDecoder().Decode(nil, make([]int16, 320))
		}, codec.ErrBadPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.call(); !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("got %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

func TestConceal(t *testing.T) {
	enc, dec := NewEncoder(), NewDecoder()
	in := audiotest.Tone(5*frame, SampleRate, 250, 8000)
	payload := make([]byte, frame/2)
	pcm := make([]int16, frame)
	for f := 0; f < len(in); f += frame {
		enc.Encode(in[f:f+frame], payload)
		dec.Decode(payload, pcm)
	}
	t.Run("a lost frame is filled with the continuing tone", func(t *testing.T) {
		n, err := dec.Conceal(pcm)
		if err != nil || n != frame {
			t.Fatalf("Conceal = %d, %v; want %d, nil", n, err, frame)
		}
		if a := audiotest.Goertzel(pcm[:frame/2], SampleRate, 250); a < 6000 {
			t.Fatalf("250 Hz amplitude in the first 10 ms = %.0f, want about 8000", a)
		}
	})
	t.Run("after 60 ms of loss the output is silent", func(t *testing.T) {
		for range 3 {
			dec.Conceal(pcm)
		}
		if e := audiotest.Energy(pcm); e != 0 {
			t.Fatalf("energy of the fourth lost frame = %.0f, want 0", e)
		}
	})
}

func TestDoesNotAllocate(t *testing.T) {
	enc, dec := NewEncoder(), NewDecoder()
	pcm := audiotest.Tone(frame, SampleRate, 1000, 10000)
	payload := make([]byte, frame/2)
	out := make([]int16, frame)
	if a := testing.AllocsPerRun(100, func() {
		enc.Encode(pcm, payload)
		dec.Decode(payload, out)
		dec.Conceal(out)
	}); a != 0 {
		t.Fatalf("%v allocations per frame, want 0", a)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(readFile(f, "random.g722")[:160])
	f.Add(readFile(f, "speech.g722")[:160])
	f.Add([]byte{})
	f.Add([]byte{0x00, 0xFF, 0x03, 0xC0})
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec := NewDecoder()
		pcm := make([]int16, 2*frame)
		n, err := dec.Decode(payload, pcm)
		switch {
		case len(payload) == 0:
			if !errors.Is(err, codec.ErrBadPayload) {
				t.Fatalf("empty payload: %d, %v; want ErrBadPayload", n, err)
			}
		case 2*len(payload) > len(pcm):
			if !errors.Is(err, codec.ErrShortBuffer) {
				t.Fatalf("%d octets into %d samples: %d, %v; want ErrShortBuffer", len(payload), len(pcm), n, err)
			}
		case err != nil || n != 2*len(payload):
			t.Fatalf("%d octets: %d, %v; want %d samples", len(payload), n, err, 2*len(payload))
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	pcm := readPCM(b, "speech.raw")[:frame]
	payload := make([]byte, frame/2)
	enc := NewEncoder()
	b.ReportAllocs()
	for b.Loop() {
		enc.Encode(pcm, payload)
	}
}

func BenchmarkDecode(b *testing.B) {
	payload := readFile(b, "speech.g722")[4000 : 4000+frame/2]
	pcm := make([]int16, frame)
	dec := NewDecoder()
	b.ReportAllocs()
	for b.Loop() {
		dec.Decode(payload, pcm)
	}
}
