package dsp_test

import (
	"fmt"
	"sync"

	"confab/hal"
	"confab/hal/dsp/dspemu"
	"confab/mixer/codec"
	"confab/mixer/codec/registry"
	"confab/mixer/mix"
)

// refEngines is a stand-in for mixer/offload until it lands on main.
type refEngines struct {
	mu   sync.Mutex
	next hal.ChannelID
	dec  map[hal.ChannelID]codec.Decoder
	enc  map[hal.ChannelID]codec.Encoder
	acc  []int32
}

func newRef() *refEngines {
	return &refEngines{dec: map[hal.ChannelID]codec.Decoder{}, enc: map[hal.ChannelID]codec.Encoder{}, acc: make([]int32, 4096)}
}

func engines() dspemu.Engines {
	r := newRef()
	return dspemu.Engines{Codec: r, Mix: r}
}

func (r *refEngines) Open(spec hal.ChannelSpec) (hal.ChannelID, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s codec.Spec
	for _, sp := range registry.Default().Specs() {
		if sp.Info.Name == spec.Codec {
			s = sp
		}
	}
	if s.NewEncoder == nil {
		return 0, fmt.Errorf("%w: %s", hal.ErrUnsupported, spec.Codec)
	}
	r.next++
	if spec.Encoder {
		e, err := s.NewEncoder(spec.Rate)
		if err != nil {
			return 0, err
		}
		r.enc[r.next] = e
	} else {
		d, err := s.NewDecoder(spec.Rate)
		if err != nil {
			return 0, err
		}
		r.dec[r.next] = d
	}
	return r.next, nil
}

func (r *refEngines) Close(ch hal.ChannelID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.dec, ch)
	delete(r.enc, ch)
}

func (r *refEngines) Decode(jobs []hal.CodecJob) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range jobs {
		j := &jobs[i]
		d, ok := r.dec[j.Channel]
		if !ok {
			j.N, j.Err = 0, hal.ErrNoChannel
			continue
		}
		switch j.Op {
		case hal.DecodeConceal:
			j.N, j.Err = d.Conceal(j.PCM)
		default:
			j.N, j.Err = d.Decode(j.Payload, j.PCM)
		}
	}
	return nil
}

func (r *refEngines) Encode(jobs []hal.CodecJob) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := range jobs {
		j := &jobs[i]
		e, ok := r.enc[j.Channel]
		if !ok {
			j.N, j.Err = 0, hal.ErrNoChannel
			continue
		}
		j.N, j.Err = e.Encode(j.PCM, j.Payload)
	}
	return nil
}

func (r *refEngines) MaxInputs() int { return 8 }

func (r *refEngines) Mix(jobs []hal.MixJob) error {
	for _, j := range jobs {
		acc := r.acc[:len(j.Full)]
		mix.Clear(acc)
		for _, in := range j.Inputs {
			mix.Add(acc, in)
		}
		if j.Extra != nil {
			mix.Add(acc, j.Extra)
		}
		mix.Saturate(j.Full, acc)
		for i, in := range j.Inputs {
			mix.MinusSelf(j.Minus[i], acc, in)
		}
	}
	return nil
}
