package mixer

import (
	"time"

	"confab/hal"
	"confab/mixer/jitter"
	"confab/mixer/mix"
)

// A frame's codec work in batches. Each tick a conference gathers the
// decode jobs of all its participants (gather), runs them in one batch per
// engine (runDecode), and only then fills each participant's frame from the
// results (place). The mix is one job, the encodes of private and shared
// mixes one more batch. The Go engine and a device run the very same jobs.

// maxSegs bounds the jitter buffer items one participant decodes in one
// frame: ten 2.5 ms Opus packets in a 20 ms frame would need eight.
const maxSegs = 8

// seg is one jitter buffer item of a participant's frame: where its samples
// go in the fifo and which job makes them (-1: silence, zeroed at once).
type seg struct {
	off, n int
	job    int  // index in the conference's decode list of the engine
	dev    bool // that list is the device's
	fast   bool // decoded straight into codecIn (one packet, one frame)
	got    int  // samples made, after concealment of failures
	fix    int  // index of the concealment of a failed decode, or -1
	fixDev bool // ... in the device's fix-up list
}

// jobList is the jobs of one engine in one batch, with who owns each.
type jobList struct {
	jobs  []hal.CodecJob
	owner []*participant // decode and private encode: the participant
	group []*encGroup    // shared encode: the group
	seg   []*seg         // decode: the item it makes
}

func (l *jobList) reset() {
	l.jobs, l.owner, l.group, l.seg = l.jobs[:0], l.owner[:0], l.group[:0], l.seg[:0]
}

func (l *jobList) add(j hal.CodecJob, p *participant, g *encGroup, s *seg) int {
	l.jobs = append(l.jobs, j)
	l.seg = append(l.seg, s)
	l.owner = append(l.owner, p)
	l.group = append(l.group, g)
	return len(l.jobs) - 1
}

// which returns the list of an engine: 1 the device, 0 Go.
func which(dev bool) int {
	if dev {
		return 1
	}
	return 0
}

// gather takes p's due items out of the jitter buffer, copying payloads
// so the receive goroutine may go on, and adds a decode job for each
// packet or loss to the conference's lists. Conference lock held.
func (c *Conference) gather(p *participant, now time.Time) {
	need := len(p.codecIn)
	fill := p.fifoLen
	p.nseg = 0
	used := 0
	p.mu.Lock()
	for fill < need && p.nseg < maxSegs {
		f, st := p.jb.Pop(now)
		if st == jitter.StatusWait {
			break
		}
		n := p.samplesFor(f.Ticks)
		if n <= 0 || fill+n > len(p.fifo) {
			n = need
		}
		s := &p.segs[p.nseg]
		p.nseg++
		*s = seg{off: fill, n: n, job: -1, fix: -1}
		dst := p.fifo[fill : fill+n]
		if st == jitter.StatusPacket && fill == 0 && n == need {
			// The common case, one packet per frame: decode in place.
			dst, s.fast = p.codecIn, true
		}
		fill += n
		job := hal.CodecJob{Channel: p.dch.id, PCM: dst}
		switch st {
		case jitter.StatusPacket:
			if k := copy(p.pay[used:], f.Payload); k == len(f.Payload) {
				job.Payload = p.pay[used : used+k]
				used += k
			} else {
				job.Op = hal.DecodeConceal // no room to keep it: lost
			}
		case jitter.StatusLost:
			job.Op = hal.DecodeConceal
			if p.fec {
				// The next packet, if it is here, carries the lost frame
				// again at lower quality (Opus in-band FEC): better than PLC.
				if next, have := p.jb.Next(); have {
					if k := copy(p.pay[used:], next); k == len(next) && k > 0 {
						job.Op, job.Payload = hal.DecodeFEC, p.pay[used:used+k]
						used += k
					}
				}
			}
		default: // silence: DTX or a gap between talkspurts
			mix.Zero(dst)
			s.got = n
			continue
		}
		s.dev = p.dch.dev
		s.job = c.dec[which(s.dev)].add(job, p, nil, s)
	}
	p.mu.Unlock()
}

// runDecode runs the frame's decode jobs, then conceals the frames whose
// decode failed in a second, usually empty, batch. Conference lock held.
func (c *Conference) runDecode(now time.Time) {
	c.runCodec(&c.dec, false, now)
	c.fix[0].reset()
	c.fix[1].reset()
	for i := range c.dec {
		l := &c.dec[i]
		for k := range l.jobs {
			j := &l.jobs[k]
			if j.Err == nil && j.N > 0 {
				if j.Op == hal.DecodeFEC {
					l.owner[k].fecRecovered++
				}
				continue
			}
			if j.Op == hal.DecodeConceal {
				continue // concealment itself failed: silence (fill)
			}
			p, s := l.owner[k], l.seg[k]
			s.fixDev = p.dch.dev
			s.fix = c.fix[which(s.fixDev)].add(hal.CodecJob{Channel: p.dch.id, Op: hal.DecodeConceal, PCM: j.PCM[:s.n]}, p, nil, s)
		}
	}
	if len(c.fix[0].jobs)+len(c.fix[1].jobs) > 0 {
		c.runCodec(&c.fix, false, now)
	}
}

