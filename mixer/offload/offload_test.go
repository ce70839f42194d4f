package offload

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"confab/hal"
	"confab/mixer/codec"
	"confab/mixer/codec/registry"
	"confab/mixer/mix"
)

const frame = 20 * time.Millisecond

// tone is n samples of a sine at f Hz, starting at sample k of the stream.
func tone(n, k, rate int, f float64, amp float64) []int16 {
	pcm := make([]int16, n)
	for i := range pcm {
		pcm[i] = int16(amp * math.Sin(2*math.Pi*f*float64(k+i)/float64(rate)))
	}
	return pcm
}

func mustOpen(t testing.TB, e *Engine, spec hal.ChannelSpec) hal.ChannelID {
	t.Helper()
	ch, err := e.Open(spec)
	if err != nil {
		t.Fatalf("open %+v: %v", spec, err)
	}
	return ch
}

// cases are the codecs at the rates the mixer runs them at.
var cases = []struct {
	name string
	rate int
}{
	{"PCMU", 8000}, {"PCMA", 8000}, {"G722", 16000}, {"L16", 16000}, {"opus", 48000}, {"opus", 16000},
}

func spec(name string, rate int) codec.Spec {
	for _, s := range registry.Default().Specs() {
		if s.Info.Name == name {
			return s
		}
	}
	panic(name)
}

// TestCodecJobsMatchDirectCalls runs one stream through the engine and the
// same stream through the codecs called directly, job for job: encode,
// decode, a lost frame concealed, and (Opus) one rebuilt from FEC. The
// results must be the same bits.
func TestCodecJobsMatchDirectCalls(t *testing.T) {
	for _, c := range cases {
		t.Run(fmt.Sprintf("%s at %d Hz codes as the codec itself", c.name, c.rate), func(t *testing.T) {
			e := New()
			n := c.rate / 50
			encCh := mustOpen(t, e, hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: frame, Encoder: true})
			decCh := mustOpen(t, e, hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: frame})
			s := spec(c.name, c.rate)
			enc, _ := s.NewEncoder(c.rate)
			dec, _ := s.NewDecoder(c.rate)

			var payloads [][]byte
			for k := 0; k < 10; k++ {
				pcm := tone(n, k*n, c.rate, 440, 8000)
				jobs := []hal.CodecJob{{Channel: encCh, PCM: pcm, Payload: make([]byte, 1500)}}
				if err := e.Encode(jobs); err != nil || jobs[0].Err != nil {
					t.Fatalf("frame %d: encode: %v %v", k, err, jobs[0].Err)
				}
				want := make([]byte, 1500)
				wn, err := enc.Encode(pcm, want)
				if err != nil {
					t.Fatal(err)
				}
				got := jobs[0].Payload[:jobs[0].N]
				if !slices.Equal(got, want[:wn]) {
					t.Fatalf("frame %d: payload differs from the codec's own (%d vs %d octets)", k, len(got), wn)
				}
				payloads = append(payloads, got)
			}

			fecDec, hasFEC := dec.(codec.FECDecoder)
			for k, p := range payloads {
				op := hal.DecodePayload
				switch {
				case k == 4:
					op = hal.DecodeConceal
				case k == 7 && hasFEC:
					op = hal.DecodeFEC
				}
				in := p
				if op == hal.DecodeFEC {
					in = payloads[k+1]
				}
				jobs := []hal.CodecJob{{Channel: decCh, Op: op, Payload: in, PCM: make([]int16, n)}}
				if err := e.Decode(jobs); err != nil || jobs[0].Err != nil {
					t.Fatalf("frame %d op %d: decode: %v %v", k, op, err, jobs[0].Err)
				}
				want := make([]int16, n)
				var wn int
				var err error
				switch op {
				case hal.DecodeConceal:
					wn, err = dec.Conceal(want)
				case hal.DecodeFEC:
					wn, err = fecDec.DecodeFEC(in, want)
				default:
					wn, err = dec.Decode(in, want)
				}
				if err != nil {
					t.Fatal(err)
				}
				if jobs[0].N != wn || !slices.Equal(jobs[0].PCM[:wn], want[:wn]) {
					t.Fatalf("frame %d op %d: %d samples differ from the codec's own %d", k, op, jobs[0].N, wn)
				}
			}
		})
	}
}

