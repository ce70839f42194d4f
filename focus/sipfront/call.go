package sipfront

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus"
)

// callState is where an incoming call is in its INVITE dialog.
type callState uint8

const (
	stateProceeding callState = iota // INVITE received, Join running
	stateAnswered                    // 2xx sent, its ACK awaited
	stateConfirmed                   // ACK received (RFC 3261 §13.3.1.4)
	stateEnded
)

// dialogKey identifies a dialog by Call-ID and the local tag (RFC 3261
// §12); the remote tag is checked separately.
type dialogKey struct{ callID, localTag string }

// call is one incoming call: the UAS side of an INVITE dialog. It is the
// focus.Leg the Focus holds.
type call struct {
	f         *Front
	key       dialogKey
	remoteTag string
	transport string // "UDP" or "TCP", as the INVITE came
	source    netip.AddrPort
	// dest is where in-dialog requests go: the first Route or the source.
	dest         string
	local        sip.ToHeader   // our side as the To of the INVITE, with our tag
	remote       sip.FromHeader // the caller as the From of the INVITE
	remoteTarget sip.Uri        // the caller's Contact (RFC 3261 §12.1.1); under mu
	routes       []sip.Header   // Route set from Record-Route, in order (RFC 3261 §12.1.1)
	contact      *sip.ContactHeader
	viaHost      string
	viaPort      int
	peerUpdate   bool           // the caller allows UPDATE (for our session refreshes)
	ctl          *controlDialog // set for a C3P control dialog (service.go) before the call is shared

	joinCtx    context.Context
	cancelJoin context.CancelFunc
	canceled   chan struct{} // closed when a CANCEL arrived
	hangupCh   chan struct{} // closed when the Focus hung up before the answer
	ended      chan struct{} // closed when the call ended

	mu           sync.Mutex
	state        callState
	member       focus.Member
	localSDP     []byte
	localCSeq    uint32
	remoteCSeq   uint32
	ackCSeq      uint32        // CSeq of the INVITE whose 2xx awaits its ACK
	acked        chan struct{} // closed when that ACK arrives
	prackRSeq    uint32        // RSeq of the reliable 183 awaiting its PRACK (prack.go)
	prackCSeq    uint32        // ... and the CSeq of its INVITE
	pracked      chan struct{} // closed when that PRACK arrives
	offerPending bool          // the caller's re-INVITE/UPDATE offer is being answered
	refreshing   bool          // our session refresh is outstanding
	timer        sessionTimer
	timerGen     uint64
	stimer       *time.Timer
	hangup       string // the Focus's reason, once it called Hangup
	hangupLeave  string // the reason Member.Leave gets after that hangup
	hungUp       bool
	cancelOnce   sync.Once
	hangupOnce   sync.Once
	leaveOnce    sync.Once
}

var _ focus.Leg = (*call)(nil)

// newCall builds the dialog state from the initial INVITE (RFC 3261 §12.1.1).
func (f *Front) newCall(req *sip.Request, localTag string) *call {
	c := &call{
		f:         f,
		key:       dialogKey{callID: req.CallID().Value(), localTag: localTag},
		remoteTag: fromTag(req),
		transport: transportOf(req),
		canceled:  make(chan struct{}),
		hangupCh:  make(chan struct{}),
		ended:     make(chan struct{}),
		localCSeq: randomCSeq(),
	}
	c.source, _ = netip.ParseAddrPort(req.Source())
	c.remoteCSeq = req.CSeq().SeqNo
	c.local = *sip.HeaderClone(req.To()).(*sip.ToHeader)
	if c.local.Params == nil {
		c.local.Params = sip.NewParams()
	}
	c.local.Params.Add("tag", localTag)
	c.remote = *sip.HeaderClone(req.From()).(*sip.FromHeader)
	if ct := req.Contact(); ct != nil {
		c.remoteTarget = *ct.Address.Clone()
	} else {
		c.remoteTarget = *req.From().Address.Clone()
	}
	for _, rr := range req.GetHeaders("Record-Route") {
		c.routes = append(c.routes, sip.NewHeader("Route", rr.Value()))
	}
	c.dest = req.Source()
	if len(c.routes) > 0 {
		var r sip.RouteHeader
		if _, err := sip.ParseAddressValue(c.routes[0].Value(), &r.Address, nil); err == nil {
			c.dest = r.Address.HostPort()
		}
	}
	c.viaHost, c.viaPort = f.localHostPort(req.Recipient.Host)
	c.contact = f.contactFor(req.Recipient, c.viaHost, c.viaPort, c.transport)
	c.peerUpdate = allows(req, sip.UPDATE)
	c.joinCtx, c.cancelJoin = context.WithTimeout(f.baseContext(), 64*f.cfg.t1)
	return c
}

