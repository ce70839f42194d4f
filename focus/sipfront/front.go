package sipfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/sipfront/digest"
)

// Front is the appliance's SIP user agent server. Create it with New, run it
// with ListenAndServe and end its calls with Shutdown.
type Front struct {
	joiner focus.Joiner
	cfg    config
	log    *slog.Logger
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	parser *sip.Parser
	digest *digest.Server
	guard  *lockout
	conf   *conferencing // conference control (conferencing.go), nil without WithConferencing

	serving  atomic.Bool
	closing  atomic.Bool
	ready    chan struct{}
	ctx      context.Context // ListenAndServe's, for Join; set before ready closes
	addr     netip.AddrPort  // set before ready closes
	udpLaddr sip.Addr        // the UDP listener, as sipgo's pool knows it

	mu       sync.Mutex
	calls    map[dialogKey]*call
	inflight map[string]struct{} // INVITEs in progress, for RFC 3261 §8.2.2.2
	outbound map[dialogKey]*Outbound

	// background counts goroutines that outlive a request (BYEs, session
	// refreshes); Shutdown and ListenAndServe wait for them.
	background tracker
	stats      counters
	responses  responseCounts
	outregs    outboundRegs
}

// Stats are the Front's counters, for metrics.
type Stats struct {
	Calls          int    // calls in progress, from INVITE to the end
	Invites        uint64 // out-of-dialog INVITEs
	Answered       uint64 // INVITEs answered 200
	Rejected       uint64 // INVITEs answered with a final error (challenges not counted)
	Canceled       uint64 // INVITEs canceled by the caller
	AckTimeouts    uint64 // 2xx never acknowledged (RFC 3261 §13.3.1.4)
	SessionExpired uint64 // calls ended by the session timer (RFC 4028 §10)
	Registrations  uint64 // REGISTERs accepted
	Challenges     uint64 // 401 challenges sent
	AuthFailures   uint64 // wrong credentials or unknown users
	Lockouts       uint64 // sources locked out after repeated failures
	LockedOut      uint64 // requests refused because their source was locked out
	Malformed      uint64 // messages dropped or refused as malformed
}

type counters struct {
	invites, answered, rejected, canceled, ackTimeouts, sessionExpired      atomic.Uint64
	registrations, challenges, authFailures, lockouts, lockedOut, malformed atomic.Uint64
}

// New returns a Front that joins calls through joiner.
func New(joiner focus.Joiner, opts ...Option) (*Front, error) {
	if joiner == nil {
		return nil, ErrNoJoiner
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	f := &Front{
		joiner:   joiner,
		cfg:      cfg,
		log:      cfg.log.With("component", "sipfront"),
		parser:   sip.NewParser(),
		ready:    make(chan struct{}),
		ctx:      context.Background(),
		calls:    make(map[dialogKey]*call),
		inflight: make(map[string]struct{}),
		outbound: make(map[dialogKey]*Outbound),
		guard:    newLockout(cfg.lockFailures, cfg.lockWindow, cfg.lockFor, cfg.now),
	}
	if cfg.conferencing != nil {
		f.conf = newConferencing(f, cfg.conferencing)
	}
	if cfg.auth != nil {
		d, err := digest.NewServer(cfg.domain, digest.WithClock(cfg.now))
		if err != nil {
			return nil, fmt.Errorf("sipfront: %w", err)
		}
		f.digest = d
	}
	stackLog := cfg.log.With("component", "sipgo")
	ua, err := sipgo.NewUA(
		sipgo.WithUserAgent(cfg.userAgent),
		sipgo.WithUserAgentHostname(cfg.domain),
		sipgo.WithUserAgentParser(f.parser),
		sipgo.WithUserAgentTransactionLayerOptions(
			sip.WithTransactionLayerLogger(stackLog),
			sip.WithTransactionLayerUnhandledResponseHandler(func(r *sip.Response) {
				// Retransmitted final responses to finished transactions.
				f.log.Debug("stray response", "status", r.StatusCode, "call_id", callIDOf(r))
			}),
		),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(stackLog)),
	)
	if err != nil {
		return nil, fmt.Errorf("sipfront: user agent: %w", err)
	}
	f.ua = ua
	if f.srv, err = sipgo.NewServer(ua, sipgo.WithServerLogger(stackLog)); err != nil {
		return nil, fmt.Errorf("sipfront: server: %w", err)
	}
	for method, h := range map[sip.RequestMethod]sipgo.RequestHandler{
		sip.INVITE:    f.onInvite,
		sip.ACK:       f.onAck,
		sip.BYE:       f.onBye,
		sip.CANCEL:    f.onCancel,
		sip.OPTIONS:   f.onOptions,
		sip.INFO:      f.onInfo,
		sip.UPDATE:    f.onUpdate,
		sip.PRACK:     f.onPrack,
		sip.REGISTER:  f.onRegister,
		sip.SUBSCRIBE: f.onSubscribe,
		sip.REFER:     f.onRefer,
		methodSERVICE: f.onService,
	} {
		f.srv.OnRequest(method, f.guarded(h))
	}
	f.srv.OnNoRoute(f.guarded(f.onUnknownMethod))
	return f, nil
}

