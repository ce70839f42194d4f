package dsp_test

import (
	"errors"
	"io"
	"log/slog"
	"math"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
	"confab/mixer/codec/registry"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// rig is a driver on an in-process emulated device.
type rig struct {
	dev *dspemu.Device
	drv *dsp.Driver
	off hal.Offload
}

func newRig(t testing.TB, opts ...dsp.Option) *rig {
	t.Helper()
	dev := dspemu.NewDevice(engines())
	opts = append([]dsp.Option{dsp.WithLogger(quiet()), dsp.WithTimeout(200 * time.Millisecond),
		dsp.WithResetPulse(10 * time.Microsecond)}, opts...)
	drv, err := dsp.New(dev.Conn(), dev.Ready(), dev.Reset(), opts...)
	if err != nil {
		t.Fatalf("dsp.New: %v", err)
	}
	t.Cleanup(func() { drv.Close() })
	return &rig{dev: dev, drv: drv, off: drv.Offload()}
}

// tone is n samples of a sine at hz, sampled at rate.
func tone(n, rate int, hz float64, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * math.Sin(2*math.Pi*hz*float64(i)/float64(rate)))
	}
	return s
}

// goCodec returns a fresh pure-Go encoder and decoder of the registry.
func goEncode(t testing.TB, name string, rate int, pcm []int16) []byte {
	t.Helper()
	for _, s := range registry.Default().Specs() {
		if s.Info.Name == name {
			e, err := s.NewEncoder(rate)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]byte, 4000)
			n, err := e.Encode(pcm, out)
			if err != nil {
				t.Fatal(err)
			}
			return out[:n]
		}
	}
	t.Fatalf("no codec %s", name)
	return nil
}

func goDecode(t testing.TB, name string, rate int, payload []byte, room int) []int16 {
	t.Helper()
	for _, s := range registry.Default().Specs() {
		if s.Info.Name == name {
			d, err := s.NewDecoder(rate)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]int16, room)
			n, err := d.Decode(payload, out)
			if err != nil {
				t.Fatal(err)
			}
			return out[:n]
		}
	}
	t.Fatalf("no codec %s", name)
	return nil
}

func TestDecodeAndEncodeThroughTheDeviceEqualThePureGoCodecs(t *testing.T) {
	for _, tc := range []struct {
		codec string
		rate  int
	}{
		{"PCMU", 8000}, {"PCMA", 8000}, {"PCMU", 16000}, {"G722", 16000}, {"L16", 16000}, {"G722", 48000},
	} {
		t.Run(tc.codec+"/"+itoa(tc.rate), func(t *testing.T) {
			r := newRig(t)
			n := tc.rate / 50
			dec, err := r.off.Codec.Open(hal.ChannelSpec{Codec: tc.codec, Rate: tc.rate, Frame: 20 * time.Millisecond})
			if err != nil {
				t.Fatalf("open decoder: %v", err)
			}
			enc, err := r.off.Codec.Open(hal.ChannelSpec{Codec: tc.codec, Rate: tc.rate, Frame: 20 * time.Millisecond, Encoder: true})
			if err != nil {
				t.Fatalf("open encoder: %v", err)
			}
			in := tone(n, tc.rate, 440, 8000)
			ejobs := []hal.CodecJob{{Channel: enc, PCM: in, Payload: make([]byte, 2000)}}
			if err := r.off.Codec.Encode(ejobs); err != nil || ejobs[0].Err != nil {
				t.Fatalf("encode: %v / %v", err, ejobs[0].Err)
			}
			payload := ejobs[0].Payload[:ejobs[0].N]
			if want := goEncode(t, tc.codec, tc.rate, in); !slices.Equal(payload, want) {
				t.Fatalf("device encoded %d bytes unlike the Go encoder's %d", len(payload), len(want))
			}
			djobs := []hal.CodecJob{{Channel: dec, Payload: payload, PCM: make([]int16, n)}}
			if err := r.off.Codec.Decode(djobs); err != nil || djobs[0].Err != nil {
				t.Fatalf("decode: %v / %v", err, djobs[0].Err)
			}
			got := djobs[0].PCM[:djobs[0].N]
			if want := goDecode(t, tc.codec, tc.rate, payload, n); !slices.Equal(got, want) {
				t.Fatalf("device decoded %d samples unlike the Go decoder's %d", len(got), len(want))
			}
		})
	}
}

