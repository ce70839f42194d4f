package sipcaller

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// fakeBridge is a tiny SIP server on sipgo for the Agent's tests: it answers
// INVITEs with a fixed SDP (486 for user "busy"), challenges INVITEs to
// user "secret" and every REGISTER with digest (SHA-256 and MD5, checked
// here by hand), answers re-INVITEs, INFO and BYE, and records what came.
type fakeBridge struct {
	t       *testing.T
	ua      *sipgo.UserAgent
	dialogs *sipgo.DialogServerCache
	addr    string // host:port, UDP and TCP
	realm   string
	user    string
	pass    string

	sessions chan *sipgo.DialogServerSession

	mu        sync.Mutex
	invites   []*sip.Request
	reinvites []*sip.Request
	acks      []uint32 // CSeq numbers
	byes      int
	infos     []string
	registers []*sip.Request
	bindings  map[string]time.Time
}

const bridgeSDP = "v=0\r\no=bridge 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

const callerSDP = "v=0\r\no=caller 7 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 41000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"

func newFakeBridge(t *testing.T) *fakeBridge {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("fake-bridge"), sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	udp, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := udp.LocalAddr().(*net.UDPAddr).Port
	tcp, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Skipf("the UDP port %d is taken on TCP: %v", port, err)
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	b := &fakeBridge{
		t: t, ua: ua, addr: udp.LocalAddr().String(), realm: "confab.test", user: "alice", pass: "wonderland",
		sessions: make(chan *sipgo.DialogServerSession, 8), bindings: make(map[string]time.Time),
		dialogs: sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "bridge",
			Host: "127.0.0.1", Port: port}}),
	}
	srv.OnInvite(b.onInvite)
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) {
		b.mu.Lock()
		b.acks = append(b.acks, req.CSeq().SeqNo)
		b.mu.Unlock()
		_ = b.dialogs.ReadAck(req, tx)
	})
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		if _, err := b.dialogs.MatchDialogRequest(req); err != nil {
			_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusCallTransactionDoesNotExists, "No Such Call", nil))
			return
		}
		b.mu.Lock()
		b.byes++
		b.mu.Unlock()
		_ = b.dialogs.ReadBye(req, tx)
	})
	srv.OnInfo(func(req *sip.Request, tx sip.ServerTransaction) {
		b.mu.Lock()
		b.infos = append(b.infos, header(req, "Content-Type")+"|"+string(req.Body()))
		b.mu.Unlock()
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
	})
	srv.OnRegister(b.onRegister)
	go func() { _ = srv.ServeUDP(udp) }()
	go func() { _ = srv.ServeTCP(tcp) }()
	t.Cleanup(func() {
		_ = udp.Close()
		_ = tcp.Close()
		_ = ua.Close()
	})
	return b
}

func (b *fakeBridge) uri(user string, params ...string) string {
	return "sip:" + user + "@" + b.addr + strings.Join(params, "")
}

func (b *fakeBridge) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if to := req.To(); to != nil && tagOf(to.Params) != "" {
		b.mu.Lock()
		b.reinvites = append(b.reinvites, req)
		b.mu.Unlock()
		// Answer with our SDP, taking the offer's direction the other way.
		answer := bridgeSDP
		if strings.Contains(string(req.Body()), "a=sendonly") {
			answer = strings.Replace(answer, "a=sendrecv", "a=recvonly", 1)
		}
		_ = tx.Respond(sip.NewSDPResponseFromRequest(req, []byte(answer)))
		return
	}
	b.mu.Lock()
	b.invites = append(b.invites, req)
	b.mu.Unlock()
	switch req.Recipient.User {
	case "busy":
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusBusyHere, "Busy Here", nil))
		return
	case "secret":
		if !b.authorized(req, "Authorization") {
			b.challenge(req, tx)
			return
		}
	}
	dlg, err := b.dialogs.ReadInvite(req, tx)
	if err != nil {
		b.t.Errorf("ReadInvite: %v", err)
		return
	}
	b.sessions <- dlg
	if err := dlg.RespondSDP([]byte(bridgeSDP)); err != nil {
		b.t.Logf("2xx not acknowledged: %v", err)
	}
}

