// Package sipcaller is a SIP user agent that places calls, for integration
// tests and the load generator. It dials a SIP URI with an SDP offer,
// answers digest challenges (RFC 3261 §22, RFC 7616), acknowledges the 2xx,
// holds and resumes with re-INVITE, sends DTMF as SIP INFO
// (application/dtmf-relay), hangs up with BYE, learns of the far end's BYE
// with its RFC 3326 Reason, and registers with digest credentials.
//
// An Agent listens on a loopback UDP port of its own (and the same TCP port
// with WithTCP), as a phone does, and sends its requests from there, so the
// far end's in-dialog requests (BYE, session refreshes) reach it whether
// they go to its Contact or back to the source address. It is built on
// github.com/emiago/sipgo's transaction layer and dialog sessions; digests
// are computed by github.com/icholy/digest, independently of the product's
// own digest code, so that a test proves interoperation rather than
// symmetry.
package sipcaller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Errors of the Agent.
var (
	// ErrClosed means the Agent has been closed.
	ErrClosed = errors.New("sipcaller: agent closed")
	// ErrBadTarget means a target or registrar is not a sip: URI.
	ErrBadTarget = errors.New("sipcaller: bad target")
	// ErrNoTCP means a ;transport=tcp target was dialled by an Agent made
	// without WithTCP.
	ErrNoTCP = errors.New("sipcaller: agent has no TCP listener")
	// ErrCallEnded means an in-dialog request was asked of a call that has
	// ended.
	ErrCallEnded = errors.New("sipcaller: call has ended")
)

// allowed is what the Agent accepts in a dialog (RFC 3261 §20.5).
const allowed = "INVITE, ACK, BYE, CANCEL, OPTIONS, INFO, UPDATE"

// Agent is one SIP user agent with its own listening port. Its methods may
// be called from several goroutines; each Call serialises its own
// in-dialog requests.
type Agent struct {
	cfg   config
	log   *slog.Logger
	ua    *sipgo.UserAgent
	cli   *sipgo.Client
	srv   *sipgo.Server
	udp   net.PacketConn
	tcp   net.Listener // nil without WithTCP
	addr  netip.AddrPort
	laddr sip.Addr // the UDP listener as sipgo's connection pool knows it

	serving sync.WaitGroup

	mu     sync.Mutex
	closed bool
	calls  map[dialogKey]*Call
	regs   map[string]*regState // by registrar and user
}

// dialogKey names a dialog from our side: Call-ID and our (From) tag.
type dialogKey struct{ callID, localTag string }

// Option configures an Agent.
type Option func(*config)

type config struct {
	listen    string
	tcp       bool
	log       *slog.Logger
	user      string
	display   string
	userAgent string
}

// WithListenAddr sets the address the Agent listens on (default
// "127.0.0.1:0": a free loopback port).
func WithListenAddr(addr string) Option { return func(c *config) { c.listen = addr } }

// WithTCP makes the Agent listen on TCP as well, on the same port, and lets
// it dial ;transport=tcp targets.
func WithTCP() Option { return func(c *config) { c.tcp = true } }

// WithLogger sets the logger of the Agent and its SIP stack (default:
// discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithUser sets the user part and display name of From and Contact
// (default "caller", no display name).
func WithUser(user, display string) Option {
	return func(c *config) { c.user, c.display = user, display }
}

// WithUserAgent sets the User-Agent header (default "confab-sipcaller").
func WithUserAgent(ua string) Option { return func(c *config) { c.userAgent = ua } }

