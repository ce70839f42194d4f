package g711

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"confab/mixer/codec"
	"confab/mixer/codec/internal/audiotest"
)

func TestKnownCodes(t *testing.T) {
	// Values from G.711 Tables 1a and 2a (decoder output, scaled to 16 bits).
	tests := []struct {
		name   string
		decode func(uint8) int16
		code   uint8
		want   int16
	}{
		{"µ-law 0xFF is positive zero", DecodeMuLaw, 0xFF, 0},
		{"µ-law 0x7F is negative zero", DecodeMuLaw, 0x7F, 0},
		{"µ-law 0x80 is the positive maximum", DecodeMuLaw, 0x80, 32124},
		{"µ-law 0x00 is the negative maximum", DecodeMuLaw, 0x00, -32124},
		{"µ-law 0xFE is the smallest positive step", DecodeMuLaw, 0xFE, 8},
		{"µ-law 0xF0 is the top of the first segment", DecodeMuLaw, 0xF0, 4 * 30},
		{"A-law 0xD5 is the smallest positive value", DecodeALaw, 0xD5, 8},
		{"A-law 0x55 is the smallest negative value", DecodeALaw, 0x55, -8},
		{"A-law 0xAA is the positive maximum", DecodeALaw, 0xAA, 32256},
		{"A-law 0x2A is the negative maximum", DecodeALaw, 0x2A, -32256},
		{"A-law 0xC5 starts the second segment", DecodeALaw, 0xC5, 8 * 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.decode(tt.code); got != tt.want {
				t.Fatalf("decode(%#02x) = %d, want %d", tt.code, got, tt.want)
			}
		})
	}
}

func TestEncodeKnownSamples(t *testing.T) {
	tests := []struct {
		name   string
		encode func(int16) uint8
		sample int16
		want   uint8
	}{
		{"µ-law encodes zero as positive zero", EncodeMuLaw, 0, 0xFF},
		{"µ-law encodes -1 as negative zero", EncodeMuLaw, -1, 0x7F},
		{"µ-law clips the positive maximum", EncodeMuLaw, math.MaxInt16, 0x80},
		{"µ-law clips the negative maximum", EncodeMuLaw, math.MinInt16, 0x00},
		{"A-law encodes zero as the smallest positive code", EncodeALaw, 0, 0xD5},
		{"A-law encodes -1 as the smallest negative code", EncodeALaw, -1, 0x55},
		{"A-law clips the positive maximum", EncodeALaw, math.MaxInt16, 0xAA},
		{"A-law clips the negative maximum", EncodeALaw, math.MinInt16, 0x2A},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.encode(tt.sample); got != tt.want {
				t.Fatalf("encode(%d) = %#02x, want %#02x", tt.sample, got, tt.want)
			}
		})
	}
}

