package mixer

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"confab/hal"
	"confab/mixer/jitter"
	"confab/mixer/mix"
	"confab/mixer/prompt"
	"confab/mixer/resample"
	"confab/mixer/rtpsession"
	"confab/mixer/sdpneg"
)

// Conference is one conference's mix. It implements focus.MCU.
type Conference struct {
	id     string
	e      *Engine
	worker *worker
	size   atomic.Int32

	mu      sync.Mutex
	closed  bool
	parts   []*participant
	byID    map[ParticipantID]*participant
	rate    int     // mixing rate
	samples int     // samples per frame at rate
	full    []int16 // everyone's mix, saturated
	scratch []int16
	groups  []*encGroup
	prompts []*player // to everyone
	talkers []*participant
	nextPr  uint64
	frameNo uint64
	bp      twoParty // two-party bypass (bypass.go)

	// Offload (placement.go, batch.go): where the conference runs, and the
	// frame's jobs, reused from frame to frame.
	onDev    atomic.Bool
	retryAt  time.Time
	dec, fix [2]jobList // decodes, and concealment of failed ones
	enc      [2]jobList
	encOrder []encRef
	mixIn    [][]int16
	mixMinus [][]int16
	mixJob   [1]hal.MixJob
}

func newConference(e *Engine, id string) *Conference {
	c := &Conference{id: id, e: e, byID: make(map[ParticipantID]*participant)}
	if e.hasDevice() && e.deviceHealthy(e.now()) {
		c.setOnDevice(true)
	}
	c.setRate(8000)
	return c
}

// ID is the conference's name in events (the Focus ID).
func (c *Conference) ID() string { return c.id }

func (c *Conference) setRate(rate int) {
	c.rate = rate
	c.samples = int(int64(rate) * int64(c.e.cfg.Frame) / int64(time.Second))
	c.full = make([]int16, c.samples)
	c.scratch = make([]int16, c.samples)
	for _, pl := range c.prompts {
		pl.rerate(rate)
	}
	c.dropGroups()
	for _, p := range c.parts {
		c.fitParticipant(p)
	}
}

// chooseRate picks the mixing rate: the best any participant can use,
// capped by the configuration (Asterisk's internal_sample_rate=auto).
func (c *Conference) chooseRate() {
	r := 8000
	for _, p := range c.parts {
		if p.pcmRate > r {
			r = p.pcmRate
		}
	}
	if r > c.e.cfg.MaxRate {
		r = c.e.cfg.MaxRate
	}
	if r != c.rate {
		c.setRate(r)
	}
}

// pktFramesOf is how many frames go into one packet of the negotiated ptime.
func pktFramesOf(ch sdpneg.Choice, frame time.Duration) int {
	return max(int(ch.Ptime/frame), 1)
}

// fitParticipant sizes p's buffers and resamplers to the mixing rate.
func (c *Conference) fitParticipant(p *participant) {
	frame := c.e.cfg.Frame
	codecFrame := int(int64(p.pcmRate) * int64(frame) / int64(time.Second))
	p.codecIn = make([]int16, codecFrame)
	p.in = p.codecIn // one buffer when no resampling stands between
	p.private = make([]int16, c.samples)
	p.pktFrames = pktFramesOf(p.choice, frame)
	p.codecOut = make([]int16, codecFrame*p.pktFrames)
	p.frameInPkt = 0
	p.inRes, p.outRes = nil, nil
	if p.pcmRate != c.rate {
		p.in = make([]int16, c.samples)
		p.inRes, _ = resample.New(p.pcmRate, c.rate)
		p.outRes, _ = resample.New(c.rate, p.pcmRate)
	}
	for _, pl := range p.prompts {
		pl.rerate(c.rate)
	}
	p.shared = nil
}

