package registry

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"confab/mixer/codec"
	"confab/mixer/codec/internal/audiotest"
)

var mixerRates = []int{8000, 16000, 48000}

func TestDefaultOrder(t *testing.T) {
	want := []string{"opus", "G722", "PCMU", "PCMA", "L16"}
	specs := Default().Specs()
	if len(specs) != len(want) {
		t.Fatalf("%d codecs, want %d", len(specs), len(want))
	}
	for i, s := range specs {
		if s.Info.Name != want[i] {
			t.Fatalf("codec %d is %s, want %s (order Opus, G.722, PCMU, PCMA, L16)", i, s.Info.Name, want[i])
		}
	}
}

func TestLookup(t *testing.T) {
	tests := []struct {
		name        string
		encoding    string
		clock       uint32
		wantPT      uint8
		wantRate    int
		wantChans   int
		wantFmtp    string
		wantMissing bool
	}{
		{name: "opus/48000/2 is dynamic 111 with FEC offered", encoding: "opus", clock: 48000, wantPT: 111, wantRate: 48000, wantChans: 2, wantFmtp: OpusFmtp},
		{name: "G722/8000 is payload type 9 at 16 kHz", encoding: "G722", clock: 8000, wantPT: 9, wantRate: 16000},
		{name: "PCMU/8000 is payload type 0", encoding: "PCMU", clock: 8000, wantPT: 0, wantRate: 8000},
		{name: "pcma/8000 in lower case is payload type 8", encoding: "pcma", clock: 8000, wantPT: 8, wantRate: 8000},
		{name: "L16/16000 is dynamic 118", encoding: "L16", clock: 16000, wantPT: 118, wantRate: 16000},
		{name: "G722 at 16000 is not G.722 as SDP writes it", encoding: "G722", clock: 16000, wantMissing: true},
		{name: "opus at 16000 is not opus as SDP writes it", encoding: "opus", clock: 16000, wantMissing: true},
		{name: "GSM is not offered", encoding: "GSM", clock: 8000, wantMissing: true},
	}
	table := Default()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := table.Lookup(tt.encoding, tt.clock)
			if ok == tt.wantMissing {
				t.Fatalf("Lookup(%q, %d) found = %v", tt.encoding, tt.clock, ok)
			}
			if !ok {
				return
			}
			if s.Info.PayloadType != tt.wantPT || s.Info.SampleRate != tt.wantRate || s.SDPChannels != tt.wantChans || s.Fmtp != tt.wantFmtp {
				t.Fatalf("Lookup(%q, %d) = %+v channels %d fmtp %q", tt.encoding, tt.clock, s.Info, s.SDPChannels, s.Fmtp)
			}
		})
	}
}

func TestEveryCodecAtEveryMixerRate(t *testing.T) {
	for _, s := range Default().Specs() {
		for _, rate := range mixerRates {
			t.Run(fmt.Sprintf("%s built for %d Hz PCM carries a 1 kHz tone", s.Info.Name, rate), func(t *testing.T) {
				enc, err := s.NewEncoder(rate)
				if err != nil {
					t.Fatalf("NewEncoder(%d): %v", rate, err)
				}
				dec, err := s.NewDecoder(rate)
				if err != nil {
					t.Fatalf("NewDecoder(%d): %v", rate, err)
				}
				for _, info := range []codec.Info{enc.Info(), dec.Info()} {
					if info.SampleRate != rate || info.ClockRate != s.Info.ClockRate || info.Name != s.Info.Name {
						t.Fatalf("Info() = %+v, want %s at clock %d with PCM at %d Hz", info, s.Info.Name, s.Info.ClockRate, rate)
					}
				}
				n := rate / 50
				in := audiotest.Tone(rate/2, rate, 1000, 8000)
				payload := make([]byte, 1500)
				out := make([]int16, 0, len(in))
				pcm := make([]int16, n)
				for f := 0; f+n <= len(in); f += n {
					m, err := enc.Encode(in[f:f+n], payload)
					if err != nil {
						t.Fatalf("Encode: %v", err)
					}
					if k, err := dec.Decode(payload[:m], pcm); err != nil || k != n {
						t.Fatalf("Decode = %d, %v; want %d, nil", k, err, n)
					}
					out = append(out, pcm...)
				}
				got := audiotest.Goertzel(out[rate/10:], rate, 1000)
				if db := 20 * math.Log10(got/8000); math.Abs(db) > 1 {
					t.Errorf("1 kHz level %.1f dB from the input's, want within 1 dB", db)
				}
				if k, err := dec.Conceal(pcm); err != nil || k != n {
					t.Errorf("Conceal = %d, %v; want %d, nil", k, err, n)
				}
			})
		}
	}
}

