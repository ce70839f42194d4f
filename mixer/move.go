package mixer

import "fmt"

// Moving a participant between conferences. A caller held by the
// conferencing attendant (focus.Attendant: "enter the conference number")
// sits in a conference of its own; once it has said where it wants to go,
// the Focus moves it into that conference. The call's SIP dialog and its
// SDP answer stay as they are, so the media must too: Move keeps the
// participant's packet path flow (the port the caller sends to), its RTP
// session (SSRC, sequence numbers, timestamps, RTCP statistics), jitter
// buffer and codec state, and only changes which mix it is part of. The
// caller hears no gap and needs no re-INVITE.

// Move moves participant id from conference from to conference to, both
// of this engine, keeping its media flow and RTP session. opts sets how it
// enters the new mix (muted, deaf, unmixed), as AddOptions does for Add;
// its name stays unless opts names it. Prompts queued for it in from are
// dropped, each reported done (EventPromptDone) under from.
//
// It fails with ErrUnknownParticipant if from has no such participant and
// with ErrClosed if to is not (or no longer) running; then the participant
// stays in from. Should to close between the two steps, the participant
// has been taken out of from and its flow is closed, as Remove would have.
func (e *Engine) Move(id ParticipantID, from, to string, opts AddOptions) error {
	e.mu.Lock()
	src, dst := e.confs[from], e.confs[to]
	e.mu.Unlock()
	switch {
	case src == nil:
		return fmt.Errorf("mixer: move from conference %q: %w", from, ErrUnknownParticipant)
	case dst == nil:
		return fmt.Errorf("mixer: move to conference %q: %w", to, ErrClosed)
	case src == dst:
		return fmt.Errorf("mixer: move within conference %q", from)
	}
	p, err := src.detach(id)
	if err != nil {
		return err
	}
	if err := dst.attach(p, opts); err != nil {
		// Nowhere to go: end the media as Remove would.
		e.count.Add(-1)
		e.removeFlow(p.flow.ID)
		_ = e.path.Close(p.flow.ID)
		return err
	}
	e.log.Debug("participant moved", "participant", uint64(id), "from", from, "to", to)
	return nil
}

// detach takes p out of c without touching its media: the flow stays open
// and mapped to p, its session and jitter buffer keep receiving.
func (c *Conference) detach(id ParticipantID) (*participant, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.byID[id]
	if p == nil {
		return nil, ErrUnknownParticipant
	}
	if c.bp.on { // hand the media back before a party goes (bypass.go)
		c.endBypass()
	}
	delete(c.bp.hold, p)
	delete(c.byID, p.id)
	for i, x := range c.parts {
		if x == p {
			c.parts = append(c.parts[:i], c.parts[i+1:]...)
			break
		}
	}
	c.talkers = c.talkers[:0]
	c.size.Add(-1)
	now := c.e.now()
	for _, pl := range p.prompts {
		c.e.emit(Event{Kind: EventPromptDone, Conference: c.id, Participant: p.id, PromptID: pl.id, At: now})
	}
	p.prompts = nil
	if len(c.parts) > 0 {
		c.chooseRate()
	}
	return p, nil
}

// attach puts a detached participant into c's mix.
func (c *Conference) attach(p *participant, opts AddOptions) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	// The receive goroutine reads p.conf under p.mu to name the conference
	// in the events it emits (participant.go).
	p.mu.Lock()
	p.conf = c
	p.mu.Unlock()
	if opts.Name != "" {
		p.name = opts.Name
	}
	p.muted, p.deaf, p.mixed = opts.Muted, opts.Deaf, !opts.Unmixed
	p.talker, p.shared, p.frameInPkt = false, nil, 0
	p.det.Reset()
	p.joined = c.e.now()
	c.parts = append(c.parts, p)
	c.byID[p.id] = p
	c.size.Add(1)
	if p.pcmRate > c.rate && c.rate < c.e.cfg.MaxRate {
		c.chooseRate()
	} else {
		c.fitParticipant(p)
	}
	return nil
}
