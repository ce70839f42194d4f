package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// StatusError is the final non-2xx response that failed a request. Match
// it with errors.As to read the code.
type StatusError struct {
	Code     int
	Reason   string
	Response *sip.Response
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("sipcaller: %d %s", e.Code, e.Reason)
}

// StatusCode returns the SIP status of a *StatusError in err's chain, or 0.
func StatusCode(err error) int {
	var se *StatusError
	if errors.As(err, &se) {
		return se.Code
	}
	return 0
}

// DialOption configures Dial.
type DialOption func(*dialConfig)

type dialConfig struct {
	user, password string
	headers        []sip.Header
}

// WithCredentials answers a 401 or 407 challenge to the INVITE with these
// digest credentials.
func WithCredentials(user, password string) DialOption {
	return func(c *dialConfig) { c.user, c.password = user, password }
}

// WithHeader adds a header to the INVITE.
func WithHeader(name, value string) DialOption {
	return func(c *dialConfig) { c.headers = append(c.headers, sip.NewHeader(name, value)) }
}

// Ending says how a call ended.
type Ending struct {
	// Remote is true when the far end hung up with BYE.
	Remote bool
	// Reason is the Reason header of that BYE (RFC 3326), e.g.
	// `Q.850;cause=16;text="wrong PIN"`, or why the call ended here.
	Reason string
}

// Call is one established call (an INVITE dialog, RFC 3261 §12) that the
// Agent placed.
type Call struct {
	a         *Agent
	sess      *sipgo.DialogClientSession
	key       dialogKey
	transport string
	contact   *sip.ContactHeader
	ok        *sip.Response // the 2xx that set the call up

	// reqMu keeps our in-dialog requests one at a time, so that their
	// CSeq numbers go out in order (RFC 3261 §12.2.1.1).
	reqMu sync.Mutex

	mu     sync.Mutex
	offer  []byte // our current SDP
	answer []byte // the far end's current SDP
	ending Ending
	ended  chan struct{}
	once   sync.Once
}

// Dial calls target, a sip: URI (";transport=tcp" selects TCP), with an SDP
// offer, and returns the call once it is answered and acknowledged. A final
// error response is a *StatusError; a 401 or 407 is answered once with the
// credentials of WithCredentials. Cancelling ctx before the answer sends
// CANCEL.
func (a *Agent) Dial(ctx context.Context, target string, offer []byte, opts ...DialOption) (*Call, error) {
	if a.isClosed() {
		return nil, ErrClosed
	}
	var cfg dialConfig
	for _, o := range opts {
		o(&cfg)
	}
	u, transport, err := a.parseTarget(target)
	if err != nil {
		return nil, err
	}
	contact := a.contact(transport)
	req := sip.NewRequest(sip.INVITE, u)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: u.User, Host: u.Host, Port: u.Port}, Params: sip.NewParams()}
	callID := sip.CallIDHeader(sip.GenerateTagN(24) + "@" + a.addr.Addr().String())
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(a.from(u.Host))
	req.AppendHeader(to)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(&maxfwd)
	req.AppendHeader(contact)
	req.AppendHeader(sip.NewHeader("Allow", allowed))
	req.AppendHeader(sip.NewHeader("User-Agent", a.cfg.userAgent))
	for _, h := range cfg.headers {
		req.AppendHeader(h)
	}
	if offer != nil {
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
	}
	req.SetBody(offer)
	a.route(req, transport)

	// RewriteContact sends in-dialog requests where the 2xx came from
	// rather than to its Contact: symmetric, as through NAT.
	dua := sipgo.DialogUA{Client: a.cli, ContactHDR: *contact, RewriteContact: true}
	sess, err := dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: INVITE %s: %w", target, err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: cfg.user, Password: cfg.password}); err != nil {
		_ = sess.Close()
		var de *sipgo.ErrDialogResponse
		if errors.As(err, &de) {
			return nil, &StatusError{Code: de.Res.StatusCode, Reason: de.Res.Reason, Response: de.Res}
		}
		return nil, fmt.Errorf("sipcaller: INVITE %s: %w", target, err)
	}
	c := &Call{
		a:         a,
		sess:      sess,
		key:       dialogKey{callID: string(callID), localTag: tagOf(req.From().Params)},
		transport: transport,
		contact:   contact,
		ok:        sess.InviteResponse,
		offer:     offer,
		answer:    sess.InviteResponse.Body(),
		ended:     make(chan struct{}),
	}
	// Known before the ACK goes out: the far end may hang up right after it.
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil, ErrClosed
	}
	a.calls[c.key] = c
	a.mu.Unlock()
	if err := sess.Ack(ctx); err != nil {
		c.end(Ending{Reason: "ACK failed"})
		return nil, fmt.Errorf("sipcaller: ACK: %w", err)
	}
	return c, nil
}

func tagOf(p sip.HeaderParams) string {
	tag, _ := p.Get("tag")
	return tag
}

// CallID is the call's Call-ID.
func (c *Call) CallID() string { return c.key.callID }

// Response is the 2xx that answered the INVITE.
func (c *Call) Response() *sip.Response { return c.ok }

// Header returns the value of a header of the 2xx, "" when absent.
func (c *Call) Header(name string) string {
	if h := c.ok.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// Answer is the far end's current SDP: the 2xx's, or that of the last
// re-INVITE's answer.
func (c *Call) Answer() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.answer
}

func (c *Call) localSDP() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.offer
}

// Ended is closed when the call has ended, by either side.
func (c *Call) Ended() <-chan struct{} { return c.ended }

// Ending says how the call ended; it is the zero Ending while it is up.
func (c *Call) Ending() Ending {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ending
}

