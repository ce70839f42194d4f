package dsp_test

import (
	"errors"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
	"confab/hal/dsp/wire"
)

// hijackConn passes transactions to the emulator until armed; then every
// write is swallowed and reads are served from resp (zeros past its end),
// so a fuzzer chooses what the driver reads back.
type hijackConn struct {
	dev   *dspemu.Device
	armed bool
	resp  []byte
}

func (h *hijackConn) String() string      { return "hijack" }
func (h *hijackConn) Duplex() conn.Duplex { return conn.Full }
func (h *hijackConn) TxPackets([]spi.Packet) error {
	return errors.New("not supported")
}
func (h *hijackConn) Tx(w, r []byte) error {
	if !h.armed {
		return h.dev.Tx(w, r)
	}
	n := copy(r, h.resp)
	h.resp = h.resp[n:]
	clear(r[n:])
	return nil
}

// frame seals a response frame of type typ around payload.
func frame(typ wire.Type, seq uint32, payload []byte) []byte {
	b := make([]byte, wire.FrameLen(len(payload)))
	copy(b[wire.HeaderLen:], payload)
	return wire.Seal(b, typ, seq, len(payload))
}

// FuzzDriverResponse feeds the driver arbitrary responses to a decode, an
// encode and a mix batch: a malformed frame must come back as an error
// wrapping hal.ErrOffloadFault (or results), never a panic or a hang.
func FuzzDriverResponse(f *testing.F) {
	f.Add(uint8(0), []byte{}, false)
	f.Add(uint8(0), []byte{1, 0, 0, 0, 0, 0, 160, 0}, true)
	f.Add(uint8(1), []byte{1, 0, 0, 0, 0, 0, 3, 0, 1, 2, 3}, true)
	f.Add(uint8(2), []byte{1, 0, 0, 0, 0, 1, 2, 0, 1, 0, 2, 0, 3, 0, 4, 0}, true)
	f.Add(uint8(0), []byte{3, 0x10, 0, 0, 0, 0, 0, 0}, true)
	f.Add(uint8(2), []byte{0xd5, 0x50, 1, 0x92}, false)
	f.Fuzz(func(t *testing.T, which uint8, data []byte, seal bool) {
		dev := dspemu.NewDevice(engines())
		hc := &hijackConn{dev: dev}
		drv, err := dsp.New(hc, dev.Ready(), dev.Reset(), dsp.WithLogger(quiet()),
			dsp.WithBackoff(time.Hour, time.Hour), dsp.WithResetPulse(0))
		if err != nil {
			t.Fatal(err)
		}
		defer drv.Close()
		off := drv.Offload()
		ch, err := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond, Encoder: which == 1})
		if err != nil {
			t.Fatal(err)
		}
		seq := uint32(2) // HELLO was 0, OPEN 1
		types := []wire.Type{wire.TypeDecode, wire.TypeEncode, wire.TypeMix}
		typ := types[int(which)%3]
		hc.armed = true
		hc.resp = data
		if seal {
			rt := typ.Response()
			if len(data) == wire.ErrorLen {
				rt = wire.TypeError
			}
			hc.resp = frame(rt, seq, data)
		}
		switch typ {
		case wire.TypeDecode:
			jobs := []hal.CodecJob{{Channel: ch, Payload: []byte{1, 2, 3}, PCM: make([]int16, 160)}}
			err = off.Codec.Decode(jobs)
			if err == nil && jobs[0].N > 160 {
				t.Fatalf("decoded %d samples into room for 160", jobs[0].N)
			}
		case wire.TypeEncode:
			jobs := []hal.CodecJob{{Channel: ch, PCM: make([]int16, 160), Payload: make([]byte, 3)}}
			err = off.Codec.Encode(jobs)
			if err == nil && jobs[0].N > 3 {
				t.Fatalf("encoded %d bytes into room for 3", jobs[0].N)
			}
		case wire.TypeMix:
			jobs := []hal.MixJob{{Inputs: [][]int16{{1, 2}}, Full: make([]int16, 2), Minus: [][]int16{make([]int16, 2)}}}
			err = off.Mix.Mix(jobs)
		}
		if err != nil && !errors.Is(err, hal.ErrOffloadFault) {
			t.Fatalf("error %v does not wrap hal.ErrOffloadFault", err)
		}
		if err != nil && drv.Stats().FaultsTotal() != 1 {
			t.Fatalf("fault not counted: %+v", drv.Stats())
		}
	})
}
