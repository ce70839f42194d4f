package dsp_test

import (
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/spi"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
	"confab/hal/dsp/wire"
)

// cannedConn measures the host's side alone: it passes transactions to the
// emulator while recording the responses, and once canned, answers the
// requests with the recorded responses in the same order, round and round
// (sequence numbers and header CRCs patched), so the emulator's work drops
// out. Record exactly one frame's exchanges before canning.
type cannedConn struct {
	dev    *dspemu.Device
	canned bool
	resps  [][]byte
	next   int
	out    []byte
	pos    int
	left   int // bytes of the request being written still to come
	rec    bool
}

func (c *cannedConn) String() string               { return "canned" }
func (c *cannedConn) Duplex() conn.Duplex          { return conn.Full }
func (c *cannedConn) TxPackets([]spi.Packet) error { return nil }

// record starts recording a frame's exchanges afresh.
func (c *cannedConn) record() { c.resps, c.canned, c.rec = c.resps[:0], false, true }

func (c *cannedConn) Tx(w, r []byte) error {
	if !c.rec && !c.canned {
		return c.dev.Tx(w, r) // neither recording nor canned: the emulator
	}
	if c.left > 0 {
		c.left -= len(w) // the rest of a request split over transfers
		if !c.canned {
			return c.dev.Tx(w, r)
		}
		return nil
	}
	if len(w) >= wire.HeaderLen && w[0] == wire.Magic0 {
		c.left = wire.FrameLen(int(binary.LittleEndian.Uint32(w[8:]))) - len(w)
		if c.canned {
			resp := c.resps[c.next%len(c.resps)]
			c.next++
			copy(resp[4:8], w[4:8])
			binary.LittleEndian.PutUint32(resp[12:], wire.CRC(resp[:12]))
			c.out, c.pos = resp, 0
			return nil
		}
		c.resps = append(c.resps, nil)
	}
	if c.canned {
		c.pos += copy(r, c.out[c.pos:])
		return nil
	}
	err := c.dev.Tx(w, r)
	if len(r) > 0 && len(c.resps) > 0 {
		c.resps[len(c.resps)-1] = append(c.resps[len(c.resps)-1], r...)
	}
	return err
}

// benchRig opens n PCMU decoders and encoders at 8 kHz.
func benchRig(b *testing.B, n int) (*dsp.Driver, hal.Offload, *cannedConn, []hal.CodecJob, []hal.CodecJob) {
	return benchRigCodec(b, n, "PCMU", 8000)
}

// benchRigCodec opens n decoders and encoders of a codec at a PCM rate,
// with 20 ms jobs.
func benchRigCodec(b *testing.B, n int, name string, rate int) (*dsp.Driver, hal.Offload, *cannedConn, []hal.CodecJob, []hal.CodecJob) {
	dev := dspemu.NewDevice(engines())
	cc := &cannedConn{dev: dev}
	drv, err := dsp.New(cc, dev.Ready(), dev.Reset(), dsp.WithLogger(quiet()), dsp.WithTimeout(time.Second), dsp.WithResetPulse(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drv.Close() })
	off := drv.Offload()
	fs := rate / 50
	payload := goEncode(b, name, rate, tone(fs, rate, 440, 8000))
	dj := make([]hal.CodecJob, n)
	ej := make([]hal.CodecJob, n)
	for i := range dj {
		d, err := off.Codec.Open(hal.ChannelSpec{Codec: name, Rate: rate, Frame: 20 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		e, err := off.Codec.Open(hal.ChannelSpec{Codec: name, Rate: rate, Frame: 20 * time.Millisecond, Encoder: true})
		if err != nil {
			b.Fatal(err)
		}
		dj[i] = hal.CodecJob{Channel: d, Payload: payload, PCM: make([]int16, fs)}
		ej[i] = hal.CodecJob{Channel: e, PCM: tone(fs, rate, 440, 8000), Payload: make([]byte, 1500)}
	}
	return drv, off, cc, dj, ej
}

// BenchmarkDecodeBatch is the host's cost of one DECODE batch of PCMU
// frames (framing, CRC-32C, copies, the bus calls), the device's work
// excluded; ns/channel and bytes/channel on the bus are reported.
func BenchmarkDecodeBatch(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("channels=%d", n), func(b *testing.B) {
			drv, off, cc, dj, _ := benchRig(b, n)
			cc.record()
			if err := off.Codec.Decode(dj); err != nil {
				b.Fatal(err)
			}
			cc.canned = true
			s0 := drv.Stats()
			b.ReportAllocs()
			for b.Loop() {
				if err := off.Codec.Decode(dj); err != nil {
					b.Fatal(err)
				}
			}
			s1 := drv.Stats()
			bus := float64(s1.BytesIn+s1.BytesOut-s0.BytesIn-s0.BytesOut) / float64(b.N)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/channel")
			b.ReportMetric(bus/float64(n), "busbytes/channel")
		})
	}
}