// New starts an Agent listening on its own port until Close.
func New(opts ...Option) (*Agent, error) {
	cfg := config{listen: "127.0.0.1:0", log: slog.New(slog.DiscardHandler), user: "caller", userAgent: "confab-sipcaller"}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.user == "" || strings.ContainsAny(cfg.user, "@:;<> \t\r\n") {
		return nil, fmt.Errorf("sipcaller: user %q is not a SIP user part", cfg.user)
	}
	a := &Agent{cfg: cfg, log: cfg.log.With("component", "sipcaller"), calls: make(map[dialogKey]*Call),
		regs: make(map[string]*regState)}
	if err := a.listen(); err != nil {
		return nil, err
	}
	stackLog := cfg.log.With("component", "sipgo")
	ua, err := sipgo.NewUA(sipgo.WithUserAgent(cfg.userAgent), sipgo.WithUserAgentHostname(a.addr.Addr().String()),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(stackLog)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(stackLog)))
	if err != nil {
		a.closeListeners()
		return nil, fmt.Errorf("sipcaller: user agent: %w", err)
	}
	a.ua = ua
	if a.cli, err = sipgo.NewClient(ua, sipgo.WithClientLogger(stackLog),
		sipgo.WithClientHostname(a.addr.Addr().String()), sipgo.WithClientPort(int(a.addr.Port()))); err != nil {
		a.closeListeners()
		_ = ua.Close()
		return nil, fmt.Errorf("sipcaller: client: %w", err)
	}
	if a.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(stackLog)); err != nil {
		a.closeListeners()
		_ = ua.Close()
		return nil, fmt.Errorf("sipcaller: server: %w", err)
	}
	a.srv.OnBye(a.onBye)
	a.srv.OnInvite(a.onInvite)
	a.srv.OnUpdate(a.onRefresh)
	a.srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	a.srv.OnOptions(a.onOptions)
	a.srv.OnInfo(a.onInDialog)
	a.srv.OnNotify(a.onInDialog)

	a.serving.Add(1)
	go func() {
		defer a.serving.Done()
		_ = a.srv.ServeUDP(a.udp)
	}()
	if a.tcp != nil {
		a.serving.Add(1)
		go func() {
			defer a.serving.Done()
			_ = a.srv.ServeTCP(a.tcp)
		}()
	}
	// Requests leave from the listening socket, which sipgo's pool must
	// know first; ServeUDP adds it before it reads.
	pool := ua.TransportLayer().Pool("udp")
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		if c := pool.Get(a.laddr.String()); c != nil {
			_, _ = c.TryClose() // Get took a reference
			return a, nil
		}
		if time.Now().After(deadline) {
			_ = a.Close()
			return nil, errors.New("sipcaller: the UDP listener did not start")
		}
	}
}

// listen binds UDP, and TCP on the same port with WithTCP; with port 0 it
// retries when the kernel's UDP pick is taken on TCP.
func (a *Agent) listen() error {
	host, port, err := net.SplitHostPort(a.cfg.listen)
	if err != nil {
		return fmt.Errorf("sipcaller: listen address %q: %w", a.cfg.listen, err)
	}
	for attempt := 0; ; attempt++ {
		udp, err := net.ListenPacket("udp", a.cfg.listen)
		if err != nil {
			return fmt.Errorf("sipcaller: listen udp %s: %w", a.cfg.listen, err)
		}
		ua := udp.LocalAddr().(*net.UDPAddr)
		a.udp = udp
		a.addr = netip.AddrPortFrom(ua.AddrPort().Addr().Unmap(), ua.AddrPort().Port())
		a.laddr = sip.Addr{IP: ua.IP, Port: ua.Port, Hostname: ua.IP.String()}
		if !a.cfg.tcp {
			return nil
		}
		tcp, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(ua.Port)))
		if err == nil {
			a.tcp = tcp
			return nil
		}
		_ = udp.Close()
		if port != "0" || attempt == 10 {
			return fmt.Errorf("sipcaller: listen tcp: %w", err)
		}
	}
}

func (a *Agent) closeListeners() {
	_ = a.udp.Close()
	if a.tcp != nil {
		_ = a.tcp.Close()
	}
}

// Addr is the address the Agent listens on.
func (a *Agent) Addr() netip.AddrPort { return a.addr }

// Close stops listening. Calls still up are abandoned without BYE; hang
// them up first.
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	calls := make([]*Call, 0, len(a.calls))
	for _, c := range a.calls {
		calls = append(calls, c)
	}
	a.mu.Unlock()
	for _, c := range calls {
		c.end(Ending{Reason: "agent closed"})
	}
	a.closeListeners()
	err := a.ua.Close()
	a.serving.Wait()
	return err
}

func (a *Agent) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// contact is the Agent's Contact for transport ("UDP" or "TCP").
func (a *Agent) contact(transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: a.cfg.user, Host: a.addr.Addr().String(), Port: int(a.addr.Port()),
		UriParams: sip.NewParams()}
	if transport == "TCP" {
		u.UriParams.Add("transport", "tcp")
	}
	return &sip.ContactHeader{Address: u, Params: sip.NewParams()}
}

// from is the Agent's From header with a fresh tag, in host's domain.
func (a *Agent) from(host string) *sip.FromHeader {
	h := &sip.FromHeader{DisplayName: a.cfg.display,
		Address: sip.Uri{Scheme: "sip", User: a.cfg.user, Host: host}, Params: sip.NewParams()}
	h.Params.Add("tag", sip.GenerateTagN(16))
	return h
}

