package dsp

import (
	"errors"
	"fmt"
	"time"

	"confab/hal"
	"confab/hal/dsp/wire"
)

// codecSide is the driver as a hal.CodecOffload.
type codecSide struct{ d *Driver }

// mixSide is the driver as a hal.MixOffload.
type mixSide struct{ d *Driver }

var (
	_ hal.CodecOffload = codecSide{}
	_ hal.MixOffload   = mixSide{}
)

// A ChannelID is the probe epoch in the high 16 bits and the device's
// channel number in the low 16, so a handle from before a reset can never
// name a channel opened after it.
func (d *Driver) chanID(dev uint16) hal.ChannelID {
	return hal.ChannelID(d.epoch<<wire.ChannelIDBits | uint32(dev))
}

// devChan returns the device channel of a handle of the current epoch.
func (d *Driver) devChan(id hal.ChannelID) (uint16, bool) {
	if uint32(id)>>wire.ChannelIDBits != d.epoch&0xFFFF {
		return 0, false
	}
	return uint16(id), true
}

// Open opens a decoder or an encoder on the device.
func (c codecSide) Open(spec hal.ChannelSpec) (hal.ChannelID, error) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return 0, err
	}
	codec, ok := wire.CodecByName(spec.Codec)
	need := uint8(wire.CodecDecode)
	flags := uint8(0)
	if spec.Encoder {
		need = wire.CodecEncode
		flags |= wire.OpenFlagEnc
	}
	if spec.FEC {
		flags |= wire.OpenFlagFEC
	}
	samples := int64(spec.Rate) * int64(spec.Frame) / int64(time.Second)
	if !ok || !d.hello.Has(codec, spec.Rate, need) || samples <= 0 ||
		samples > int64(d.hello.MaxSamples) || samples*int64(time.Second) != int64(spec.Rate)*int64(spec.Frame) {
		kind := "decoder"
		if spec.Encoder {
			kind = "encoder"
		}
		return 0, fmt.Errorf("%w: dsp: the device has no %s %s at %d Hz in %v frames", hal.ErrUnsupported, spec.Codec, kind, spec.Rate, spec.Frame)
	}
	w := wire.Writer{B: d.payload()}
	w.U8(uint8(codec))
	w.U8(flags)
	w.U16(uint16(samples))
	w.U32(uint32(spec.Rate))
	w.U32(uint32(max(spec.Bitrate, 0)))
	_, p, err := d.transact(wire.TypeOpen, w.N)
	if errors.Is(err, hal.ErrNoChannel) || errors.Is(err, hal.ErrUnsupported) {
		return 0, err // the device's answer, not a fault
	}
	if err != nil {
		return 0, d.fail(err)
	}
	if len(p) != wire.OpenRespLen {
		return 0, d.fail(errCounts)
	}
	return d.chanID(uint16(p[0]) | uint16(p[1])<<8), nil
}

// Close frees a channel. A channel lost in a device reset, or a device
// that is down, needs nothing.
func (c codecSide) Close(id hal.ChannelID) {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	ch, ok := d.devChan(id)
	if !ok || d.usable() != nil {
		return
	}
	p := d.payload()
	p[0], p[1], p[2], p[3] = byte(ch), byte(ch>>8), 0, 0
	if _, _, err := d.transact(wire.TypeClose, wire.CloseReqLen); err != nil {
		d.fail(err)
	}
}

// Decode runs a batch of decode jobs, in as few transactions as the
// device's frame size allows (one, for a frame's worth of channels).
func (c codecSide) Decode(jobs []hal.CodecJob) error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	for start := 0; start < len(jobs); {
		w := wire.Writer{B: d.payload()}
		w.Skip(wire.BatchHdrLen)
		resp := wire.BatchHdrLen
		k := 0
		for i := start; i < len(jobs) && k < int(d.hello.MaxJobs); i++ {
			j := &jobs[i]
			ch, ok := d.devChan(j.Channel)
			if !ok {
				return ErrStaleChannel
			}
			room := min(len(j.PCM), int(d.hello.MaxSamples))
			need := wire.DecodeJobLen + len(j.Payload)
			rneed := wire.ResultHdrLen + 2*room
			if w.N+need > d.maxPay || resp+rneed > d.maxPay || len(j.Payload) > 0xFFFF {
				if k == 0 {
					return errTooBig
				}
				break
			}
			w.U16(ch)
			w.U8(uint8(j.Op))
			w.U8(0)
			w.U16(uint16(len(j.Payload)))
			w.U16(uint16(room))
			w.Bytes(j.Payload)
			resp += rneed
			k++
		}
		putBatchCount(d.payload(), k)
		_, p, err := d.transact(wire.TypeDecode, w.N)
		if err != nil {
			return d.fail(err)
		}
		r := wire.Reader{B: p}
		if int(r.U16()) != k {
			return d.fail(errCounts)
		}
		r.U16()
		for i := start; i < start+k; i++ {
			j := &jobs[i]
			st := wire.Status(r.U8())
			r.U8()
			n := int(r.U16())
			if n > len(j.PCM) {
				return d.fail(errCounts)
			}
			r.PCM(j.PCM[:n])
			j.N, j.Err = n, jobErr(st)
		}
		if r.Short || r.Left() != 0 {
			return d.fail(errCounts)
		}
		start += k
	}
	return nil
}