// TestMixMatchesTheMixerArithmetic compares a mix job with the sum the
// mixer makes itself (mix.Clear/Add/Saturate/MinusSelf), on loud inputs
// that clip, with and without an extra input, at every frame size the
// mixer uses (some longer than the engine's block).
func TestMixMatchesTheMixerArithmetic(t *testing.T) {
	e := New()
	for _, n := range []int{80, 160, 320, 960, 1920} {
		for _, extra := range []bool{false, true} {
			for _, talkers := range []int{0, 1, 3, 8} {
				name := fmt.Sprintf("%d talkers over %d samples, prompt %v", talkers, n, extra)
				t.Run(name, func(t *testing.T) {
					var ins, minus [][]int16
					for k := 0; k < talkers; k++ {
						ins = append(ins, tone(n, k, 8000, float64(300+200*k), 20000))
						minus = append(minus, make([]int16, n))
					}
					var ex []int16
					if extra {
						ex = tone(n, 0, 8000, 1000, 12000)
					}
					job := hal.MixJob{Inputs: ins, Extra: ex, Full: make([]int16, n), Minus: minus}
					if err := e.Mix([]hal.MixJob{job}); err != nil {
						t.Fatal(err)
					}
					acc := make([]int32, n)
					mix.Clear(acc)
					for _, in := range ins {
						mix.Add(acc, in)
					}
					if ex != nil {
						mix.Add(acc, ex)
					}
					full := make([]int16, n)
					mix.Saturate(full, acc)
					if !slices.Equal(job.Full, full) {
						t.Fatal("the full mix differs from the mixer's")
					}
					for k, in := range ins {
						want := make([]int16, n)
						mix.MinusSelf(want, acc, in)
						if !slices.Equal(job.Minus[k], want) {
							t.Fatalf("talker %d's mix-minus differs from the mixer's", k)
						}
					}
				})
			}
		}
	}
}

func TestBadJobsFailAlone(t *testing.T) {
	e := New()
	dec := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame})
	enc := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame, Encoder: true})
	closed := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame})
	e.Close(closed)
	reused := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame})
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = 0x10
	}
	pcm := func() []int16 { return make([]int16, 160) }
	t.Run("a decode batch with bad jobs still decodes the good ones", func(t *testing.T) {
		jobs := []hal.CodecJob{
			{Channel: dec, Payload: payload, PCM: pcm()},
			{Channel: 9999, Payload: payload, PCM: pcm()},
			{Channel: closed, Payload: payload, PCM: pcm()},
			{Channel: enc, Payload: payload, PCM: pcm()},
			{Channel: dec, Payload: nil, PCM: pcm()},
			{Channel: dec, Op: hal.DecodeFEC, Payload: payload, PCM: pcm()},
			{Channel: reused, Payload: payload, PCM: pcm()},
		}
		if err := e.Decode(jobs); err != nil {
			t.Fatalf("batch failed: %v", err)
		}
		wants := []error{nil, ErrUnknownChannel, ErrUnknownChannel, ErrWrongKind, codec.ErrBadPayload, hal.ErrUnsupported, nil}
		for i, want := range wants {
			if want == nil && (jobs[i].Err != nil || jobs[i].N != 160) {
				t.Errorf("job %d: %v, %d samples; want 160", i, jobs[i].Err, jobs[i].N)
			}
			if want != nil && !errors.Is(jobs[i].Err, want) {
				t.Errorf("job %d: %v, want %v", i, jobs[i].Err, want)
			}
		}
		if !errors.Is(jobs[1].Err, hal.ErrNoChannel) {
			t.Errorf("an unknown channel is not hal.ErrNoChannel: %v", jobs[1].Err)
		}
	})
	t.Run("an encode batch with bad jobs still encodes the good ones", func(t *testing.T) {
		jobs := []hal.CodecJob{
			{Channel: dec, PCM: pcm(), Payload: make([]byte, 200)},
			{Channel: enc, PCM: pcm(), Payload: make([]byte, 10)},
			{Channel: enc, PCM: pcm(), Payload: make([]byte, 200)},
		}
		if err := e.Encode(jobs); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(jobs[0].Err, ErrWrongKind) || !errors.Is(jobs[1].Err, codec.ErrShortBuffer) || jobs[2].Err != nil || jobs[2].N != 160 {
			t.Fatalf("results %v/%v/%v %d", jobs[0].Err, jobs[1].Err, jobs[2].Err, jobs[2].N)
		}
	})
	t.Run("closing twice or closing nothing is harmless", func(t *testing.T) {
		e.Close(closed)
		e.Close(0)
		e.Close(123456789)
		if got := e.Channels(); got != 3 {
			t.Fatalf("%d channels open, want 3", got)
		}
	})
}

