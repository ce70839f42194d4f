package dsp_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"periph.io/x/conn/v3/gpio"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
)

func TestABatchLargerThanTheDeviceTakesIsSplitAndStillRight(t *testing.T) {
	for _, tc := range []struct {
		name string
		jobs int
		opts []dsp.Option
		min  uint64
	}{
		{"300 jobs over a device that takes 128 per batch", 300, nil, 3},
		{"40 jobs through 4 KiB host buffers", 40, []dsp.Option{dsp.WithMaxPayload(4096)}, 4},
		{"40 jobs through 100-byte SPI transfers", 40, []dsp.Option{dsp.WithMaxTransfer(100)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.opts...)
			payload := goEncode(t, "PCMU", 8000, tone(160, 8000, 440, 8000))
			want := goDecode(t, "PCMU", 8000, payload, 160)
			// Up to 200 channels (the device has 256); beyond, jobs share
			// them and run in order.
			jobs := make([]hal.CodecJob, tc.jobs)
			chans := map[hal.ChannelID]bool{}
			for i := range jobs {
				if i < 200 {
					ch, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
					if err != nil {
						t.Fatalf("open %d: %v", i, err)
					}
					chans[ch] = true
					jobs[i].Channel = ch
				} else {
					jobs[i].Channel = jobs[i-200].Channel
				}
				jobs[i].Payload, jobs[i].PCM = payload, make([]int16, 160)
			}
			if len(chans) != min(tc.jobs, 200) {
				t.Fatalf("%d distinct channel ids for %d opens", len(chans), min(tc.jobs, 200))
			}
			before := r.drv.Stats().Transactions
			if err := r.off.Codec.Decode(jobs); err != nil {
				t.Fatal(err)
			}
			if got := r.drv.Stats().Transactions - before; got < tc.min {
				t.Errorf("%d transactions, want at least %d", got, tc.min)
			}
			for i, j := range jobs {
				if j.Err != nil || !slices.Equal(j.PCM[:j.N], want) {
					t.Fatalf("job %d: %v, %d samples", i, j.Err, j.N)
				}
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t)
	t.Run("a codec the device does not have is unsupported, not a fault", func(t *testing.T) {
		_, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "GSM", Rate: 8000, Frame: 20 * time.Millisecond})
		if !errors.Is(err, hal.ErrUnsupported) || errors.Is(err, hal.ErrOffloadFault) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a frame longer than the device's is unsupported", func(t *testing.T) {
		_, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 48000, Frame: 60 * time.Millisecond})
		if !errors.Is(err, hal.ErrUnsupported) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("a mix with more inputs than the device mixes is unsupported", func(t *testing.T) {
		in := make([][]int16, r.off.Mix.MaxInputs()+1)
		minus := make([][]int16, len(in))
		for i := range in {
			in[i], minus[i] = make([]int16, 160), make([]int16, 160)
		}
		err := r.off.Mix.Mix([]hal.MixJob{{Inputs: in, Full: make([]int16, 160), Minus: minus}})
		if !errors.Is(err, hal.ErrUnsupported) || errors.Is(err, hal.ErrOffloadFault) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("the device runs out of channels", func(t *testing.T) {
		var err error
		for i := 0; i < 300 && err == nil; i++ {
			_, err = r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
		}
		if !errors.Is(err, hal.ErrNoChannel) || errors.Is(err, hal.ErrOffloadFault) {
			t.Errorf("err %v", err)
		}
		if r.drv.Stats().FaultsTotal() != 0 || !r.off.Healthy() {
			t.Error("refusals counted as faults")
		}
	})
	t.Run("a decode job on a closed channel fails alone", func(t *testing.T) {
		r := newRig(t)
		a, _ := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
		b, _ := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
		r.off.Codec.Close(a)
		r.off.Codec.Close(a) // twice is fine
		jobs := []hal.CodecJob{{Channel: a, Payload: []byte{1, 2}, PCM: make([]int16, 160)}, {Channel: b, Payload: []byte{1, 2}, PCM: make([]int16, 160)}}
		if err := r.off.Codec.Decode(jobs); err != nil {
			t.Fatal(err)
		}
		if !errors.Is(jobs[0].Err, hal.ErrNoChannel) || jobs[1].Err != nil || jobs[1].N != 2 {
			t.Errorf("jobs: %v / %v %d", jobs[0].Err, jobs[1].Err, jobs[1].N)
		}
	})
}

// TestConcurrentBatchesUnderFaultsStayCorrect runs decode workers on their
// own channels while CRC faults and device restarts are injected: every
// batch either succeeds with the right PCM or fails with an offload fault,
// and each worker reopens its channel once the device is back (go test
// -race checks the locking).
func TestConcurrentBatchesUnderFaultsStayCorrect(t *testing.T) {
	r := newRig(t, dsp.WithTimeout(20*time.Millisecond), dsp.WithBackoff(time.Millisecond, 5*time.Millisecond))
	payload := goEncode(t, "PCMU", 8000, tone(160, 8000, 440, 8000))
	want := goDecode(t, "PCMU", 8000, payload, 160)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	ok := make([]int, 4)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			var ch hal.ChannelID
			open := false
			jobs := []hal.CodecJob{{Payload: payload, PCM: make([]int16, 160)}}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !open {
					if !r.off.Healthy() {
						time.Sleep(time.Millisecond)
						continue
					}
					var err error
					if ch, err = r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond}); err != nil {
						continue
					}
					open = true
				}
				jobs[0].Channel = ch
				err := r.off.Codec.Decode(jobs)
				switch {
				case err == nil:
					if !slices.Equal(jobs[0].PCM[:jobs[0].N], want) {
						errs <- fmt.Errorf("worker %d: wrong PCM", w)
						return
					}
					ok[w]++
				case errors.Is(err, hal.ErrOffloadFault):
					open = false
				default:
					errs <- fmt.Errorf("worker %d: %v", w, err)
					return
				}
			}
		}(w)
	}
	for i := 0; i < 10; i++ {
		time.Sleep(5 * time.Millisecond)
		if i%2 == 0 {
			r.dev.CorruptNext(1)
		} else {
			r.dev.Restart()
		}
	}
	waitHealthy(t, r)
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	st := r.drv.Stats()
	if st.Faults[dsp.FaultCRC] == 0 || st.Faults[dsp.FaultReset] == 0 || st.Recoveries == 0 {
		t.Errorf("faults not all seen and recovered: %+v", st)
	}
	for w, n := range ok {
		if n == 0 {
			t.Errorf("worker %d never decoded", w)
		}
	}
}