// guarded runs the checks every request gets (checkRequest) before h, and
// keeps a panicking handler from taking the process down.
func (f *Front) guarded(h sipgo.RequestHandler) sipgo.RequestHandler {
	return func(req *sip.Request, tx sip.ServerTransaction) {
		defer func() {
			if p := recover(); p != nil {
				f.log.Error("request handler panicked", "method", req.Method, "panic", p, "stack", string(debug.Stack()))
				if !req.IsAck() {
					f.respond(tx, req, sip.StatusInternalServerError, "Server Internal Error")
				}
			}
		}()
		if rej := checkRequest(req); rej != nil {
			f.stats.malformed.Add(1)
			if !req.IsAck() { // RFC 3261 §17: an ACK is never answered
				f.respond(tx, req, rej.code, rej.reason, rej.headers...)
			}
			return
		}
		h(req, tx)
	}
}

// ListenAndServe serves SIP over UDP and TCP on addr (host:port; port 0
// picks a free port, the same for both) until ctx is done; it may be called
// once. Call Shutdown before cancelling ctx to end calls with BYE: requests
// still in flight when ctx ends are abandoned.
func (f *Front) ListenAndServe(ctx context.Context, addr string) error {
	if !f.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	udp, tcp, err := listenPair(ctx, addr)
	if err != nil {
		return fmt.Errorf("sipfront: listen %s: %w", addr, err)
	}
	local := udp.LocalAddr().(*net.UDPAddr)
	f.addr = local.AddrPort()
	f.addr = netip.AddrPortFrom(f.addr.Addr().Unmap(), f.addr.Port())
	f.udpLaddr = sip.Addr{IP: local.IP, Port: local.Port, Hostname: local.IP.String()}
	f.ctx = ctx
	// The client (in-dialog requests, Dial) writes our address in the Via
	// of requests sipgo builds itself, such as a Dial retried with
	// credentials.
	host, port := f.localHostPort("")
	cli, err := sipgo.NewClient(f.ua, sipgo.WithClientLogger(f.cfg.log.With("component", "sipgo")),
		sipgo.WithClientHostname(host), sipgo.WithClientPort(port))
	if err != nil {
		_ = udp.Close()
		_ = tcp.Close()
		return fmt.Errorf("sipfront: client: %w", err)
	}
	f.cli = cli

	errc := make(chan error, 2)
	go func() { errc <- f.srv.ServeUDP(&screenedPacketConn{PacketConn: udp, parser: f.parser, f: f}) }()
	go func() { errc <- f.srv.ServeTCP(&screenedListener{Listener: tcp, parser: f.parser, f: f}) }()

	// Requests we send over UDP (BYE, refreshes, Dial) leave from the
	// listening socket, which sipgo's connection pool must know by then.
	serveErr := f.awaitUDPPool(ctx, errc)
	if serveErr == nil {
		close(f.ready)
		f.log.Info("listening", "addr", f.addr.String(), "transports", "udp,tcp")
		select {
		case <-ctx.Done():
		case serveErr = <-errc:
		}
	}
	f.closing.Store(true)
	_ = udp.Close()
	_ = tcp.Close()
	for range 2 - boolToInt(serveErr != nil) {
		<-errc
	}
	<-f.background.wait()
	_ = f.ua.Close()
	if serveErr != nil && ctx.Err() == nil {
		return fmt.Errorf("sipfront: serve: %w", serveErr)
	}
	return nil
}

