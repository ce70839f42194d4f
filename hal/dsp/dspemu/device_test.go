package dspemu_test

import (
	"encoding/binary"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"confab/hal"
	"confab/hal/dsp/dspemu"
	"confab/hal/dsp/wire"
)

// fakeEngine is a codec whose "payload" is one byte per sample, and the
// real mix arithmetic: enough to see the device route jobs and results.
type fakeEngine struct {
	next hal.ChannelID
	open map[hal.ChannelID]bool
}

func newFake() *fakeEngine { return &fakeEngine{open: map[hal.ChannelID]bool{}} }

func (f *fakeEngine) Open(hal.ChannelSpec) (hal.ChannelID, error) {
	f.next++
	f.open[f.next] = true
	return f.next, nil
}
func (f *fakeEngine) Close(ch hal.ChannelID) { delete(f.open, ch) }
func (f *fakeEngine) Decode(jobs []hal.CodecJob) error {
	for i := range jobs {
		j := &jobs[i]
		n := min(len(j.Payload), len(j.PCM))
		for k := 0; k < n; k++ {
			j.PCM[k] = int16(j.Payload[k]) * 100
		}
		j.N = n
	}
	return nil
}
func (f *fakeEngine) Encode(jobs []hal.CodecJob) error {
	for i := range jobs {
		j := &jobs[i]
		n := min(len(j.Payload), len(j.PCM))
		for k := 0; k < n; k++ {
			j.Payload[k] = byte(j.PCM[k] / 100)
		}
		j.N = n
	}
	return nil
}
func (f *fakeEngine) MaxInputs() int { return 8 }
func (f *fakeEngine) Mix(jobs []hal.MixJob) error {
	for _, j := range jobs {
		for s := range j.Full {
			var sum int32
			for _, in := range j.Inputs {
				sum += int32(in[s])
			}
			j.Full[s] = int16(sum)
			for m, in := range j.Inputs {
				j.Minus[m][s] = int16(sum - int32(in[s]))
			}
		}
	}
	return nil
}

func newDev(opts ...dspemu.Option) (*dspemu.Device, *fakeEngine) {
	f := newFake()
	return dspemu.NewDevice(dspemu.Engines{Codec: f, Mix: f}, opts...), f
}

func request(typ wire.Type, seq uint32, payload []byte) []byte {
	b := make([]byte, wire.FrameLen(len(payload)))
	copy(b[wire.HeaderLen:], payload)
	return wire.Seal(b, typ, seq, len(payload))
}

// exchange writes req in chunks of chunk bytes and reads the response.
func exchange(t testing.TB, d *dspemu.Device, req []byte, chunk int) (wire.Header, []byte) {
	t.Helper()
	for off := 0; off < len(req); off += chunk {
		d.Tx(req[off:min(off+chunk, len(req))], nil)
	}
	if d.Ready().Read() != gpio.High {
		t.Fatal("READY low after a request")
	}
	hb := make([]byte, wire.HeaderLen)
	d.Tx(nil, hb)
	h, err := wire.ParseHeader(hb, wire.MaxPayload)
	if err != nil {
		t.Fatalf("response header: %v (% x)", err, hb)
	}
	body := make([]byte, h.Len+wire.TrailerLen)
	d.Tx(nil, body)
	p, err := wire.CheckPayload(body)
	if err != nil {
		t.Fatalf("response payload: %v", err)
	}
	return h, p
}

func hello(t testing.TB, d *dspemu.Device, seq uint32) wire.Hello {
	t.Helper()
	h, p := exchange(t, d, request(wire.TypeHello, seq, []byte{1, 0, 1, 0}), 4096)
	if h.Type != wire.TypeHello.Response() || h.Seq != seq {
		t.Fatalf("HELLO answered with %s seq %d", h.Type, h.Seq)
	}
	hel, err := wire.ParseHello(p)
	if err != nil {
		t.Fatal(err)
	}
	return hel
}

// errorCode returns an ERROR response's code and argument; code 0 for a
// response that is not an ERROR.
func errorCode(h wire.Header, p []byte) (wire.Code, uint32) {
	if h.Type != wire.TypeError || len(p) != wire.ErrorLen {
		return 0, 0
	}
	return wire.Code(p[0]), binary.LittleEndian.Uint32(p[4:])
}

func TestHelloAnnouncesTheLimitsAndTheCodecs(t *testing.T) {
	d, _ := newDev(dspemu.WithBootID(0x1234))
	hel := hello(t, d, 7)
	if hel.BootID != 0x1234 || hel.Version != wire.Version || hel.Name != "confab-dspemu" || hel.MaxInputs != 8 {
		t.Errorf("HELLO: %+v", hel)
	}
	if !hel.Has(wire.CodecOpus, 48000, wire.CodecDecode|wire.CodecFEC) || !hel.Has(wire.CodecPCMU, 8000, wire.CodecEncode) {
		t.Errorf("codecs missing: %+v", hel.Codecs)
	}
}

