package mixer

import (
	"math"
	"time"

	"confab/hal"
	"confab/mixer/mix"
	"confab/mixer/resample"
	"confab/mixer/sdpneg"
)

// tick mixes one frame and appends the packets to send to out.
//
// The cost is O(participants) for pulling and O(talkers) for mixing and
// private encodes; everyone who is not talking shares one encode per
// (codec, rate, packet time).
func (c *Conference) tick(now time.Time, out []hal.Packet) []hal.Packet {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || len(c.parts) == 0 {
		return out
	}
	c.frameNo++
	if c.bypassFrame(now) { // two-party bypass: the path forwards, nothing to mix (bypass.go)
		return c.bypassHousekeeping(now, out)
	}
	c.e.stats.frames.Add(1)
	frame := c.e.cfg.Frame
	c.maybeRecover(now) // placement.go

	// 1. One frame from everyone, decoded in one batch; measure it; find
	// who talks.
	c.dec[0].reset()
	c.dec[1].reset()
	for _, p := range c.parts {
		c.gather(p, now)
	}
	c.runDecode(now)
	c.talkers = c.talkers[:0]
	for _, p := range c.parts {
		c.fill(p)
		p.talker = false
		if !p.contributes() {
			continue
		}
		mix.Gain(p.in, p.talkGain)
		talking, changed := p.det.Update(mix.Energy(p.in))
		if changed {
			c.e.emit(Event{Kind: EventTalking, Conference: c.id, Participant: p.id, Talking: talking, At: now})
		}
		if talking {
			c.talkers = insertByLevel(c.talkers, p, c.e.cfg.MaxTalkers)
		}
	}

	// 2. Mix the loudest talkers and the conference-wide prompt: the full
	// mix, and each talker's own without itself into its private frame.
	var extra []int16
	if len(c.prompts) > 0 {
		pl := c.prompts[0]
		done := pl.next(c.scratch)
		extra = c.scratch
		if done {
			c.prompts = c.prompts[1:]
			c.e.emit(Event{Kind: EventPromptDone, Conference: c.id, PromptID: pl.id, At: now})
		}
	}
	c.runMix(extra, now)

	// 3. Each listener's audio: private (talker minus self, own prompt,
	// listen gain, not mixed) or the shared full mix.
	for _, g := range c.groups {
		g.used = false
	}
	c.enc[0].reset()
	c.enc[1].reset()
	c.encOrder = c.encOrder[:0]
	for _, p := range c.parts {
		if p.frameInPkt == 0 {
			p.shared = nil
			if p.sends() && !c.needsPrivate(p) {
				p.shared = c.group(p)
			}
		}
		if !p.sends() {
			p.frameInPkt = 0
			c.endPromptsIfDone(p, now, false)
			continue
		}
		if p.shared != nil {
			p.shared.used = true
			p.frameInPkt++
			continue
		}
		c.privateFrame(p, now)
		c.appendCodec(p.outRes, p.private, p.codecOut, p.frameInPkt, p.pcmRate)
		p.frameInPkt++
		if p.frameInPkt == p.pktFrames {
			c.addEncode(hal.CodecJob{Channel: p.ech.id, PCM: p.codecOut, Payload: p.payload}, p.ech.dev, p, nil)
			p.frameInPkt = 0
		}
	}

	// 4. Shared encodes, once per group, fanned out to members.
	for _, g := range c.groups {
		if !g.used {
			g.frameInPkt = 0
			continue
		}
		c.appendCodec(g.res, c.full, g.pcm, g.frameInPkt, g.pcmRate)
		g.frameInPkt++
		if g.frameInPkt < g.pktFrames {
			continue
		}
		g.frameInPkt = 0
		c.addEncode(hal.CodecJob{Channel: g.ech.id, PCM: g.pcm, Payload: g.payload}, g.ech.dev, nil, g)
	}

	// 5. All the frame's encodes in one batch; send in the order they came.
	if len(c.encOrder) > 0 {
		c.runCodec(&c.enc, true, now)
	}
	for _, ref := range c.encOrder {
		l := &c.enc[ref.list]
		j := &l.jobs[ref.job]
		if j.Err != nil {
			continue
		}
		if p := l.owner[ref.job]; p != nil {
			out = c.packetize(p, j.Payload[:j.N], now, out)
			continue
		}
		g := l.group[ref.job]
		for _, p := range c.parts {
			if p.shared == g && p.frameInPkt == p.pktFrames {
				out = c.packetize(p, j.Payload[:j.N], now, out)
				p.frameInPkt = 0
			}
		}
	}
	for _, p := range c.parts {
		if p.frameInPkt >= p.pktFrames {
			p.frameInPkt = 0 // never leave a listener stuck past a packet boundary
		}
	}

	// 6. RTCP reports and dead calls, checked once a second; a quality
	// report for each participant to the Focus every five.
	if c.frameNo%uint64(time.Second/frame) == 0 {
		report := c.frameNo%uint64(qualityEvery/frame) == 0
		for _, p := range c.parts {
			out = c.housekeeping(p, now, out)
			if report {
				c.e.emit(Event{Kind: EventQuality, Conference: c.id, Participant: p.id, Quality: c.quality(p), At: now})
			}
		}
	}
	return out
}