// awaitUDPPool waits until sipgo has registered the UDP listener.
func (f *Front) awaitUDPPool(ctx context.Context, errc <-chan error) error {
	pool := f.ua.TransportLayer().Pool("udp")
	for {
		if c := pool.Get(f.udpLaddr.String()); c != nil {
			_, _ = c.TryClose() // Get took a reference
			return nil
		}
		select {
		case err := <-errc:
			return err
		case <-ctx.Done():
			return nil
		case <-time.After(time.Millisecond):
		}
	}
}

func boolToInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// listenPair binds UDP and TCP on the same port. With port 0 the kernel
// picks the UDP port and TCP takes the same one; if that is taken, it tries
// again.
func listenPair(ctx context.Context, addr string) (net.PacketConn, net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	var lc net.ListenConfig
	for attempt := 0; ; attempt++ {
		udp, err := lc.ListenPacket(ctx, "udp", addr)
		if err != nil {
			return nil, nil, err
		}
		p := udp.LocalAddr().(*net.UDPAddr).Port
		tcp, err := lc.Listen(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return udp, tcp, nil
		}
		_ = udp.Close()
		if port != "0" || attempt == 10 {
			return nil, nil, err
		}
	}
}

// Ready is closed once both listeners are bound.
func (f *Front) Ready() <-chan struct{} { return f.ready }

// Addr returns the address the Front listens on; valid once Ready is closed.
func (f *Front) Addr() netip.AddrPort {
	select {
	case <-f.ready:
		return f.addr
	default:
		return netip.AddrPort{}
	}
}

func (f *Front) baseContext() context.Context {
	select {
	case <-f.ready:
		return f.ctx
	default:
		return context.Background()
	}
}

// Shutdown stops taking calls (new INVITEs get 503), ends every call — BYE
// for answered ones, 480 for those still being set up — and waits until the
// BYEs are answered or ctx is done.
func (f *Front) Shutdown(ctx context.Context) error {
	f.closing.Store(true)
	f.endSubscriptions()
	f.mu.Lock()
	calls := make([]*call, 0, len(f.calls))
	for _, c := range f.calls {
		calls = append(calls, c)
	}
	outs := make([]*Outbound, 0, len(f.outbound))
	for _, o := range f.outbound {
		outs = append(outs, o)
	}
	f.mu.Unlock()
	for _, c := range calls {
		f.shutdownCall(c)
	}
	for _, o := range outs {
		o.Hangup("shutdown")
	}
	// Calls still waiting for their ACK send their BYE when it comes (RFC
	// 3261 §15), so wait for the dialog table to empty as well.
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-f.background.wait():
			if f.Calls() == 0 {
				return nil
			}
			select {
			case <-tick.C:
			case <-ctx.Done():
				return fmt.Errorf("sipfront: shutdown: %w", ctx.Err())
			}
		case <-ctx.Done():
			return fmt.Errorf("sipfront: shutdown: %w", ctx.Err())
		}
	}
}

func (f *Front) shutdownCall(c *call) {
	c.mu.Lock()
	state := c.state
	c.mu.Unlock()
	switch state {
	case stateProceeding, stateAnswered:
		// The INVITE handler answers 480 (or sends BYE after the ACK).
		c.hangUp("shutdown", "shutdown")
	case stateConfirmed:
		f.end(c, "shutdown", "shutdown")
	}
}