func TestARequestSplitOverManyTransactionsIsOneRequest(t *testing.T) {
	for _, chunk := range []int{1, 3, 16, 17, 4096} {
		d, _ := newDev()
		h, _ := func() (wire.Header, []byte) {
			req := request(wire.TypeHello, 0, []byte{1, 0, 1, 0})
			// Filler and line noise before the request are ignored.
			d.Tx([]byte{0, 0, 0x13, 0}, nil)
			return exchange(t, d, req, chunk)
		}()
		if h.Type != wire.TypeHello.Response() {
			t.Errorf("chunks of %d: answered %s", chunk, h.Type)
		}
	}
}

func TestRefusals(t *testing.T) {
	t.Run("a request before HELLO is refused as not ready", func(t *testing.T) {
		d, _ := newDev()
		code, _ := errorCode(exchange(t, d, request(wire.TypeDecode, 0, []byte{0, 0, 0, 0}), 64))
		if code != wire.CodeNotReady {
			t.Errorf("code %s", code)
		}
	})
	t.Run("a sequence gap is refused with the number expected", func(t *testing.T) {
		d, _ := newDev()
		hello(t, d, 10)
		code, arg := errorCode(exchange(t, d, request(wire.TypeDecode, 12, []byte{0, 0, 0, 0}), 64))
		if code != wire.CodeSequence || arg != 11 {
			t.Errorf("code %s arg %d", code, arg)
		}
	})
	t.Run("a request with a bad payload CRC is refused as a bad frame", func(t *testing.T) {
		d, _ := newDev()
		hello(t, d, 0)
		req := request(wire.TypeDecode, 1, []byte{0, 0, 0, 0})
		req[len(req)-1] ^= 0x80
		code, _ := errorCode(exchange(t, d, req, 64))
		if code != wire.CodeBadFrame {
			t.Errorf("code %s", code)
		}
	})
	t.Run("a request with a bad header CRC is refused as a bad frame", func(t *testing.T) {
		d, _ := newDev()
		hello(t, d, 0)
		req := request(wire.TypeDecode, 1, []byte{0, 0, 0, 0})
		req[9] ^= 0x01 // the length
		code, _ := errorCode(exchange(t, d, req[:wire.HeaderLen], 64))
		if code != wire.CodeBadFrame {
			t.Errorf("code %s", code)
		}
	})
	t.Run("a decode job on a channel that is not open fails alone", func(t *testing.T) {
		d, _ := newDev()
		hello(t, d, 0)
		_, p := exchange(t, d, request(wire.TypeOpen, 1, []byte{byte(wire.CodecPCMU), 0, 160, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0}), 64)
		ch := binary.LittleEndian.Uint16(p)
		var w wire.Writer
		w.B = make([]byte, 64)
		w.U16(2)
		w.U16(0)
		for _, c := range []uint16{ch + 1, ch} {
			w.U16(c)
			w.U8(0)
			w.U8(0)
			w.U16(2)
			w.U16(160)
			w.Bytes([]byte{1, 2})
		}
		h, p := exchange(t, d, request(wire.TypeDecode, 2, w.B[:w.N]), 64)
		r := wire.Reader{B: p}
		if h.Type != wire.TypeDecode.Response() || r.U16() != 2 {
			t.Fatalf("answered %s", h.Type)
		}
		r.U16()
		if st := wire.Status(r.U8()); st != wire.StatusNoChannel {
			t.Errorf("job on a closed channel: status %d", st)
		}
		r.U8()
		if n := r.U16(); n != 0 {
			t.Errorf("job on a closed channel gave %d samples", n)
		}
		st := wire.Status(r.U8())
		r.U8()
		pcm := make([]int16, r.U16())
		r.PCM(pcm)
		if st != wire.StatusOK || len(pcm) != 2 || pcm[0] != 100 || pcm[1] != 200 {
			t.Errorf("job on an open channel: status %d pcm %v", st, pcm)
		}
	})
}

