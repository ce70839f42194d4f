package sipfront

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Running session timers (RFC 4028 §10).

// armTimer restarts c's session timer after a refresh.
func (f *Front) armTimer(c *call) {
	c.mu.Lock()
	d := c.timer.wait()
	c.mu.Unlock()
	f.armTimerAfter(c, d)
}

// armTimerAfter fires c's session timer after d; a newer arm wins.
func (f *Front) armTimerAfter(c *call, d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stimer != nil {
		c.stimer.Stop()
		c.stimer = nil
	}
	c.timerGen++
	if c.state == stateEnded || c.timer.interval == 0 {
		return
	}
	gen := c.timerGen
	c.stimer = time.AfterFunc(d, func() { f.timerFired(c, gen) })
}

// timerFired either ends a session whose refresher (the caller) let it
// lapse, or refreshes it when we are the refresher.
func (f *Front) timerFired(c *call, gen uint64) {
	c.mu.Lock()
	if c.state == stateEnded || gen != c.timerGen {
		c.mu.Unlock()
		return
	}
	refresher := c.timer.refresher
	c.mu.Unlock()
	if refresher == refresherUAC {
		f.stats.sessionExpired.Add(1)
		f.log.Info("session expired", "call_id", c.key.callID)
		f.end(c, "session expired", "session timer expired")
		return
	}
	f.background.add()
	defer f.background.done()
	f.refresh(c)
}

// refresh sends a session refresh (RFC 4028 §7.4): UPDATE without a body
// when the caller allows UPDATE, else a re-INVITE with our current SDP,
// unchanged, as the offer.
func (f *Front) refresh(c *call) {
	c.mu.Lock()
	if c.state != stateConfirmed || c.offerPending || c.acked != nil {
		c.mu.Unlock()
		// An INVITE or offer is in progress: try again shortly.
		f.armTimerAfter(c, f.cfg.t1+rand.N(2*time.Second))
		return
	}
	c.refreshing = true
	st, sdp, useUpdate := c.timer, c.localSDP, c.peerUpdate
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.refreshing = false
		c.mu.Unlock()
	}()

	method := sip.INVITE
	if useUpdate {
		method = sip.UPDATE
	}
	req := c.newRequest(method)
	req.AppendHeader(sip.NewHeader("Session-Expires", formatSeconds(st.interval)+";refresher="+refresherUAS))
	req.AppendHeader(sip.NewHeader("Supported", supportedTags))
	if method == sip.INVITE {
		ct := sip.ContentTypeHeader(contentTypeSDP)
		req.AppendHeader(&ct)
		req.SetBody(sdp)
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), 64*f.cfg.t1)
	defer cancel()
	res, err := f.send(ctx, req)
	if err == nil && method == sip.INVITE && res.IsSuccess() {
		if err := f.cli.WriteRequest(c.ack(req, res), prebuilt); err != nil {
			f.log.Debug("ACK not sent", "call_id", c.key.callID, "error", err)
		}
	}
	switch {
	case err != nil || res.StatusCode == sip.StatusRequestTimeout || res.StatusCode == sip.StatusCallTransactionDoesNotExists:
		// RFC 3261 §12.2.1.2: no answer, 408 or 481 ends the dialog.
		f.stats.sessionExpired.Add(1)
		f.end(c, "session refresh failed", "session refresh failed")
	case res.IsSuccess():
		if v, ok := firstHeader(res, "session-expires", "x"); ok {
			if se, err := parseSessionExpires(v); err == nil && se.delta > 0 {
				c.mu.Lock()
				c.timer.interval = se.delta
				if se.refresher != "" {
					c.timer.refresher = se.refresher
				}
				c.mu.Unlock()
			}
		}
		f.armTimer(c)
	case res.StatusCode == sip.StatusRequestPending:
		// RFC 3261 §14.1: we did not make the Call-ID, so retry after 0-2 s.
		f.armTimerAfter(c, rand.N(2*time.Second))
	default:
		// Refused but the dialog lives: try again at the next half interval.
		f.armTimer(c)
	}
}

// tracker counts goroutines that outlive a request. Unlike a WaitGroup it
// may be added to while someone waits.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{}
}

func (t *tracker) add() {
	t.mu.Lock()
	if t.n == 0 {
		t.idle = make(chan struct{})
	}
	t.n++
	t.mu.Unlock()
}

func (t *tracker) done() {
	t.mu.Lock()
	t.n--
	if t.n == 0 {
		close(t.idle)
	}
	t.mu.Unlock()
}

// wait returns a channel closed when no goroutine is counted.
func (t *tracker) wait() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.n == 0 {
		c := make(chan struct{})
		close(c)
		return c
	}
	return t.idle
}
