package mixer

import (
	"errors"
	"sync/atomic"
	"time"

	"confab/hal"
)

// Codec and mix offload. Every frame's decodes, mix and encodes run as
// batches of jobs (batch.go) on one of two engines: the pure-Go engine of
// package mixer/offload, always there, or the device of Config.Offload, a
// DSP say. A conference is placed on the device as a whole while the device
// is healthy; a participant whose channel the device refuses (no free
// channel, a codec it lacks) stays in Go, which is not a fault.
//
// When a device batch fails with hal.ErrOffloadFault, the same jobs are
// redone in Go within the same tick, so the caller hears no missing frame,
// only the restart of the codecs' state, and the conference moves to Go.
// Once a second a conference that fell back asks Offload.Healthy and, when
// the device is back, reopens its channels there.

// recheckEvery is how often a conference that fell back looks at the
// device's health, and how often the engine asks the driver.
const recheckEvery = time.Second

// chanRef is a codec channel on one of the two engines.
type chanRef struct {
	id  hal.ChannelID
	dev bool // on the device; otherwise on the Go engine
}

// offloadCounters are the engine's running totals of offload work.
type offloadCounters struct {
	framesDevice, framesGo   atomic.Uint64
	jobsDevice, jobsGo       atomic.Uint64
	faults, redone           atomic.Uint64
	fallbacks, recoveries    atomic.Uint64
	refused                  atomic.Uint64
	confsOnDevice, chansOnDv atomic.Int64
	healthAt                 atomic.Int64 // unix nanoseconds of the last Healthy call
	healthy                  atomic.Bool
}

// OffloadStats are the engine's counters of codec and mix offload.
type OffloadStats struct {
	// Codec and Mix say whether a device does that work ("device") or
	// only the pure-Go engine ("go").
	Codec, Mix string
	// FramesDevice and FramesGo count conference frames by where their
	// mix ran.
	FramesDevice, FramesGo uint64
	// CodecJobsDevice and CodecJobsGo count decode and encode jobs by
	// where they ran (a batch redone in Go after a fault counts in both).
	CodecJobsDevice, CodecJobsGo uint64
	// Faults counts device batches that failed (hal.ErrOffloadFault);
	// Redone counts those batches redone in Go in the same frame.
	Faults, Redone uint64
	// Fallbacks counts conferences moved to Go after a fault; Recoveries
	// those moved back once the device was healthy again.
	Fallbacks, Recoveries uint64
	// NotOffloaded counts channels the device refused (no free channel,
	// unsupported codec) and mixes it could not take: done in Go, no fault.
	NotOffloaded uint64
	// ConferencesOnDevice and ChannelsOnDevice are what the device holds now.
	ConferencesOnDevice, ChannelsOnDevice int
}

func (e *Engine) offloadStats() OffloadStats {
	s := &e.off
	st := OffloadStats{Codec: "go", Mix: "go",
		FramesDevice: s.framesDevice.Load(), FramesGo: s.framesGo.Load(),
		CodecJobsDevice: s.jobsDevice.Load(), CodecJobsGo: s.jobsGo.Load(),
		Faults: s.faults.Load(), Redone: s.redone.Load(),
		Fallbacks: s.fallbacks.Load(), Recoveries: s.recoveries.Load(),
		NotOffloaded:        s.refused.Load(),
		ConferencesOnDevice: int(s.confsOnDevice.Load()), ChannelsOnDevice: int(s.chansOnDv.Load()),
	}
	if e.cfg.Offload.Codec != nil {
		st.Codec = "device"
	}
	if e.cfg.Offload.Mix != nil {
		st.Mix = "device"
	}
	return st
}

// hasDevice reports whether any offload device is configured.
func (e *Engine) hasDevice() bool { return e.cfg.Offload.Codec != nil || e.cfg.Offload.Mix != nil }

// codecEngine returns the engine a channel lives on.
func (e *Engine) codecEngine(dev bool) hal.CodecOffload {
	if dev {
		return e.cfg.Offload.Codec
	}
	return e.goEng
}

// deviceHealthy asks Offload.Healthy at most once every recheckEvery.
func (e *Engine) deviceHealthy(now time.Time) bool {
	h := e.cfg.Offload.Healthy
	if h == nil {
		return true
	}
	last := e.off.healthAt.Load()
	if now.UnixNano()-last >= int64(recheckEvery) && e.off.healthAt.CompareAndSwap(last, now.UnixNano()) {
		e.off.healthy.Store(h())
	}
	return e.off.healthy.Load()
}

// isFault reports whether a batch error means the device failed, as
// opposed to refusing a job it cannot do.
func isFault(err error) bool { return errors.Is(err, hal.ErrOffloadFault) }

// openChannel opens a channel on the device when dev and a codec device is
// fitted, else (or when the device refuses) on the Go engine.
func (e *Engine) openChannel(spec hal.ChannelSpec, dev bool) (chanRef, error) {
	if dev && e.cfg.Offload.Codec != nil {
		id, err := e.cfg.Offload.Codec.Open(spec)
		if err == nil {
			e.off.chansOnDv.Add(1)
			return chanRef{id: id, dev: true}, nil
		}
		if isFault(err) {
			e.off.faults.Add(1)
		} else {
			e.off.refused.Add(1)
		}
	}
	id, err := e.goEng.Open(spec)
	if err != nil {
		return chanRef{}, err
	}
	return chanRef{id: id}, nil
}