func TestLimits(t *testing.T) {
	t.Run("open fails with no free channel when the table is full", func(t *testing.T) {
		e := New(WithMaxChannels(2))
		a := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame})
		mustOpen(t, e, hal.ChannelSpec{Codec: "G722", Rate: 16000, Frame: frame, Encoder: true})
		if _, err := e.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame}); !errors.Is(err, hal.ErrNoChannel) {
			t.Fatalf("third open: %v", err)
		}
		e.Close(a)
		mustOpen(t, e, hal.ChannelSpec{Codec: "PCMA", Rate: 8000, Frame: frame})
	})
	t.Run("unknown codecs and impossible rates are unsupported", func(t *testing.T) {
		e := New()
		for _, s := range []hal.ChannelSpec{
			{Codec: "GSM", Rate: 8000, Frame: frame},
			{Codec: "opus", Rate: 44100, Frame: frame},
			{Codec: "PCMU", Rate: 0, Frame: frame},
			{Codec: "PCMU", Rate: 8000},
			{Codec: "opus", Rate: 48000, Frame: frame, Encoder: true, Bitrate: 1},
		} {
			if _, err := e.Open(s); !errors.Is(err, hal.ErrUnsupported) {
				t.Errorf("%+v: %v", s, err)
			}
		}
		if e.Channels() != 0 {
			t.Fatalf("%d channels left open by failed opens", e.Channels())
		}
	})
	t.Run("codec names compare without regard to case", func(t *testing.T) {
		e := New()
		mustOpen(t, e, hal.ChannelSpec{Codec: "OPUS", Rate: 48000, Frame: frame, Bitrate: 24000, Encoder: true})
		mustOpen(t, e, hal.ChannelSpec{Codec: "pcmu", Rate: 8000, Frame: frame})
	})
	t.Run("a mix with more inputs than MaxInputs or missing outputs is refused untouched", func(t *testing.T) {
		e := New(WithMaxInputs(2))
		in := [][]int16{tone(160, 0, 8000, 300, 1000), tone(160, 0, 8000, 500, 1000), tone(160, 0, 8000, 700, 1000)}
		full := make([]int16, 160)
		full[0] = 77
		bad := []hal.MixJob{
			{Inputs: in, Full: full, Minus: [][]int16{make([]int16, 160), make([]int16, 160), make([]int16, 160)}},
			{Inputs: in[:2], Full: full, Minus: [][]int16{make([]int16, 160)}},
			{Inputs: in[:1], Full: full, Minus: [][]int16{make([]int16, 100)}},
			{Inputs: in[:1], Extra: make([]int16, 10), Full: full, Minus: [][]int16{make([]int16, 160)}},
		}
		for i := range bad {
			good := hal.MixJob{Inputs: in[:1], Full: make([]int16, 160), Minus: [][]int16{make([]int16, 160)}}
			if err := e.Mix([]hal.MixJob{good, bad[i]}); !errors.Is(err, ErrBadJob) {
				t.Errorf("bad job %d: %v", i, err)
			}
			if full[0] != 77 || good.Full[0] != 0 || good.Full[50] != 0 {
				t.Errorf("bad job %d: a refused batch wrote output", i)
			}
		}
		if e.MaxInputs() != 2 {
			t.Fatalf("MaxInputs %d", e.MaxInputs())
		}
	})
}