// Hangup ends the call on the Focus's request (kick, wrong PIN, conference
// ended): before the answer the INVITE gets 480 Temporarily Unavailable,
// after it a BYE goes out; both carry the reason in a Reason header (RFC
// 3326). It does not block.
func (c *call) Hangup(reason string) { c.hangUp("hangup", reason) }

// hangUp ends the call from our side; leaveReason is what Member.Leave
// gets, text goes in the Reason header.
func (c *call) hangUp(leaveReason, text string) {
	c.mu.Lock()
	if c.hungUp || c.state == stateEnded {
		c.mu.Unlock()
		return
	}
	c.hungUp, c.hangup, c.hangupLeave = true, text, leaveReason
	state := c.state
	c.mu.Unlock()
	switch state {
	case stateProceeding:
		c.hangupOnce.Do(func() { close(c.hangupCh) })
	case stateConfirmed:
		c.f.end(c, leaveReason, text)
		// In stateAnswered the INVITE handler sends the BYE once the ACK
		// is in (RFC 3261 §15: not before the ACK or its timeout).
	}
}

// end ends an established call from our side: Member.Leave, then a BYE with
// an RFC 3326 Reason in the background. Shutdown waits for the BYEs.
func (f *Front) end(c *call, leaveReason, byeText string) {
	if !f.finish(c, leaveReason) {
		return
	}
	f.background.add()
	go func() {
		defer f.background.done()
		req := c.newRequest(sip.BYE)
		// Q.850 cause 16, normal call clearing, with the Focus's text.
		req.AppendHeader(reasonHeader("Q.850", 16, byeText))
		ctx, cancel := context.WithTimeout(f.baseContext(), 64*f.cfg.t1)
		defer cancel()
		if res, err := f.send(ctx, req); err != nil {
			f.log.Debug("BYE not answered", "call_id", c.key.callID, "error", err)
		} else if !res.IsSuccess() {
			f.log.Debug("BYE refused", "call_id", c.key.callID, "status", res.StatusCode)
		}
	}()
}

// finish marks the call ended, drops it from the dialog table, stops its
// timer and calls Member.Leave once. It reports whether this call ended it.
func (f *Front) finish(c *call, reason string) bool {
	c.mu.Lock()
	if c.state == stateEnded {
		c.mu.Unlock()
		return false
	}
	c.state = stateEnded
	m := c.member
	if c.stimer != nil {
		c.stimer.Stop()
	}
	c.mu.Unlock()
	close(c.ended)
	c.cancelJoin()
	f.removeCall(c)
	if m != nil {
		c.leaveOnce.Do(func() { m.Leave(reason) })
	}
	return true
}

// leaveLate hands Leave to a Member that Join returned after the call had
// already ended (CANCEL or hangup during Join).
func (c *call) leaveLate(m focus.Member, reason string) {
	if m != nil {
		c.leaveOnce.Do(func() { m.Leave(reason) })
	}
}

// expectAck arms the wait for the ACK of the INVITE with CSeq cseq.
func (c *call) expectAck(cseq uint32) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ackCSeq = cseq
	c.acked = make(chan struct{})
	return c.acked
}

// gotAck records an ACK; it reports whether it was the one awaited.
func (c *call) gotAck(cseq uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.acked == nil || cseq != c.ackCSeq {
		return false
	}
	close(c.acked)
	c.acked = nil
	if c.state == stateAnswered {
		c.state = stateConfirmed
	}
	return true
}

// awaitAck retransmits a 2xx to an INVITE until its ACK arrives: every T1,
// doubling up to T2, for 64*T1 (RFC 3261 §13.3.1.4). An ACK with the
// INVITE's own branch reaches the transaction (tx.Acks), one with a new
// branch reaches OnAck. It reports whether the ACK came (or the call ended
// meanwhile, which needs no BYE).
func (f *Front) awaitAck(c *call, tx sip.ServerTransaction, res *sip.Response, acked <-chan struct{}) bool {
	interval := f.cfg.t1
	retransmit := time.NewTimer(interval)
	defer retransmit.Stop()
	giveUp := time.NewTimer(64 * f.cfg.t1)
	defer giveUp.Stop()
	for {
		select {
		case <-acked:
			return true
		case ack := <-tx.Acks():
			c.gotAck(ack.CSeq().SeqNo)
			return true
		case <-c.ended:
			return true
		case <-retransmit.C:
			f.responses.count(res)
			if err := tx.Respond(res); err != nil {
				f.log.Debug("2xx retransmission failed", "call_id", c.key.callID, "error", err)
			}
			interval = min(2*interval, f.cfg.t2)
			retransmit.Reset(interval)
		case <-giveUp.C:
			return false
		}
	}
}

// checkCSeq applies RFC 3261 §12.2.2: a request in the dialog with a CSeq
// lower than the last one is out of order (500). ACK and CANCEL reuse their
// INVITE's number and are not checked here.
func (c *call) checkCSeq(req *sip.Request) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := req.CSeq().SeqNo
	if n < c.remoteCSeq {
		return false
	}
	c.remoteCSeq = n
	return true
}

