package mixer

import (
	"io"
	"log/slog"
	"testing"
	"time"

	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
)

// onDSP hands the load's engine the SPI DSP driver on the in-process
// emulator (hal/dsp/dspemu): the real protocol, framing and CRC, the real
// fault handling. The driver re-probes only when the test says so.
func onDSP(t *testing.T) (*dspemu.Device, *dsp.Driver, func(*Config)) {
	t.Helper()
	dev := dspemu.New()
	drv, err := dsp.New(dev.Conn(), dev.Ready(), dev.Reset(),
		dsp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), dsp.WithBackoff(time.Hour, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { drv.Close() })
	return dev, drv, func(c *Config) { c.Offload = drv.Offload() }
}

// TestTheDSPSendsWhatTheGoEnginesSend mixes PCMU, G.722, Opus and L16
// callers through the DSP driver and its emulator, and the same callers in
// Go: every packet every listener gets is the same, octet for octet. (The
// emulator's device engine is the Go engine, so the codecs are the same;
// what this proves is that the protocol, the batching and the driver lose
// and change nothing.)
func TestTheDSPSendsWhatTheGoEnginesSend(t *testing.T) {
	for _, codecs := range []string{"PCMU", "L16", mixedCodecs} {
		t.Run(codecs, func(t *testing.T) {
			dev, drv, with := onDSP(t)
			ref := newLoad(t, codecs, 1, 6, 0.5)
			off := newLoad(t, codecs, 1, 6, 0.5, with)
			compareLoads(t, ref, off, 150, nil)
			st := off.e.Stats().Offload
			if st.FramesGo != 0 || st.FramesDevice < 140 || st.Faults != 0 || st.ConferencesOnDevice != 1 {
				t.Fatalf("the work did not all go to the DSP: %+v", st)
			}
			if dev.Stats().Requests < 450 || drv.Stats().Transactions < 450 {
				t.Fatalf("the bus carried %d requests", dev.Stats().Requests)
			}
		})
	}
}

// TestDSPFaultsMidConference injects the faults of a real bus into a PCMU
// conference on the DSP: a frame that fails its CRC, a READY line that
// stalls past the driver's timeout, and a device that restarts (losing its
// channels). Each time the frame is redone in Go within the tick, so every
// listener gets the same packet as without a DSP (no gap at all, less than
// the one frame the issue allows); the conference stays in Go until the
// driver has probed the device again, then moves back; the driver counts
// each fault by kind and the mixer counts fallback and recovery.
func TestDSPFaultsMidConference(t *testing.T) {
	faults := []struct {
		name   string
		inject func(*dspemu.Device)
		kind   dsp.FaultKind
	}{
		{"a CRC error", func(d *dspemu.Device) { d.CorruptNext(1) }, dsp.FaultCRC},
		{"a stalled READY line", func(d *dspemu.Device) { d.StallNext(1) }, dsp.FaultTimeout},
		{"a device reset", func(d *dspemu.Device) { d.Restart() }, dsp.FaultReset},
	}
	for _, f := range faults {
		t.Run(f.name, func(t *testing.T) {
			dev, drv, with := onDSP(t)
			ref := newLoad(t, "PCMU", 1, 5, 0.5)
			off := newLoad(t, "PCMU", 1, 5, 0.5, with)
			compareLoads(t, ref, off, 200, func(k int) {
				switch k {
				case 60:
					f.inject(dev)
				case 100:
					if drv.Healthy() {
						t.Fatal("the driver is healthy after the fault")
					}
					drv.Probe() // what its background re-probe does after the back-off
				}
			})
			st := off.e.Stats().Offload
			if st.Faults < 1 || st.Redone < 1 || st.Fallbacks != 1 || st.Recoveries != 1 {
				t.Fatalf("fault, fallback and recovery do not show: %+v", st)
			}
			if st.ConferencesOnDevice != 1 || st.FramesGo < 20 || st.FramesDevice < 150 {
				t.Fatalf("the conference did not come back to the DSP: %+v", st)
			}
			ds := drv.Stats()
			if ds.Faults[f.kind] < 1 {
				t.Fatalf("the driver did not count a %v fault: %+v", f.kind, ds.Faults)
			}
		})
	}
}