func TestFaultHooks(t *testing.T) {
	t.Run("the reset line holds the device and a new boot id follows", func(t *testing.T) {
		d, f := newDev(dspemu.WithBootID(5))
		hello(t, d, 0)
		exchange(t, d, request(wire.TypeOpen, 1, []byte{byte(wire.CodecPCMU), 0, 160, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0}), 64)
		d.Reset().Out(gpio.Low)
		if d.Ready().Read() != gpio.Low {
			t.Error("READY high in reset")
		}
		r := make([]byte, 8)
		d.Tx(nil, r)
		if r[0] != 0 {
			t.Error("a device in reset answered")
		}
		d.Reset().Out(gpio.High)
		if d.Ready().Read() != gpio.High || d.BootID() != 6 || d.OpenChannels() != 0 || len(f.open) != 0 {
			t.Errorf("after reset: ready %v boot %d channels %d/%d", d.Ready().Read(), d.BootID(), d.OpenChannels(), len(f.open))
		}
	})
	t.Run("a corrupted response fails its CRC", func(t *testing.T) {
		d, _ := newDev()
		d.CorruptNext(1)
		d.Tx(request(wire.TypeHello, 0, []byte{1, 0, 1, 0}), nil)
		hb := make([]byte, wire.HeaderLen)
		d.Tx(nil, hb)
		h, _ := wire.ParseHeader(hb, wire.MaxPayload)
		body := make([]byte, h.Len+wire.TrailerLen)
		d.Tx(nil, body)
		if _, err := wire.CheckPayload(body); err != wire.ErrCRC {
			t.Errorf("CRC check: %v", err)
		}
		hello(t, d, 1) // the next one is fine
	})
	t.Run("a stalled device leaves READY low until reset", func(t *testing.T) {
		d, _ := newDev()
		d.StallNext(100)
		d.Tx(request(wire.TypeHello, 0, []byte{1, 0, 1, 0}), nil)
		if d.Ready().Read() != gpio.Low || d.WaitReady(time.Millisecond) {
			t.Fatal("READY high while stalled")
		}
		d.Reset().Out(gpio.Low)
		d.Reset().Out(gpio.High)
		hello(t, d, 0)
	})
	t.Run("a restart drops the channels and asks for HELLO", func(t *testing.T) {
		d, _ := newDev()
		hello(t, d, 0)
		d.Restart()
		code, _ := errorCode(exchange(t, d, request(wire.TypeClose, 1, []byte{0, 0, 0, 0}), 64))
		if code != wire.CodeNotReady {
			t.Errorf("code %s", code)
		}
	})
}

// FuzzDeviceRequest feeds the device arbitrary requests, sealed with a
// good CRC or raw: it must answer a well-framed request with its response
// or an ERROR, ignore or refuse the rest, and never panic or hang.
func FuzzDeviceRequest(f *testing.F) {
	f.Add(uint8(wire.TypeDecode), []byte{1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 160, 0, 1, 2}, true)
	f.Add(uint8(wire.TypeEncode), []byte{1, 0, 0, 0, 0, 0, 2, 0, 2, 0, 0, 0, 100, 0, 200, 0}, true)
	f.Add(uint8(wire.TypeMix), []byte{1, 0, 0, 0, 2, 0, 2, 1, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0}, true)
	f.Add(uint8(wire.TypeOpen), []byte{1, 0, 160, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0}, true)
	f.Add(uint8(wire.TypeClose), []byte{0, 0, 0, 0}, true)
	f.Add(uint8(0), []byte{0xd5, 0x50, 1, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, typ uint8, data []byte, seal bool) {
		d, _ := newDev(dspemu.WithLimits(smallLimits()))
		hello(t, d, 0)
		// Open one channel of each kind so jobs can reach the engine.
		exchange(t, d, request(wire.TypeOpen, 1, []byte{byte(wire.CodecPCMU), 0, 160, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0}), 64)
		exchange(t, d, request(wire.TypeOpen, 2, []byte{byte(wire.CodecPCMU), 1, 160, 0, 0x40, 0x1f, 0, 0, 0, 0, 0, 0}), 64)
		req := data
		if seal {
			req = request(wire.Type(typ), 3, data)
		}
		d.Tx(req, nil)
		if d.Ready().Read() != gpio.High {
			if seal && len(data) <= smallLimits().MaxPayload {
				t.Fatal("a well-framed request got no answer")
			}
			return
		}
		hb := make([]byte, wire.HeaderLen)
		d.Tx(nil, hb)
		h, err := wire.ParseHeader(hb, wire.MaxPayload)
		if err != nil {
			if seal {
				t.Fatalf("response header: %v", err)
			}
			return
		}
		body := make([]byte, h.Len+wire.TrailerLen)
		d.Tx(nil, body)
		if _, err := wire.CheckPayload(body); err != nil {
			t.Fatalf("response CRC: %v", err)
		}
		if seal && h.Type != wire.TypeError && h.Type != wire.Type(typ).Response() {
			t.Fatalf("request %s answered with %s", wire.Type(typ), h.Type)
		}
	})
}

func smallLimits() dspemu.Limits {
	l := dspemu.DefaultLimits()
	l.MaxPayload = 8 << 10
	l.MaxJobs = 16
	l.MaxSamples = 960
	return l
}