func TestUnsupportedRate(t *testing.T) {
	for _, s := range Default().Specs() {
		t.Run(s.Info.Name+" cannot be built for 44.1 kHz PCM", func(t *testing.T) {
			if _, err := s.NewEncoder(44100); !errors.Is(err, codec.ErrRate) {
				t.Errorf("NewEncoder(44100) error = %v, want ErrRate", err)
			}
			if _, err := s.NewDecoder(44100); !errors.Is(err, codec.ErrRate) {
				t.Errorf("NewDecoder(44100) error = %v, want ErrRate", err)
			}
		})
	}
}

func TestWrapperErrors(t *testing.T) {
	enc, _ := G722().NewEncoder(48000)
	dec, _ := PCMU().NewDecoder(48000)
	tests := []struct {
		name string
		call func() (int, error)
		want error
	}{
		{"a frame that is not whole at the codec's rate cannot be encoded", func() (int, error) {
			return enc.Encode(make([]int16, 961), make([]byte, 500))
		}, codec.ErrFrameSize},
		{"a frame that is not whole at the codec's rate cannot be concealed", func() (int, error) {
			return dec.Conceal(make([]int16, 965))
		}, codec.ErrFrameSize},
		{"decoding into a buffer shorter than the frame fails", func() (int, error) {
			return dec.Decode(make([]byte, 160), make([]int16, 959))
		}, codec.ErrShortBuffer},
		{"an empty payload is still malformed", func() (int, error) {
			return dec.Decode(nil, make([]int16, 960))
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

func TestDoesNotAllocate(t *testing.T) {
	for _, s := range Default().Specs() {
		t.Run(s.Info.Name+" at 48 kHz encodes, decodes and conceals without allocating", func(t *testing.T) {
			enc, err := s.NewEncoder(48000)
			if err != nil {
				t.Fatal(err)
			}
			dec, err := s.NewDecoder(48000)
			if err != nil {
				t.Fatal(err)
			}
			in := audiotest.Tone(960, 48000, 1000, 8000)
			payload := make([]byte, 1500)
			pcm := make([]int16, 960)
			a := testing.AllocsPerRun(50, func() {
				m, _ := enc.Encode(in, payload)
				dec.Decode(payload[:m], pcm)
				dec.Conceal(pcm)
			})
			if a != 0 {
				t.Fatalf("%v allocations per frame, want 0", a)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(uint8(0), []byte{0x78, 0x01, 0x02})
	f.Add(uint8(1), make([]byte, 160))
	f.Add(uint8(4), []byte{0x01, 0x02, 0x03})
	f.Add(uint8(2), []byte{})
	specs := Default().Specs()
	f.Fuzz(func(t *testing.T, which uint8, payload []byte) {
		s := specs[int(which)%len(specs)]
		dec, err := s.NewDecoder(48000)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, 5760) // 120 ms
		n, err := dec.Decode(payload, pcm)
		switch {
		case errors.Is(err, codec.ErrBadPayload), errors.Is(err, codec.ErrShortBuffer):
		case err != nil:
			t.Fatalf("%s: %d-octet payload: %v; want ErrBadPayload or ErrShortBuffer", s.Info.Name, len(payload), err)
		case n <= 0 || n > len(pcm):
			t.Fatalf("%s: %d-octet payload decoded to %d samples", s.Info.Name, len(payload), n)
		}
	})
}

func BenchmarkFrame(b *testing.B) {
	for _, s := range Default().Specs() {
		for _, rate := range []int{16000, 48000} {
			enc, _ := s.NewEncoder(rate)
			dec, _ := s.NewDecoder(rate)
			n := rate / 50
			in := audiotest.Tone(n, rate, 1000, 8000)
			payload := make([]byte, 1500)
			m, _ := enc.Encode(in, payload)
			pcm := make([]int16, n)
			b.Run(fmt.Sprintf("Encode/%s_at_%dk_20ms", s.Info.Name, rate/1000), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					enc.Encode(in, payload)
				}
			})
			b.Run(fmt.Sprintf("Decode/%s_at_%dk_20ms", s.Info.Name, rate/1000), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					dec.Decode(payload[:m], pcm)
				}
			})
		}
	}
}
