package opus

import (
	"errors"
	"fmt"
	"math"
	"testing"

	"confab/mixer/codec"
	"confab/mixer/codec/internal/audiotest"
)

func mustEncoder(t testing.TB, rate int, opts ...Option) *Encoder {
	t.Helper()
	e, err := NewEncoder(rate, opts...)
	if err != nil {
		t.Fatalf("NewEncoder(%d): %v", rate, err)
	}
	return e
}

func mustDecoder(t testing.TB, rate int) *Decoder {
	t.Helper()
	d, err := NewDecoder(rate)
	if err != nil {
		t.Fatalf("NewDecoder(%d): %v", rate, err)
	}
	return d
}

// speechLike returns n samples of a voiced, speech-like signal at rate Hz:
// harmonics of a gliding pitch (110–190 Hz) under a syllable envelope with
// pauses, so that frames start, stop and change as speech does.
func speechLike(n, rate int) []int16 {
	s := make([]int16, n)
	var phase float64
	for i := range s {
		t := float64(i) / float64(rate)
		f0 := 150 + 40*math.Sin(2*math.Pi*0.9*t)
		phase += 2 * math.Pi * f0 / float64(rate)
		env := math.Max(0, math.Sin(2*math.Pi*2.7*t))
		var v float64
		for k := 1; float64(k)*f0 < math.Min(3800, float64(rate)/2-200); k++ {
			// A formant-like bump around 700 Hz and 2 kHz over a 1/k tilt.
			f := float64(k) * f0
			g := 1/float64(k) + 0.8*math.Exp(-math.Pow((f-700)/200, 2)) + 0.4*math.Exp(-math.Pow((f-2000)/300, 2))
			v += g * math.Sin(float64(k)*phase)
		}
		s[i] = int16(4000 * env * v)
	}
	return s
}

// codeAll encodes pcm in frames of n samples and returns the packets.
func codeAll(t testing.TB, enc *Encoder, pcm []int16, n int) [][]byte {
	t.Helper()
	var packets [][]byte
	for f := 0; f+n <= len(pcm); f += n {
		buf := make([]byte, MaxPacketSize)
		m, err := enc.Encode(pcm[f:f+n], buf)
		if err != nil {
			t.Fatalf("Encode of frame %d: %v", f/n, err)
		}
		packets = append(packets, buf[:m])
	}
	return packets
}

func TestToneKeepsFrequency(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run(fmt.Sprintf("a 1 kHz tone at %d Hz comes back at 1 kHz with 15 dB SNR", rate), func(t *testing.T) {
			in := audiotest.Tone(rate, rate, 1000, 10000) // one second
			enc, dec := mustEncoder(t, rate), mustDecoder(t, rate)
			n := rate / 50
			out := make([]int16, 0, len(in))
			pcm := make([]int16, n)
			for _, p := range codeAll(t, enc, in, n) {
				m, err := dec.Decode(p, pcm)
				if err != nil || m != n {
					t.Fatalf("Decode = %d, %v; want %d, nil", m, err, n)
				}
				out = append(out, pcm...)
			}
			steady := out[rate/5:]
			want := audiotest.Goertzel(in[rate/5:], rate, 1000)
			if got := audiotest.Goertzel(steady, rate, 1000); math.Abs(20*math.Log10(got/want)) > 1 {
				t.Errorf("1 kHz level = %.0f, want %.0f within 1 dB", got, want)
			}
			for _, f := range []float64{500, 2000, 3000} {
				if a := audiotest.Goertzel(steady, rate, f); a > want/100 {
					t.Errorf("%.0f Hz level = %.0f, want below %.0f (-40 dB)", f, a, want/100)
				}
			}
			ref := in[rate/5 : rate/2]
			delay := audiotest.Delay(ref, out[rate/5:], rate/50)
			if snr := audiotest.SNR(ref, out[rate/5+delay:]); snr < 15 {
				t.Errorf("SNR after aligning by %d samples = %.1f dB, want >= 15 dB", delay, snr)
			}
		})
	}
}

func TestConcealGivesAFrame(t *testing.T) {
	for _, ms := range []int{10, 20, 60} {
		t.Run(fmt.Sprintf("concealing %d ms gives %d ms of sound after a tone", ms, ms), func(t *testing.T) {
			const rate = 16000
			enc, dec := mustEncoder(t, rate), mustDecoder(t, rate)
			n := rate * ms / 1000
			pcm := make([]int16, n)
			for _, p := range codeAll(t, enc, audiotest.Tone(rate/2, rate, 440, 8000), rate/50) {
				dec.Decode(p, make([]int16, rate/50))
			}
			got, err := dec.Conceal(pcm)
			if err != nil || got != n {
				t.Fatalf("Conceal = %d, %v; want %d, nil", got, err, n)
			}
			if a := audiotest.Goertzel(pcm[:rate/100], rate, 440); a < 2000 {
				t.Fatalf("440 Hz level in the first 10 ms = %.0f, want the tone continued", a)
			}
		})
	}
}

