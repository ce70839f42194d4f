package mixer

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"confab/bench/phone"
	"confab/hal"
	"confab/mixer/codec"
	"confab/mixer/offload"
)

// fakeDevice is an offload device for unit tests: a second pure-Go engine
// behind a lock, whose batches can be made to fail the way a DSP's do (a
// CRC error, a stalled READY line: the batch faults; a reset: every channel
// is lost and the next batch faults on them) and whose health is set by
// the test.
type fakeDevice struct {
	mu       sync.Mutex
	eng      *offload.Engine
	healthy  bool
	failNext map[string]int // batches of a kind ("decode", "encode", "mix") to fail
	lost     bool           // reset: channels opened before are gone
	batches  map[string]int
	maxIn    int
}

func newFakeDevice(opts ...offload.Option) *fakeDevice {
	return &fakeDevice{eng: offload.New(opts...), healthy: true, failNext: map[string]int{}, batches: map[string]int{}, maxIn: 8}
}

var errInjected = fmt.Errorf("%w: injected CRC error", hal.ErrOffloadFault)

func (f *fakeDevice) offload() hal.Offload {
	return hal.Offload{Codec: f, Mix: f, Healthy: func() bool { f.mu.Lock(); defer f.mu.Unlock(); return f.healthy }}
}

// fault reports whether a batch of kind fails, and marks the device down.
// Lock held.
func (f *fakeDevice) fault(kind string) bool {
	f.batches[kind]++
	if !f.healthy || f.lost || f.failNext[kind] > 0 {
		if f.failNext[kind] > 0 {
			f.failNext[kind]--
		}
		f.healthy = false
		return true
	}
	return false
}

func (f *fakeDevice) inject(kind string, n int) { f.mu.Lock(); f.failNext[kind] += n; f.mu.Unlock() }

// reset loses every channel, as a device that restarted.
func (f *fakeDevice) reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.eng, f.lost, f.healthy = offload.New(), true, false
}

// recover is the driver's re-probe succeeding.
func (f *fakeDevice) recover() { f.mu.Lock(); f.healthy, f.lost = true, false; f.mu.Unlock() }

func (f *fakeDevice) Open(spec hal.ChannelSpec) (hal.ChannelID, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.healthy {
		return 0, errInjected
	}
	return f.eng.Open(spec)
}

func (f *fakeDevice) Close(ch hal.ChannelID) { f.mu.Lock(); f.eng.Close(ch); f.mu.Unlock() }

func (f *fakeDevice) Decode(jobs []hal.CodecJob) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault("decode") {
		scribble(jobs, nil, nil)
		return errInjected
	}
	return f.eng.Decode(jobs)
}

func (f *fakeDevice) Encode(jobs []hal.CodecJob) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault("encode") {
		scribble(nil, jobs, nil)
		return errInjected
	}
	return f.eng.Encode(jobs)
}

func (f *fakeDevice) MaxInputs() int { f.mu.Lock(); defer f.mu.Unlock(); return f.maxIn }

func (f *fakeDevice) Mix(jobs []hal.MixJob) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fault("mix") {
		scribble(nil, nil, jobs)
		return errInjected
	}
	return f.eng.Mix(jobs)
}

// scribble leaves garbage in the outputs of a failed batch, as a transfer
// cut short would: none of it may reach a caller. Inputs stay as they were
// (a driver only reads them).
func scribble(decoded, encoded []hal.CodecJob, mixed []hal.MixJob) {
	for _, j := range decoded {
		for k := range j.PCM {
			j.PCM[k] = 12345
		}
	}
	for _, j := range encoded {
		for k := range j.Payload {
			j.Payload[k] = 0x5a
		}
	}
	for _, j := range mixed {
		for k := range j.Full {
			j.Full[k] = -999
		}
	}
}

// sent is what each participant of a load was sent in one frame: RTP
// payloads by participant index.
func (l *load) sent() [][]byte {
	byFlow := map[hal.FlowID]int{}
	for i, lp := range l.parts {
		byFlow[lp.p.flow.ID] = i
	}
	got := make([][]byte, len(l.parts))
	for _, pk := range l.out {
		if pk.RTCP {
			continue
		}
		i := byFlow[pk.Flow]
		got[i] = append([]byte(nil), pk.Buf[12:pk.N]...)
	}
	return got
}