func itoa(n int) string {
	return string(strconvAppend(nil, n))
}

func strconvAppend(b []byte, n int) []byte {
	if n >= 10 {
		b = strconvAppend(b, n/10)
	}
	return append(b, byte('0'+n%10))
}

func TestMixBatchEqualsTheSumAndEachMinusSelf(t *testing.T) {
	r := newRig(t)
	const n = 320
	a, b, c := tone(n, 16000, 300, 20000), tone(n, 16000, 500, 20000), tone(n, 16000, 700, 3000)
	extra := tone(n, 16000, 900, 1000)
	jobs := []hal.MixJob{
		{Inputs: [][]int16{a, b, c}, Full: make([]int16, n), Minus: [][]int16{make([]int16, n), make([]int16, n), make([]int16, n)}},
		{Inputs: [][]int16{c}, Extra: extra, Full: make([]int16, n), Minus: [][]int16{make([]int16, n)}},
	}
	if err := r.off.Mix.Mix(jobs); err != nil {
		t.Fatalf("mix: %v", err)
	}
	sat := func(v int32) int16 { return int16(max(-32768, min(32767, v))) }
	for i := 0; i < n; i++ {
		sum := int32(a[i]) + int32(b[i]) + int32(c[i])
		if jobs[0].Full[i] != sat(sum) || jobs[0].Minus[0][i] != sat(sum-int32(a[i])) ||
			jobs[0].Minus[1][i] != sat(sum-int32(b[i])) || jobs[0].Minus[2][i] != sat(sum-int32(c[i])) {
			t.Fatalf("sample %d: conference 1 mix wrong", i)
		}
		s2 := int32(c[i]) + int32(extra[i])
		if jobs[1].Full[i] != sat(s2) || jobs[1].Minus[0][i] != sat(s2-int32(c[i])) {
			t.Fatalf("sample %d: conference 2 mix wrong", i)
		}
	}
	if got := r.drv.Stats().Transactions; got != 2 {
		t.Errorf("HELLO and one mix took %d transactions, want 2", got)
	}
}

func TestFaultsFailTheBatchAtOnceAndTheDeviceComesBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(*dspemu.Device)
		want   error
		kind   dsp.FaultKind
	}{
		{"a corrupted response CRC", func(d *dspemu.Device) { d.CorruptNext(1) }, dsp.ErrCRC, dsp.FaultCRC},
		{"a READY line that never rises", func(d *dspemu.Device) { d.StallNext(1 << 30) }, dsp.ErrTimeout, dsp.FaultTimeout},
		{"a device restart mid-conference", func(d *dspemu.Device) { d.Restart() }, dsp.ErrDeviceReset, dsp.FaultReset},
		{"a response with another sequence number", func(d *dspemu.Device) { d.MisnumberNext(1) }, dsp.ErrSequence, dsp.FaultSequence},
		{"a device held in reset (no frame where a response was due)", func(d *dspemu.Device) { d.HoldReset(true); d.HoldReset(false) }, dsp.ErrDeviceReset, dsp.FaultReset},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, dsp.WithTimeout(5*time.Millisecond), dsp.WithBackoff(time.Millisecond, 10*time.Millisecond))
			ch, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			payload := goEncode(t, "PCMU", 8000, tone(160, 8000, 440, 8000))
			jobs := []hal.CodecJob{{Channel: ch, Payload: payload, PCM: make([]int16, 160)}}
			if err := r.off.Codec.Decode(jobs); err != nil {
				t.Fatalf("decode before the fault: %v", err)
			}
			tc.inject(r.dev)
			start := time.Now()
			err = r.off.Codec.Decode(jobs)
			if !errors.Is(err, tc.want) || !errors.Is(err, hal.ErrOffloadFault) {
				t.Fatalf("decode in the fault: %v, want %v", err, tc.want)
			}
			if el := time.Since(start); el > time.Second {
				t.Errorf("the failing batch took %v", el)
			}
			if got := r.drv.Stats().Faults[tc.kind]; got != 1 {
				t.Errorf("%s faults counted: %d, want 1", tc.kind, got)
			}
			if r.off.Healthy() {
				// The re-probe may already have brought it back; that is
				// fine, but then a recovery must be counted.
				if r.drv.Stats().Recoveries == 0 {
					t.Error("healthy right after the fault without a recovery")
				}
			}
			waitHealthy(t, r)
			err = r.off.Codec.Decode(jobs)
			if !errors.Is(err, dsp.ErrStaleChannel) {
				t.Fatalf("decode on a channel from before the re-probe: %v, want ErrStaleChannel", err)
			}
			ch2, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			jobs[0].Channel = ch2
			if err := r.off.Codec.Decode(jobs); err != nil || jobs[0].Err != nil {
				t.Fatalf("decode after recovery: %v / %v", err, jobs[0].Err)
			}
			if want := goDecode(t, "PCMU", 8000, payload, 160); !slices.Equal(jobs[0].PCM[:jobs[0].N], want) {
				t.Error("decoded frame after recovery differs from the Go decoder's")
			}
		})
	}
}