func TestLaws(t *testing.T) {
	laws := []struct {
		name   string
		encode func(int16) uint8
		decode func(uint8) int16
	}{
		{"µ-law", EncodeMuLaw, DecodeMuLaw},
		{"A-law", EncodeALaw, DecodeALaw},
	}
	for _, law := range laws {
		t.Run(law.name+" encodes every decoded value back to its code", func(t *testing.T) {
			for c := range 256 {
				code := uint8(c)
				want := code
				if law.name == "µ-law" && code == 0x7F {
					want = 0xFF // negative zero decodes to 0, which is positive zero
				}
				if got := law.encode(law.decode(code)); got != want {
					t.Fatalf("encode(decode(%#02x)) = %#02x", code, got)
				}
			}
		})
		t.Run(law.name+" is monotonic over every 16-bit sample", func(t *testing.T) {
			prev := law.decode(law.encode(math.MinInt16))
			for s := math.MinInt16 + 1; s <= math.MaxInt16; s++ {
				v := law.decode(law.encode(int16(s)))
				if v < prev {
					t.Fatalf("decode(encode(%d)) = %d, below %d for the sample before", s, v, prev)
				}
				prev = v
			}
		})
		t.Run(law.name+" error stays within half a step plus the dropped bits", func(t *testing.T) {
			for s := -32000; s <= 32000; s++ {
				v := int(law.decode(law.encode(int16(s))))
				// Half a step is at most 1/33 of the decoded magnitude in
				// both laws; the bits below the law's resolution and the
				// one's complement of negatives add at most 8 more.
				limit := abs(v)/32 + 8
				if d := abs(v - s); d > limit {
					t.Fatalf("decode(encode(%d)) = %d, error %d > %d", s, v, d, limit)
				}
			}
		})
		t.Run(law.name+" is symmetric under one's complement", func(t *testing.T) {
			for s := range math.MaxInt16 + 1 {
				p, n := law.encode(int16(s)), law.encode(^int16(s))
				if p^n != 0x80 {
					t.Fatalf("encode(%d) = %#02x and encode(%d) = %#02x differ by more than the sign", s, p, ^s, n)
				}
			}
		})
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func TestToneQuality(t *testing.T) {
	tests := []struct {
		name string
		enc  *Encoder
		dec  *Decoder
	}{
		{"PCMU", NewPCMUEncoder(), NewPCMUDecoder()},
		{"PCMA", NewPCMAEncoder(), NewPCMADecoder()},
	}
	for _, tt := range tests {
		t.Run(tt.name+" keeps a 1 kHz tone at -10 dBFS above 35 dB SNR", func(t *testing.T) {
			in := audiotest.Tone(SampleRate, SampleRate, 1000, 32767*math.Pow(10, -10.0/20))
			payload := make([]byte, 160)
			out := make([]int16, len(in))
			for f := 0; f < len(in); f += 160 {
				n, err := tt.enc.Encode(in[f:f+160], payload)
				if err != nil || n != 160 {
					t.Fatalf("Encode = %d, %v", n, err)
				}
				if n, err = tt.dec.Decode(payload, out[f:f+160]); err != nil || n != 160 {
					t.Fatalf("Decode = %d, %v", n, err)
				}
			}
			if snr := audiotest.SNR(in, out); snr < 35 {
				t.Fatalf("SNR = %.1f dB, want >= 35 dB", snr)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	tests := []struct {
		name string
		info codec.Info
		want codec.Info
	}{
		{"the PCMU encoder is payload type 0 at 8 kHz", NewPCMUEncoder().Info(), codec.Info{Name: "PCMU", PayloadType: 0, ClockRate: 8000, SampleRate: 8000, Channels: 1}},
		{"the PCMU decoder matches its encoder", NewPCMUDecoder().Info(), NewPCMUEncoder().Info()},
		{"the PCMA encoder is payload type 8 at 8 kHz", NewPCMAEncoder().Info(), codec.Info{Name: "PCMA", PayloadType: 8, ClockRate: 8000, SampleRate: 8000, Channels: 1}},
		{"the PCMA decoder matches its encoder", NewPCMADecoder().Info(), NewPCMAEncoder().Info()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.info != tt.want {
				t.Fatalf("Info() = %+v, want %+v", tt.info, tt.want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		call func() (int, error)
		want error
	}{
		{"encoding into a short buffer fails", func() (int, error) {
			return NewPCMUEncoder().Encode(make([]int16, 160), make([]byte, 159))
		}, codec.ErrShortBuffer},
		{"decoding into a short buffer fails", func() (int, error) {
			return NewPCMADecoder().Decode(make([]byte, 160), make([]int16, 80))
		}, codec.ErrShortBuffer},
		{"decoding an empty payload fails", func() (int, error) {
			return NewPCMUDecoder().Decode(nil, make([]int16, 160))
		}, codec.ErrBadPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := tt.call()
			if !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("got %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

func TestConceal(t *testing.T) {
	for _, newDec := range []func() *Decoder{NewPCMUDecoder, NewPCMADecoder} {
		dec := newDec()
		t.Run(dec.Info().Name+" continues a tone through a lost frame and then falls silent", func(t *testing.T) {
			enc := NewPCMUEncoder()
			if dec.Info().Name == "PCMA" {
				enc = NewPCMAEncoder()
			}
			in := audiotest.Tone(800, SampleRate, 400, 8000)
			payload := make([]byte, 160)
			pcm := make([]int16, 160)
			for f := 0; f < len(in); f += 160 {
				enc.Encode(in[f:f+160], payload)
				dec.Decode(payload, pcm)
			}
			n, err := dec.Conceal(pcm)
			if err != nil || n != 160 {
				t.Fatalf("Conceal = %d, %v; want 160, nil", n, err)
			}
			if a := audiotest.Goertzel(pcm[:80], SampleRate, 400); a < 6000 {
				t.Fatalf("400 Hz amplitude in the first 10 ms of concealment = %.0f, want about 8000", a)
			}
			for range 3 {
				dec.Conceal(pcm)
			}
			if e := audiotest.Energy(pcm); e != 0 {
				t.Fatalf("energy after 80 ms of loss = %.0f, want 0", e)
			}
		})
	}
}

func TestDoesNotAllocate(t *testing.T) {
	for _, law := range []struct {
		enc *Encoder
		dec *Decoder
	}{{NewPCMUEncoder(), NewPCMUDecoder()}, {NewPCMAEncoder(), NewPCMADecoder()}} {
		t.Run(fmt.Sprintf("%s encode, decode and conceal allocate nothing", law.enc.Info().Name), func(t *testing.T) {
			pcm := audiotest.Tone(160, SampleRate, 1000, 10000)
			payload := make([]byte, 160)
			out := make([]int16, 160)
			a := testing.AllocsPerRun(100, func() {
				law.enc.Encode(pcm, payload)
				law.dec.Decode(payload, out)
				law.dec.Conceal(out)
			})
			if a != 0 {
				t.Fatalf("%v allocations per frame, want 0", a)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0xFF, 0x7F, 0x00, 0x80})
	f.Add([]byte{})
	f.Add(make([]byte, 400))
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, dec := range []*Decoder{NewPCMUDecoder(), NewPCMADecoder()} {
			pcm := make([]int16, 320)
			n, err := dec.Decode(payload, pcm)
			switch {
			case len(payload) == 0 && !errors.Is(err, codec.ErrBadPayload):
				t.Fatalf("empty payload: %d, %v; want ErrBadPayload", n, err)
			case len(payload) > len(pcm) && !errors.Is(err, codec.ErrShortBuffer):
				t.Fatalf("%d-byte payload into %d samples: %d, %v; want ErrShortBuffer", len(payload), len(pcm), n, err)
			case err == nil && n != len(payload):
				t.Fatalf("decoded %d samples from %d bytes", n, len(payload))
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, enc := range []*Encoder{NewPCMUEncoder(), NewPCMAEncoder()} {
		b.Run(enc.Info().Name+"_20ms", func(b *testing.B) {
			pcm := audiotest.Tone(160, SampleRate, 1000, 10000)
			payload := make([]byte, 160)
			b.ReportAllocs()
			for b.Loop() {
				enc.Encode(pcm, payload)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, dec := range []*Decoder{NewPCMUDecoder(), NewPCMADecoder()} {
		b.Run(dec.Info().Name+"_20ms", func(b *testing.B) {
			payload := make([]byte, 160)
			NewPCMUEncoder().Encode(audiotest.Tone(160, SampleRate, 1000, 10000), payload)
			pcm := make([]int16, 160)
			b.ReportAllocs()
			for b.Loop() {
				dec.Decode(payload, pcm)
			}
		})
	}
}