func TestBatchesDoNotAllocate(t *testing.T) {
	r := newRig(t)
	payload := goEncode(t, "PCMU", 8000, tone(160, 8000, 440, 8000))
	dj := make([]hal.CodecJob, 10)
	ej := make([]hal.CodecJob, 10)
	for i := range dj {
		d, _ := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
		e, _ := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond, Encoder: true})
		dj[i] = hal.CodecJob{Channel: d, Payload: payload, PCM: make([]int16, 160)}
		ej[i] = hal.CodecJob{Channel: e, PCM: make([]int16, 160), Payload: make([]byte, 160)}
	}
	mj := []hal.MixJob{{Inputs: [][]int16{make([]int16, 160), make([]int16, 160)}, Full: make([]int16, 160), Minus: [][]int16{make([]int16, 160), make([]int16, 160)}}}
	allocs := testing.AllocsPerRun(50, func() {
		if r.off.Codec.Decode(dj) != nil || r.off.Codec.Encode(ej) != nil || r.off.Mix.Mix(mj) != nil {
			t.Fatal("batch failed")
		}
	})
	if allocs != 0 {
		t.Errorf("a frame's batches allocate %.1f times", allocs)
	}
}

func TestStatusAndStatsFollowTheDevice(t *testing.T) {
	r := newRig(t, dsp.WithBackoff(time.Hour, time.Hour))
	st := r.drv.Status()
	if len(st) != 2 || st[0].Capability != hal.CapCodec || st[1].Capability != hal.CapMix || !st[0].Active || st[0].Driver != "dsp-spi" {
		t.Fatalf("status %+v", st)
	}
	r.dev.CorruptNext(1)
	if err := r.off.Mix.Mix([]hal.MixJob{{Full: make([]int16, 10)}}); !errors.Is(err, dsp.ErrCRC) {
		t.Fatalf("mix: %v", err)
	}
	if st := r.drv.Status(); st[0].Active || st[1].Active {
		t.Errorf("status after a fault: %+v", st)
	}
	if err := r.off.Mix.Mix(nil); !errors.Is(err, dsp.ErrUnhealthy) {
		t.Errorf("batch while unhealthy: %v", err)
	}
	s := r.drv.Stats()
	if s.Faults[dsp.FaultCRC] != 1 || s.Rejected != 1 || s.Healthy || s.Transactions != 2 {
		t.Errorf("stats %+v", s)
	}
	if err := r.drv.Probe(); err != nil || !r.off.Healthy() || r.drv.Stats().Recoveries != 1 {
		t.Errorf("probe: %v, healthy %v", err, r.off.Healthy())
	}
	r.drv.Close()
	if err := r.off.Mix.Mix(nil); !errors.Is(err, dsp.ErrClosed) || r.off.Healthy() {
		t.Errorf("after Close: %v", err)
	}
}