func waitHealthy(t *testing.T, r *rig) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !r.off.Healthy() {
		if time.Now().After(deadline) {
			t.Fatalf("device not healthy again; stats %+v", r.drv.Stats())
		}
		time.Sleep(time.Millisecond)
	}
}

// pollOnly hides a pin's edge detection, as a GPIO driver without it does.
type pollOnly struct{ gpio.PinIO }

func (p pollOnly) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge != gpio.NoEdge {
		return errors.New("no edge detection")
	}
	return p.PinIO.In(pull, edge)
}

func TestADeviceThatTakesTimeToAnswerIsWaitedFor(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ready func(*dspemu.Device) gpio.PinIO
	}{
		{"on READY's rising edge", func(d *dspemu.Device) gpio.PinIO { return d.Ready() }},
		{"polling READY", func(d *dspemu.Device) gpio.PinIO { return pollOnly{d.Ready()} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dev := dspemu.NewDevice(engines(), dspemu.WithLatency(2*time.Millisecond))
			drv, err := dsp.New(dev.Conn(), tc.ready(dev), dev.Reset(), dsp.WithLogger(quiet()),
				dsp.WithTimeout(time.Second), dsp.WithBackoff(time.Hour, time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			defer drv.Close()
			off := drv.Offload()
			ch, err := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			payload := goEncode(t, "PCMU", 8000, tone(160, 8000, 440, 8000))
			jobs := []hal.CodecJob{{Channel: ch, Payload: payload, PCM: make([]int16, 160)}}
			start := time.Now()
			if err := off.Codec.Decode(jobs); err != nil {
				t.Fatal(err)
			}
			if el := time.Since(start); el < 2*time.Millisecond {
				t.Errorf("answered in %v, before the device's 2 ms", el)
			}
			if !slices.Equal(jobs[0].PCM[:jobs[0].N], goDecode(t, "PCMU", 8000, payload, 160)) {
				t.Error("wrong PCM")
			}
		})
	}
	t.Run("slower than the timeout, it is a timeout fault", func(t *testing.T) {
		dev := dspemu.NewDevice(engines())
		drv, err := dsp.New(dev.Conn(), dev.Ready(), dev.Reset(), dsp.WithLogger(quiet()),
			dsp.WithTimeout(10*time.Millisecond), dsp.WithBackoff(time.Hour, time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		defer drv.Close()
		dev.SetLatency(200 * time.Millisecond)
		err = drv.Offload().Mix.Mix([]hal.MixJob{{Full: make([]int16, 4)}})
		if !errors.Is(err, dsp.ErrTimeout) {
			t.Fatalf("mix on a slow device: %v", err)
		}
	})
}