func TestFECBeatsConcealment(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		t.Run(fmt.Sprintf("at %d Hz frames rebuilt from FEC are closer to the sent audio than concealed ones", rate), func(t *testing.T) {
			n := rate / 50
			in := speechLike(3*rate, rate)
			packets := codeAll(t, mustEncoder(t, rate, WithFEC(20)), in, n)

			ref := mustDecoder(t, rate)
			plc, fec := mustDecoder(t, rate), mustDecoder(t, rate)
			want := make([]int16, n)
			a, b := make([]int16, n), make([]int16, n)
			var sig, errPLC, errFEC, corrPLC, corrFEC float64
			lost := 0
			for i := 0; i+1 < len(packets); i++ {
				ref.Decode(packets[i], want)
				if i < 5 || i%7 != 3 || audiotest.Energy(want) < 1e6*float64(n) {
					plc.Decode(packets[i], a)
					fec.Decode(packets[i], b)
					continue
				}
				if _, err := plc.Conceal(a); err != nil {
					t.Fatal(err)
				}
				if _, err := fec.DecodeFEC(packets[i+1], b); err != nil {
					t.Fatal(err)
				}
				lost++
				sig += audiotest.Energy(want)
				for j := range want {
					errPLC += math.Pow(float64(a[j])-float64(want[j]), 2)
					errFEC += math.Pow(float64(b[j])-float64(want[j]), 2)
				}
				corrPLC += audiotest.Correlation(want, a)
				corrFEC += audiotest.Correlation(want, b)
			}
			if lost < 5 {
				t.Fatalf("only %d voiced frames were dropped; the test signal is too quiet", lost)
			}
			snrPLC, snrFEC := 10*math.Log10(sig/errPLC), 10*math.Log10(sig/errFEC)
			corrPLC, corrFEC = corrPLC/float64(lost), corrFEC/float64(lost)
			t.Logf("%d lost frames: FEC SNR %.1f dB, correlation %.2f; PLC SNR %.1f dB, correlation %.2f", lost, snrFEC, corrFEC, snrPLC, corrPLC)
			if snrFEC < snrPLC+3 {
				t.Errorf("FEC SNR %.1f dB is not 3 dB above concealment's %.1f dB", snrFEC, snrPLC)
			}
			if corrFEC < 0.7 || corrFEC <= corrPLC {
				t.Errorf("FEC correlation %.2f, want >= 0.7 and above concealment's %.2f", corrFEC, corrPLC)
			}
		})
	}
}