const mixedCodecs = "PCMU,G722,opus,PCMU,L16"

// withDevice hands the load's engine the device.
func withDevice(d *fakeDevice) func(*Config) {
	return func(c *Config) { c.Offload = d.offload() }
}

// TestOffloadSendsWhatTheGoEnginesSend runs the same callers, frame by
// frame, through an engine that mixes in Go and one that hands every
// decode, mix and encode to a device: every packet must carry the same
// bytes. The device here is the Go engine behind the batch interface, so
// any difference is the engine's batching, not a codec.
func TestOffloadSendsWhatTheGoEnginesSend(t *testing.T) {
	for _, codecs := range []string{"PCMU", "G722", "opus", mixedCodecs} {
		t.Run(codecs+" callers get the same packets through the device", func(t *testing.T) {
			dev := newFakeDevice()
			ref := newLoad(t, codecs, 1, 6, 0.5)
			off := newLoad(t, codecs, 1, 6, 0.5, withDevice(dev))
			compareLoads(t, ref, off, 150, nil)
			st := off.e.Stats().Offload
			if st.FramesDevice < 140 || st.FramesGo != 0 || st.Faults != 0 || st.ConferencesOnDevice != 1 || st.ChannelsOnDevice < 12 {
				t.Fatalf("the work did not go to the device: %+v", st)
			}
			if dev.batches["decode"] < 150 || dev.batches["encode"] < 150 || dev.batches["mix"] < 140 {
				t.Fatalf("device batches %v", dev.batches)
			}
		})
	}
}

// compareLoads runs frames through both loads and fails on the first
// packet that differs. at, when set, runs before frame k on the second load.
func compareLoads(t *testing.T, ref, off *load, frames int, at func(k int)) {
	t.Helper()
	for k := 0; k < frames; k++ {
		if at != nil {
			at(k)
		}
		ref.frame()
		off.frame()
		a, b := ref.sent(), off.sent()
		for i := range a {
			if !bytes.Equal(a[i], b[i]) {
				t.Fatalf("frame %d, participant %d: %d octets sent through the device, %d in Go, and they differ",
					k, i, len(b[i]), len(a[i]))
			}
		}
	}
}

// TestAFaultFallsBackWithoutAGap injects each kind of device fault in the
// middle of a PCMU conference. PCMU keeps no state that a restart loses
// while no packet is lost, so the frame of the fault is redone in Go
// exactly: every packet is the same as without a device, before, during and
// after the fault and after the conference moves back.
func TestAFaultFallsBackWithoutAGap(t *testing.T) {
	for _, kind := range []string{"decode", "mix", "encode", "reset"} {
		t.Run("a "+kind+" fault is redone in Go in the same frame", func(t *testing.T) {
			dev := newFakeDevice()
			ref := newLoad(t, "PCMU", 1, 5, 0.5)
			off := newLoad(t, "PCMU", 1, 5, 0.5, withDevice(dev))
			compareLoads(t, ref, off, 200, func(k int) {
				switch k {
				case 60:
					if kind == "reset" {
						dev.reset()
					} else {
						dev.inject(kind, 1)
					}
				case 61:
					if kind != "reset" {
						dev.recover() // the driver's re-probe brought it back at once
					}
				case 100:
					dev.recover()
				}
			})
			st := off.e.Stats().Offload
			if st.Faults < 1 || st.Redone < 1 || st.Fallbacks != 1 || st.Recoveries != 1 {
				t.Fatalf("the fault, fallback and recovery do not show: %+v", st)
			}
			if st.ConferencesOnDevice != 1 || st.FramesGo < 40 || st.FramesDevice < 100 {
				t.Fatalf("the conference did not come back to the device: %+v", st)
			}
			if n := dev.eng.Channels(); n != 10+1 {
				t.Fatalf("%d channels open on the device after recovery, want 11 (5 callers and a shared encoder)", n)
			}
		})
	}
}

