package dsp_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/conntest"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spitest"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
	"confab/hal/dsp/wire"
)

var update = flag.Bool("update", false, "record hal/dsp/testdata traces against the emulator")

const traceFile = "testdata/session.trace"

// sessionResult is what a session hands back for checking.
type sessionResult struct {
	decoded  []int16
	conceal  []int16
	encoded  []byte
	full     []int16
	minus    []int16
	crcErr   error
	afterCRC []int16
}

// session drives a fixed conversation with a device: HELLO, two channels,
// a decode batch (a frame and a concealment), an encode, a mix, a CRC
// fault and an explicit re-probe, a decode on a reopened channel, a close.
// Recorded against the emulator it makes the trace; replayed, it must
// produce the same bytes.
func session(t *testing.T, c spi.Conn, ready, reset gpio.PinIO, corrupt func()) sessionResult {
	t.Helper()
	drv, err := dsp.New(c, ready, reset, dsp.WithLogger(quiet()), dsp.WithResetPulse(time.Microsecond),
		dsp.WithBackoff(time.Hour, time.Hour), dsp.WithMaxTransfer(256))
	if err != nil {
		t.Fatalf("dsp.New: %v", err)
	}
	defer drv.Close()
	off := drv.Offload()
	spec := hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond}
	dec, err := off.Codec.Open(spec)
	if err != nil {
		t.Fatalf("open decoder: %v", err)
	}
	spec.Encoder = true
	enc, err := off.Codec.Open(spec)
	if err != nil {
		t.Fatalf("open encoder: %v", err)
	}
	var res sessionResult
	in := tone(160, 8000, 1000, 6000)
	ej := []hal.CodecJob{{Channel: enc, PCM: in, Payload: make([]byte, 200)}}
	if err := off.Codec.Encode(ej); err != nil || ej[0].Err != nil {
		t.Fatalf("encode: %v / %v", err, ej[0].Err)
	}
	res.encoded = ej[0].Payload[:ej[0].N]
	dj := []hal.CodecJob{
		{Channel: dec, Payload: res.encoded, PCM: make([]int16, 160)},
		{Channel: dec, Op: hal.DecodeConceal, PCM: make([]int16, 160)},
	}
	if err := off.Codec.Decode(dj); err != nil || dj[0].Err != nil || dj[1].Err != nil {
		t.Fatalf("decode: %v / %v / %v", err, dj[0].Err, dj[1].Err)
	}
	res.decoded, res.conceal = dj[0].PCM[:dj[0].N], dj[1].PCM[:dj[1].N]
	a, b := tone(160, 8000, 300, 9000), tone(160, 8000, 500, 9000)
	mj := []hal.MixJob{{Inputs: [][]int16{a, b}, Full: make([]int16, 160), Minus: [][]int16{make([]int16, 160), make([]int16, 160)}}}
	if err := off.Mix.Mix(mj); err != nil {
		t.Fatalf("mix: %v", err)
	}
	res.full, res.minus = mj[0].Full, mj[0].Minus[0]
	corrupt()
	res.crcErr = off.Codec.Decode(dj[:1])
	if err := drv.Probe(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	dec, err = off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	dj[0].Channel = dec
	if err := off.Codec.Decode(dj[:1]); err != nil {
		t.Fatalf("decode after probe: %v", err)
	}
	res.afterCRC = dj[0].PCM[:dj[0].N]
	off.Codec.Close(dec)
	return res
}

func checkSession(t *testing.T, res sessionResult) {
	t.Helper()
	if want := goEncode(t, "PCMU", 8000, tone(160, 8000, 1000, 6000)); !bytes.Equal(res.encoded, want) {
		t.Error("encoded frame differs from the Go encoder's")
	}
	want := goDecode(t, "PCMU", 8000, res.encoded, 160)
	if !slices.Equal(res.decoded, want) || !slices.Equal(res.afterCRC, want) {
		t.Error("decoded frame differs from the Go decoder's")
	}
	if len(res.conceal) != 160 {
		t.Errorf("concealment gave %d samples, want 160", len(res.conceal))
	}
	a, b := tone(160, 8000, 300, 9000), tone(160, 8000, 500, 9000)
	for i := range a {
		if res.full[i] != a[i]+b[i] || res.minus[i] != b[i] {
			t.Fatalf("mix sample %d: full %d minus %d", i, res.full[i], res.minus[i])
		}
	}
	if !errors.Is(res.crcErr, dsp.ErrCRC) {
		t.Errorf("decode with a corrupted response: %v, want ErrCRC", res.crcErr)
	}
}

