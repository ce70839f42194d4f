package sipfront

import (
	"errors"
	"net/netip"
	"strconv"

	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/c3p"
	"confab/mixer"
)

// admission is what the checks before Join found out about a call.
type admission struct {
	target string
	user   string // authenticated user, "" if none
	trunk  string // trunk name, "" for a direct call
	offer  []byte
	timer  sessionTimer
}

// joinResult is what Join returned.
type joinResult struct {
	member focus.Member
	answer []byte
	err    error
}

// onInvite handles INVITE: out of dialog it sets up a call, in a dialog (a
// To tag) it is a re-INVITE.
func (f *Front) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if toTag(req) != "" {
		f.onReinvite(req, tx)
		return
	}
	f.stats.invites.Add(1)
	if f.closing.Load() {
		f.rejectInvite(tx, req, reject(sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30")))
		return
	}
	// RFC 3261 §8.2.6.1: 100 Trying when the final answer may take longer
	// than 200 ms, which it may: Join reaches the Focus, the MCU and the
	// database.
	f.respond(tx, req, sip.StatusTrying, "Trying")
	if f.conf != nil && mediaType(req) == c3p.ContentType {
		f.onFocusInvite(req, tx) // C3P addUser: a control dialog (service.go)
		return
	}

	adm, rej := f.admit(req, tx)
	var focusURI string
	if rej == nil && f.conf != nil && isFactoryURI(&req.Recipient) {
		focusURI, rej = f.adhoc(req, &adm) // RFC 4579 §5.2 (service.go)
	}
	if rej != nil {
		if rej.code != sip.StatusUnauthorized {
			f.rejectInvite(tx, req, rej)
		} else {
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		}
		return
	}

	c := f.newCall(req, sip.GenerateTagN(16))
	if focusURI != "" {
		f.focusContact(c, focusURI)
	}
	c.timer = adm.timer
	mergeKey := fromTag(req) + "\x00" + c.key.callID + "\x00" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
	if !f.addCall(c, mergeKey) {
		c.cancelJoin()
		f.rejectInvite(tx, req, reject(sip.StatusLoopDetected, "Loop Detected"))
		return
	}
	defer f.doneInflight(mergeKey)

	// A CANCEL makes sipgo answer 200 to it and 487 to the INVITE; we only
	// stop the Join (RFC 3261 §9.2).
	onCancel := func(*sip.Request) {
		c.cancelOnce.Do(func() { close(c.canceled) })
		c.cancelJoin()
	}
	if !tx.OnCancel(onCancel) {
		onCancel(nil)
	}

	joined := make(chan joinResult, 1)
	go func() {
		m, answer, err := f.joiner.Join(c.joinCtx, adm.target, focus.Call{
			CallID:      c.key.callID,
			From:        req.From().Address.String(),
			DisplayName: req.From().DisplayName,
			User:        adm.user,
			Trunk:       adm.trunk,
			Source:      c.source,
			Offer:       adm.offer,
		}, c)
		joined <- joinResult{m, answer, err}
	}()

	var jr joinResult
	select {
	case jr = <-joined:
	case <-c.canceled:
		f.callCanceled(c, joined)
		return
	case <-c.hangupCh:
		f.hungUpEarly(tx, req, c, joined)
		return
	case <-c.joinCtx.Done():
		select {
		case <-c.canceled: // the CANCEL also cancels joinCtx
			f.callCanceled(c, joined)
			return
		default:
		}
		// The Focus did not answer within 64*T1, or the Front is stopping.
		f.finish(c, "timeout")
		f.rejectInvite(tx, req, reject(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"))
		go func() { jr := <-joined; c.leaveLate(jr.member, "timeout") }()
		return
	}
	c.cancelJoin() // Join is over; release its timer now, not at the call's end
	if jr.err != nil {
		f.finish(c, "rejected")
		f.rejectInvite(tx, req, joinRejection(jr.err, f.localAgent(req)))
		return
	}
	f.answer(req, tx, c, jr)
}

// answer sends the 200 for a joined call and waits for its ACK.
func (f *Front) answer(req *sip.Request, tx sip.ServerTransaction, c *call, jr joinResult) {
	c.mu.Lock()
	if c.state == stateEnded { // CANCEL or Hangup raced with Join's return
		c.mu.Unlock()
		c.leaveLate(jr.member, "cancel")
		return
	}
	c.member, c.localSDP, c.state = jr.member, jr.answer, stateAnswered
	hungUp := c.hungUp
	c.mu.Unlock()
	if hungUp {
		f.hungUpEarly(tx, req, c, nil)
		return
	}

	if em, ok := jr.member.(focus.EarlyMedia); ok && em.EarlyMedia() && !f.progress(req, tx, c, jr) {
		return
	}
	res := f.okResponse(req, c, jr.answer)
	acked := c.expectAck(req.CSeq().SeqNo)
	f.responses.count(res)
	if err := tx.Respond(res); err != nil {
		// Canceled between Join and the answer: sipgo sent 487.
		f.stats.canceled.Add(1)
		f.finish(c, "cancel")
		return
	}
	f.stats.answered.Add(1)
	if !f.awaitAck(c, tx, res, acked) {
		// RFC 3261 §13.3.1.4: no ACK after 64*T1, the session SHOULD end.
		f.stats.ackTimeouts.Add(1)
		f.log.Info("2xx not acknowledged, ending call", "call_id", c.key.callID)
		f.end(c, "ack timeout", "no ACK")
		return
	}
	c.mu.Lock()
	hungUp, reason, leaveReason := c.hungUp, c.hangup, c.hangupLeave
	ended := c.state == stateEnded
	c.mu.Unlock()
	switch {
	case ended:
	case hungUp:
		f.end(c, leaveReason, reason)
	default:
		f.armTimer(c)
	}
}

// progress sends 183 Session Progress with the SDP answer for a call
// whose first audio is a prompt (focus.EarlyMedia): a gateway or phone
// that discards media before it has an answer opens the path on it, so
// the prompt, which the MCU starts at once, is heard from its first word
// (RFC 3960 §2.1, the gateway model). The 200 follows at once with the
// same SDP, which is the answer of RFC 3264 when the 183 was unreliable
// (RFC 6337 §3.1.1): the PIN and the conference number are collected
// after the answer, since gateways pass the caller's digits reliably only
// then and trunks cut early media after a while. A caller that requires
// 100rel gets the 183 reliably and the 200 after its PRACK (prack.go).
// progress reports whether the call goes on to the 200; if not, it has
// been ended and the INVITE answered.
func (f *Front) progress(req *sip.Request, tx sip.ServerTransaction, c *call, jr joinResult) bool {
	res := sip.NewResponseFromRequest(req, sip.StatusSessionInProgress, "Session Progress", nil)
	if to := res.To(); to != nil { // the early dialog's tag is the dialog's (RFC 3261 §12.1.1)
		to.Params.Add("tag", c.key.localTag)
	}
	res.AppendHeader(c.contact.Clone())
	ct := sip.ContentTypeHeader(contentTypeSDP)
	res.AppendHeader(&ct)
	res.SetBody(jr.answer)
	if !requires100rel(req) {
		f.sendResponse(tx, res)
		return true
	}
	switch f.reliableProgress(tx, c, res, req.CSeq().SeqNo) {
	case prackCanceled:
		f.callCanceled(c, nil)
		c.leaveLate(jr.member, "cancel")
		return false
	case prackHungUp:
		c.mu.Lock()
		leaveReason := c.hangupLeave
		c.mu.Unlock()
		f.hungUpEarly(tx, req, c, nil)
		c.leaveLate(jr.member, leaveReason)
		return false
	case prackTimeout:
		// RFC 3262 §3: no PRACK after 64*T1, reject with a 5xx.
		f.log.Info("183 not acknowledged by PRACK, refusing the call", "call_id", c.key.callID)
		f.finish(c, "no PRACK")
		c.leaveLate(jr.member, "no PRACK")
		f.rejectInvite(tx, req, reject(statusServerTimeout, "Server Time-out"))
		return false
	}
	return true
}

// okResponse builds a 2xx to an INVITE (or re-INVITE) of call c with our
// SDP: Contact with isfocus, what we allow and support, and the session
// timer.
func (f *Front) okResponse(req *sip.Request, c *call, sdp []byte) *sip.Response {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	if to := res.To(); to != nil { // our tag on every response of the dialog
		to.Params.Add("tag", c.key.localTag)
	}
	res.AppendHeader(c.contact.Clone())
	res.AppendHeader(sip.NewHeader("Allow", f.allowed()))
	res.AppendHeader(sip.NewHeader("Supported", supportedTagsUAS))
	c.mu.Lock()
	st := c.timer
	c.mu.Unlock()
	for _, h := range st.headers() {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", f.cfg.userAgent))
	ct := sip.ContentTypeHeader(contentTypeSDP)
	res.AppendHeader(&ct)
	res.SetBody(sdp)
	return res
}

// callCanceled finishes a call whose INVITE was canceled during Join; the
// Member, if Join still returns one, leaves at once.
func (f *Front) callCanceled(c *call, joined <-chan joinResult) {
	f.stats.canceled.Add(1)
	f.finish(c, "cancel")
	if joined != nil {
		go func() { jr := <-joined; c.leaveLate(jr.member, "cancel") }()
	}
}

// hungUpEarly answers an INVITE the Focus hung up before it was answered:
// 480 with the Focus's reason (RFC 3326), and Leave for its Member.
func (f *Front) hungUpEarly(tx sip.ServerTransaction, req *sip.Request, c *call, joined <-chan joinResult) {
	c.mu.Lock()
	reason, leaveReason := c.hangup, c.hangupLeave
	c.mu.Unlock()
	f.finish(c, leaveReason)
	f.rejectInvite(tx, req, reject(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable",
		reasonHeader("SIP", sip.StatusTemporarilyUnavailable, reason)))
	if joined != nil {
		go func() { jr := <-joined; c.leaveLate(jr.member, leaveReason) }()
	}
}

// rejectInvite answers an INVITE with a final error response and counts it.
func (f *Front) rejectInvite(tx sip.ServerTransaction, req *sip.Request, rej *rejection) {
	f.stats.rejected.Add(1)
	f.respond(tx, req, rej.code, rej.reason, rej.headers...)
}

// joinRejection maps a Join error to the final response (see the package
// documentation).
func joinRejection(err error, agent string) *rejection {
	switch {
	case errors.Is(err, focus.ErrUnknownConference):
		return reject(sip.StatusNotFound, "Not Found")
	case errors.Is(err, focus.ErrLocked):
		return reject(sip.StatusForbidden, "Forbidden", warningHeader(399, agent, "conference is locked"))
	case errors.Is(err, focus.ErrForbidden):
		return reject(sip.StatusForbidden, "Forbidden")
	case errors.Is(err, focus.ErrFull):
		return reject(sip.StatusBusyHere, "Busy Here")
	case errors.Is(err, focus.ErrUnavailable), errors.Is(err, focus.ErrEnded):
		return reject(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
	case errors.Is(err, mixer.ErrNoCommonCodec):
		// RFC 3261 §20.43 warn-code 305: incompatible media format.
		return reject(sip.StatusNotAcceptableHere, "Not Acceptable Here", warningHeader(305, agent, "no common codec"))
	case errors.Is(err, mixer.ErrBadSDP):
		// Warn-code 304: media type not available (no usable audio stream).
		return reject(sip.StatusNotAcceptableHere, "Not Acceptable Here", warningHeader(304, agent, "no usable audio stream"))
	case errors.Is(err, mixer.ErrCapacity):
		return reject(sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "60"))
	}
	return reject(sip.StatusInternalServerError, "Server Internal Error")
}

// admit runs the checks before Join: lockout and authentication, session
// timer negotiation, the offer, and the target.
func (f *Front) admit(req *sip.Request, tx sip.ServerTransaction) (admission, *rejection) {
	var adm admission
	src, _ := netip.ParseAddrPort(req.Source())
	if f.cfg.trunks != nil {
		adm.trunk, _ = f.cfg.trunks.TrunkForAddress(src.Addr().Unmap())
	}
	if adm.trunk == "" {
		user, rej := f.authenticateInvite(req, src)
		if rej != nil {
			return adm, rej
		}
		adm.user = user
		if tu, ok := f.cfg.trunks.(TrunkUsers); ok && user != "" {
			if name, ok := tu.TrunkForUser(user); ok { // a trunk trusted by its credentials
				adm.trunk, adm.user = name, ""
			}
		}
	}

	tr, err := timerRequestOf(req)
	if err != nil {
		return adm, reject(sip.StatusBadRequest, "Bad Session-Expires or Min-SE")
	}
	st, tooSmall := negotiateTimer(f.cfg.sessionInterval, f.cfg.minSE, tr)
	if tooSmall {
		return adm, reject(statusIntervalTooSmall, "Session Interval Too Small", tooSmallHeaders(f.cfg.minSE)...)
	}
	adm.timer = st

	if rej := checkOffer(req, f.localAgent(req)); rej != nil {
		return adm, rej
	}
	adm.offer = req.Body()

	target, err := targetOf(&req.Recipient)
	if err != nil {
		return adm, reject(sip.StatusNotFound, "Not Found")
	}
	if adm.trunk != "" {
		if t, ok := f.cfg.trunks.TargetForDID(adm.trunk, target); ok {
			target = t
		}
	}
	adm.target = target
	return adm, nil
}

// checkOffer wants an SDP offer in the INVITE: a late offer (no body) gets
// 488, since the MCU answers offers and does not make them; another body
// type gets 415 with Accept (RFC 3261 §21.4.13).
func checkOffer(req *sip.Request, agent string) *rejection {
	if len(req.Body()) == 0 {
		return reject(sip.StatusNotAcceptableHere, "Not Acceptable Here", warningHeader(399, agent, "an SDP offer is required"))
	}
	if mediaType(req) != contentTypeSDP {
		return reject(sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", contentTypeSDP))
	}
	if enc, ok := firstHeader(req, "content-encoding", "e"); ok && enc != "" && enc != "identity" {
		return reject(sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept-Encoding", "identity"))
	}
	return nil
}

// localAgent names us in Warning headers (RFC 3261 §20.43 warn-agent).
func (f *Front) localAgent(req *sip.Request) string {
	h, p := f.localHostPort(req.Recipient.Host)
	if p == 0 {
		return h
	}
	return h + ":" + strconv.Itoa(p)
}