// needsPrivate reports whether a listener cannot take the shared mix.
func (c *Conference) needsPrivate(p *participant) bool {
	// A talker must not hear itself. With one frame per packet the mix of
	// this frame decides; with longer packets the decision holds for the
	// whole packet, so anyone talking at all goes private.
	talking := p.talker || (p.pktFrames > 1 && p.det.Talking())
	return talking || len(p.prompts) > 0 || !p.mixed || p.listenGain != mix.Unity
}

// privateFrame builds p's own frame at the mixing rate into p.private.
func (c *Conference) privateFrame(p *participant, now time.Time) {
	switch {
	case !p.mixed:
		mix.Zero(p.private)
	case p.talker:
		// The mix job wrote everyone but p into p.private (runMix).
	default:
		copy(p.private, c.full)
	}
	mix.Gain(p.private, p.listenGain)
	c.endPromptsIfDone(p, now, true)
}

// endPromptsIfDone plays (overlay) or skips p's current prompt for one frame.
func (c *Conference) endPromptsIfDone(p *participant, now time.Time, overlay bool) {
	if len(p.prompts) == 0 {
		return
	}
	pl := p.prompts[0]
	done := pl.next(c.scratch)
	if overlay {
		mix.AddClipped(p.private, c.scratch)
	}
	if done {
		p.prompts = p.prompts[1:]
		c.e.emit(Event{Kind: EventPromptDone, Conference: c.id, Participant: p.id, PromptID: pl.id, At: now})
	}
}

// appendCodec resamples one mixing-rate frame to the codec rate into slot
// k of a packet buffer.
func (c *Conference) appendCodec(res *resample.Resampler, frame, pkt []int16, k, pcmRate int) {
	n := int(int64(pcmRate) * int64(c.e.cfg.Frame) / int64(time.Second))
	dst := pkt[k*n : (k+1)*n]
	if res != nil {
		res.Process(frame, dst)
	} else {
		copy(dst, frame)
	}
}

func (c *Conference) packetize(p *participant, payload []byte, now time.Time, out []hal.Packet) []hal.Packet {
	if c.bp.hold != nil && c.holdOutput(p) { // just after a bypass (bypass.go)
		return out
	}
	ticks := p.spec.Info.RTPTicks(len(p.codecOut))
	p.mu.Lock()
	n, err := p.sess.WriteRTP(p.packet, payload, ticks, !p.sentAny, now)
	p.mu.Unlock()
	if err != nil {
		return out
	}
	p.sentAny = true
	return append(out, hal.Packet{Flow: p.flow.ID, Buf: p.packet, N: n})
}

func (c *Conference) housekeeping(p *participant, now time.Time, out []hal.Packet) []hal.Packet {
	p.mu.Lock()
	timedOut := !p.timedOut && p.hold == sdpneg.SendRecv && p.sess.CheckTimeout(now)
	var n int
	if p.sess.RTCPDue(now) {
		n, _ = p.sess.WriteRTCP(p.rtcp, now)
	}
	p.mu.Unlock()
	if timedOut {
		p.timedOut = true
		c.e.emit(Event{Kind: EventTimeout, Conference: c.id, Participant: p.id, At: now})
	}
	if n > 0 {
		out = append(out, hal.Packet{Flow: p.flow.ID, RTCP: true, Buf: p.rtcp, N: n})
	}
	return out
}

