package mixer

import (
	"net/netip"
	"time"

	"confab/hal"
	"confab/mixer/mix"
	"confab/mixer/sdpneg"
)

// Two-party bypass. A conference of exactly two participants who use the
// same codec and packet time, with nothing else to play (no prompts, no
// mute, deafness, gain or hold), needs no mixing: each should hear the
// other's packets as they are. When the packet path can forward below the
// MCU (hal.Bypasser: the XDP driver rewrites and sends them back out from
// its kernel program, as rtpengine's kernel module does), the conference
// hands both directions to it and stops mixing; the MCU then costs nothing
// per packet. The streams each party receives stay the MCU's (its SSRC;
// sequence numbers and timestamps continue), so the bypass is invisible to
// them.
//
// The first frame in which the conference no longer qualifies (a third
// participant, a prompt, a mute, a re-INVITE) takes the media back: the
// path stops forwarding, each party's stream continues from the last
// forwarded packet, and the receive side counts the forwarded packets as
// received. The MCU holds a party's output until the other party's audio
// plays out of its jitter buffer again (at most resumeHold frames), so
// the hand-back shows as one late packet, not as silence.

// bypassRetry is how long a conference waits after the path refused a
// bypass (typically: a party has not sent anything yet).
const bypassRetry = time.Second

// resumeHold bounds, in frames, how long a party's output waits for the
// other party's audio after a bypass ends: the jitter buffer's start plus
// a frame, with room for a late tick.
const resumeHold = 8

// twoParty is a conference's bypass state, guarded by the conference lock.
type twoParty struct {
	on     bool
	pair   [2]*participant
	remote [2]netip.AddrPort // where each party's media went when it started
	base   [2]uint64         // each party's forwarded packets when it started
	fwd    [2]uint64         // ... and as last told to its session
	retry  time.Time         // no attempt before this
	// hold counts down the frames a party's output waits after a bypass
	// for its peer's audio, by participant.
	hold map[*participant]int
}

// Bypassed reports whether the conference's two participants are talking
// through the packet path's bypass rather than the mix.
func (c *Conference) Bypassed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bp.on
}

// bypassFrame runs at the start of each frame, conference lock held. It
// starts or ends the bypass as the conference qualifies, and reports
// whether the frame is bypassed: nothing to mix.
func (c *Conference) bypassFrame(now time.Time) bool {
	for p := range c.bp.hold {
		if c.byID[p.id] != p {
			delete(c.bp.hold, p) // left while its output waited
		}
	}
	a, b, ok := c.bypassPair()
	if c.bp.on {
		if ok && a == c.bp.pair[0] && b == c.bp.pair[1] && remote(a) == c.bp.remote[0] && remote(b) == c.bp.remote[1] {
			return true
		}
		c.endBypass()
		return false
	}
	if !ok || now.Before(c.bp.retry) || a.frameInPkt != 0 || b.frameInPkt != 0 {
		return false
	}
	return c.startBypass(a, b, now)
}

// bypassPair returns the two participants if the conference qualifies.
func (c *Conference) bypassPair() (a, b *participant, ok bool) {
	if c.e.cfg.NoBypass || len(c.parts) != 2 || len(c.prompts) > 0 {
		return nil, nil, false
	}
	if _, can := c.e.path.(hal.Bypasser); !can {
		return nil, nil, false
	}
	a, b = c.parts[0], c.parts[1]
	for _, p := range c.parts {
		if !p.mixed || p.muted || p.deaf || p.timedOut || len(p.prompts) > 0 ||
			p.hold != sdpneg.SendRecv || p.talkGain != mix.Unity || p.listenGain != mix.Unity {
			return nil, nil, false
		}
	}
	if a.spec.Info.Name != b.spec.Info.Name || a.spec.Info.ClockRate != b.spec.Info.ClockRate ||
		a.pcmRate != b.pcmRate || a.pktFrames != b.pktFrames {
		return nil, nil, false
	}
	return a, b, true
}

// remote is where p's media goes now (latching may move it).
func remote(p *participant) netip.AddrPort {
	p.mu.Lock()
	defer p.mu.Unlock()
	rtp, _, _ := p.sess.Remote()
	return rtp
}

// stream describes the media from sender as receiver's stream from the
// MCU continues it.
func stream(sender, receiver *participant) hal.BypassStream {
	receiver.mu.Lock()
	seq, ts := receiver.sess.SendPosition()
	ssrc := receiver.sess.LocalSSRC()
	receiver.mu.Unlock()
	return hal.BypassStream{
		InPT: sender.choice.Codec.PayloadType, OutPT: receiver.choice.Codec.PayloadType,
		SSRC: ssrc, NextSeq: seq, NextTimestamp: ts,
	}
}

