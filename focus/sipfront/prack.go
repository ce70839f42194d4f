package sipfront

import (
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Reliable provisional responses (RFC 3262). The Front sends one
// provisional response besides 100 Trying: the 183 Session Progress of a
// call that hears a prompt first (invite.go). A caller that requires
// 100rel gets it reliably: with Require: 100rel and an RSeq, retransmitted
// from T1, doubling, until the caller's PRACK acknowledges it, and the 200
// waits for that PRACK (RFC 3262 §3: no 2xx before the PRACK of a
// reliable provisional response that carried SDP). Without a PRACK after
// 64*T1 the INVITE is refused with 504. A caller that merely supports
// 100rel gets the 183 unreliably, as RFC 3262 allows.

// tag100rel is the option tag of RFC 3262.
const tag100rel = "100rel"

// requires100rel reports whether the INVITE requires reliable provisional
// responses.
func requires100rel(req *sip.Request) bool {
	return hasTag(req, tag100rel, "require")
}

// hasTag reports whether one of the headers names lists tag.
func hasTag(req *sip.Request, tag string, names ...string) bool {
	for _, t := range headerValues(req, names...) {
		if strings.EqualFold(t, tag) {
			return true
		}
	}
	return false
}

// prackOutcome is how the wait for a PRACK ended.
type prackOutcome int

const (
	pracked prackOutcome = iota
	prackCanceled
	prackHungUp
	prackTimeout
)

// reliableProgress sends res, a 183, reliably and waits for its PRACK, a
// CANCEL, the Focus's hang-up or the timeout.
func (f *Front) reliableProgress(tx sip.ServerTransaction, c *call, res *sip.Response, inviteCSeq uint32) prackOutcome {
	rseq := randomCSeq() // RFC 3262 §3: the first RSeq is random, below 2**31
	res.AppendHeader(sip.NewHeader("Require", tag100rel))
	res.AppendHeader(sip.NewHeader("RSeq", strconv.FormatUint(uint64(rseq), 10)))
	acked := c.expectPrack(rseq, inviteCSeq)
	f.sendResponse(tx, res)
	interval := f.cfg.t1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * f.cfg.t1)
	defer giveUp.Stop()
	for {
		select {
		case <-acked:
			return pracked
		case <-c.canceled:
			return prackCanceled
		case <-c.hangupCh:
			return prackHungUp
		case <-retransmit.C:
			// RFC 3262 §3: from T1, doubling for each retransmission.
			if err := tx.Respond(res); err != nil {
				f.log.Debug("183 retransmission failed", "call_id", c.key.callID, "error", err)
			}
			interval *= 2
			retransmit.Reset(interval)
		case <-giveUp.C:
			return prackTimeout
		}
	}
}

// expectPrack arms the wait for the PRACK of the reliable provisional
// response rseq to the INVITE with CSeq cseq.
func (c *call) expectPrack(rseq, cseq uint32) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.prackRSeq, c.prackCSeq = rseq, cseq
	c.pracked = make(chan struct{})
	return c.pracked
}

// awaitsPrack reports whether a PRACK with this RAck acknowledges the
// reliable provisional response awaited.
func (c *call) awaitsPrack(rseq, cseq uint32, method string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pracked != nil && rseq == c.prackRSeq && cseq == c.prackCSeq && strings.EqualFold(method, "INVITE")
}

// gotPrack lets the 200 to the INVITE go.
func (c *call) gotPrack() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pracked != nil {
		close(c.pracked)
		c.pracked = nil
	}
}

// onPrack handles PRACK (RFC 3262 §7.1): 200 for the PRACK of the reliable
// provisional response awaited, 481 for anything else (§3).
func (f *Front) onPrack(req *sip.Request, tx sip.ServerTransaction) {
	c := f.lookupCall(req)
	if c == nil {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.checkCSeq(req) {
		f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
		return
	}
	rseq, cseq, method, ok := parseRAck(req)
	if !ok {
		f.respond(tx, req, sip.StatusBadRequest, "Bad RAck")
		return
	}
	if !c.awaitsPrack(rseq, cseq, method) {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	// The PRACK's 200 first, then the INVITE's: callers read them in order.
	f.respond(tx, req, sip.StatusOK, "OK")
	c.gotPrack()
}

// parseRAck reads "RAck: response-num CSeq-num Method" (RFC 3262 §7.2).
func parseRAck(req *sip.Request) (rseq, cseq uint32, method string, ok bool) {
	h := req.GetHeader("RAck")
	if h == nil {
		return 0, 0, "", false
	}
	f := strings.Fields(h.Value())
	if len(f) != 3 {
		return 0, 0, "", false
	}
	r, err1 := strconv.ParseUint(f[0], 10, 32)
	c, err2 := strconv.ParseUint(f[1], 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, "", false
	}
	return uint32(r), uint32(c), f[2], true
}