// qualityEvery is how often each participant's quality goes to the Focus
// (the web page's roster, call records).
const qualityEvery = 5 * time.Second

// insertByLevel keeps ts sorted loudest first and at most max long.
func insertByLevel(ts []*participant, p *participant, max int) []*participant {
	i := len(ts)
	for i > 0 && ts[i-1].det.Level < p.det.Level {
		i--
	}
	if i >= max {
		return ts
	}
	if len(ts) < max {
		ts = append(ts, nil)
	}
	copy(ts[i+1:], ts[i:len(ts)-1])
	ts[i] = p
	return ts
}

// encGroup is one shared encode: every listener with the same codec, codec
// rate and packet time who needs nothing private gets the same payload.
type encGroup struct {
	name       string
	pcmRate    int
	pktFrames  int
	ech        chanRef
	res        *resample.Resampler
	pcm        []int16
	payload    []byte
	frameInPkt int
	used       bool
}

func (c *Conference) group(p *participant) *encGroup {
	for _, g := range c.groups {
		if g.name == p.spec.Info.Name && g.pcmRate == p.pcmRate && g.pktFrames == p.pktFrames {
			if g.frameInPkt != 0 {
				// The group is mid-packet; p joins at the next boundary.
				return nil
			}
			return g
		}
	}
	ech, err := c.e.openChannel(p.encSpec(c.e.cfg.Frame), c.onDev.Load())
	if err != nil {
		return nil
	}
	g := &encGroup{name: p.spec.Info.Name, pcmRate: p.pcmRate, pktFrames: p.pktFrames, ech: ech,
		pcm: make([]int16, len(p.codecOut)), payload: make([]byte, 1500)}
	if p.pcmRate != c.rate {
		g.res, _ = resample.New(c.rate, p.pcmRate)
	}
	c.groups = append(c.groups, g)
	return g
}

// quality summarises p's media; conference lock held.
func (c *Conference) quality(p *participant) Quality {
	p.mu.Lock()
	s := p.sess.Stats()
	js := p.jb.Stats()
	p.mu.Unlock()
	q := Quality{
		Codec:           p.spec.Info.Name,
		PacketsReceived: s.PacketsReceived,
		PacketsLost:     s.Lost,
		Jitter:          s.Jitter,
		RemoteJitter:    s.RemoteJitter,
		RTT:             s.RTT,
		Concealed:       js.Concealed,
		FECRecovered:    p.fecRecovered,
		Dropped:         s.Dropped.Total(),
		BufferDelay:     js.CurrentDelay,
	}
	if exp := int64(s.PacketsReceived) + s.Lost; exp > 0 && s.Lost > 0 {
		q.LossPercent = 100 * float64(s.Lost) / float64(exp)
	}
	q.MOS = estimateMOS(p.spec.Info.Name, q.LossPercent, js.CurrentDelay+s.RTT/2+c.e.cfg.Frame)
	return q
}

// estimateMOS is the ITU-T G.107 E-model reduced to what the MCU knows:
// delay impairment Id from the one-way delay, equipment impairment Ie_eff
// from the codec and the packet loss (G.113 Appendix I values).
func estimateMOS(codecName string, lossPct float64, delay time.Duration) float64 {
	ie, bpl := 0.0, 25.1 // G.711 with PLC
	switch codecName {
	case "G722":
		ie, bpl = 0, 20
	case "opus":
		ie, bpl = 0, 30
	}
	ieEff := ie + (95-ie)*lossPct/(lossPct+bpl)
	d := float64(delay) / float64(time.Millisecond)
	id := 0.024 * d
	if d > 177.3 {
		id += 0.11 * (d - 177.3)
	}
	r := 93.2 - id - ieEff
	switch {
	case r <= 0:
		return 1
	case r >= 100:
		return 4.5
	}
	mos := 1 + 0.035*r + r*(r-60)*(100-r)*7e-6
	return math.Round(mos*100) / 100
}
