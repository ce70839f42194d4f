package sipfront

import (
	"context"
	"strconv"
	"time"

	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/c3p"
)

// C3P over SIP (MS-CONFBAS 2.1, MS-CONFPRO 2.1): SERVICE to the Focus
// Factory, INVITE with addUser to a Focus (a control dialog without
// media), INFO in a dialog with the Focus; and the RFC 4579 §5.2 ad-hoc
// INVITE to the conference factory URI.

// c3pTimeout bounds the handling of one C3P command: the database and the
// Focus answer in milliseconds, and the sender retransmits after 500 ms.
const c3pTimeout = 10 * time.Second

// onService takes a C3P request to the Focus Factory. The sender must
// authenticate when the Front has an Authenticator (401 first); C3P
// failures (unauthenticated, not allowed, bad command) come back as a 200
// whose C3P response says failure.
func (f *Front) onService(req *sip.Request, tx sip.ServerTransaction) {
	switch {
	case f.conf == nil:
		f.respond(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", f.allowed()))
		return
	case !isFactoryURI(&req.Recipient):
		f.respond(tx, req, sip.StatusNotFound, "Not Found")
		return
	case mediaType(req) != c3p.ContentType:
		f.respond(tx, req, sip.StatusUnsupportedMediaType, "Unsupported Media Type", sip.NewHeader("Accept", c3p.ContentType))
		return
	}
	user, rej := f.authenticatedUser(req)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	r, failure, rej := decodeC3P(req)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	if failure == nil {
		ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
		defer cancel()
		o := focus.Origin{User: user, From: req.From().Address.String(), Dialer: f.dialer()}
		failure = f.conf.ctl.C3P(ctx, o, r)
	}
	f.sendResponse(tx, f.c3pReply(req, sip.StatusOK, "OK", failure.Encode()))
}

// onC3PInfo takes a C3P command sent by INFO in dialog c: a control
// dialog's user, or a caller in its own call. The answer is a 200 with the
// C3P response, success or failure.
func (f *Front) onC3PInfo(c *call, req *sip.Request, tx sip.ServerTransaction) {
	r, res, rej := decodeC3P(req)
	if rej != nil {
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	if res == nil {
		ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
		defer cancel()
		res = f.conf.ctl.C3P(ctx, f.origin(c), r)
	}
	f.sendResponse(tx, f.c3pReply(req, sip.StatusOK, "OK", res.Encode()))
}

// onFocusInvite takes an INVITE to a Focus carrying C3P addUser: the
// sender joins the Focus's control (MS-CONFBAS 3.2.5.1) in a dialog of its
// own, without media, and sends its commands in INFO there. A failure is
// the matching SIP error with the C3P response in its body.
func (f *Front) onFocusInvite(req *sip.Request, tx sip.ServerTransaction) {
	target, err := targetOf(&req.Recipient)
	if err != nil {
		f.rejectInvite(tx, req, reject(sip.StatusNotFound, "Not Found"))
		return
	}
	user, rej := f.authenticatedUser(req)
	if rej != nil {
		if rej.code == sip.StatusUnauthorized {
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		} else {
			f.rejectInvite(tx, req, rej)
		}
		return
	}
	r, res, rej := decodeC3P(req)
	if rej != nil {
		f.rejectInvite(tx, req, rej)
		return
	}
	if res == nil {
		if _, ok := r.Command.(c3p.AddUser); !ok {
			res = r.Answer(c3p.Failure, c3p.ReasonMalformed) // an INVITE to the Focus carries addUser
		} else {
			ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
			o := focus.Origin{User: user, From: req.From().Address.String(), Target: target, Dialer: f.dialer()}
			res = f.conf.ctl.C3P(ctx, o, r)
			cancel()
		}
	}
	if res.Code != c3p.Success {
		code, reason := c3pFailureStatus(res.Reason)
		f.stats.rejected.Add(1)
		f.sendResponse(tx, f.c3pReply(req, code, reason, res.Encode()))
		return
	}

	c := f.newCall(req, sip.GenerateTagN(16))
	c.cancelJoin() // no Join runs in a control dialog
	c.ctl = &controlDialog{user: user, target: target}
	mergeKey := fromTag(req) + "\x00" + c.key.callID + "\x00" + strconv.FormatUint(uint64(req.CSeq().SeqNo), 10)
	if !f.addCall(c, mergeKey) {
		f.rejectInvite(tx, req, reject(sip.StatusLoopDetected, "Loop Detected"))
		return
	}
	defer f.doneInflight(mergeKey)
	c.mu.Lock()
	c.state = stateAnswered
	c.mu.Unlock()

	ok := f.c3pReply(req, sip.StatusOK, "OK", res.Encode(), c.contact.Clone(),
		sip.NewHeader("Allow", f.allowed()), sip.NewHeader("Supported", supportedTags))
	if to := ok.To(); to != nil {
		to.Params.Add("tag", c.key.localTag)
	}
	acked := c.expectAck(req.CSeq().SeqNo)
	if err := tx.Respond(ok); err != nil {
		f.finish(c, "cancel")
		return
	}
	f.stats.answered.Add(1)
	if !f.awaitAck(c, tx, ok, acked) {
		f.stats.ackTimeouts.Add(1)
		f.end(c, "ack timeout", "no ACK")
	}
}

// adhoc creates the conference of an RFC 4579 §5.2 INVITE to the
// conference factory URI and points the admission at it. The caller must
// be an authenticated user, who organizes the new conference. It returns
// the new conference's Focus URI for the 2xx Contact.
func (f *Front) adhoc(req *sip.Request, adm *admission) (string, *rejection) {
	if adm.user == "" {
		if f.cfg.auth == nil {
			return "", reject(sip.StatusForbidden, "Forbidden", warningHeader(399, f.localAgent(req),
				"creating a conference needs an authenticated user"))
		}
		user, rej := f.authenticatedUser(req)
		if rej != nil {
			return "", rej
		}
		adm.user = user
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
	defer cancel()
	target, uri, err := f.conf.ctl.CreateAdHoc(ctx, adm.user)
	if err != nil {
		f.log.Warn("ad-hoc conference not created", "user", adm.user, "error", err)
		return "", reject(sip.StatusServiceUnavailable, "Service Unavailable", sip.NewHeader("Retry-After", "30"))
	}
	adm.target = target
	return uri, nil
}

// focusContact makes c's Contact the new conference's Focus URI, with
// isfocus (RFC 4579 §5.2: the 2xx to the factory names the conference).
func (f *Front) focusContact(c *call, focusURI string) {
	var u sip.Uri
	if err := sip.ParseUri(focusURI, &u); err != nil {
		return
	}
	dialled := u
	ct := f.contactFor(dialled, c.viaHost, c.viaPort, c.transport)
	c.contact = ct
}