// runCodec runs one batch per engine. A device fault is redone in Go at
// once and moves the conference there. Conference lock held.
func (c *Conference) runCodec(lists *[2]jobList, encode bool, now time.Time) {
	dl := &lists[1]
	if len(dl.jobs) > 0 {
		var err error
		if encode {
			err = c.e.cfg.Offload.Codec.Encode(dl.jobs)
		} else {
			err = c.e.cfg.Offload.Codec.Decode(dl.jobs)
		}
		c.e.off.jobsDevice.Add(uint64(len(dl.jobs)))
		if err != nil {
			if isFault(err) {
				c.e.off.faults.Add(1)
			}
			c.e.off.redone.Add(1)
			c.fallBack(now)
			c.repoint(dl, encode)
			c.goRun(dl, encode)
		}
	}
	if len(lists[0].jobs) > 0 {
		c.goRun(&lists[0], encode)
	}
}

func (c *Conference) goRun(l *jobList, encode bool) {
	if encode {
		_ = c.e.goEng.Encode(l.jobs)
	} else {
		_ = c.e.goEng.Decode(l.jobs)
	}
	c.e.off.jobsGo.Add(uint64(len(l.jobs)))
}

// repoint moves a batch's jobs to their owners' channels, now in Go.
func (c *Conference) repoint(l *jobList, encode bool) {
	for k := range l.jobs {
		switch {
		case l.group[k] != nil:
			l.jobs[k].Channel = l.group[k].ech.id
		case encode:
			l.jobs[k].Channel = l.owner[k].ech.id
		default:
			l.jobs[k].Channel = l.owner[k].dch.id
		}
	}
}

// fill fills p's frame from its decoded items: the common single packet
// is already in codecIn; otherwise the items are packed into the fifo
// and one frame taken from it. Conference lock held.
func (c *Conference) fill(p *participant) {
	need := len(p.codecIn)
	cursor := p.fifoLen
	for i := 0; i < p.nseg; i++ {
		s := &p.segs[i]
		if s.job >= 0 {
			s.got = c.result(s)
		}
		if s.fast {
			if s.got == need {
				p.toMixRate()
				return
			}
			cursor = copy(p.fifo, p.codecIn[:s.got])
			continue
		}
		if cursor != s.off {
			copy(p.fifo[cursor:], p.fifo[s.off:s.off+s.got])
		}
		cursor += s.got
	}
	p.fifoLen = cursor
	if p.fifoLen < need {
		// Nothing due: the stream is starting, on hold or gone quiet.
		mix.Zero(p.fifo[p.fifoLen:need])
		if p.fifoLen > 0 {
			p.underruns++
		}
		p.fifoLen = need
	}
	copy(p.codecIn, p.fifo[:need])
	p.fifoLen = copy(p.fifo, p.fifo[need:p.fifoLen])
	p.toMixRate()
}

// result is how many samples a decode job made, taking its concealment
// when it failed; a frame nothing could make is silence.
func (c *Conference) result(s *seg) int {
	j := &c.dec[which(s.dev)].jobs[s.job]
	if j.Err == nil && j.N > 0 {
		return min(j.N, len(j.PCM))
	}
	if s.fix >= 0 {
		if f := &c.fix[which(s.fixDev)].jobs[s.fix]; f.Err == nil && f.N > 0 {
			return min(f.N, s.n)
		}
	}
	mix.Zero(j.PCM[:s.n])
	return s.n
}

// runMix mixes the talkers and extra (a prompt to everyone, or nil) into
// the full mix and each talker's private frame, on the device when the
// conference is there and the device takes this many inputs. Conference
// lock held.
func (c *Conference) runMix(extra []int16, now time.Time) {
	c.mixIn, c.mixMinus = c.mixIn[:0], c.mixMinus[:0]
	for _, p := range c.talkers {
		p.talker = true
		c.mixIn = append(c.mixIn, p.in)
		c.mixMinus = append(c.mixMinus, p.private)
	}
	dev := c.e.cfg.Offload.Mix
	onDev := dev != nil && c.onDev.Load()
	if len(c.mixIn) == 0 && extra == nil {
		mix.Zero(c.full) // nothing to mix: silence, wherever the conference is
		c.countFrame(onDev)
		return
	}
	c.mixJob[0] = hal.MixJob{Inputs: c.mixIn, Extra: extra, Full: c.full, Minus: c.mixMinus}
	if onDev {
		if len(c.mixIn) <= dev.MaxInputs() {
			err := dev.Mix(c.mixJob[:])
			if err == nil {
				c.countFrame(true)
				return
			}
			if isFault(err) {
				c.e.off.faults.Add(1)
				c.e.off.redone.Add(1)
				c.fallBack(now)
			} else {
				c.e.off.refused.Add(1)
			}
		} else {
			c.e.off.refused.Add(1)
		}
	}
	_ = c.e.goEng.Mix(c.mixJob[:])
	c.countFrame(false)
}

func (c *Conference) countFrame(dev bool) {
	if dev {
		c.e.off.framesDevice.Add(1)
	} else {
		c.e.off.framesGo.Add(1)
	}
}

// encRef names one encode job of the frame, in the order they were made.
type encRef struct{ list, job int }

func (c *Conference) addEncode(j hal.CodecJob, dev bool, p *participant, g *encGroup) {
	k := c.enc[which(dev)].add(j, p, g, nil)
	c.encOrder = append(c.encOrder, encRef{which(dev), k})
}
