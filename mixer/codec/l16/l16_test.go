package l16

import (
	"bytes"
	"errors"
	"fmt"
	"testing"

	"confab/mixer/codec"
	"confab/mixer/codec/internal/audiotest"
)

func mustCodec(t testing.TB, rate int) (*Encoder, *Decoder) {
	t.Helper()
	enc, err := NewEncoder(rate)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecoder(rate)
	if err != nil {
		t.Fatal(err)
	}
	return enc, dec
}

func TestWireFormat(t *testing.T) {
	tests := []struct {
		name string
		pcm  []int16
		want []byte
	}{
		{"samples are big-endian two's complement", []int16{0x0102, -2, 0}, []byte{0x01, 0x02, 0xFF, 0xFE, 0x00, 0x00}},
		{"the extremes survive", []int16{32767, -32768}, []byte{0x7F, 0xFF, 0x80, 0x00}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, dec := mustCodec(t, 16000)
			buf := make([]byte, 16)
			n, err := enc.Encode(tt.pcm, buf)
			if err != nil || !bytes.Equal(buf[:n], tt.want) {
				t.Fatalf("Encode = % x, %v; want % x", buf[:n], err, tt.want)
			}
			pcm := make([]int16, 8)
			m, err := dec.Decode(tt.want, pcm)
			if err != nil || m != len(tt.pcm) {
				t.Fatalf("Decode = %d, %v; want %d, nil", m, err, len(tt.pcm))
			}
			for i := range tt.pcm {
				if pcm[i] != tt.pcm[i] {
					t.Fatalf("sample %d = %d, want %d", i, pcm[i], tt.pcm[i])
				}
			}
		})
	}
}

func TestInfo(t *testing.T) {
	tests := []struct {
		name   string
		rate   int
		wantPT uint8
	}{
		{"16 kHz uses the default dynamic payload type", 16000, DefaultPayloadType},
		{"48 kHz uses the default dynamic payload type", 48000, DefaultPayloadType},
		{"44.1 kHz uses its static payload type", 44100, PayloadType44100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc, dec := mustCodec(t, tt.rate)
			want := codec.Info{Name: "L16", PayloadType: tt.wantPT, ClockRate: uint32(tt.rate), SampleRate: tt.rate, Channels: 1}
			if enc.Info() != want || dec.Info() != want {
				t.Fatalf("Info() = %+v and %+v, want %+v", enc.Info(), dec.Info(), want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	enc, dec := mustCodec(t, 8000)
	tests := []struct {
		name string
		call func() (int, error)
		want error
	}{
		{"an odd-length payload is malformed", func() (int, error) { return dec.Decode([]byte{1, 2, 3}, make([]int16, 4)) }, codec.ErrBadPayload},
		{"an empty payload is malformed", func() (int, error) { return dec.Decode(nil, make([]int16, 4)) }, codec.ErrBadPayload},
		{"decoding into a short buffer fails", func() (int, error) { return dec.Decode(make([]byte, 10), make([]int16, 4)) }, codec.ErrShortBuffer},
		{"encoding into a short buffer fails", func() (int, error) { return enc.Encode(make([]int16, 4), make([]byte, 7)) }, codec.ErrShortBuffer},
		{"a rate below 8 kHz is refused", func() (int, error) { _, err := NewEncoder(4000); return 0, err }, codec.ErrRate},
		{"a rate above 48 kHz is refused", func() (int, error) { _, err := NewDecoder(96000); return 0, err }, codec.ErrRate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n, err := tt.call(); !errors.Is(err, tt.want) || n != 0 {
				t.Fatalf("got %d, %v; want 0, %v", n, err, tt.want)
			}
		})
	}
}

func TestConcealContinuesTone(t *testing.T) {
	enc, dec := mustCodec(t, 16000)
	in := audiotest.Tone(1600, 16000, 300, 9000)
	payload := make([]byte, 640)
	pcm := make([]int16, 320)
	for f := 0; f < len(in); f += 320 {
		enc.Encode(in[f:f+320], payload)
		dec.Decode(payload, pcm)
	}
	if n, err := dec.Conceal(pcm); n != 320 || err != nil {
		t.Fatalf("Conceal = %d, %v; want 320, nil", n, err)
	}
	if a := audiotest.Goertzel(pcm[:160], 16000, 300); a < 7000 {
		t.Fatalf("300 Hz amplitude in the first 10 ms of concealment = %.0f, want about 9000", a)
	}
}

func TestDoesNotAllocate(t *testing.T) {
	enc, dec := mustCodec(t, 48000)
	pcm := audiotest.Tone(960, 48000, 1000, 10000)
	payload := make([]byte, 1920)
	out := make([]int16, 960)
	if a := testing.AllocsPerRun(100, func() {
		enc.Encode(pcm, payload)
		dec.Decode(payload, out)
		dec.Conceal(out)
	}); a != 0 {
		t.Fatalf("%v allocations per frame, want 0", a)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{0x7F, 0xFF, 0x80, 0x00})
	f.Add([]byte{1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec, err := NewDecoder(16000)
		if err != nil {
			t.Fatal(err)
		}
		pcm := make([]int16, 640)
		n, err := dec.Decode(payload, pcm)
		switch {
		case len(payload) == 0 || len(payload)%2 == 1:
			if !errors.Is(err, codec.ErrBadPayload) {
				t.Fatalf("%d-byte payload: %d, %v; want ErrBadPayload", len(payload), n, err)
			}
		case len(payload)/2 > len(pcm):
			if !errors.Is(err, codec.ErrShortBuffer) {
				t.Fatalf("%d-byte payload into %d samples: %d, %v; want ErrShortBuffer", len(payload), len(pcm), n, err)
			}
		case err != nil || n != len(payload)/2:
			t.Fatalf("%d-byte payload: %d, %v; want %d samples", len(payload), n, err, len(payload)/2)
		}
	})
}

func BenchmarkCodec(b *testing.B) {
	for _, rate := range []int{16000, 48000} {
		enc, dec := mustCodec(b, rate)
		n := rate / 50
		pcm := audiotest.Tone(n, rate, 1000, 10000)
		payload := make([]byte, 2*n)
		b.Run(fmt.Sprintf("Encode_%dk_20ms", rate/1000), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				enc.Encode(pcm, payload)
			}
		})
		b.Run(fmt.Sprintf("Decode_%dk_20ms", rate/1000), func(b *testing.B) {
			out := make([]int16, n)
			b.ReportAllocs()
			for b.Loop() {
				dec.Decode(payload, out)
			}
		})
	}
}