// BenchmarkEncodeBatch is the same for ENCODE.
func BenchmarkEncodeBatch(b *testing.B) {
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("channels=%d", n), func(b *testing.B) {
			_, off, cc, _, ej := benchRig(b, n)
			cc.record()
			if err := off.Codec.Encode(ej); err != nil {
				b.Fatal(err)
			}
			cc.canned = true
			b.ReportAllocs()
			for b.Loop() {
				if err := off.Codec.Encode(ej); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/channel")
		})
	}
}

// BenchmarkMixBatch is the host's cost of a MIX batch of conferences of
// three talkers at 16 kHz.
func BenchmarkMixBatch(b *testing.B) {
	for _, n := range []int{1, 10} {
		b.Run(fmt.Sprintf("conferences=%d", n), func(b *testing.B) {
			_, off, cc, _, _ := benchRig(b, 0)
			jobs := make([]hal.MixJob, n)
			for i := range jobs {
				jobs[i] = hal.MixJob{
					Inputs: [][]int16{tone(320, 16000, 300, 8000), tone(320, 16000, 500, 8000), tone(320, 16000, 700, 8000)},
					Full:   make([]int16, 320),
					Minus:  [][]int16{make([]int16, 320), make([]int16, 320), make([]int16, 320)},
				}
			}
			cc.record()
			if err := off.Mix.Mix(jobs); err != nil {
				b.Fatal(err)
			}
			cc.canned = true
			b.ReportAllocs()
			for b.Loop() {
				if err := off.Mix.Mix(jobs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/conference")
		})
	}
}

// BenchmarkParticipantFrame compares the host CPU per participant of one
// 20 ms frame (decode, a mix of the conference, encode; conferences of 10
// with 3 talkers; 100 participants) done by the pure-Go engines, by the DSP
// as the host sees it (the device's work excluded: framing, CRC, copies),
// and by the driver with the emulator doing the work in-process (both
// sides on this CPU).
func BenchmarkParticipantFrame(b *testing.B) {
	const n = 100
	for _, c := range []struct {
		name string
		rate int
	}{{"PCMU", 8000}, {"opus", 48000}} {
		fs := c.rate / 50
		mixJobs := func() []hal.MixJob {
			jobs := make([]hal.MixJob, n/10)
			for i := range jobs {
				jobs[i] = hal.MixJob{
					Inputs: [][]int16{make([]int16, fs), make([]int16, fs), make([]int16, fs)},
					Full:   make([]int16, fs),
					Minus:  [][]int16{make([]int16, fs), make([]int16, fs), make([]int16, fs)},
				}
			}
			return jobs
		}
		frame := func(b *testing.B, off hal.Offload, dj, ej []hal.CodecJob, mj []hal.MixJob) {
			if err := off.Codec.Decode(dj); err != nil {
				b.Fatal(err)
			}
			if err := off.Mix.Mix(mj); err != nil {
				b.Fatal(err)
			}
			if err := off.Codec.Encode(ej); err != nil {
				b.Fatal(err)
			}
		}
		report := func(b *testing.B, drv *dsp.Driver, s0 dsp.Stats) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/participant")
			if drv != nil {
				s1 := drv.Stats()
				b.ReportMetric(float64(s1.BytesIn+s1.BytesOut-s0.BytesIn-s0.BytesOut)/float64(b.N)/n, "busbytes/participant")
			}
		}
		b.Run("codec="+c.name+"/engine=go", func(b *testing.B) {
			eng := engines()
			off := hal.Offload{Codec: eng.Codec, Mix: eng.Mix}
			_, _, _, dj, ej := benchRigCodec(b, 0, c.name, c.rate)
			payload := goEncode(b, c.name, c.rate, tone(fs, c.rate, 440, 8000))
			for i := 0; i < n; i++ {
				d, _ := off.Codec.Open(hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: 20 * time.Millisecond})
				e, _ := off.Codec.Open(hal.ChannelSpec{Codec: c.name, Rate: c.rate, Frame: 20 * time.Millisecond, Encoder: true})
				dj = append(dj, hal.CodecJob{Channel: d, Payload: payload, PCM: make([]int16, fs)})
				ej = append(ej, hal.CodecJob{Channel: e, PCM: tone(fs, c.rate, 440, 8000), Payload: make([]byte, 1500)})
			}
			mj := mixJobs()
			b.ReportAllocs()
			for b.Loop() {
				frame(b, off, dj, ej, mj)
			}
			report(b, nil, dsp.Stats{})
		})
		b.Run("codec="+c.name+"/engine=dsp-host-only", func(b *testing.B) {
			drv, off, cc, dj, ej := benchRigCodec(b, n, c.name, c.rate)
			mj := mixJobs()
			cc.record()
			frame(b, off, dj, ej, mj)
			cc.canned = true
			s0 := drv.Stats()
			b.ReportAllocs()
			for b.Loop() {
				frame(b, off, dj, ej, mj)
			}
			report(b, drv, s0)
		})
		b.Run("codec="+c.name+"/engine=dsp+emulator", func(b *testing.B) {
			drv, off, _, dj, ej := benchRigCodec(b, n, c.name, c.rate)
			mj := mixJobs()
			s0 := drv.Stats()
			b.ReportAllocs()
			for b.Loop() {
				frame(b, off, dj, ej, mj)
			}
			report(b, drv, s0)
		})
	}
}