// closeChannel frees a channel; the zero chanRef is none.
func (e *Engine) closeChannel(r *chanRef) {
	if r.id == 0 {
		return
	}
	if r.dev {
		e.cfg.Offload.Codec.Close(r.id)
		e.off.chansOnDv.Add(-1)
	} else {
		e.goEng.Close(r.id)
	}
	*r = chanRef{}
}

// decSpec and encSpec describe p's codec channels.
func (p *participant) decSpec(frame time.Duration) hal.ChannelSpec {
	return hal.ChannelSpec{Codec: p.spec.Info.Name, Rate: p.pcmRate, Frame: frame}
}

func (p *participant) encSpec(frame time.Duration) hal.ChannelSpec {
	return hal.ChannelSpec{Codec: p.spec.Info.Name, Rate: p.pcmRate, Frame: frame * time.Duration(p.pktFrames), Encoder: true}
}

// move puts a channel on the device or in Go, with fresh codec state there.
// If the device refuses, the channel stays where it is; if it faults, move
// reports it. A channel the Go engine cannot open (it always can for a
// negotiated codec) is left closed: its jobs fail alone.
func (e *Engine) move(r *chanRef, spec hal.ChannelSpec, dev bool) (fault bool) {
	if r.dev == dev || (dev && e.cfg.Offload.Codec == nil) {
		return false
	}
	if dev {
		id, err := e.cfg.Offload.Codec.Open(spec)
		if err != nil {
			if isFault(err) {
				e.off.faults.Add(1)
				return true
			}
			e.off.refused.Add(1)
			return false
		}
		e.closeChannel(r)
		*r = chanRef{id: id, dev: true}
		e.off.chansOnDv.Add(1)
		return false
	}
	e.closeChannel(r)
	if id, err := e.goEng.Open(spec); err == nil {
		*r = chanRef{id: id}
	}
	return false
}

// place moves every channel of the conference to the device or to Go.
// Conference lock held.
func (c *Conference) place(dev bool) (fault bool) {
	frame := c.e.cfg.Frame
	for _, p := range c.parts {
		if p.dch.id == 0 && p.ech.id == 0 {
			continue // not yet set up (Add in progress)
		}
		fault = c.e.move(&p.dch, p.decSpec(frame), dev && !fault) || fault
		fault = c.e.move(&p.ech, p.encSpec(frame), dev && !fault) || fault
	}
	for _, g := range c.groups {
		spec := hal.ChannelSpec{Codec: g.name, Rate: g.pcmRate, Frame: frame * time.Duration(g.pktFrames), Encoder: true}
		fault = c.e.move(&g.ech, spec, dev && !fault) || fault
	}
	return fault
}

// setOnDevice records where the conference runs.
func (c *Conference) setOnDevice(on bool) {
	if c.onDev.Swap(on) != on {
		if on {
			c.e.off.confsOnDevice.Add(1)
		} else {
			c.e.off.confsOnDevice.Add(-1)
		}
	}
}

// fallBack moves the conference to the Go engines after a device fault
// in the frame being mixed. Conference lock held.
func (c *Conference) fallBack(now time.Time) {
	c.e.off.fallbacks.Add(1)
	c.setOnDevice(false)
	c.place(false)
	c.retryAt = now.Add(recheckEvery)
	c.e.log.Warn("offload fault: conference moved to the pure-Go engines", "conference", c.id)
}

// maybeRecover moves a conference that fell back onto the device again
// once the device is healthy, checked at most once a second. Conference
// lock held.
func (c *Conference) maybeRecover(now time.Time) {
	if c.onDev.Load() || !c.e.hasDevice() || now.Before(c.retryAt) {
		return
	}
	c.retryAt = now.Add(recheckEvery)
	if !c.e.deviceHealthy(now) {
		return
	}
	if c.place(true) {
		c.place(false) // it failed again while we moved: stay in Go
		return
	}
	c.setOnDevice(true)
	c.e.off.recoveries.Add(1)
	c.e.log.Info("offload device healthy: conference moved back to it", "conference", c.id)
}

// closeChannels frees a participant's codec channels.
func (p *participant) closeChannels(e *Engine) {
	e.closeChannel(&p.dch)
	e.closeChannel(&p.ech)
}

// dropGroups frees the shared encoders. Conference lock held.
func (c *Conference) dropGroups() {
	for _, g := range c.groups {
		c.e.closeChannel(&g.ech)
	}
	c.groups = nil
}

// place1 moves a participant that joined while the conference moved to
// where the conference now runs. Conference lock held.
func (c *Conference) place1(p *participant) (fault bool) {
	dev, frame := c.onDev.Load(), c.e.cfg.Frame
	fault = c.e.move(&p.dch, p.decSpec(frame), dev)
	return c.e.move(&p.ech, p.encSpec(frame), dev && !fault) || fault
}