func TestTheCollectorExportsFaultsByKind(t *testing.T) {
	r := newRig(t, dsp.WithBackoff(time.Hour, time.Hour))
	r.dev.CorruptNext(1)
	r.off.Mix.Mix(nil)
	r.off.Mix.Mix([]hal.MixJob{{Full: make([]int16, 4)}})
	reg := prometheus.NewRegistry()
	reg.MustRegister(r.drv.Collector())
	want := `
# HELP confab_dsp_faults_total Device faults that sent batches back to the pure-Go engines, by kind.
# TYPE confab_dsp_faults_total counter
confab_dsp_faults_total{kind="bus"} 0
confab_dsp_faults_total{kind="crc"} 1
confab_dsp_faults_total{kind="protocol"} 0
confab_dsp_faults_total{kind="reset"} 0
confab_dsp_faults_total{kind="sequence"} 0
confab_dsp_faults_total{kind="timeout"} 0
# HELP confab_dsp_healthy 1 while batches go to the device, 0 while the pure-Go engines do the work.
# TYPE confab_dsp_healthy gauge
confab_dsp_healthy 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "confab_dsp_faults_total", "confab_dsp_healthy"); err != nil {
		t.Error(err)
	}
}

// deadReady is a READY line that can be cut: while dead it reads low.
type deadReady struct {
	gpio.PinIO
	dead atomic.Bool
}

func (p *deadReady) Read() gpio.Level {
	if p.dead.Load() {
		return gpio.Low
	}
	return p.PinIO.Read()
}

func (p *deadReady) WaitForEdge(d time.Duration) bool {
	if p.dead.Load() {
		time.Sleep(d)
		return false
	}
	return p.PinIO.WaitForEdge(d)
}

func TestAFailedProbeLeavesTheDeviceToTheBackgroundReprobe(t *testing.T) {
	dev := dspemu.NewDevice(engines())
	ready := &deadReady{PinIO: dev.Ready()}
	drv, err := dsp.New(dev.Conn(), ready, dev.Reset(), dsp.WithLogger(quiet()), dsp.WithTimeout(5*time.Millisecond),
		dsp.WithBootTimeout(5*time.Millisecond), dsp.WithResetPulse(0), dsp.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	ready.dead.Store(true)
	if err := drv.Probe(); !errors.Is(err, dsp.ErrTimeout) {
		t.Fatalf("probe with READY cut: %v", err)
	}
	if drv.Healthy() {
		t.Error("healthy after a failed probe")
	}
	// The background re-probe takes over, and fails while READY is cut.
	for deadline := time.Now().Add(5 * time.Second); drv.Stats().ProbeFailures < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no background re-probe: %+v", drv.Stats())
		}
	}
	if drv.Healthy() {
		t.Error("healthy while READY is cut")
	}
	ready.dead.Store(false)
	r := &rig{dev: dev, drv: drv, off: drv.Offload()}
	waitHealthy(t, r)
	if _, err := r.off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond}); err != nil {
		t.Errorf("open after the re-probe: %v", err)
	}
}