func TestDTX(t *testing.T) {
	const rate = 48000
	enc := mustEncoder(t, rate, WithDTX())
	silence := make([]int16, rate/50)
	buf := make([]byte, MaxPacketSize)
	short := 0
	for range 50 {
		n, err := enc.Encode(silence, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n <= DTXMaxLen {
			short++
		}
	}
	if short < 30 {
		t.Fatalf("%d of 50 silent frames gave DTX payloads, want most", short)
	}
}

func TestInfo(t *testing.T) {
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run(fmt.Sprintf("at %d Hz the RTP clock is 48 kHz and a 20 ms frame is 960 ticks", rate), func(t *testing.T) {
			want := codec.Info{Name: "opus", PayloadType: 111, ClockRate: 48000, SampleRate: rate, Channels: 1}
			if got := mustEncoder(t, rate).Info(); got != want {
				t.Errorf("encoder Info() = %+v, want %+v", got, want)
			}
			if got := mustDecoder(t, rate).Info(); got != want {
				t.Errorf("decoder Info() = %+v, want %+v", got, want)
			}
			if ticks := want.RTPTicks(rate / 50); ticks != 960 {
				t.Errorf("RTPTicks = %d, want 960", ticks)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	enc, dec := mustEncoder(t, 16000), mustDecoder(t, 16000)
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"a 44.1 kHz encoder is refused", func() error { _, err := NewEncoder(44100); return err }, codec.ErrRate},
		{"a 32 kHz decoder is refused", func() error { _, err := NewDecoder(32000); return err }, codec.ErrRate},
		{"a complexity of 11 is refused", func() error { _, err := NewEncoder(16000, WithComplexity(11)); return err }, ErrOption},
		{"a bitrate of 1 kbit/s is refused", func() error { _, err := NewEncoder(16000, WithBitrate(1000)); return err }, ErrOption},
		{"a loss of 101 % is refused", func() error { _, err := NewEncoder(16000, WithFEC(101)); return err }, ErrOption},
		{"a 15 ms frame cannot be encoded", func() error { _, err := enc.Encode(make([]int16, 240), make([]byte, 100)); return err }, codec.ErrFrameSize},
		{"encoding into no buffer fails", func() error { _, err := enc.Encode(make([]int16, 320), nil); return err }, codec.ErrShortBuffer},
		{"a 7 ms frame cannot be concealed", func() error { _, err := dec.Conceal(make([]int16, 112)); return err }, codec.ErrFrameSize},
		{"an empty payload is malformed", func() error { _, err := dec.Decode(nil, make([]int16, 320)); return err }, codec.ErrBadPayload},
		{"an empty next payload is malformed", func() error { _, err := dec.DecodeFEC(nil, make([]int16, 320)); return err }, codec.ErrBadPayload},
		{"a code 3 packet without its count octet is malformed", func() error { _, err := dec.Decode([]byte{0x03}, make([]int16, 1920)); return err }, codec.ErrBadPayload},
		{"a 20 ms packet does not fit 10 ms", func() error {
			p := codeAll(t, mustEncoder(t, 16000), audiotest.Tone(320, 16000, 1000, 9000), 320)[0]
			_, err := mustDecoder(t, 16000).Decode(p, make([]int16, 160))
			return err
		}, codec.ErrShortBuffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestDoesNotAllocate(t *testing.T) {
	for _, rate := range []int{16000, 48000} {
		t.Run(fmt.Sprintf("at %d Hz encode, decode, conceal and FEC allocate nothing", rate), func(t *testing.T) {
			n := rate / 50
			enc, dec := mustEncoder(t, rate), mustDecoder(t, rate)
			in := speechLike(n, rate)
			payload := make([]byte, MaxPacketSize)
			pcm := make([]int16, n)
			a := testing.AllocsPerRun(50, func() {
				m, _ := enc.Encode(in, payload)
				dec.Decode(payload[:m], pcm)
				dec.Conceal(pcm)
				dec.DecodeFEC(payload[:m], pcm)
			})
			if a != 0 {
				t.Fatalf("%v allocations per frame, want 0", a)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, rate := range []int{16000, 48000} {
		for _, p := range codeAll(f, mustEncoder(f, rate), speechLike(rate/10, rate), rate/50) {
			f.Add(p)
		}
	}
	f.Add([]byte{0x03})
	f.Add([]byte{0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, payload []byte) {
		dec := mustDecoder(t, 48000)
		pcm := make([]int16, 5760) // 120 ms, the longest packet
		n, err := dec.Decode(payload, pcm)
		if err != nil {
			if !errors.Is(err, codec.ErrBadPayload) {
				t.Fatalf("%d-octet payload: %v; want ErrBadPayload", len(payload), err)
			}
			return
		}
		if n <= 0 || n > len(pcm) || n%120 != 0 {
			t.Fatalf("%d-octet payload decoded to %d samples, not a whole number of 2.5 ms", len(payload), n)
		}
		if len(payload) > 1 {
			if _, err := dec.DecodeFEC(payload, pcm[:960]); err != nil && !errors.Is(err, codec.ErrBadPayload) {
				t.Fatalf("DecodeFEC of a %d-octet payload: %v; want nil or ErrBadPayload", len(payload), err)
			}
		}
	})
}

func BenchmarkEncode(b *testing.B) {
	for _, rate := range []int{16000, 48000} {
		b.Run(fmt.Sprintf("%dk_c5_20ms", rate/1000), func(b *testing.B) {
			n := rate / 50
			enc := mustEncoder(b, rate)
			in := speechLike(rate, rate)
			payload := make([]byte, MaxPacketSize)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				enc.Encode(in[i:i+n], payload)
				i = (i + n) % len(in)
			}
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, rate := range []int{16000, 48000} {
		b.Run(fmt.Sprintf("%dk_20ms", rate/1000), func(b *testing.B) {
			n := rate / 50
			packets := codeAll(b, mustEncoder(b, rate), speechLike(rate, rate), n)
			dec := mustDecoder(b, rate)
			pcm := make([]int16, n)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				dec.Decode(packets[i], pcm)
				i = (i + 1) % len(packets)
			}
		})
	}
}
