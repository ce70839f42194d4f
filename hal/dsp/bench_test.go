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
// emulator while recording the responses, and once canned, answers every
// request with the last recorded response of its type (its sequence number
// and header CRC patched), so the emulator's work drops out.
type cannedConn struct {
	dev    *dspemu.Device
	canned bool
	last   map[wire.Type][]byte
	cur    wire.Type
	out    []byte
	pos    int
}

func (c *cannedConn) String() string               { return "canned" }
func (c *cannedConn) Duplex() conn.Duplex          { return conn.Full }
func (c *cannedConn) TxPackets([]spi.Packet) error { return nil }

func (c *cannedConn) Tx(w, r []byte) error {
	if len(w) >= wire.HeaderLen && w[0] == wire.Magic0 {
		c.cur = wire.Type(w[3])
		if c.canned {
			resp := c.last[c.cur]
			copy(resp[4:8], w[4:8])
			binary.LittleEndian.PutUint32(resp[12:], wire.CRC(resp[:12]))
			c.out, c.pos = resp, 0
			return nil
		}
		c.last[c.cur] = c.last[c.cur][:0]
	}
	if c.canned {
		c.pos += copy(r, c.out[c.pos:])
		return nil
	}
	err := c.dev.Tx(w, r)
	if len(r) > 0 {
		c.last[c.cur] = append(c.last[c.cur], r...)
	}
	return err
}

// benchRig opens n PCMU decoders and encoders at 8 kHz.
func benchRig(b *testing.B, n int) (*dsp.Driver, hal.Offload, *cannedConn, []hal.CodecJob, []hal.CodecJob) {
	dev := dspemu.NewDevice(engines())
	cc := &cannedConn{dev: dev, last: map[wire.Type][]byte{}}
	drv, err := dsp.New(cc, dev.Ready(), dev.Reset(), dsp.WithLogger(quiet()), dsp.WithTimeout(time.Second), dsp.WithResetPulse(0))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drv.Close() })
	off := drv.Offload()
	payload := goEncode(b, "PCMU", 8000, tone(160, 8000, 440, 8000))
	dj := make([]hal.CodecJob, n)
	ej := make([]hal.CodecJob, n)
	for i := range dj {
		d, err := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
		if err != nil {
			b.Fatal(err)
		}
		e, err := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond, Encoder: true})
		if err != nil {
			b.Fatal(err)
		}
		dj[i] = hal.CodecJob{Channel: d, Payload: payload, PCM: make([]int16, 160)}
		ej[i] = hal.CodecJob{Channel: e, PCM: tone(160, 8000, 440, 8000), Payload: make([]byte, 160)}
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
// 20 ms frame (decode, a mix of the conference, encode; PCMU at 8 kHz,
// conferences of 10 with 3 talkers) done by the pure-Go engines, by the DSP
// as the host sees it (the device's work excluded), and by the driver with
// the emulator doing the work in-process (both sides on this CPU).
func BenchmarkParticipantFrame(b *testing.B) {
	const n = 100
	mixJobs := func() []hal.MixJob {
		jobs := make([]hal.MixJob, n/10)
		for i := range jobs {
			jobs[i] = hal.MixJob{
				Inputs: [][]int16{make([]int16, 160), make([]int16, 160), make([]int16, 160)},
				Full:   make([]int16, 160),
				Minus:  [][]int16{make([]int16, 160), make([]int16, 160), make([]int16, 160)},
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
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/participant")
	}
	b.Run("engine=go", func(b *testing.B) {
		eng := engines()
		off := hal.Offload{Codec: eng.Codec, Mix: eng.Mix}
		_, _, _, dj, ej := benchRig(b, n) // for the jobs' shape only
		payload := goEncode(b, "PCMU", 8000, tone(160, 8000, 440, 8000))
		for i := range dj {
			d, _ := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
			e, _ := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond, Encoder: true})
			dj[i].Channel, dj[i].Payload, ej[i].Channel = d, payload, e
		}
		mj := mixJobs()
		b.ReportAllocs()
		for b.Loop() {
			frame(b, off, dj, ej, mj)
		}
		report(b)
	})
	b.Run("engine=dsp-host-only", func(b *testing.B) {
		_, off, cc, dj, ej := benchRig(b, n)
		mj := mixJobs()
		frame(b, off, dj, ej, mj)
		cc.canned = true
		b.ReportAllocs()
		for b.Loop() {
			frame(b, off, dj, ej, mj)
		}
		report(b)
	})
	b.Run("engine=dsp+emulator", func(b *testing.B) {
		_, off, _, dj, ej := benchRig(b, n)
		mj := mixJobs()
		b.ReportAllocs()
		for b.Loop() {
			frame(b, off, dj, ej, mj)
		}
		report(b)
	})
}
