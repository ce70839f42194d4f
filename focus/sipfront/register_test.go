package sipfront

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestMain(m *testing.M) {
	// sipgo logs a few things through its package default logger.
	sip.SetDefaultLogger(testLogger())
	m.Run()
}

var nonceRE = regexp.MustCompile(`nonce="([^"]+)"`)

// digestAnswer computes an Authorization header for a challenge by hand
// (RFC 7616 §3.4.1), independently of package digest.
func digestAnswer(t *testing.T, challenge, alg, user, password, method, uri string, nc int) string {
	t.Helper()
	m := nonceRE.FindStringSubmatch(challenge)
	if m == nil {
		t.Fatalf("no nonce in %q", challenge)
	}
	nonce := m[1]
	h := func(s string) string {
		if alg == "SHA-256" {
			sum := sha256.Sum256([]byte(s))
			return hex.EncodeToString(sum[:])
		}
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := h(user + ":confab:" + password)
	ha2 := h(method + ":" + uri)
	resp := h(ha1 + ":" + nonce + ":" + ncs + ":0a4f113b:auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="confab", nonce="%s", uri="%s", response="%s", algorithm=%s, cnonce="0a4f113b", qop=auth, nc=%s`,
		user, nonce, uri, resp, alg, ncs)
}

// register sends a REGISTER for user from c with the given Contact and
// Expires; auth, when set, is the Authorization header value.
func (c *caller) register(ctx context.Context, user, contact, expires, auth string, cseq uint32) *sip.Response {
	c.t.Helper()
	ruri := c.uri("")
	ruri.User = ""
	req := sip.NewRequest(sip.REGISTER, ruri)
	to := &sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: user, Host: "confab"}}
	from := &sip.FromHeader{Address: to.Address, Params: sip.NewParams()}
	from.Params.Add("tag", "reg"+user)
	callID := sip.CallIDHeader("reg-" + user + "@test")
	req.AppendHeader(to)
	req.AppendHeader(from)
	req.AppendHeader(&callID)
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: sip.REGISTER})
	if contact != "" {
		req.AppendHeader(sip.NewHeader("Contact", contact))
	}
	if expires != "" {
		req.AppendHeader(sip.NewHeader("Expires", expires))
	}
	if auth != "" {
		req.AppendHeader(sip.NewHeader("Authorization", auth))
	}
	return c.do(ctx, req)
}

// challengeFor returns the WWW-Authenticate value for alg.
func challengeFor(t *testing.T, res *sip.Response, alg string) string {
	t.Helper()
	for _, v := range headersOf(res, "WWW-Authenticate") {
		if strings.Contains(v, "algorithm="+alg) {
			return v
		}
	}
	t.Fatalf("no %s challenge in %v", alg, headersOf(res, "WWW-Authenticate"))
	return ""
}