// Calls returns the number of incoming calls in progress, from their INVITE
// to their end.
func (f *Front) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// Stats returns a snapshot of the counters.
func (f *Front) Stats() Stats {
	s := &f.stats
	return Stats{
		Calls:          f.Calls(),
		Invites:        s.invites.Load(),
		Answered:       s.answered.Load(),
		Rejected:       s.rejected.Load(),
		Canceled:       s.canceled.Load(),
		AckTimeouts:    s.ackTimeouts.Load(),
		SessionExpired: s.sessionExpired.Load(),
		Registrations:  s.registrations.Load(),
		Challenges:     s.challenges.Load(),
		AuthFailures:   s.authFailures.Load(),
		Lockouts:       s.lockouts.Load(),
		LockedOut:      s.lockedOut.Load(),
		Malformed:      s.malformed.Load(),
	}
}

// addCall registers a call being set up. It reports false for a merged
// request: same From tag, Call-ID and CSeq as an INVITE in progress but a
// different transaction (RFC 3261 §8.2.2.2).
func (f *Front) addCall(c *call, mergeKey string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.inflight[mergeKey]; dup {
		return false
	}
	f.inflight[mergeKey] = struct{}{}
	f.calls[c.key] = c
	return true
}

func (f *Front) doneInflight(mergeKey string) {
	f.mu.Lock()
	delete(f.inflight, mergeKey)
	f.mu.Unlock()
}

func (f *Front) removeCall(c *call) {
	f.mu.Lock()
	if f.calls[c.key] == c {
		delete(f.calls, c.key)
	}
	f.mu.Unlock()
}

// lookupCall finds the call an in-dialog request belongs to: Call-ID and To
// tag name our side, the From tag must be the caller's (RFC 3261 §12.2.2).
func (f *Front) lookupCall(req *sip.Request) *call {
	key := dialogKey{callID: req.CallID().Value(), localTag: toTag(req)}
	f.mu.Lock()
	c := f.calls[key]
	f.mu.Unlock()
	if c == nil || c.remoteTag != fromTag(req) {
		return nil
	}
	return c
}

// respond sends a response built from req, with the Server header (RFC 3261
// §20.35).
func (f *Front) respond(tx sip.ServerTransaction, req *sip.Request, code int, reason string, headers ...sip.Header) {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	f.sendResponse(tx, res)
}

func (f *Front) sendResponse(tx sip.ServerTransaction, res *sip.Response) {
	res.AppendHeader(sip.NewHeader("Server", f.cfg.userAgent))
	f.responses.count(res)
	if err := tx.Respond(res); err != nil && !errors.Is(err, sip.ErrTransactionCanceled) {
		f.log.Debug("response not sent", "status", res.StatusCode, "call_id", callIDOf(res), "error", err)
	}
}

func callIDOf(m sip.Message) string {
	if h := m.CallID(); h != nil {
		return h.Value()
	}
	return ""
}

// responseCounts counts the final responses the Front sends, by request
// method and status class, for /metrics.
type responseCounts struct {
	mu sync.Mutex
	n  map[ResponseKey]uint64
}

// ResponseKey names a method and a status class ("2xx" ... "6xx").
type ResponseKey struct {
	Method string
	Class  string
}

func (r *responseCounts) count(res *sip.Response) {
	if res.StatusCode < 200 || res.StatusCode > 699 {
		return // provisional responses are not answers
	}
	method := ""
	if cs := res.CSeq(); cs != nil {
		method = string(cs.MethodName)
	}
	key := ResponseKey{Method: method, Class: string(rune('0'+res.StatusCode/100)) + "xx"}
	r.mu.Lock()
	if r.n == nil {
		r.n = make(map[ResponseKey]uint64)
	}
	r.n[key]++
	r.mu.Unlock()
}

// Responses returns how many final responses the Front sent, by method and
// status class.
func (f *Front) Responses() map[ResponseKey]uint64 {
	f.responses.mu.Lock()
	defer f.responses.mu.Unlock()
	out := make(map[ResponseKey]uint64, len(f.responses.n))
	for k, v := range f.responses.n {
		out[k] = v
	}
	return out
}
