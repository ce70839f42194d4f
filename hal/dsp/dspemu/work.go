package dspemu

import (
	"errors"
	"time"

	"confab/hal"
	"confab/hal/dsp/wire"
	"confab/mixer/codec"
	"confab/mixer/offload"
)

// open answers OPEN (§4.3).
func (d *Device) open(p []byte) (int, wire.Code) {
	r := wire.Reader{B: p}
	c := wire.Codec(r.U8())
	flags := r.U8()
	samples := int(r.U16())
	rate := int(r.U32())
	bitrate := int(r.U32())
	if r.Short || r.Left() != 0 {
		return 0, wire.CodeBadRequest
	}
	need := uint8(wire.CodecDecode)
	if flags&wire.OpenFlagEnc != 0 {
		need = wire.CodecEncode
	}
	if samples == 0 || samples > d.lim.MaxSamples || rate == 0 || !d.hel.Has(c, rate, need) || d.eng.Codec == nil {
		return 0, wire.CodeUnsupported
	}
	slot := -1
	for i := range d.chans {
		j := (d.nextChan + i) % len(d.chans)
		if !d.chans[j].used {
			slot = j
			break
		}
	}
	if slot < 0 {
		return 0, wire.CodeNoChannel
	}
	id, err := d.eng.Codec.Open(hal.ChannelSpec{
		Codec:   c.Name(),
		Rate:    rate,
		Frame:   time.Duration(samples) * time.Second / time.Duration(rate),
		Encoder: flags&wire.OpenFlagEnc != 0,
		Bitrate: bitrate,
		FEC:     flags&wire.OpenFlagFEC != 0,
	})
	switch {
	case errors.Is(err, hal.ErrNoChannel):
		return 0, wire.CodeNoChannel
	case err != nil:
		return 0, wire.CodeUnsupported
	}
	d.chans[slot] = channel{used: true, enc: flags&wire.OpenFlagEnc != 0, id: id}
	d.nextChan = slot + 1
	out := d.tx[wire.HeaderLen:]
	out[0], out[1], out[2], out[3] = byte(slot), byte(slot>>8), 0, 0
	return wire.OpenRespLen, 0
}

// close answers CLOSE (§4.4); closing a channel that is not open is fine.
func (d *Device) close(p []byte) (int, wire.Code) {
	r := wire.Reader{B: p}
	ch := int(r.U16())
	r.U16()
	if r.Short || r.Left() != 0 {
		return 0, wire.CodeBadRequest
	}
	if ch < len(d.chans) && d.chans[ch].used {
		d.eng.Codec.Close(d.chans[ch].id)
		d.chans[ch] = channel{}
	}
	return 0, 0
}

// lookup returns the engine's channel for a device channel of a kind.
func (d *Device) lookup(ch int, enc bool) (hal.ChannelID, bool) {
	if ch >= len(d.chans) || !d.chans[ch].used || d.chans[ch].enc != enc {
		return 0, false
	}
	return d.chans[ch].id, true
}

// status maps an engine's job error to its wire status.
func status(err error) wire.Status {
	switch {
	case err == nil:
		return wire.StatusOK
	case errors.Is(err, hal.ErrNoChannel), errors.Is(err, offload.ErrWrongKind):
		return wire.StatusNoChannel
	case errors.Is(err, codec.ErrFrameSize):
		return wire.StatusFrameSize
	case errors.Is(err, codec.ErrShortBuffer):
		return wire.StatusShort
	}
	return wire.StatusBadPayload
}

// batch reads a batch header and checks the count.
func (d *Device) batch(r *wire.Reader) (int, bool) {
	n := int(r.U16())
	r.U16()
	return n, !r.Short && n <= d.lim.MaxJobs
}

// decode answers DECODE (§4.5): every job's payload is decoded on its
// channel, and the response carries each job's status and PCM.
func (d *Device) decode(p []byte) (int, wire.Code) {
	r := wire.Reader{B: p}
	n, ok := d.batch(&r)
	if !ok {
		return 0, wire.CodeTooBig
	}
	jobs := d.jobs[:n]
	pcm := d.pcm
	for i := range jobs {
		ch := int(r.U16())
		op := r.U8()
		r.U8()
		plen := int(r.U16())
		room := int(r.U16())
		payload := r.Bytes(plen)
		if r.Short || op > uint8(hal.DecodeFEC) {
			return 0, wire.CodeBadRequest
		}
		if room > d.lim.MaxSamples {
			return 0, wire.CodeTooBig
		}
		id, ok := d.lookup(ch, false)
		jobs[i] = hal.CodecJob{Channel: id, Op: hal.DecodeOp(op), Payload: payload, PCM: pcm[:room:room]}
		if !ok {
			jobs[i].Err = hal.ErrNoChannel
		}
		pcm = pcm[room:]
	}
	if r.Left() != 0 {
		return 0, wire.CodeBadRequest
	}
	if err := d.runCodec(jobs, false); err != nil {
		return 0, wire.CodeBadRequest
	}
	w := wire.Writer{B: d.tx[wire.HeaderLen : wire.HeaderLen+d.lim.MaxPayload]}
	w.U16(uint16(n))
	w.U16(0)
	for i := range jobs {
		j := &jobs[i]
		st := status(j.Err)
		if st != wire.StatusOK {
			j.N = 0
		}
		w.U8(uint8(st))
		w.U8(0)
		w.U16(uint16(j.N))
		w.PCM(j.PCM[:j.N])
	}
	if w.Over {
		return 0, wire.CodeTooBig
	}
	return w.N, 0
}