// restartSession: HELLO, OPEN, DECODE, then the device restarts on its own
// (a watchdog): the next DECODE is answered "not ready" (a reset fault),
// the re-probe says HELLO, the old channel is stale, a new one decodes.
func restartSession(t *testing.T, c spi.Conn, ready, reset gpio.PinIO, restart func()) sessionResult {
	t.Helper()
	drv, err := dsp.New(c, ready, reset, dsp.WithLogger(quiet()), dsp.WithResetPulse(time.Microsecond),
		dsp.WithBackoff(time.Hour, time.Hour))
	if err != nil {
		t.Fatalf("dsp.New: %v", err)
	}
	defer drv.Close()
	off := drv.Offload()
	spec := hal.ChannelSpec{Codec: "PCMA", Rate: 8000, Frame: 10 * time.Millisecond}
	ch, err := off.Codec.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	payload := goEncode(t, "PCMA", 8000, tone(80, 8000, 700, 5000))
	dj := []hal.CodecJob{{Channel: ch, Payload: payload, PCM: make([]int16, 80)}}
	if err := off.Codec.Decode(dj); err != nil {
		t.Fatalf("decode: %v", err)
	}
	var res sessionResult
	res.decoded = slices.Clone(dj[0].PCM[:dj[0].N])
	restart()
	res.crcErr = off.Codec.Decode(dj) // here: the reset fault
	if err := drv.Probe(); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := off.Codec.Decode(dj); !errors.Is(err, dsp.ErrStaleChannel) {
		t.Fatalf("decode on the old channel: %v", err)
	}
	if dj[0].Channel, err = off.Codec.Open(spec); err != nil {
		t.Fatal(err)
	}
	if err := off.Codec.Decode(dj); err != nil {
		t.Fatalf("decode after the restart: %v", err)
	}
	res.afterCRC = dj[0].PCM[:dj[0].N]
	if s := drv.Stats(); s.Faults[dsp.FaultReset] != 1 {
		t.Errorf("reset faults %d", s.Faults[dsp.FaultReset])
	}
	return res
}

func checkRestart(t *testing.T, res sessionResult) {
	t.Helper()
	want := goDecode(t, "PCMA", 8000, goEncode(t, "PCMA", 8000, tone(80, 8000, 700, 5000)), 80)
	if !slices.Equal(res.decoded, want) || !slices.Equal(res.afterCRC, want) {
		t.Error("decoded frame differs from the Go decoder's")
	}
	if !errors.Is(res.crcErr, dsp.ErrDeviceReset) {
		t.Errorf("decode after the restart: %v, want ErrDeviceReset", res.crcErr)
	}
}

type traced struct {
	file  string
	run   func(t *testing.T, c spi.Conn, ready, reset gpio.PinIO, fault func()) sessionResult
	fault func(*dspemu.Device)
	check func(*testing.T, sessionResult)
}

func TestTracesOfSessionsAreByteExact(t *testing.T) {
	for _, tc := range []traced{
		{traceFile, session, func(d *dspemu.Device) { d.CorruptNext(1) }, checkSession},
		{"testdata/restart.trace", restartSession, func(d *dspemu.Device) { d.Restart() }, checkRestart},
	} {
		t.Run(tc.file, func(t *testing.T) { testTrace(t, tc) })
	}
}

