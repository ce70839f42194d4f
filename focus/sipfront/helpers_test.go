package sipfront

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// testLogger logs to stderr when SIPFRONT_TEST_LOG is set.
func testLogger() *slog.Logger {
	if os.Getenv("SIPFRONT_TEST_LOG") == "" {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startFront runs a Front on a free loopback port until the test ends.
func startFront(t testing.TB, j *echoJoiner, opts ...Option) *Front {
	t.Helper()
	opts = append([]Option{WithLogger(testLogger()), withTimers(50*time.Millisecond, 400*time.Millisecond)}, opts...)
	f, err := New(j, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.ListenAndServe(ctx, "127.0.0.1:0") }()
	select {
	case <-f.Ready():
	case err := <-done:
		t.Fatalf("ListenAndServe: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
	})
	return f
}

// caller is a test SIP phone built on sipgo: a client for its requests and
// a server on the same user agent for what the Front sends back.
type caller struct {
	t         *testing.T
	ua        *sipgo.UserAgent
	cli       *sipgo.Client
	srv       *sipgo.Server
	transport string
	front     string // host:port
	byes      chan *sip.Request
	requests  chan *sip.Request // UPDATE and re-INVITE from the Front
	onRequest func(req *sip.Request, tx sip.ServerTransaction) bool
}

func newCaller(t *testing.T, f *Front, transport string) *caller {
	t.Helper()
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("tester"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(testLogger())),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(testLogger())))
	if err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(testLogger()))
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{
		t: t, ua: ua, cli: cli, srv: srv, transport: transport, front: f.Addr().String(),
		byes: make(chan *sip.Request, 16), requests: make(chan *sip.Request, 16),
	}
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		c.byes <- req
	})
	answerRefresh := func(req *sip.Request, tx sip.ServerTransaction) {
		if c.onRequest != nil && c.onRequest(req, tx) {
			return
		}
		res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
		if req.IsInvite() {
			ct := sip.ContentTypeHeader("application/sdp")
			res.AppendHeader(&ct)
			res.SetBody(offerSDP("sendrecv"))
		}
		if se := req.GetHeader("Session-Expires"); se != nil {
			res.AppendHeader(sip.NewHeader("Session-Expires", se.Value()))
		}
		_ = tx.Respond(res)
		c.requests <- req
	}
	srv.OnUpdate(answerRefresh)
	srv.OnInvite(answerRefresh)
	srv.OnAck(func(*sip.Request, sip.ServerTransaction) {})
	t.Cleanup(func() { _ = ua.Close() })
	return c
}

// uri is a Request-URI for user at the Front over the caller's transport.
func (c *caller) uri(user string) sip.Uri {
	host, port, _ := net.SplitHostPort(c.front)
	p, _ := strconv.Atoi(port)
	u := sip.Uri{Scheme: "sip", User: user, Host: host, Port: p, UriParams: sip.NewParams()}
	if c.transport == "TCP" {
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

// dialogUA makes dialogs whose Contact sipgo fills in from the connection.
func (c *caller) dialogUA() *sipgo.DialogUA {
	return &sipgo.DialogUA{
		Client:     c.cli,
		ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "tester", Host: "127.0.0.1"}},
	}
}

// call sets up a call to user and acknowledges it.
func (c *caller) call(ctx context.Context, user string, hdrs ...sip.Header) *sipgo.DialogClientSession {
	c.t.Helper()
	sess, err := c.invite(ctx, user, offerSDP("sendrecv"), hdrs...)
	if err != nil {
		c.t.Fatalf("INVITE %s: %v", user, err)
	}
	if err := sess.Ack(ctx); err != nil {
		c.t.Fatalf("ACK: %v", err)
	}
	return sess
}

// invite sends an INVITE and waits for the final answer (no ACK).
func (c *caller) invite(ctx context.Context, user string, sdp []byte, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	req := sip.NewRequest(sip.INVITE, c.uri(user))
	if sdp != nil {
		ct := sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(sdp)
	}
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetTransport(c.transport)
	sess, err := c.dialogUA().WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	return sess, sess.WaitAnswer(ctx, sipgo.AnswerOptions{})
}

// do sends a request in or out of a dialog and returns the final response.
func (c *caller) do(ctx context.Context, req *sip.Request) *sip.Response {
	c.t.Helper()
	req.SetTransport(c.transport)
	res, err := c.cli.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s: %v", req.Method, err)
	}
	return res
}

// inDialog sends a request in sess's dialog and returns the final response.
func (c *caller) inDialog(ctx context.Context, sess *sipgo.DialogClientSession, method sip.RequestMethod, body []byte, hdrs ...sip.Header) *sip.Response {
	c.t.Helper()
	req := sip.NewRequest(method, sess.InviteResponse.Contact().Address)
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	if body != nil {
		req.SetBody(body)
	}
	res, err := sess.Do(ctx, req)
	if err != nil {
		c.t.Fatalf("%s in dialog: %v", method, err)
	}
	return res
}

func (c *caller) waitBye(t *testing.T) *sip.Request {
	t.Helper()
	select {
	case req := <-c.byes:
		return req
	case <-time.After(10 * time.Second):
		t.Fatal("no BYE from the Front")
		return nil
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// header returns the value of a header, "" when absent.
func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

func headersOf(m interface{ GetHeaders(string) []sip.Header }, name string) []string {
	var out []string
	for _, h := range m.GetHeaders(name) {
		out = append(out, h.Value())
	}
	return out
}

// eventually polls cond until it holds or the time is up.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func sdpHas(b []byte, s string) bool { return strings.Contains(string(b), s) }

func answerWith(user, password string) sipgo.AnswerOptions {
	return sipgo.AnswerOptions{Username: user, Password: password}
}
