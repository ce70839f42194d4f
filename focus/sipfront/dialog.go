package sipfront

import (
	"errors"
	"math/rand/v2"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"confab/focus/c3p"
	"confab/mixer"
)

// Requests inside a dialog (RFC 3261 §12.2.2) and the methods that may come
// outside one.

// onAck confirms a 2xx. An ACK is never answered; one for no dialog is
// dropped (RFC 3261 §17.2.3 leaves a 2xx ACK to the TU).
func (f *Front) onAck(req *sip.Request, _ sip.ServerTransaction) {
	if c := f.lookupCall(req); c != nil {
		c.gotAck(req.CSeq().SeqNo)
	}
}

// onBye ends a call (RFC 3261 §15.1.2).
func (f *Front) onBye(req *sip.Request, tx sip.ServerTransaction) {
	if c := f.lookupCall(req); c != nil {
		if !c.checkCSeq(req) {
			f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
			return
		}
		f.respond(tx, req, sip.StatusOK, "OK")
		f.finish(c, "bye")
		return
	}
	if o := f.lookupOutbound(req); o != nil {
		f.respond(tx, req, sip.StatusOK, "OK")
		o.ended("bye")
		return
	}
	f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onCancel sees only a CANCEL that matched no INVITE transaction: sipgo
// handles the others (200 to the CANCEL, 487 to the INVITE).
func (f *Front) onCancel(req *sip.Request, tx sip.ServerTransaction) {
	// RFC 3261 §9.2: no matching transaction, 481.
	f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
}

// onOptions answers capability queries in and out of dialogs (RFC 3261 §11).
func (f *Front) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	if toTag(req) != "" && f.lookupCall(req) == nil && f.lookupOutbound(req) == nil {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	f.respond(tx, req, sip.StatusOK, "OK",
		sip.NewHeader("Allow", f.allowed()),
		sip.NewHeader("Accept", f.accepted()),
		sip.NewHeader("Accept-Encoding", "identity"),
		sip.NewHeader("Supported", supportedTags))
}

// onInfo relays DTMF sent as INFO to the Focus. INFO outside a dialog is
// 481 (RFC 6086 §4.2.1).
func (f *Front) onInfo(req *sip.Request, tx sip.ServerTransaction) {
	c := f.lookupCall(req)
	if c == nil {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.checkCSeq(req) {
		f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
		return
	}
	if len(req.Body()) == 0 {
		f.respond(tx, req, sip.StatusOK, "OK") // an INFO without body is a keep-alive
		return
	}
	mt := mediaType(req)
	if mt == c3p.ContentType && f.conf != nil {
		f.onC3PInfo(c, req, tx)
		return
	}
	if mt != typeDTMFRelay && mt != typeDTMF {
		f.respond(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type",
			sip.NewHeader("Accept", typeDTMFRelay+", "+typeDTMF))
		return
	}
	digit, err := parseDTMF(mt, req.Body())
	if err != nil {
		f.respond(tx, req, sip.StatusBadRequest, "Bad DTMF Body")
		return
	}
	c.mu.Lock()
	m := c.member
	c.mu.Unlock()
	// Relay before answering, so that digits reach the Focus in the order
	// the phone sent them (it sends the next INFO after this 200).
	if m != nil {
		m.DTMF(digit)
	}
	f.respond(tx, req, sip.StatusOK, "OK")
}

// onUnknownMethod answers methods the Front does not handle: 405 with Allow
// for SIP methods it knows of, 501 for the rest (RFC 3261 §8.2.1, §21.5.2).
func (f *Front) onUnknownMethod(req *sip.Request, tx sip.ServerTransaction) {
	switch req.Method {
	case sip.ACK:
		return
	case sip.SUBSCRIBE, sip.NOTIFY, sip.REFER, sip.MESSAGE, sip.PRACK, sip.PUBLISH:
		f.respond(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", f.allowed()))
	default:
		f.respond(tx, req, sip.StatusNotImplemented, "Not Implemented", sip.NewHeader("Allow", f.allowed()))
	}
}

// onReinvite renegotiates media and refreshes the session timer (RFC 3261
// §14.2, RFC 4028 §9).
func (f *Front) onReinvite(req *sip.Request, tx sip.ServerTransaction) {
	c := f.lookupCall(req)
	if c == nil {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.checkCSeq(req) {
		f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
		return
	}
	if rej := c.beginOffer(true); rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	f.respond(tx, req, sip.StatusTrying, "Trying")
	st, answer, rej := f.reinviteAnswer(c, req)
	if rej != nil || len(req.Body()) > 0 {
		// The offer-answer exchange ends with this response (RFC 3264 §4),
		// so the next offer may come as soon as it is out.
		c.endOffer()
	} else {
		// We offer in the 2xx; the exchange ends with the ACK.
		defer c.endOffer()
	}
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	c.mu.Lock()
	c.localSDP, c.timer = answer, st
	c.refreshTarget(req)
	c.mu.Unlock()

	res := f.okResponse(req, c, answer)
	acked := c.expectAck(req.CSeq().SeqNo)
	f.responses.count(res)
	if err := tx.Respond(res); err != nil {
		f.log.Debug("re-INVITE answer not sent", "call_id", c.key.callID, "error", err)
		return
	}
	f.armTimer(c)
	if !f.awaitAck(c, tx, res, acked) {
		f.stats.ackTimeouts.Add(1)
		f.end(c, "ack timeout", "no ACK")
	}
}

// reinviteAnswer negotiates the session timer and answers the offer of a
// re-INVITE. Without an offer the 2xx carries ours and the ACK the answer
// (RFC 3261 §14.2); a session refresh usually looks like that. On an error
// the session goes on unchanged.
func (f *Front) reinviteAnswer(c *call, req *sip.Request) (sessionTimer, []byte, *rejection) {
	st, rej := f.renegotiateTimer(req)
	if rej != nil {
		return st, nil, rej
	}
	if len(req.Body()) == 0 {
		c.mu.Lock()
		defer c.mu.Unlock()
		return st, c.localSDP, nil
	}
	if rej := checkOffer(req, f.localAgent(req)); rej != nil {
		return st, nil, rej
	}
	answer, err := f.reoffer(c, req.Body())
	if err != nil {
		return st, nil, reofferRejection(err, f.localAgent(req))
	}
	return st, answer, nil
}

// onUpdate handles UPDATE (RFC 3311): an offer to answer, or, without a
// body, a session refresh (RFC 4028 §9).
func (f *Front) onUpdate(req *sip.Request, tx sip.ServerTransaction) {
	c := f.lookupCall(req)
	if c == nil {
		f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if !c.checkCSeq(req) {
		f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
		return
	}
	st, rej := f.renegotiateTimer(req)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	var answer []byte
	if len(req.Body()) > 0 {
		if rej := checkOffer(req, f.localAgent(req)); rej != nil {
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
			return
		}
		if rej := c.beginOffer(false); rej != nil {
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
			return
		}
		var err error
		answer, err = f.reoffer(c, req.Body())
		c.endOffer()
		if err != nil {
			rej := reofferRejection(err, f.localAgent(req))
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
			return
		}
	}
	c.mu.Lock()
	if answer != nil {
		c.localSDP = answer
	}
	c.timer = st
	c.refreshTarget(req)
	c.mu.Unlock()
	var res *sip.Response
	if answer != nil {
		res = f.okResponse(req, c, answer)
	} else {
		res = sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		res.AppendHeader(c.contact.Clone())
		res.AppendHeader(sip.NewHeader("Supported", supportedTags))
		for _, h := range st.headers() {
			res.AppendHeader(h)
		}
		res.AppendHeader(sip.NewHeader("Server", f.cfg.userAgent))
	}
	f.responses.count(res)
	if err := tx.Respond(res); err != nil {
		f.log.Debug("UPDATE answer not sent", "call_id", c.key.callID, "error", err)
		return
	}
	f.armTimer(c)
}

// renegotiateTimer applies RFC 4028 §9 to a refresh request.
func (f *Front) renegotiateTimer(req *sip.Request) (sessionTimer, *rejection) {
	tr, err := timerRequestOf(req)
	if err != nil {
		return sessionTimer{}, reject(sip.StatusBadRequest, "Bad Session-Expires or Min-SE")
	}
	st, tooSmall := negotiateTimer(f.cfg.sessionInterval, f.cfg.minSE, tr)
	if tooSmall {
		return st, reject(statusIntervalTooSmall, "Session Interval Too Small", tooSmallHeaders(f.cfg.minSE)...)
	}
	return st, nil
}

// refreshTarget takes the Contact of a target refresh request (re-INVITE,
// UPDATE) as the new remote target (RFC 3261 §12.2.2). c.mu is held.
func (c *call) refreshTarget(req *sip.Request) {
	if ct := req.Contact(); ct != nil && !ct.Address.Wildcard && ct.Address.Host != "" {
		c.remoteTarget = *ct.Address.Clone()
	}
}

// reoffer passes an offer to the Member.
func (f *Front) reoffer(c *call, offer []byte) ([]byte, error) {
	c.mu.Lock()
	m := c.member
	c.mu.Unlock()
	if m == nil {
		return nil, errNoMember
	}
	return m.Reoffer(offer)
}

var errNoMember = errors.New("sipfront: call has no member")

// beginOffer admits a new offer from the caller, or says why not:
//   - a re-INVITE before the ACK of the previous INVITE: 491, an INVITE
//     transaction is still in progress (RFC 3261 §14.1);
//   - while the caller's previous offer is being answered: 500 with
//     Retry-After 0-10 s (RFC 3261 §14.2, RFC 3311 §5.2);
//   - while our own session refresh is outstanding (glare): 491 (RFC 3261
//     §14.2, RFC 3311 §5.2).
func (c *call) beginOffer(invite bool) *rejection {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.state == stateEnded:
		return reject(sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
	case invite && (c.state != stateConfirmed || c.acked != nil):
		return reject(sip.StatusRequestPending, "Request Pending")
	case c.offerPending:
		return reject(sip.StatusInternalServerError, "Server Internal Error",
			sip.NewHeader("Retry-After", strconv.Itoa(rand.IntN(11))))
	case c.refreshing:
		return reject(sip.StatusRequestPending, "Request Pending")
	}
	c.offerPending = true
	return nil
}

func (c *call) endOffer() {
	c.mu.Lock()
	c.offerPending = false
	c.mu.Unlock()
}

// reofferRejection maps a Reoffer error; the session is left as it was.
func reofferRejection(err error, agent string) *rejection {
	if errors.Is(err, mixer.ErrNoCommonCodec) || errors.Is(err, mixer.ErrBadSDP) {
		return joinRejection(err, agent)
	}
	return reject(sip.StatusInternalServerError, "Server Internal Error")
}