// WaitEnded waits until the call ends or ctx is done.
func (c *Call) WaitEnded(ctx context.Context) (Ending, error) {
	select {
	case <-c.ended:
		return c.Ending(), nil
	case <-ctx.Done():
		return Ending{}, fmt.Errorf("sipcaller: call %s still up: %w", c.key.callID, ctx.Err())
	}
}

func (c *Call) end(e Ending) {
	c.once.Do(func() {
		c.mu.Lock()
		c.ending = e
		c.mu.Unlock()
		close(c.ended)
		c.a.forget(c)
		_ = c.sess.Close()
	})
}

func (c *Call) isEnded() bool {
	select {
	case <-c.ended:
		return true
	default:
		return false
	}
}

// inDialog builds a request of the dialog; sipgo's session fills in From,
// To, Call-ID, CSeq and the route.
func (c *Call) inDialog(method sip.RequestMethod, body []byte, contentType string) *sip.Request {
	req := sip.NewRequest(method, *c.remoteTarget())
	req.AppendHeader(c.contact.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", c.a.cfg.userAgent))
	if body != nil {
		ct := sip.ContentTypeHeader(contentType)
		req.AppendHeader(&ct)
	}
	req.SetBody(body)
	c.a.route(req, c.transport)
	return req
}

// remoteTarget is the far end's Contact from the 2xx (RFC 3261 §12.1.2).
func (c *Call) remoteTarget() *sip.Uri {
	if ct := c.ok.Contact(); ct != nil {
		return ct.Address.Clone()
	}
	return c.sess.InviteRequest.Recipient.Clone()
}

// Bye hangs up. A final error response (481 when the far end has already
// forgotten the call) is a *StatusError; the call counts as ended either
// way.
func (c *Call) Bye(ctx context.Context) error {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.isEnded() {
		return ErrCallEnded
	}
	defer c.end(Ending{Reason: "BYE sent"})
	tx, err := c.sess.TransactionRequest(ctx, c.inDialog(sip.BYE, nil, ""))
	if err != nil {
		return fmt.Errorf("sipcaller: BYE: %w", err)
	}
	res, err := send(ctx, tx)
	if err != nil {
		return fmt.Errorf("sipcaller: BYE: %w", err)
	}
	if !res.IsSuccess() {
		return &StatusError{Code: res.StatusCode, Reason: res.Reason, Response: res}
	}
	return nil
}

// Reinvite offers new SDP in the dialog (RFC 3261 §14.1): a=sendonly to
// hold, a=sendrecv to resume. It acknowledges the 2xx and returns the
// answer; a final error response is a *StatusError and leaves the session
// as it was.
func (c *Call) Reinvite(ctx context.Context, offer []byte) ([]byte, error) {
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.isEnded() {
		return nil, ErrCallEnded
	}
	tx, err := c.sess.TransactionRequest(ctx, c.inDialog(sip.INVITE, offer, "application/sdp"))
	if err != nil {
		return nil, fmt.Errorf("sipcaller: re-INVITE: %w", err)
	}
	res, err := send(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: re-INVITE: %w", err)
	}
	if !res.IsSuccess() {
		// The transaction layer acknowledged the error (RFC 3261 §17.1.1.3).
		return nil, &StatusError{Code: res.StatusCode, Reason: res.Reason, Response: res}
	}
	// RFC 3261 §13.2.2.4: the ACK of a 2xx carries the INVITE's CSeq
	// number; the session reuses its last one for ACK.
	ack := sip.NewRequest(sip.ACK, *c.remoteTarget())
	ack.AppendHeader(c.contact.Clone())
	ack.SetBody(nil)
	c.a.route(ack, c.transport)
	if err := c.sess.WriteRequest(ack); err != nil {
		return nil, fmt.Errorf("sipcaller: ACK of re-INVITE: %w", err)
	}
	c.mu.Lock()
	c.offer, c.answer = offer, res.Body()
	c.mu.Unlock()
	return res.Body(), nil
}

// InfoDTMF sends one digit (0-9, *, #, A-D) as SIP INFO with an
// application/dtmf-relay body, lasting 160 ms.
func (c *Call) InfoDTMF(ctx context.Context, digit byte) error {
	if !strings.ContainsRune("0123456789*#ABCDabcd", rune(digit)) {
		return fmt.Errorf("sipcaller: %q is not a DTMF digit", digit)
	}
	body := []byte("Signal=" + string(digit) + "\r\nDuration=160\r\n")
	_, err := c.Request(ctx, sip.INFO, body, "application/dtmf-relay")
	return err
}

// Request sends a request of method (INFO, OPTIONS, UPDATE ...) in the
// dialog and returns its final response; a non-2xx is also a *StatusError.
func (c *Call) Request(ctx context.Context, method sip.RequestMethod, body []byte, contentType string) (*sip.Response, error) {
	if method == sip.INVITE || method == sip.ACK || method == sip.BYE || method == sip.CANCEL {
		return nil, fmt.Errorf("sipcaller: use Reinvite or Bye for %s", method)
	}
	c.reqMu.Lock()
	defer c.reqMu.Unlock()
	if c.isEnded() {
		return nil, ErrCallEnded
	}
	tx, err := c.sess.TransactionRequest(ctx, c.inDialog(method, body, contentType))
	if err != nil {
		return nil, fmt.Errorf("sipcaller: %s: %w", method, err)
	}
	res, err := send(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("sipcaller: %s: %w", method, err)
	}
	if !res.IsSuccess() {
		return res, &StatusError{Code: res.StatusCode, Reason: res.Reason, Response: res}
	}
	return res, nil
}