func (c *Conference) startBypass(a, b *participant, now time.Time) bool {
	bp := c.e.path.(hal.Bypasser)
	sab, sba := stream(a, b), stream(b, a)
	c.bp.pair = [2]*participant{a, b}
	for i, p := range c.bp.pair {
		c.bp.remote[i] = remote(p)
		c.bp.base[i] = c.forwarded(p).Forwarded
		c.bp.fwd[i] = c.bp.base[i]
	}
	if err := bp.Bypass(a.flow.ID, b.flow.ID, sab); err != nil {
		c.bp.pair, c.bp.retry = [2]*participant{}, now.Add(bypassRetry)
		return false
	}
	c.bp.on = true
	if err := bp.Bypass(b.flow.ID, a.flow.ID, sba); err != nil {
		// Half on: take that half back as a whole bypass ends.
		c.endBypass()
		c.bp.retry = now.Add(bypassRetry)
		return false
	}
	c.e.log.Debug("two-party bypass on", "conference", c.id, "a", uint64(a.id), "b", uint64(b.id))
	return true
}

// endBypass takes both directions back. Either party may have left since.
func (c *Conference) endBypass() {
	bp := c.e.path.(hal.Bypasser)
	for i, from := range c.bp.pair {
		to := c.bp.pair[1-i]
		h, err := bp.EndBypass(from.flow.ID)
		c.syncReceived(i, true)
		if c.byID[from.id] == from {
			from.mu.Lock()
			if from.jb != nil {
				from.jb.Reset() // it holds audio from before the bypass
			}
			from.mu.Unlock()
		}
		if err != nil || c.byID[to.id] != to {
			continue
		}
		if h.Forwarded {
			ticks := to.spec.Info.RTPTicks(len(to.codecOut))
			to.mu.Lock()
			to.sess.ContinueSendFrom(h.Seq, h.Timestamp, ticks, h.At, c.bp.fwd[i]-c.bp.base[i])
			to.mu.Unlock()
		}
		if c.byID[from.id] == from {
			if c.bp.hold == nil {
				c.bp.hold = make(map[*participant]int)
			}
			c.bp.hold[to] = resumeHold
		}
	}
	c.e.log.Debug("two-party bypass off", "conference", c.id)
	c.bp.on, c.bp.pair = false, [2]*participant{}
}

// forwarded reads a participant's flow counters from the path.
func (c *Conference) forwarded(p *participant) hal.FlowStats {
	fc, ok := c.e.path.(hal.FlowCounter)
	if !ok {
		return hal.FlowStats{}
	}
	st, _ := fc.FlowStats(p.flow.ID)
	return st
}

// syncReceived tells party i's session about the media the path forwarded
// around it, so that its liveness, and once the bypass has ended its
// statistics, follow the stream although the MCU did not see it. While
// the path forwards, the last forwarded sequence number and the forwarded
// count are read from counters the kernel bumps one after the other, so
// they may disagree by a packet: only the liveness is taken then.
func (c *Conference) syncReceived(i int, ended bool) {
	p := c.bp.pair[i]
	st := c.forwarded(p)
	var n uint64
	if ended && st.Forwarded > c.bp.fwd[i] {
		n = st.Forwarded - c.bp.fwd[i]
		c.bp.fwd[i] = st.Forwarded
	}
	p.mu.Lock()
	p.sess.ReceivedAround(st.ForwardedSeq, n, st.LastArrival)
	p.mu.Unlock()
}

// bypassHousekeeping is the once-a-second work of a bypassed frame:
// sessions learn what went around them, then RTCP, timeouts and quality
// reports as in a mixed frame.
func (c *Conference) bypassHousekeeping(now time.Time, out []hal.Packet) []hal.Packet {
	if c.frameNo%uint64(time.Second/c.e.cfg.Frame) != 0 {
		return out
	}
	for i := range c.bp.pair {
		c.syncReceived(i, false)
	}
	report := c.frameNo%uint64(qualityEvery/c.e.cfg.Frame) == 0
	for _, p := range c.parts {
		out = c.housekeeping(p, now, out)
		if report {
			c.e.emit(Event{Kind: EventQuality, Conference: c.id, Participant: p.id, Quality: c.quality(p), At: now})
		}
	}
	return out
}

// holdOutput reports whether p's packet this frame is held back because a
// bypass just ended and its peer's audio is not playing yet.
func (c *Conference) holdOutput(p *participant) bool {
	left, ok := c.bp.hold[p]
	if !ok {
		return false
	}
	peerPlays := false
	for _, q := range c.parts {
		if q != p && q.jb != nil {
			q.mu.Lock()
			st := q.jb.Stats()
			q.mu.Unlock()
			peerPlays = st.Received > uint64(st.Buffered)+st.Dropped+st.Discarded+st.Duplicate
		}
	}
	if peerPlays || left <= 1 {
		delete(c.bp.hold, p)
		return false
	}
	c.bp.hold[p] = left - 1
	return true
}