// Add negotiates a participant's SDP offer, opens its media flow and returns
// the SDP answer.
func (c *Conference) Add(offer []byte, opts AddOptions) (ParticipantID, []byte, error) {
	if int(c.e.count.Load()) >= c.e.cfg.MaxParticipants {
		return 0, nil, ErrCapacity
	}
	o, ch, err := c.negotiate(offer)
	if err != nil {
		return 0, nil, err
	}
	flow, err := c.e.path.Open(o.Remote)
	if err != nil {
		if errors.Is(err, hal.ErrNoPorts) {
			return 0, nil, fmt.Errorf("%w: %v", ErrCapacity, err)
		}
		return 0, nil, fmt.Errorf("mixer: opening media port: %w", err)
	}
	p := &participant{
		id:         c.e.newParticipantID(),
		conf:       c,
		name:       opts.Name,
		flow:       flow,
		muted:      opts.Muted,
		deaf:       opts.Deaf,
		mixed:      !opts.Unmixed,
		talkGain:   mix.Unity,
		listenGain: mix.Unity,
		payload:    make([]byte, 1500),
		packet:     make([]byte, 1500),
		rtcp:       make([]byte, 1500),
		joined:     c.e.now(),
	}
	p.det = mix.Detector{Threshold: c.e.cfg.TalkThreshold, HangFrames: int(c.e.cfg.TalkHangover / c.e.cfg.Frame)}
	if err := c.applyMedia(p, o, ch); err != nil {
		_ = c.e.path.Close(flow.ID)
		return 0, nil, err
	}
	p.version = 1
	answer, err := c.answer(p)
	if err != nil {
		p.closeChannels(c.e)
		_ = c.e.path.Close(flow.ID)
		return 0, nil, err
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		p.closeChannels(c.e)
		_ = c.e.path.Close(flow.ID)
		return 0, nil, ErrClosed
	}
	if p.openedDev != c.onDev.Load() && c.place1(p) {
		c.fallBack(c.e.now()) // the device failed as p's channels moved
	}
	c.parts = append(c.parts, p)
	c.byID[p.id] = p
	c.size.Add(1)
	c.e.count.Add(1)
	if p.pcmRate > c.rate && c.rate < c.e.cfg.MaxRate {
		c.chooseRate()
	} else {
		c.fitParticipant(p)
	}
	c.mu.Unlock()
	c.e.addFlow(flow.ID, p)
	c.e.log.Debug("participant added", "conference", c.id, "participant", uint64(p.id), "codec", ch.Codec.Name,
		"remote", o.Remote, "port", flow.LocalPort)
	return p.id, answer, nil
}

func (c *Conference) negotiate(offer []byte) (*sdpneg.Offer, sdpneg.Choice, error) {
	o, err := sdpneg.Parse(offer)
	if err != nil {
		return nil, sdpneg.Choice{}, fmt.Errorf("%w: %v", ErrBadSDP, err)
	}
	ch, err := o.Negotiate(c.e.cfg.Preference, c.e.cfg.Frame)
	if err != nil {
		return nil, sdpneg.Choice{}, fmt.Errorf("%w: %v", ErrNoCommonCodec, err)
	}
	if _, ok := c.e.codecs.Lookup(ch.Codec.Name, ch.Codec.ClockRate); !ok {
		return nil, sdpneg.Choice{}, fmt.Errorf("%w: %s/%d", ErrNoCommonCodec, ch.Codec.Name, ch.Codec.ClockRate)
	}
	return o, ch, nil
}