func TestRegister(t *testing.T) {
	for _, alg := range []string{"MD5", "SHA-256"} {
		t.Run("a phone registers with "+alg+" digest and Expires 0 removes the binding", func(t *testing.T) {
			reg := newMemRegistrar()
			f := startFront(t, newEchoJoiner(), WithAuth(users{"alice": "wonderland"}), WithRegistrar(reg))
			c := newCaller(t, f, "UDP")
			ctx := testContext(t)
			contact := "<sip:alice@127.0.0.1:5099>"
			uri := c.uri("")
			uri.User = ""

			res := c.register(ctx, "alice", contact, "600", "", 1)
			if res.StatusCode != 401 {
				t.Fatalf("first REGISTER: %d, want 401", res.StatusCode)
			}
			chs := headersOf(res, "WWW-Authenticate")
			if len(chs) != 2 || !strings.Contains(chs[0], "algorithm=SHA-256") || !strings.Contains(chs[1], "algorithm=MD5") {
				t.Fatalf("challenges %v, want SHA-256 then MD5", chs)
			}
			ch := challengeFor(t, res, alg)
			auth := digestAnswer(t, ch, alg, "alice", "wonderland", "REGISTER", uri.String(), 1)
			res = c.register(ctx, "alice", contact, "600", auth, 2)
			if res.StatusCode != 200 {
				t.Fatalf("REGISTER with credentials: %d %s", res.StatusCode, res.Reason)
			}
			cts := headersOf(res, "Contact")
			if len(cts) != 1 || !strings.Contains(cts[0], "sip:alice@127.0.0.1:5099") || !strings.Contains(cts[0], "expires=600") {
				t.Fatalf("Contacts %v", cts)
			}
			bs, _ := reg.Lookup(ctx, "sip:alice@confab")
			if len(bs) != 1 || bs[0].User != "alice" || bs[0].Source.Addr() != netip.MustParseAddr("127.0.0.1") {
				t.Fatalf("bindings %+v", bs)
			}

			// The nonce is good for another request with a higher count.
			auth = digestAnswer(t, ch, alg, "alice", "wonderland", "REGISTER", uri.String(), 2)
			res = c.register(ctx, "alice", contact, "0", auth, 3)
			if res.StatusCode != 200 || len(headersOf(res, "Contact")) != 0 {
				t.Fatalf("unREGISTER: %d Contacts %v", res.StatusCode, headersOf(res, "Contact"))
			}
			if bs, _ := reg.Lookup(ctx, "sip:alice@confab"); len(bs) != 0 {
				t.Fatalf("bindings left: %+v", bs)
			}
			if s := f.Stats(); s.Registrations != 2 {
				t.Fatalf("stats %+v", s)
			}
		})
	}

	t.Run("a wrong password is challenged again until the source is locked out with 403", func(t *testing.T) {
		f := startFront(t, newEchoJoiner(), WithAuth(users{"alice": "wonderland"}), WithRegistrar(newMemRegistrar()),
			WithLockout(3, time.Minute, time.Hour))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		uri := c.uri("")
		uri.User = ""
		res := c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "", "", 1)
		for i := range 3 {
			auth := digestAnswer(t, challengeFor(t, res, "MD5"), "MD5", "alice", "guess", "REGISTER", uri.String(), 1)
			res = c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "", auth, uint32(2+i))
			want := 401
			if i == 2 {
				want = 403
			}
			if res.StatusCode != want {
				t.Fatalf("attempt %d: %d, want %d", i+1, res.StatusCode, want)
			}
		}
		// Locked out: no challenge, even with the right password.
		res = c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "", "", 9)
		if res.StatusCode != 403 || res.GetHeader("WWW-Authenticate") != nil {
			t.Fatalf("locked-out REGISTER: %d with challenge %q", res.StatusCode, header(res, "WWW-Authenticate"))
		}
		if s := f.Stats(); s.AuthFailures != 3 || s.Lockouts != 1 || s.LockedOut != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("REGISTER for another user's address of record is forbidden", func(t *testing.T) {
		f := startFront(t, newEchoJoiner(), WithAuth(users{"alice": "wonderland", "bob": "builder"}), WithRegistrar(newMemRegistrar()))
		c := newCaller(t, f, "TCP")
		ctx := testContext(t)
		uri := c.uri("")
		uri.User = ""
		res := c.register(ctx, "bob", "<sip:bob@127.0.0.1:5099>", "", "", 1)
		auth := digestAnswer(t, challengeFor(t, res, "SHA-256"), "SHA-256", "alice", "wonderland", "REGISTER", uri.String(), 1)
		if res = c.register(ctx, "bob", "<sip:bob@127.0.0.1:5099>", "", auth, 2); res.StatusCode != 403 {
			t.Fatalf("status %d, want 403", res.StatusCode)
		}
	})

	t.Run("an expired nonce with the right password gets a fresh challenge marked stale", func(t *testing.T) {
		clk := &safeClock{t: time.Now()}
		reg := newMemRegistrar()
		reg.now = clk.now
		f := startFront(t, newEchoJoiner(), WithAuth(users{"alice": "wonderland"}), WithRegistrar(reg), withClock(clk.now))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		uri := c.uri("")
		uri.User = ""
		res := c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "", "", 1)
		auth := digestAnswer(t, challengeFor(t, res, "SHA-256"), "SHA-256", "alice", "wonderland", "REGISTER", uri.String(), 1)
		clk.advance(time.Hour)
		res = c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "", auth, 2)
		if res.StatusCode != 401 || !strings.Contains(challengeFor(t, res, "SHA-256"), "stale=true") {
			t.Fatalf("status %d challenges %v, want 401 with stale=true", res.StatusCode, headersOf(res, "WWW-Authenticate"))
		}
		if s := f.Stats(); s.AuthFailures != 0 {
			t.Fatalf("a stale nonce counted as a failure: %+v", s)
		}
	})

	t.Run("too short an expiry gets 423 with Min-Expires", func(t *testing.T) {
		f := startFront(t, newEchoJoiner(), WithAuth(users{"alice": "wonderland"}), WithRegistrar(newMemRegistrar()))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		uri := c.uri("")
		uri.User = ""
		res := c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "10", "", 1)
		auth := digestAnswer(t, challengeFor(t, res, "MD5"), "MD5", "alice", "wonderland", "REGISTER", uri.String(), 1)
		res = c.register(ctx, "alice", "<sip:alice@127.0.0.1:5099>", "10", auth, 2)
		if res.StatusCode != 423 || header(res, "Min-Expires") != "60" {
			t.Fatalf("status %d Min-Expires %q", res.StatusCode, header(res, "Min-Expires"))
		}
	})

	t.Run("without an Authenticator REGISTER is refused", func(t *testing.T) {
		f := startFront(t, newEchoJoiner())
		c := newCaller(t, f, "UDP")
		if res := c.register(testContext(t), "alice", "<sip:alice@127.0.0.1:5099>", "", "", 1); res.StatusCode != 403 {
			t.Fatalf("status %d, want 403", res.StatusCode)
		}
	})
}

