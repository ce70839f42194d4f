package sipfront

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emiago/sipgo/sip"

	"confab/focus"
)

// REFER to a Focus (RFC 4579 §5.5, §5.6; RFC 3515): Refer-To names a
// participant the Focus is to call into the conference or, with
// method=BYE in the Refer-To URI, to remove. The sender is the caller of
// the dialog the REFER came in, or an authenticated user out of a dialog.
// The REFER is answered 202 and its outcome reported in NOTIFYs of the
// refer event package with a message/sipfrag body (RFC 3515 §2.4.4),
// unless the sender asked for none with Refer-Sub: false (RFC 4488).

// onRefer handles REFER.
func (f *Front) onRefer(req *sip.Request, tx sip.ServerTransaction) {
	if f.conf == nil {
		f.respond(tx, req, sip.StatusMethodNotAllowed, "Method Not Allowed", sip.NewHeader("Allow", f.allowed()))
		return
	}
	participant, bye, err := referTo(req)
	if err != nil {
		f.respond(tx, req, sip.StatusBadRequest, "Bad Refer-To")
		return
	}
	var (
		dlg *call // where the NOTIFYs go
		o   focus.Origin
		own bool // dlg was made by this REFER
	)
	if toTag(req) != "" {
		dlg = f.lookupCall(req)
		if dlg == nil {
			f.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
			return
		}
		if !dlg.checkCSeq(req) {
			f.respond(tx, req, sip.StatusInternalServerError, "Out of Order CSeq")
			return
		}
		o = f.origin(dlg)
		if o.Target == "" && o.Member == nil {
			f.respond(tx, req, sip.StatusForbidden, "Forbidden")
			return
		}
	} else {
		target, err := targetOf(&req.Recipient)
		if err != nil {
			f.respond(tx, req, sip.StatusNotFound, "Not Found")
			return
		}
		user, rej := f.authenticatedUser(req)
		if rej != nil {
			f.respond(tx, req, rej.code, rej.reason, rej.headers...)
			return
		}
		o = focus.Origin{User: user, From: req.From().Address.String(), Target: target, Dialer: f.dialer()}
		dlg = f.newCall(req, sip.GenerateTagN(16))
		dlg.cancelJoin()
		own = true
	}
	referSub, _ := firstHeader(req, "refer-sub")
	subscribed := !strings.EqualFold(referSub, "false")

	// The outcome may come before the 202 is out (a removal); it waits
	// here for the NOTIFYs.
	outcome := make(chan error, 1)
	done := func(err error) { outcome <- err }
	ctx, cancel := context.WithTimeout(f.baseContext(), c3pTimeout)
	err = f.conf.ctl.Refer(ctx, o, participant, bye, done)
	cancel()
	if err != nil {
		rej := referRejection(err)
		f.log.Info("REFER refused", "participant", participant, "bye", bye, "error", err)
		f.respond(tx, req, rej.code, rej.reason, rej.headers...)
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusAccepted, "Accepted", nil)
	if own {
		if to := res.To(); to != nil {
			to.Params.Add("tag", dlg.key.localTag)
		}
	}
	res.AppendHeader(dlg.contact.Clone())
	if !subscribed {
		res.AppendHeader(sip.NewHeader("Refer-Sub", "false"))
	}
	f.sendResponse(tx, res)
	if !subscribed {
		return
	}
	f.background.add()
	go func() {
		defer f.background.done()
		f.referNotify(dlg, "active;expires=60", "SIP/2.0 100 Trying")
		var frag string
		select {
		case err := <-outcome:
			frag = sipfrag(err)
		case <-f.baseContext().Done():
			frag = "SIP/2.0 503 Service Unavailable"
		}
		f.referNotify(dlg, "terminated;reason=noresource", frag)
	}()
}

// referTo reads the Refer-To header (RFC 3515 §2.1): the participant's URI
// without the method parameter, and whether that asks for BYE.
func referTo(req *sip.Request) (string, bool, error) {
	hs := req.GetHeaders("Refer-To")
	if len(hs) == 0 {
		hs = req.GetHeaders("r")
	}
	if len(hs) != 1 {
		return "", false, errors.New("sipfront: want exactly one Refer-To")
	}
	var u sip.Uri
	params := sip.NewParams()
	if _, err := sip.ParseAddressValue(hs[0].Value(), &u, &params); err != nil || u.Host == "" {
		return "", false, fmt.Errorf("sipfront: Refer-To %q", hs[0].Value())
	}
	method, _ := u.UriParams.Get("method")
	bye := strings.EqualFold(method, string(sip.BYE))
	if method != "" && !bye && !strings.EqualFold(method, string(sip.INVITE)) {
		return "", false, fmt.Errorf("sipfront: Refer-To method %q", method)
	}
	scheme := u.Scheme
	if scheme == "" {
		scheme = "sip"
	}
	out := scheme + ":"
	if u.User != "" {
		out += u.User + "@"
	}
	out += u.Host
	if u.Port > 0 {
		out += fmt.Sprintf(":%d", u.Port)
	}
	if tp, ok := u.UriParams.Get("transport"); ok {
		out += ";transport=" + tp
	}
	return out, bye, nil
}

// referRejection maps a refused REFER.
func referRejection(err error) *rejection {
	switch {
	case errors.Is(err, focus.ErrUnknownMember), errors.Is(err, focus.ErrUnknownConference):
		return reject(sip.StatusNotFound, "Not Found")
	case errors.Is(err, focus.ErrInvalidCommand):
		return reject(sip.StatusBadRequest, "Bad Request")
	case errors.Is(err, focus.ErrEnded), errors.Is(err, focus.ErrUnavailable):
		return reject(sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
	}
	return reject(sip.StatusForbidden, "Forbidden") // not allowed, or not authenticated
}

// sipfrag renders a dial-out's outcome as the status line of a
// message/sipfrag body (RFC 3420).
func sipfrag(err error) string {
	var se *StatusError
	switch {
	case err == nil:
		return "SIP/2.0 200 OK"
	case errors.As(err, &se):
		return fmt.Sprintf("SIP/2.0 %d %s", se.Code, strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, se.Reason))
	case errors.Is(err, context.DeadlineExceeded):
		return "SIP/2.0 408 Request Timeout"
	}
	return "SIP/2.0 503 Service Unavailable"
}

// referNotify sends one NOTIFY of the refer event package in dlg.
func (f *Front) referNotify(dlg *call, state, frag string) {
	req := dlg.newRequest(sip.NOTIFY)
	req.AppendHeader(sip.NewHeader("Event", eventRefer))
	req.AppendHeader(sip.NewHeader("Subscription-State", state))
	ct := sip.ContentTypeHeader(contentTypeSipfrag)
	req.AppendHeader(&ct)
	req.SetBody([]byte(frag + "\r\n"))
	ctx, cancel := context.WithTimeout(f.baseContext(), 64*f.cfg.t1)
	defer cancel()
	if res, err := f.send(ctx, req); err != nil {
		f.log.Debug("refer NOTIFY not answered", "call_id", dlg.key.callID, "error", err)
	} else if !res.IsSuccess() {
		f.log.Debug("refer NOTIFY refused", "call_id", dlg.key.callID, "status", res.StatusCode)
	}
}