// parseTarget reads a sip: URI and the transport it asks for.
func (a *Agent) parseTarget(target string) (sip.Uri, string, error) {
	var u sip.Uri
	if err := sip.ParseUri(target, &u); err != nil || u.Host == "" || !strings.EqualFold(u.Scheme, "sip") {
		return u, "", fmt.Errorf("%w: %q", ErrBadTarget, target)
	}
	transport := "UDP"
	if tp, ok := u.UriParams.Get("transport"); ok && strings.EqualFold(tp, "tcp") {
		if a.tcp == nil {
			return u, "", ErrNoTCP
		}
		transport = "TCP"
	}
	return u, transport, nil
}

// route makes a request leave from the listening socket over UDP; over TCP
// sipgo opens (and reuses) a connection to the target, which the far end
// answers and sends its requests back on (RFC 5923 §3).
func (a *Agent) route(req *sip.Request, transport string) {
	req.SetTransport(transport)
	if transport == "UDP" {
		a.laddr.Copy(&req.Laddr)
	}
}

// lookup finds the call an incoming in-dialog request belongs to: its To
// tag is our From tag (RFC 3261 §12.2.2).
func (a *Agent) lookup(req *sip.Request) *Call {
	to := req.To()
	if to == nil || req.CallID() == nil {
		return nil
	}
	tag, _ := to.Params.Get("tag")
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[dialogKey{callID: req.CallID().Value(), localTag: tag}]
}

func (a *Agent) forget(c *Call) {
	a.mu.Lock()
	if a.calls[c.key] == c {
		delete(a.calls, c.key)
	}
	a.mu.Unlock()
}

func (a *Agent) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	if err := tx.Respond(res); err != nil {
		a.log.Debug("response not sent", "status", code, "error", err)
	}
}

// onBye ends a call the far end hung up.
func (a *Agent) onBye(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil {
		a.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	if err := c.sess.ReadBye(req, tx); err != nil {
		a.log.Debug("BYE answer not sent", "call_id", c.key.callID, "error", err)
	}
	reason := ""
	if h := req.GetHeader("Reason"); h != nil {
		reason = h.Value()
	}
	c.end(Ending{Remote: true, Reason: reason})
}

// onInvite answers a re-INVITE (a session refresh, RFC 4028 §9) with the
// call's current SDP; the Agent takes no new calls.
func (a *Agent) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil {
		if tag, _ := req.To().Params.Get("tag"); tag == "" {
			a.respond(tx, req, sip.StatusTemporarilyUnavailable, "Temporarily Unavailable")
			return
		}
		a.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	a.answerRefresh(c, req, tx, true)
}

// onRefresh answers UPDATE, which the far end uses to refresh the session.
func (a *Agent) onRefresh(req *sip.Request, tx sip.ServerTransaction) {
	c := a.lookup(req)
	if c == nil {
		a.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	a.answerRefresh(c, req, tx, len(req.Body()) > 0)
}

// answerRefresh says yes to a refresh: the same session (our current SDP
// when an offer was made or is due, RFC 3264 §8) and the same interval with
// the refresher the far end chose (RFC 4028 §9).
func (a *Agent) answerRefresh(c *Call, req *sip.Request, tx sip.ServerTransaction, withSDP bool) {
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	res.AppendHeader(c.contact.Clone())
	res.AppendHeader(sip.NewHeader("Allow", allowed))
	if se := req.GetHeader("Session-Expires"); se != nil {
		res.AppendHeader(sip.NewHeader("Session-Expires", se.Value()))
		res.AppendHeader(sip.NewHeader("Require", "timer"))
	}
	if withSDP {
		ct := sip.ContentTypeHeader("application/sdp")
		res.AppendHeader(&ct)
		res.SetBody(c.localSDP())
	}
	if err := tx.Respond(res); err != nil {
		a.log.Debug("refresh answer not sent", "call_id", c.key.callID, "error", err)
	}
}

func (a *Agent) onOptions(req *sip.Request, tx sip.ServerTransaction) {
	a.respond(tx, req, sip.StatusOK, "OK", sip.NewHeader("Allow", allowed), sip.NewHeader("Accept", "application/sdp"))
}

// onInDialog accepts INFO and NOTIFY in a call's dialog.
func (a *Agent) onInDialog(req *sip.Request, tx sip.ServerTransaction) {
	if a.lookup(req) == nil {
		a.respond(tx, req, sip.StatusCallTransactionDoesNotExists, "Call/Transaction Does Not Exist")
		return
	}
	a.respond(tx, req, sip.StatusOK, "OK")
}

// send runs a client transaction and returns its final response.
func send(ctx context.Context, tx sip.ClientTransaction) (*sip.Response, error) {
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			if err := tx.Err(); err != nil {
				return nil, err
			}
			return nil, errors.New("sipcaller: transaction ended without a final response")
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