// encode answers ENCODE (§4.6).
func (d *Device) encode(p []byte) (int, wire.Code) {
	r := wire.Reader{B: p}
	n, ok := d.batch(&r)
	if !ok {
		return 0, wire.CodeTooBig
	}
	jobs := d.jobs[:n]
	pcm, out := d.pcm, d.bytes
	for i := range jobs {
		ch := int(r.U16())
		ns := int(r.U16())
		room := int(r.U16())
		r.U16()
		if ns > d.lim.MaxSamples || ns > len(pcm) || room > len(out) {
			return 0, wire.CodeTooBig
		}
		in := pcm[:ns:ns]
		r.PCM(in)
		if r.Short {
			return 0, wire.CodeBadRequest
		}
		id, ok := d.lookup(ch, true)
		jobs[i] = hal.CodecJob{Channel: id, PCM: in, Payload: out[:room:room]}
		if !ok {
			jobs[i].Err = hal.ErrNoChannel
		}
		pcm, out = pcm[ns:], out[room:]
	}
	if r.Left() != 0 {
		return 0, wire.CodeBadRequest
	}
	if err := d.runCodec(jobs, true); err != nil {
		return 0, wire.CodeBadRequest
	}
	w := wire.Writer{B: d.tx[wire.HeaderLen : wire.HeaderLen+d.lim.MaxPayload]}
	w.U16(uint16(n))
	w.U16(0)
	for i := range jobs {
		j := &jobs[i]
		st := status(j.Err)
		if st != wire.StatusOK {
			j.N = 0
		}
		w.U8(uint8(st))
		w.U8(0)
		w.U16(uint16(j.N))
		w.Bytes(j.Payload[:j.N])
	}
	if w.Over {
		return 0, wire.CodeTooBig
	}
	return w.N, 0
}

// runCodec hands the jobs whose channel exists to the engine, in one batch
// when all of them do.
func (d *Device) runCodec(jobs []hal.CodecJob, enc bool) error {
	if d.eng.Codec == nil {
		return errNoEngine
	}
	run := func(js []hal.CodecJob) error {
		if len(js) == 0 {
			return nil
		}
		if enc {
			return d.eng.Codec.Encode(js)
		}
		return d.eng.Codec.Decode(js)
	}
	// Runs of jobs on open channels go to the engine together; a job on a
	// channel that is not open keeps its ErrNoChannel.
	start := 0
	for i := range jobs {
		if jobs[i].Err != nil {
			if err := run(jobs[start:i]); err != nil {
				return err
			}
			start = i + 1
		}
	}
	return run(jobs[start:])
}

// mix answers MIX (§4.7): per conference, the full mix and each talker's
// mix-minus.
func (d *Device) mix(p []byte) (int, wire.Code) {
	if d.eng.Mix == nil {
		return 0, wire.CodeUnsupported
	}
	r := wire.Reader{B: p}
	n, ok := d.batch(&r)
	if !ok {
		return 0, wire.CodeTooBig
	}
	jobs := d.mjobs[:n]
	in, out, sl := d.pcm, d.out, d.ins
	for i := range jobs {
		ns := int(r.U16())
		k := int(r.U8())
		flags := r.U8()
		if r.Short {
			return 0, wire.CodeBadRequest
		}
		if ns > d.lim.MaxSamples || k > d.lim.MaxInputs || k > d.eng.Mix.MaxInputs() {
			return 0, wire.CodeTooBig
		}
		frames := k
		if flags&wire.MixFlagExtra != 0 {
			frames++
		}
		if frames*ns > len(in) || (k+1)*ns > len(out) {
			return 0, wire.CodeTooBig
		}
		j := hal.MixJob{Inputs: sl[:k:k], Minus: sl[k : 2*k : 2*k]}
		sl = sl[2*k:]
		for m := 0; m < k; m++ {
			j.Inputs[m] = in[:ns:ns]
			r.PCM(j.Inputs[m])
			in = in[ns:]
			j.Minus[m] = out[:ns:ns]
			out = out[ns:]
		}
		if flags&wire.MixFlagExtra != 0 {
			j.Extra = in[:ns:ns]
			r.PCM(j.Extra)
			in = in[ns:]
		}
		j.Full = out[:ns:ns]
		out = out[ns:]
		if r.Short {
			return 0, wire.CodeBadRequest
		}
		jobs[i] = j
	}
	if r.Left() != 0 {
		return 0, wire.CodeBadRequest
	}
	if err := d.eng.Mix.Mix(jobs); err != nil {
		return 0, wire.CodeUnsupported
	}
	w := wire.Writer{B: d.tx[wire.HeaderLen : wire.HeaderLen+d.lim.MaxPayload]}
	w.U16(uint16(n))
	w.U16(0)
	for i := range jobs {
		j := &jobs[i]
		w.U8(uint8(wire.StatusOK))
		w.U8(uint8(len(j.Inputs)))
		w.U16(uint16(len(j.Full)))
		w.PCM(j.Full)
		for _, m := range j.Minus {
			w.PCM(m)
		}
	}
	if w.Over {
		return 0, wire.CodeTooBig
	}
	return w.N, 0
}