func testTrace(t *testing.T, tc traced) {
	if *update {
		dev := dspemu.NewDevice(engines())
		rec := &spitest.Record{Port: dev.Port()}
		c, err := rec.Connect(8*physic.MegaHertz, spi.Mode0, 8)
		if err != nil {
			t.Fatal(err)
		}
		tc.check(t, tc.run(t, c, dev.Ready(), dev.Reset(), func() { tc.fault(dev) }))
		if err := writeTrace(tc.file, rec.Ops); err != nil {
			t.Fatal(err)
		}
	}
	ops, err := readTrace(tc.file)
	if err != nil {
		t.Fatalf("reading the trace (go test -run Trace -update records it): %v", err)
	}
	t.Run("replayed, the driver writes the same bytes and reads the same results", func(t *testing.T) {
		pb := &spitest.Playback{Playback: conntest.Playback{Ops: ops, DontPanic: true}}
		c, err := pb.Connect(8*physic.MegaHertz, spi.Mode0, 8)
		if err != nil {
			t.Fatal(err)
		}
		ready := &gpiotest.Pin{N: "READY", L: gpio.High}
		reset := &gpiotest.Pin{N: "RESET", L: gpio.High}
		tc.check(t, tc.run(t, c, ready, reset, func() {}))
		if err := pb.Close(); err != nil {
			t.Errorf("trace not consumed: %v", err)
		}
	})
	t.Run("recorded again against the emulator, the bytes are the same", func(t *testing.T) {
		dev := dspemu.NewDevice(engines())
		rec := &spitest.Record{Port: dev.Port()}
		c, _ := rec.Connect(8*physic.MegaHertz, spi.Mode0, 8)
		tc.run(t, c, dev.Ready(), dev.Reset(), func() { tc.fault(dev) })
		if len(rec.Ops) != len(ops) {
			t.Fatalf("%d transactions, the trace has %d", len(rec.Ops), len(ops))
		}
		for i := range ops {
			if !bytes.Equal(rec.Ops[i].W, ops[i].W) || !bytes.Equal(rec.Ops[i].R, ops[i].R) {
				t.Fatalf("transaction %d differs from the trace", i)
			}
		}
	})
}

// The trace format: one SPI transaction per line, "w <hex>" for a write
// (MISO not read) and "r <hex>" for a read (MOSI 0x00 filler); "#" lines
// are comments naming the frames.
func writeTrace(path string, ops []conntest.IO) error {
	var b strings.Builder
	b.WriteString("# DSP protocol trace (docs/dsp-protocol.md): a session against hal/dsp/dspemu.\n")
	b.WriteString("# Regenerate: go test ./hal/dsp -run TestTrace -update\n")
	for _, op := range ops {
		switch {
		case len(op.W) > 0 && len(op.R) == 0:
			if h, err := wire.ParseHeader(op.W, wire.MaxPayload); err == nil {
				fmt.Fprintf(&b, "# request %s seq %d, %d payload bytes\n", h.Type, h.Seq, h.Len)
			}
			fmt.Fprintf(&b, "w %x\n", op.W)
		case len(op.R) > 0 && len(op.W) == 0:
			if h, err := wire.ParseHeader(op.R, wire.MaxPayload); err == nil && len(op.R) == wire.HeaderLen {
				fmt.Fprintf(&b, "# response %s seq %d, %d payload bytes\n", h.Type, h.Seq, h.Len)
			}
			fmt.Fprintf(&b, "r %x\n", op.R)
		default:
			return fmt.Errorf("transaction with both directions: %d/%d bytes", len(op.W), len(op.R))
		}
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func readTrace(path string) ([]conntest.IO, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var ops []conntest.IO
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		dir, hx, ok := strings.Cut(line, " ")
		b, err := hex.DecodeString(hx)
		if !ok || err != nil {
			return nil, fmt.Errorf("bad trace line %q", line)
		}
		switch dir {
		case "w":
			ops = append(ops, conntest.IO{W: b})
		case "r":
			ops = append(ops, conntest.IO{R: b})
		default:
			return nil, fmt.Errorf("bad trace line %q", line)
		}
	}
	return ops, sc.Err()
}
