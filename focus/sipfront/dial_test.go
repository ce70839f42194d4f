package sipfront

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus/sipfront/digest"
)

// callee is a test phone that answers INVITEs, optionally after a digest
// challenge, and records the ACK and BYE it gets.
type callee struct {
	ua     *sipgo.UserAgent
	srv    *sipgo.Server
	cli    *sipgo.Client
	addr   string
	status int // final status for INVITEs
	auth   *digest.Server
	invite chan *sip.Request
	acks   chan *sip.Request
	byes   chan *sip.Request
}

func newCallee(t *testing.T, password string, status int) *callee {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("callee"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger())),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger())))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger()))
	cli, _ := sipgo.NewClient(ua, sipgo.WithClientLogger(testLogger()))
	c := &callee{ua: ua, srv: srv, cli: cli, status: status,
		invite: make(chan *sip.Request, 4), acks: make(chan *sip.Request, 4), byes: make(chan *sip.Request, 4)}
	if password != "" {
		c.auth, _ = digest.NewServer("callee.example")
	}
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if c.auth != nil {
			h := req.GetHeader("Authorization")
			ok := false
			if h != nil {
				if cr, err := digest.ParseCredentials(h.Value()); err == nil {
					ok = c.auth.Verify(cr, "INVITE", digest.HA1(cr.Algorithm, cr.Username, cr.Realm, password)) == nil
				}
			}
			if !ok {
				res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
				res.AppendHeader(sip.NewHeader("WWW-Authenticate", c.auth.Challenges(false)[1].String()))
				_ = tx.Respond(res)
				return
			}
		}
		c.invite <- req
		res := sip.NewResponseFromRequest(req, c.status, "Answer", nil)
		if c.status == 200 {
			res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "callee", Host: "127.0.0.1", Port: portOf(c.addr)}})
			ct := sip.ContentTypeHeader("application/sdp")
			res.AppendHeader(&ct)
			res.SetBody(offerSDP("sendrecv"))
		}
		_ = tx.Respond(res)
		select {
		case <-tx.Acks():
		case <-tx.Done():
		case <-time.After(2 * time.Second):
		}
	})
	srv.OnAck(func(req *sip.Request, _ sip.ServerTransaction) { c.acks <- req })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
		c.byes <- req
	})
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.addr = pc.LocalAddr().String()
	go func() { _ = srv.ServeUDP(pc) }()
	t.Cleanup(func() { _ = pc.Close(); _ = ua.Close() })
	return c
}

func portOf(hostport string) int {
	_, p, _ := net.SplitHostPort(hostport)
	n, _ := strconv.Atoi(p)
	return n
}

func TestDial(t *testing.T) {
	t.Run("a dialled phone that challenges is answered with the credentials and hung up with BYE", func(t *testing.T) {
		f := startFront(t, newEchoJoiner())
		ph := newCallee(t, "pw", 200)
		ctx := testContext(t)
		answer, out, err := f.Dial(ctx, "sip:callee@"+ph.addr, []byte(answerSDP), WithCredentials("confab", "pw"), WithCaller("7001", "Conference 7001"))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		if string(answer) != string(offerSDP("sendrecv")) {
			t.Fatalf("answer %q", answer)
		}
		inv := <-ph.invite
		if ct := inv.Contact(); ct == nil || !ct.Params.Has("isfocus") || inv.From().Address.User != "7001" {
			t.Fatalf("INVITE Contact %v From %v", inv.Contact(), inv.From())
		}
		select {
		case <-ph.acks:
		case <-time.After(5 * time.Second):
			t.Fatal("no ACK")
		}
		out.Hangup("conference ended")
		select {
		case bye := <-ph.byes:
			if !strings.Contains(header(bye, "Reason"), "conference ended") {
				t.Fatalf("Reason %q", header(bye, "Reason"))
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no BYE")
		}
		<-out.Done()
	})

	t.Run("a BYE from the dialled phone ends the call", func(t *testing.T) {
		f := startFront(t, newEchoJoiner())
		ph := newCallee(t, "", 200)
		ctx := testContext(t)
		_, out, err := f.Dial(ctx, "sip:callee@"+ph.addr, []byte(answerSDP))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		inv := <-ph.invite
		<-ph.acks
		bye := sip.NewRequest(sip.BYE, sip.Uri{Scheme: "sip", Host: "127.0.0.1", Port: int(f.Addr().Port())})
		to := &sip.ToHeader{Address: inv.From().Address, Params: inv.From().Params.Clone()}
		from := &sip.FromHeader{Address: inv.To().Address, Params: sip.NewParams()}
		from.Params.Add("tag", toTagOfAnswer(t, out))
		bye.AppendHeader(from)
		bye.AppendHeader(to)
		bye.AppendHeader(inv.CallID())
		bye.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.BYE})
		res, err := ph.cli.Do(ctx, bye)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("BYE: %v %v", res, err)
		}
		select {
		case <-out.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed")
		}
	})

	t.Run("a refusal is a StatusError", func(t *testing.T) {
		f := startFront(t, newEchoJoiner())
		ph := newCallee(t, "", 486)
		_, _, err := f.Dial(testContext(t), "sip:callee@"+ph.addr, []byte(answerSDP))
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 486 || !errors.Is(err, ErrCallFailed) {
			t.Fatalf("Dial: %v, want a 486 StatusError", err)
		}
	})

	t.Run("a target that is not a SIP URI is refused", func(t *testing.T) {
		f := startFront(t, newEchoJoiner())
		if _, _, err := f.Dial(context.Background(), "mailto:someone@example.com", nil); !errors.Is(err, ErrBadTarget) {
			t.Fatalf("Dial: %v, want ErrBadTarget", err)
		}
	})
}

func toTagOfAnswer(t *testing.T, o *Outbound) string {
	t.Helper()
	return o.remoteTag
}
