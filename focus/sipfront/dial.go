package sipfront

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus"
)

// Dial-out: the Front as a user agent client (RFC 3261 §13.2), for calling a
// participant into a conference.

// StatusError is the final response that failed an outgoing call. It
// matches ErrCallFailed with errors.Is.
type StatusError struct {
	Code   int
	Reason string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sipfront: call failed: %d %s", e.Code, e.Reason)
}

// Is makes errors.Is(err, ErrCallFailed) true.
func (e *StatusError) Is(target error) bool { return target == ErrCallFailed }

// DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	user, password string
	caller         string
	display        string
}

// WithCredentials answers a 401 or 407 challenge with these credentials.
func WithCredentials(user, password string) DialOption {
	return func(c *dialConfig) { c.user, c.password = user, password }
}

// WithCaller sets the user part and display name of the From header
// (default "conference").
func WithCaller(user, displayName string) DialOption {
	return func(c *dialConfig) { c.caller, c.display = user, displayName }
}

// Outbound is a call the Front placed with Dial. It is the focus.Leg of
// that call.
type Outbound struct {
	f         *Front
	sess      *sipgo.DialogClientSession
	key       dialogKey // Call-ID and our From tag
	remoteTag string
	done      chan struct{}
	once      sync.Once
}

var _ focus.Leg = (*Outbound)(nil)

// Dial calls target (a SIP URI; ;transport=tcp selects TCP) with an SDP
// offer and returns the callee's answer once the call is up (INVITE, 2xx,
// ACK). A final error response is a *StatusError; cancelling ctx before the
// answer sends CANCEL. In the call's dialog the Front takes BYE and OPTIONS
// from the callee; other requests get 481 for now.
func (f *Front) Dial(ctx context.Context, target string, offer []byte, opts ...DialOption) ([]byte, *Outbound, error) {
	select {
	case <-f.ready:
	default:
		return nil, nil, ErrNotServing
	}
	if f.closing.Load() {
		return nil, nil, ErrShuttingDown
	}
	cfg := dialConfig{caller: "conference"}
	for _, o := range opts {
		o(&cfg)
	}
	var u sip.Uri
	if err := sip.ParseUri(target, &u); err != nil || u.Host == "" ||
		(!strings.EqualFold(u.Scheme, "sip") && !strings.EqualFold(u.Scheme, "sips")) {
		return nil, nil, fmt.Errorf("%w: %q", ErrBadTarget, target)
	}
	transport := "UDP"
	if tp, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(tp, "tcp") {
		transport = "TCP"
	}
	host, port := f.localHostPort(u.Host)
	contact := f.contactFor(sip.Uri{User: cfg.caller}, host, port, transport)

	req := sip.NewRequest(sip.INVITE, u)
	from := &sip.FromHeader{DisplayName: cfg.display, Address: sip.Uri{Scheme: "sip", User: cfg.caller, Host: f.cfg.domain}, Params: sip.NewParams()}
	from.Params.Add("tag", sip.GenerateTagN(16))
	to := &sip.ToHeader{Address: sip.Uri{Scheme: u.Scheme, User: u.User, Host: u.Host, Port: u.Port}}
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + host)
	maxfwd := sip.MaxForwardsHeader(70)
	ct := sip.ContentTypeHeader(contentTypeSDP)
	req.AppendHeader(f.viaFor(transport, host, port))
	req.AppendHeader(&maxfwd)
	req.AppendHeader(from)
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: randomCSeq(), MethodName: sip.INVITE})
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Allow", f.allowed()))
	req.AppendHeader(sip.NewHeader("Supported", supportedTags))
	req.AppendHeader(sip.NewHeader("User-Agent", f.cfg.userAgent))
	req.AppendHeader(&ct)
	req.SetBody(offer)
	req.SetTransport(transport)
	if transport == "UDP" {
		f.udpLaddr.Copy(&req.Laddr)
	}

	dua := sipgo.DialogUA{Client: f.cli, ContactHDR: *contact}
	sess, err := dua.WriteInvite(ctx, req, prebuilt)
	if err != nil {
		return nil, nil, fmt.Errorf("sipfront: dial %s: %w", target, err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: cfg.user, Password: cfg.password}); err != nil {
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return nil, nil, &StatusError{Code: de.Res.StatusCode, Reason: de.Res.Reason}
		}
		return nil, nil, fmt.Errorf("sipfront: dial %s: %w", target, err)
	}
	if err := sess.Ack(ctx); err != nil {
		return nil, nil, fmt.Errorf("sipfront: dial %s: ACK: %w", target, err)
	}
	o := &Outbound{
		f:         f,
		sess:      sess,
		key:       dialogKey{callID: string(callID), localTag: fromTag(req)},
		remoteTag: toTag(sess.InviteResponse),
		done:      make(chan struct{}),
	}
	f.mu.Lock()
	f.outbound[o.key] = o
	f.mu.Unlock()
	return sess.InviteResponse.Body(), o, nil
}

// CallID returns the Call-ID of the call.
func (o *Outbound) CallID() string { return o.key.callID }

// Done is closed when the call has ended, from either side.
func (o *Outbound) Done() <-chan struct{} { return o.done }

// Hangup ends the call with BYE carrying an RFC 3326 Reason. It does not
// block.
func (o *Outbound) Hangup(reason string) {
	if !o.ended("hangup") {
		return
	}
	f := o.f
	f.background.add()
	go func() {
		defer f.background.done()
		bye := sip.NewRequest(sip.BYE, o.remoteTarget())
		bye.AppendHeader(reasonHeader("Q.850", 16, reason))
		bye.AppendHeader(sip.NewHeader("User-Agent", f.cfg.userAgent))
		ctx, cancel := context.WithTimeout(f.baseContext(), 64*f.cfg.t1)
		defer cancel()
		if err := o.sess.WriteBye(ctx, bye); err != nil {
			f.log.Debug("BYE for outgoing call failed", "call_id", o.key.callID, "error", err)
		}
	}()
}

// remoteTarget is the callee's Contact from its 2xx (RFC 3261 §12.1.2).
func (o *Outbound) remoteTarget() sip.Uri {
	if ct := o.sess.InviteResponse.Contact(); ct != nil {
		return *ct.Address.Clone()
	}
	return *o.sess.InviteRequest.Recipient.Clone()
}

// ended marks the call over; it reports whether this call ended it.
func (o *Outbound) ended(why string) bool {
	first := false
	o.once.Do(func() {
		first = true
		o.f.mu.Lock()
		delete(o.f.outbound, o.key)
		o.f.mu.Unlock()
		close(o.done)
		o.f.log.Debug("outgoing call ended", "call_id", o.key.callID, "why", why)
	})
	return first
}

// lookupOutbound finds the outgoing call an in-dialog request belongs to.
func (f *Front) lookupOutbound(req *sip.Request) *Outbound {
	key := dialogKey{callID: req.CallID().Value(), localTag: toTag(req)}
	f.mu.Lock()
	o := f.outbound[key]
	f.mu.Unlock()
	if o == nil || o.remoteTag != fromTag(req) {
		return nil
	}
	return o
}

// viaFor builds the top Via of a request we originate (RFC 3261 §8.1.1.7),
// with rport (RFC 3581) so the answer finds us through NAT.
func (f *Front) viaFor(transport, host string, port int) *sip.ViaHeader {
	via := &sip.ViaHeader{
		ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: transport,
		Host: host, Port: port, Params: sip.NewParams(),
	}
	via.Params.Add("branch", sip.GenerateBranchN(16))
	via.Params.Add("rport", "")
	return via
}