// TestConcurrentWorkers runs batches on several goroutines while channels
// open and close, as frame workers and joins do (run with -race).
func TestConcurrentWorkers(t *testing.T) {
	e := New()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		dec := mustOpen(t, e, hal.ChannelSpec{Codec: "G722", Rate: 16000, Frame: frame})
		enc := mustOpen(t, e, hal.ChannelSpec{Codec: "G722", Rate: 16000, Frame: frame, Encoder: true})
		wg.Add(1)
		go func() {
			defer wg.Done()
			pcm := tone(320, 0, 16000, 700, 5000)
			out := make([]int16, 320)
			minus := make([]int16, 320)
			payload := make([]byte, 200)
			for k := 0; k < 200; k++ {
				jobs := []hal.CodecJob{{Channel: enc, PCM: pcm, Payload: payload}}
				_ = e.Encode(jobs)
				if jobs[0].Err != nil {
					t.Error(jobs[0].Err)
					return
				}
				jobs = []hal.CodecJob{{Channel: dec, Payload: payload[:jobs[0].N], PCM: out}}
				_ = e.Decode(jobs)
				if jobs[0].Err != nil || jobs[0].N != 320 {
					t.Error(jobs[0].Err)
					return
				}
				if err := e.Mix([]hal.MixJob{{Inputs: [][]int16{out}, Full: out, Minus: [][]int16{minus}}}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for k := 0; k < 100; k++ {
		ch := mustOpen(t, e, hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: frame})
		e.Close(ch)
	}
	wg.Wait()
}

func TestBatchesDoNotAllocate(t *testing.T) {
	e := New()
	var dec, enc []hal.CodecJob
	for _, c := range cases {
		n := c.rate / 50
		d := mustOpen(t, e, hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: frame})
		en := mustOpen(t, e, hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: frame, Encoder: true})
		enc = append(enc, hal.CodecJob{Channel: en, PCM: tone(n, 0, c.rate, 500, 6000), Payload: make([]byte, 1500)})
		dec = append(dec, hal.CodecJob{Channel: d, PCM: make([]int16, n)}, hal.CodecJob{Channel: d, Op: hal.DecodeConceal, PCM: make([]int16, n)})
	}
	if err := e.Encode(enc); err != nil {
		t.Fatal(err)
	}
	for i := range enc {
		dec[2*i].Payload = append([]byte(nil), enc[i].Payload[:enc[i].N]...)
	}
	ins := [][]int16{tone(960, 0, 48000, 300, 9000), tone(960, 0, 48000, 400, 9000)}
	mj := []hal.MixJob{{Inputs: ins, Extra: tone(960, 0, 48000, 500, 9000), Full: make([]int16, 960), Minus: [][]int16{make([]int16, 960), make([]int16, 960)}}}
	allocs := testing.AllocsPerRun(50, func() {
		_ = e.Encode(enc)
		_ = e.Decode(dec)
		_ = e.Mix(mj)
	})
	for i, j := range append(enc, dec...) {
		if j.Err != nil {
			t.Fatalf("job %d: %v", i, j.Err)
		}
	}
	if allocs != 0 {
		t.Fatalf("%.1f allocations per round of batches", allocs)
	}
}

func BenchmarkMix(b *testing.B) {
	e := New()
	ins := [][]int16{tone(960, 0, 48000, 300, 9000), tone(960, 0, 48000, 400, 9000), tone(960, 0, 48000, 500, 9000)}
	mj := []hal.MixJob{{Inputs: ins, Full: make([]int16, 960), Minus: [][]int16{make([]int16, 960), make([]int16, 960), make([]int16, 960)}}}
	b.ReportAllocs()
	for b.Loop() {
		_ = e.Mix(mj)
	}
}