// Encode runs a batch of encode jobs.
func (c codecSide) Encode(jobs []hal.CodecJob) error {
	d := c.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	for start := 0; start < len(jobs); {
		w := wire.Writer{B: d.payload()}
		w.Skip(wire.BatchHdrLen)
		resp := wire.BatchHdrLen
		k := 0
		for i := start; i < len(jobs) && k < int(d.hello.MaxJobs); i++ {
			j := &jobs[i]
			ch, ok := d.devChan(j.Channel)
			if !ok {
				return ErrStaleChannel
			}
			room := min(len(j.Payload), 0xFFFF)
			need := wire.EncodeJobLen + 2*len(j.PCM)
			rneed := wire.ResultHdrLen + room
			if w.N+need > d.maxPay || resp+rneed > d.maxPay || len(j.PCM) > int(d.hello.MaxSamples) {
				if k == 0 {
					return errTooBig
				}
				break
			}
			w.U16(ch)
			w.U16(uint16(len(j.PCM)))
			w.U16(uint16(room))
			w.U16(0)
			w.PCM(j.PCM)
			resp += rneed
			k++
		}
		putBatchCount(d.payload(), k)
		_, p, err := d.transact(wire.TypeEncode, w.N)
		if err != nil {
			return d.fail(err)
		}
		r := wire.Reader{B: p}
		if int(r.U16()) != k {
			return d.fail(errCounts)
		}
		r.U16()
		for i := start; i < start+k; i++ {
			j := &jobs[i]
			st := wire.Status(r.U8())
			r.U8()
			n := int(r.U16())
			if n > len(j.Payload) {
				return d.fail(errCounts)
			}
			copy(j.Payload, r.Bytes(n))
			j.N, j.Err = n, jobErr(st)
		}
		if r.Short || r.Left() != 0 {
			return d.fail(errCounts)
		}
		start += k
	}
	return nil
}

func putBatchCount(p []byte, k int) {
	p[0], p[1], p[2], p[3] = byte(k), byte(k>>8), 0, 0
}

// MaxInputs is the device's mix size (0 before the first HELLO).
func (m mixSide) MaxInputs() int {
	m.d.mu.Lock()
	defer m.d.mu.Unlock()
	return int(m.d.hello.MaxInputs)
}

// Mix runs a batch of conferences' mixes.
func (m mixSide) Mix(jobs []hal.MixJob) error {
	d := m.d
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.usable(); err != nil {
		return err
	}
	for start := 0; start < len(jobs); {
		w := wire.Writer{B: d.payload()}
		w.Skip(wire.BatchHdrLen)
		resp := wire.BatchHdrLen
		k := 0
		for i := start; i < len(jobs) && k < int(d.hello.MaxJobs); i++ {
			j := &jobs[i]
			ns := len(j.Full)
			if !mixShapeOK(j) {
				return errMixShape
			}
			in := len(j.Inputs)
			frames := in
			if j.Extra != nil {
				frames++
			}
			need := wire.MixConfLen + 2*ns*frames
			rneed := wire.ResultHdrLen + 2*ns*(in+1)
			if in > int(d.hello.MaxInputs) || ns > int(d.hello.MaxSamples) {
				return errTooBig
			}
			if w.N+need > d.maxPay || resp+rneed > d.maxPay {
				if k == 0 {
					return errTooBig
				}
				break
			}
			w.U16(uint16(ns))
			w.U8(uint8(in))
			if j.Extra != nil {
				w.U8(wire.MixFlagExtra)
			} else {
				w.U8(0)
			}
			for _, f := range j.Inputs {
				w.PCM(f)
			}
			if j.Extra != nil {
				w.PCM(j.Extra)
			}
			resp += rneed
			k++
		}
		putBatchCount(d.payload(), k)
		_, p, err := d.transact(wire.TypeMix, w.N)
		if err != nil {
			return d.fail(err)
		}
		r := wire.Reader{B: p}
		if int(r.U16()) != k {
			return d.fail(errCounts)
		}
		r.U16()
		for i := start; i < start+k; i++ {
			j := &jobs[i]
			st := wire.Status(r.U8())
			in := int(r.U8())
			ns := int(r.U16())
			if st != wire.StatusOK || in != len(j.Inputs) || ns != len(j.Full) {
				return d.fail(errCounts)
			}
			r.PCM(j.Full)
			for _, f := range j.Minus {
				r.PCM(f)
			}
		}
		if r.Short || r.Left() != 0 {
			return d.fail(errCounts)
		}
		start += k
	}
	return nil
}

// mixShapeOK checks that every frame of a mix job has Full's length.
func mixShapeOK(j *hal.MixJob) bool {
	ns := len(j.Full)
	if len(j.Minus) != len(j.Inputs) || (j.Extra != nil && len(j.Extra) != ns) {
		return false
	}
	for i, f := range j.Inputs {
		if len(f) != ns || len(j.Minus[i]) != ns {
			return false
		}
	}
	return true
}