// TestAFaultKeepsStatefulCodecsTalking injects faults into a conference of
// G.722 and Opus callers, whose codecs restart in Go with fresh state: the
// packets then differ from the reference, but every listener gets a packet
// every frame and keeps hearing the talkers.
func TestAFaultKeepsStatefulCodecsTalking(t *testing.T) {
	dev := newFakeDevice()
	off := newLoad(t, "G722,opus,G722,opus", 1, 4, 1, withDevice(dev))
	dec := map[int]codec.Decoder{}
	for i, lp := range off.parts {
		d, err := lp.p.spec.NewDecoder(lp.p.pcmRate)
		if err != nil {
			t.Fatal(err)
		}
		dec[i] = d
	}
	pcm := make([]int16, 960*3)
	quiet := 0
	for k := 0; k < 250; k++ {
		switch k {
		case 80:
			dev.inject("decode", 1)
		case 150:
			dev.recover()
		case 200:
			dev.reset()
		}
		off.frame()
		got := off.sent()
		for i, p := range got {
			if p == nil {
				t.Fatalf("frame %d: participant %d was sent nothing", k, i)
			}
			n, err := dec[i].Decode(p, pcm)
			if err != nil {
				t.Fatalf("frame %d: participant %d: %v", k, i, err)
			}
			if k > 20 && phone.RMS(pcm[:n]) < 300 {
				quiet++
			}
		}
	}
	if quiet > 2 {
		t.Fatalf("%d frames heard quiet; a fault may cost at most one", quiet)
	}
	st := off.e.Stats().Offload
	if st.Fallbacks != 2 || st.Recoveries != 1 || st.ConferencesOnDevice != 0 {
		t.Fatalf("counters %+v", st)
	}
}

// TestARefusedChannelStaysInGo fills the device: the callers it has no
// channel for run in Go, counted as not offloaded, not as faults, and the
// conference sounds the same.
func TestARefusedChannelStaysInGo(t *testing.T) {
	dev := newFakeDevice(offload.WithMaxChannels(5))
	ref := newLoad(t, "PCMU,G722", 1, 6, 0.5)
	off := newLoad(t, "PCMU,G722", 1, 6, 0.5, withDevice(dev))
	compareLoads(t, ref, off, 100, nil)
	st := off.e.Stats().Offload
	if st.Faults != 0 || st.NotOffloaded == 0 || st.ChannelsOnDevice != 5 || st.CodecJobsGo == 0 || st.CodecJobsDevice == 0 {
		t.Fatalf("counters %+v", st)
	}
}

// TestTooManyTalkersForTheDeviceMixInGo gives the device a mix size
// smaller than the talkers: those frames mix in Go, bit for bit the same.
func TestTooManyTalkersForTheDeviceMixInGo(t *testing.T) {
	dev := newFakeDevice()
	dev.maxIn = 1
	ref := newLoad(t, "PCMU", 1, 4, 1)
	off := newLoad(t, "PCMU", 1, 4, 1, withDevice(dev))
	compareLoads(t, ref, off, 80, nil)
	if st := off.e.Stats().Offload; st.FramesGo == 0 || st.NotOffloaded == 0 || st.Faults != 0 {
		t.Fatalf("counters %+v", st)
	}
}

func TestOffloadedTickDoesNotAllocate(t *testing.T) {
	for _, codecName := range []string{"PCMU", "opus", mixedCodecs} {
		t.Run(codecName+" frames through the device allocate nothing", func(t *testing.T) {
			l := newLoad(t, codecName, 2, 10, 0.3, withDevice(newFakeDevice()))
			for i := 0; i < 100; i++ {
				l.frame()
			}
			if a := testing.AllocsPerRun(200, l.frame); a != 0 {
				t.Fatalf("%.1f allocations per frame", a)
			}
		})
	}
}

func TestStatsSayWhereTheWorkRuns(t *testing.T) {
	l := newLoad(t, "PCMU", 1, 2, 1)
	if st := l.e.Stats().Offload; st.Codec != "go" || st.Mix != "go" {
		t.Fatalf("without a device: %+v", st)
	}
	dev := newFakeDevice()
	l = newLoad(t, "PCMU", 1, 2, 1, func(c *Config) { c.Offload = hal.Offload{Mix: dev} })
	for i := 0; i < 20; i++ {
		l.frame()
	}
	st := l.e.Stats().Offload
	if st.Codec != "go" || st.Mix != "device" || st.ChannelsOnDevice != 0 || st.FramesDevice == 0 || st.CodecJobsDevice != 0 {
		t.Fatalf("mix offload alone: %+v", st)
	}
}