// newRequest builds a request in the dialog (RFC 3261 §12.2.1.1).
func (c *call) newRequest(method sip.RequestMethod) *sip.Request {
	c.mu.Lock()
	c.localCSeq++
	seq := c.localCSeq
	target := *c.remoteTarget.Clone()
	c.mu.Unlock()

	req := sip.NewRequest(method, target)
	req.AppendHeader(c.f.viaFor(c.transport, c.viaHost, c.viaPort))
	maxfwd := sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxfwd)
	from := c.local.AsFrom()
	req.AppendHeader(&from)
	to := c.remote.AsTo()
	req.AppendHeader(&to)
	callID := sip.CallIDHeader(c.key.callID)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: seq, MethodName: method})
	for _, r := range c.routes {
		req.AppendHeader(sip.HeaderClone(r))
	}
	req.AppendHeader(c.contact.Clone())
	req.AppendHeader(sip.NewHeader("User-Agent", c.f.cfg.userAgent))
	req.SetBody(nil)
	c.f.route(req, c.transport, c.dest)
	return req
}

// ack builds the ACK for our own re-INVITE's 2xx (RFC 3261 §13.2.2.4): same
// CSeq number, new branch.
func (c *call) ack(invite *sip.Request, res *sip.Response) *sip.Request {
	req := sip.NewRequest(sip.ACK, *invite.Recipient.Clone())
	via := invite.Via().Clone()
	via.Params.Remove("branch")
	via.Params.Add("branch", sip.GenerateBranchN(16))
	req.AppendHeader(via)
	for _, name := range []string{"Max-Forwards", "From", "Call-ID"} {
		if h := invite.GetHeader(name); h != nil {
			req.AppendHeader(sip.HeaderClone(h))
		}
	}
	if to := res.To(); to != nil {
		req.AppendHeader(sip.HeaderClone(to))
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: invite.CSeq().SeqNo, MethodName: sip.ACK})
	for _, r := range c.routes {
		req.AppendHeader(sip.HeaderClone(r))
	}
	req.SetBody(nil)
	c.f.route(req, c.transport, c.dest)
	return req
}

// route sets where a request we originate goes. Over UDP it leaves from the
// listening socket so the peer sees the address it talks to.
func (f *Front) route(req *sip.Request, transport, dest string) {
	req.SetTransport(transport)
	req.SetDestination(dest)
	if transport == "UDP" {
		f.udpLaddr.Copy(&req.Laddr)
	}
}

// prebuilt tells sipgo's client that a request already has every header.
func prebuilt(*sipgo.Client, *sip.Request) error { return nil }

// send runs a client transaction and returns its final response.
func (f *Front) send(ctx context.Context, req *sip.Request) (*sip.Response, error) {
	tx, err := f.cli.TransactionRequest(ctx, req, prebuilt)
	if err != nil {
		return nil, err
	}
	defer tx.Terminate()
	for {
		select {
		case res := <-tx.Responses():
			if res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, tx.Err()
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func transportOf(req *sip.Request) string {
	if sip.IsReliable(req.Transport()) {
		return "TCP"
	}
	return "UDP"
}

// randomCSeq starts our CSeq space at a random value below 2**31 (RFC 3261
// §8.1.1.5), leaving room to count up.
func randomCSeq() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])&0x3fffffff + 1
}

// localHostPort is the host and port we put in Contact and Via: the public
// address, else the listening address, else the host the peer addressed
// (the Request-URI host of an incoming call).
func (f *Front) localHostPort(peerAddressed string) (string, int) {
	port := int(f.addr.Port())
	switch {
	case f.cfg.publicAddr.IsValid():
		return f.cfg.publicAddr.String(), port
	case f.addr.Addr().IsValid() && !f.addr.Addr().IsUnspecified():
		return f.addr.Addr().String(), port
	}
	return peerAddressed, port
}

// contactFor builds our Contact: the user of the URI the caller dialled at
// our address, the Focus URI's gruu and opaque parameters when it was
// dialled that way, and the isfocus feature parameter (RFC 4579 §3.3,
// RFC 3840 §9).
func (f *Front) contactFor(dialled sip.Uri, host string, port int, transport string) *sip.ContactHeader {
	u := sip.Uri{Scheme: "sip", User: dialled.User, Host: host, Port: port, UriParams: sip.NewParams()}
	if dialled.UriParams.Has("gruu") {
		u.UriParams.Add("gruu", "")
	}
	if opaque, ok := dialled.UriParams.Get("opaque"); ok {
		u.UriParams.Add("opaque", opaque)
	}
	if transport == "TCP" {
		u.UriParams.Add("transport", "tcp")
	}
	ct := &sip.ContactHeader{Address: u, Params: sip.NewParams()}
	ct.Params.Add("isfocus", "")
	return ct
}

func formatSeconds(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