func TestInviteAuthentication(t *testing.T) {
	t.Run("with WithRequireAuth an INVITE is challenged and joins as the user once answered", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithAuth(users{"alice": "wonderland"}), WithRequireAuth(true))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		req := sip.NewRequest(sip.INVITE, c.uri("7001"))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offerSDP("sendrecv"))
		req.SetTransport("UDP")
		sess, err := c.dialogUA().WriteInvite(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.WaitAnswer(ctx, answerWith("alice", "wonderland")); err != nil {
			t.Fatalf("INVITE with credentials: %v", err)
		}
		_ = sess.Ack(ctx)
		if got := j.lastJoin(t).call.User; got != "alice" {
			t.Fatalf("Call.User %q, want alice", got)
		}
	})

	t.Run("by default an INVITE without credentials joins as nobody", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithAuth(users{"alice": "wonderland"}), WithRegistrar(newMemRegistrar()))
		c := newCaller(t, f, "UDP")
		c.call(testContext(t), "7001")
		if got := j.lastJoin(t).call.User; got != "" {
			t.Fatalf("Call.User %q, want none", got)
		}
	})

	t.Run("an INVITE from a registered user's address is challenged", func(t *testing.T) {
		j := newEchoJoiner()
		reg := newMemRegistrar()
		_ = reg.Upsert(context.Background(), Binding{AOR: "sip:tester@confab", User: "tester", Contact: "sip:tester@127.0.0.1:5099",
			Expires: time.Now().Add(time.Hour), Source: netip.MustParseAddrPort("127.0.0.1:5099")})
		f := startFront(t, j, WithAuth(users{"tester": "secret"}), WithRegistrar(reg))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		req := sip.NewRequest(sip.INVITE, c.uri("7001"))
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: "tester", Host: "confab"}, Params: sip.NewParams()})
		req.From().Params.Add("tag", "abc")
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offerSDP("sendrecv"))
		req.SetTransport("UDP")
		sess, err := c.dialogUA().WriteInvite(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.WaitAnswer(ctx, answerWith("tester", "secret")); err != nil {
			t.Fatalf("INVITE: %v", err)
		}
		_ = sess.Ack(ctx)
		if got := j.lastJoin(t).call.User; got != "tester" {
			t.Fatalf("Call.User %q, want tester", got)
		}
		if s := f.Stats(); s.Challenges != 1 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestTrunkCalls(t *testing.T) {
	j := newEchoJoiner()
	dir := trunks{
		peers: map[netip.Addr]string{netip.MustParseAddr("127.0.0.1"): "carrier"},
		dids:  map[string]string{"carrier/+4930123456": "7001"},
	}
	f := startFront(t, j, WithTrunks(dir), WithAuth(users{}), WithRequireAuth(true))
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)

	t.Run("a call from the trunk's address is trusted and its DID maps to the conference", func(t *testing.T) {
		c.call(ctx, "%2B4930123456")
		got := j.lastJoin(t)
		if got.target != "7001" || got.call.Trunk != "carrier" || got.call.User != "" {
			t.Fatalf("Join(%q) with Trunk %q User %q", got.target, got.call.Trunk, got.call.User)
		}
	})
	t.Run("an unmapped DID is passed on as dialled", func(t *testing.T) {
		c.call(ctx, "7002")
		if got := j.lastJoin(t); got.target != "7002" || got.call.Trunk != "carrier" {
			t.Fatalf("Join(%q) with Trunk %q", got.target, got.call.Trunk)
		}
	})
}