// challenge answers 401 with a SHA-256 and an MD5 challenge, in that order
// of preference (RFC 8760 §2.4).
func (b *fakeBridge) challenge(req *sip.Request, tx sip.ServerTransaction) {
	res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
	for _, alg := range []string{"SHA-256", "MD5"} {
		res.AppendHeader(sip.NewHeader("WWW-Authenticate",
			fmt.Sprintf(`Digest realm=%q, nonce="n-%s", qop="auth", algorithm=%s`, b.realm, alg, alg)))
	}
	_ = tx.Respond(res)
}

// authorized checks digest credentials by hand (RFC 7616 §3.4.1), so the
// test does not trust the library that made them.
func (b *fakeBridge) authorized(req *sip.Request, name string) bool {
	h := req.GetHeader(name)
	if h == nil {
		return false
	}
	cr, err := digest.ParseCredentials(h.Value())
	if err != nil {
		b.t.Errorf("credentials %q: %v", h.Value(), err)
		return false
	}
	var newHash func() hash.Hash
	switch cr.Algorithm {
	case "MD5", "":
		newHash = md5.New
	case "SHA-256":
		newHash = sha256.New
	default:
		return false
	}
	hx := func(s string) string {
		h := newHash()
		h.Write([]byte(s))
		return hex.EncodeToString(h.Sum(nil))
	}
	if cr.Username != b.user || cr.Realm != b.realm || cr.Nonce != "n-"+strings.ToUpper(cr.Algorithm) || cr.QOP != "auth" {
		return false
	}
	ha1 := hx(b.user + ":" + b.realm + ":" + b.pass)
	ha2 := hx(string(req.Method) + ":" + cr.URI)
	want := hx(ha1 + ":" + cr.Nonce + ":" + fmt.Sprintf("%08x", cr.Nc) + ":" + cr.Cnonce + ":auth:" + ha2)
	return cr.Response == want
}

func (b *fakeBridge) onRegister(req *sip.Request, tx sip.ServerTransaction) {
	b.mu.Lock()
	b.registers = append(b.registers, req)
	b.mu.Unlock()
	if !b.authorized(req, "Authorization") {
		b.challenge(req, tx)
		return
	}
	res := sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil)
	b.mu.Lock()
	if ct := req.Contact(); ct != nil {
		exp, _ := strconv.Atoi(header(req, "Expires"))
		if exp == 0 {
			delete(b.bindings, ct.Address.String())
		} else {
			b.bindings[ct.Address.String()] = time.Now().Add(time.Duration(exp) * time.Second)
		}
	}
	for c, until := range b.bindings {
		res.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<%s>;expires=%d", c, int(time.Until(until).Round(time.Second).Seconds()))))
	}
	b.mu.Unlock()
	_ = tx.Respond(res)
}

func (b *fakeBridge) session(t *testing.T) *sipgo.DialogServerSession {
	t.Helper()
	select {
	case s := <-b.sessions:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge got no call")
		return nil
	}
}

func (b *fakeBridge) snapshot() (invites, reinvites []*sip.Request, acks []uint32, byes int, infos []string, registers []*sip.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*sip.Request(nil), b.invites...), append([]*sip.Request(nil), b.reinvites...),
		append([]uint32(nil), b.acks...), b.byes, append([]string(nil), b.infos...), append([]*sip.Request(nil), b.registers...)
}

func header(m interface{ GetHeader(string) sip.Header }, name string) string {
	if h := m.GetHeader(name); h != nil {
		return h.Value()
	}
	return ""
}

// eventually polls cond until it holds or five seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newAgent(t *testing.T, opts ...Option) *Agent {
	t.Helper()
	a, err := New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a
}