// applyMedia builds the codec, RTP session and jitter buffer for a
// negotiated offer. The participant is not yet (or no longer) receiving.
func (c *Conference) applyMedia(p *participant, o *sdpneg.Offer, ch sdpneg.Choice) error {
	spec, _ := c.e.codecs.Lookup(ch.Codec.Name, ch.Codec.ClockRate)
	pcmRate := spec.Info.SampleRate
	if spec.Info.Name == "opus" {
		pcmRate = c.e.cfg.MaxRate
	}
	codecChanged := p.spec.Info.Name == "" || p.spec.Info.Name != spec.Info.Name || p.pcmRate != pcmRate
	frame := c.e.cfg.Frame
	pkt := pktFramesOf(ch, frame)
	// The codec channels, opened before anything changes so a refusal
	// leaves the participant as it was; on the device when the conference
	// runs there (placement.go).
	var dch, ech chanRef
	if codecChanged || pkt != p.pktFrames {
		dev := c.onDev.Load()
		p.openedDev = dev
		var err error
		ech, err = c.e.openChannel(hal.ChannelSpec{Codec: spec.Info.Name, Rate: pcmRate, Frame: frame * time.Duration(pkt), Encoder: true}, dev)
		if err != nil {
			return fmt.Errorf("mixer: %s encoder: %w", spec.Info.Name, err)
		}
		if codecChanged {
			if dch, err = c.e.openChannel(hal.ChannelSpec{Codec: spec.Info.Name, Rate: pcmRate, Frame: frame}, dev); err != nil {
				c.e.closeChannel(&ech)
				return fmt.Errorf("mixer: %s decoder: %w", spec.Info.Name, err)
			}
		}
	}
	pts := map[uint8]uint32{ch.Codec.PayloadType: ch.Codec.ClockRate}
	scfg := rtpsession.Config{
		PayloadTypes:      pts,
		SendPayloadType:   ch.Codec.PayloadType,
		SendClockRate:     ch.Codec.ClockRate,
		Latch:             !c.e.cfg.NoLatch,
		Remote:            o.Remote,
		InactivityTimeout: c.e.cfg.MediaTimeout,
		CNAME:             "confab-" + c.id,
	}
	if c.e.cfg.MediaTimeout < 0 {
		scfg.InactivityTimeout = rtpsession.NoTimeout
	}
	scfg.RTCPMux = o.RTCPMux
	scfg.RemoteRTCP = o.RemoteRTCP
	if ch.DTMF != nil {
		scfg.DTMFPayloadType = ch.DTMF.PayloadType
		scfg.DTMFClockRate = ch.DTMF.ClockRate
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess == nil || codecChanged {
		if p.sess != nil {
			scfg.LocalSSRC = p.sess.LocalSSRC()
		}
		sess, err := rtpsession.New(scfg)
		if err != nil {
			return fmt.Errorf("mixer: rtp session: %w", err)
		}
		if p.sess != nil {
			sess.ContinueFrom(p.sess)
		}
		p.sess = sess
		jb, err := jitter.New(jitter.Config{ClockRate: ch.Codec.ClockRate, MinDelay: c.e.cfg.JitterMin, MaxDelay: c.e.cfg.JitterMax,
			Slots: jitterSlots, MaxPayload: maxPayload(spec.Info.Name)})
		if err != nil {
			return fmt.Errorf("mixer: jitter buffer: %w", err)
		}
		p.jb = jb
	} else {
		p.sess.SetRemote(o.Remote, o.RemoteRTCP)
	}
	if ech.id != 0 {
		c.e.closeChannel(&p.ech)
		p.ech = ech
	}
	if codecChanged {
		c.e.closeChannel(&p.dch)
		p.dch = dch
		p.spec, p.pcmRate = spec, pcmRate
		p.fec = spec.Info.Name == "opus" // the one codec with in-band FEC (RFC 6716 §2.1.7)
		p.fifo = make([]int16, fifoSamples(pcmRate, c.e.cfg.Frame))
		p.fifoLen = 0
		p.pay = make([]byte, 2*maxPayload(spec.Info.Name))
	}
	p.pktFrames = pkt
	p.offer, p.choice = o, ch
	p.hold = sdpneg.Direction(o.Direction)
	if o.Remote.Port() == 0 {
		p.hold = sdpneg.Inactive
	}
	_ = c.e.path.SetRemote(p.flow.ID, o.Remote)
	rtcp := o.RemoteRTCP
	if o.RTCPMux {
		rtcp = o.Remote
	}
	_ = c.e.path.SetRemoteRTCP(p.flow.ID, rtcp)
	c.limitPayloadTypes(p, ch) // pathfilter.go
	return nil
}

func (c *Conference) answer(p *participant) ([]byte, error) {
	return p.offer.Answer(sdpneg.AnswerParams{
		Local:     netip.AddrPortFrom(c.e.public, p.flow.LocalPort),
		SessionID: uint64(p.id) + 1000,
		Version:   p.version,
		Choice:    p.choice,
		Direction: sdpneg.Complement(p.offer.Direction),
	})
}

// Update renegotiates a participant's media (re-INVITE): hold, resume,
// a new address or a codec change.
func (c *Conference) Update(id ParticipantID, offer []byte) ([]byte, error) {
	o, ch, err := c.negotiate(offer)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p == nil {
		return nil, ErrUnknownParticipant
	}
	oldRate := p.pcmRate
	if err := c.applyMedia(p, o, ch); err != nil {
		return nil, err
	}
	p.version++
	if p.pcmRate != oldRate {
		c.chooseRate()
		c.fitParticipant(p)
	} else {
		c.fitParticipant(p)
	}
	if p.hold != sdpneg.SendRecv {
		p.det.Reset()
	}
	return c.answer(p)
}

// Remove takes a participant out, closes its media port and returns its
// final call quality.
func (c *Conference) Remove(id ParticipantID) (Quality, error) {
	c.mu.Lock()
	p := c.byID[id]
	if p == nil {
		c.mu.Unlock()
		return Quality{}, ErrUnknownParticipant
	}
	q := c.quality(p)
	c.removeLocked(p)
	c.mu.Unlock()
	return q, nil
}

func (c *Conference) removeLocked(p *participant) {
	if c.bp.on { // hand the media back before a party's flow goes (bypass.go)
		c.endBypass()
	}
	delete(c.byID, p.id)
	for i, x := range c.parts {
		if x == p {
			c.parts = append(c.parts[:i], c.parts[i+1:]...)
			break
		}
	}
	c.talkers = c.talkers[:0]
	c.size.Add(-1)
	c.e.count.Add(-1)
	c.e.removeFlow(p.flow.ID)
	// Tell the caller we are gone (RFC 3550 §6.6), then free the ports.
	p.mu.Lock()
	n, err := p.sess.WriteBye(p.rtcp)
	p.mu.Unlock()
	if err == nil && n > 0 && p.sends() {
		_, _ = c.e.path.Write([]hal.Packet{{Flow: p.flow.ID, RTCP: true, Buf: p.rtcp, N: n}})
	}
	_ = c.e.path.Close(p.flow.ID)
	p.closeChannels(c.e)
	if len(c.parts) > 0 {
		c.chooseRate()
	}
}

func (c *Conference) with(id ParticipantID, f func(p *participant)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p == nil {
		return ErrUnknownParticipant
	}
	f(p)
	return nil
}

// SetMuted blocks or unblocks a participant's audio into the mix.
func (c *Conference) SetMuted(id ParticipantID, muted bool) error {
	return c.with(id, func(p *participant) {
		p.muted = muted
		if muted && p.det.Talking() {
			p.det.Reset()
			c.e.emit(Event{Kind: EventTalking, Conference: c.id, Participant: p.id, Talking: false, At: c.e.now()})
		}
	})
}

// SetDeaf blocks or unblocks the mix toward a participant.
func (c *Conference) SetDeaf(id ParticipantID, deaf bool) error {
	return c.with(id, func(p *participant) { p.deaf = deaf })
}

// SetMixed puts a participant into the mix or keeps it out both ways.
func (c *Conference) SetMixed(id ParticipantID, mixed bool) error {
	return c.with(id, func(p *participant) { p.mixed = mixed })
}

// SetGain sets talk and listen gain in dB (-12..+12).
func (c *Conference) SetGain(id ParticipantID, talkDB, listenDB int) error {
	if talkDB < -12 || talkDB > 12 || listenDB < -12 || listenDB > 12 {
		return fmt.Errorf("mixer: gain %d/%d dB out of range -12..12", talkDB, listenDB)
	}
	return c.with(id, func(p *participant) {
		p.talkGain, p.listenGain = mix.GainFromDB(talkDB), mix.GainFromDB(listenDB)
	})
}

// Play queues a prompt for one participant, or for everyone when id is 0.
func (c *Conference) Play(id ParticipantID, pr *prompt.Prompt) (uint64, error) {
	if pr == nil {
		return 0, fmt.Errorf("mixer: no prompt")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	pcm, err := pr.ForRate(c.rate)
	if err != nil {
		return 0, err
	}
	c.nextPr++
	pl := &player{id: c.nextPr, src: pr, pcm: pcm, rate: c.rate}
	if id == 0 {
		c.prompts = append(c.prompts, pl)
		return pl.id, nil
	}
	p := c.byID[id]
	if p == nil {
		return 0, ErrUnknownParticipant
	}
	p.prompts = append(p.prompts, pl)
	return pl.id, nil
}

// StopPrompts stops every prompt queued for a participant (0: the conference-wide ones).
func (c *Conference) StopPrompts(id ParticipantID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == 0 {
		for _, pl := range c.prompts {
			c.e.emit(Event{Kind: EventPromptDone, Conference: c.id, PromptID: pl.id, At: c.e.now()})
		}
		c.prompts = nil
		return nil
	}
	p := c.byID[id]
	if p == nil {
		return ErrUnknownParticipant
	}
	for _, pl := range p.prompts {
		c.e.emit(Event{Kind: EventPromptDone, Conference: c.id, Participant: id, PromptID: pl.id, At: c.e.now()})
	}
	p.prompts = nil
	return nil
}

// Quality reports a participant's call quality so far.
func (c *Conference) Quality(id ParticipantID) (Quality, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p == nil {
		return Quality{}, ErrUnknownParticipant
	}
	return c.quality(p), nil
}

// Talking reports whether a participant is talking now.
func (c *Conference) Talking(id ParticipantID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	return p != nil && p.det.Talking()
}

// LocalPort is the participant's media port (tests, diagnostics).
func (c *Conference) LocalPort(id ParticipantID) (uint16, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p == nil {
		return 0, ErrUnknownParticipant
	}
	return p.flow.LocalPort, nil
}

// Rate is the current mixing rate.
func (c *Conference) Rate() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rate
}

// Close removes every participant and stops mixing the conference.
func (c *Conference) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for len(c.parts) > 0 {
		c.removeLocked(c.parts[len(c.parts)-1])
	}
	c.dropGroups()
	c.setOnDevice(false)
	c.mu.Unlock()
	c.e.removeConference(c)
	return nil
}