func TestTrunkByCredentials(t *testing.T) {
	j := newEchoJoiner()
	dir := trunks{
		users: map[string]string{"carrier-in": "carrier"},
		dids:  map[string]string{"carrier/5550199": "attendant"},
	}
	f := startFront(t, j, WithTrunks(dir), WithAuth(users{"carrier-in": "s3cret", "alice": "wonderland"}))
	c := newCaller(t, f, "UDP")
	invite := func(user, password, number string) {
		t.Helper()
		ctx := testContext(t)
		req := sip.NewRequest(sip.INVITE, c.uri(number))
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody(offerSDP("sendrecv"))
		req.SetTransport("UDP")
		sess, err := c.dialogUA().WriteInvite(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		if err := sess.WaitAnswer(ctx, answerWith(user, password)); err != nil {
			t.Fatalf("INVITE as %s: %v", user, err)
		}
		_ = sess.Ack(ctx)
	}
	t.Run("a call to the trunk's DID is challenged, and with its credentials is the trunk's, its DID routed", func(t *testing.T) {
		invite("carrier-in", "s3cret", "5550199")
		got := j.lastJoin(t)
		if got.target != "attendant" || got.call.Trunk != "carrier" || got.call.User != "" {
			t.Fatalf("Join(%q) with Trunk %q User %q", got.target, got.call.Trunk, got.call.User)
		}
	})
	t.Run("a call to another number is not challenged", func(t *testing.T) {
		c.call(testContext(t), "7001")
		if got := j.lastJoin(t); got.call.Trunk != "" || got.call.User != "" {
			t.Fatalf("Join with Trunk %q User %q", got.call.Trunk, got.call.User)
		}
	})
	t.Run("a phone's credentials do not make a trunk", func(t *testing.T) {
		invite("alice", "wonderland", "5550199")
		got := j.lastJoin(t)
		if got.target != "5550199" || got.call.Trunk != "" || got.call.User != "alice" {
			t.Fatalf("Join(%q) with Trunk %q User %q", got.target, got.call.Trunk, got.call.User)
		}
	})
}

// safeClock is a test clock the Front's goroutines may read.
type safeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *safeClock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *safeClock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
