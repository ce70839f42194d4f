package sipfront

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus/sipfront/digest"
)

// fakeProvider is a provider's registrar that challenges and checks the
// digest (RFC 7616 MD5, qop=auth) and records what it granted.
type fakeProvider struct {
	addr     string
	accepted chan string // Expires of each accepted REGISTER
	refused  chan int
}

func startProvider(t *testing.T, user, password string) *fakeProvider {
	t.Helper()
	ua, err := sipgo.NewUA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		t.Fatal(err)
	}
	p := &fakeProvider{accepted: make(chan string, 16), refused: make(chan int, 16)}
	const realm, nonce = "provider", "0123456789abcdef"
	srv.OnRegister(func(req *sip.Request, tx sip.ServerTransaction) {
		h := req.GetHeader("Authorization")
		if h == nil {
			res := sip.NewResponseFromRequest(req, 401, "Unauthorized", nil)
			res.AppendHeader(sip.NewHeader("WWW-Authenticate", `Digest realm="`+realm+`", nonce="`+nonce+`", algorithm=MD5, qop="auth"`))
			_ = tx.Respond(res)
			return
		}
		c, err := digest.ParseCredentials(h.Value())
		want := digest.Response(digest.MD5, digest.HA1(digest.MD5, user, realm, password), nonce, c.NC, c.CNonce, c.QOP, "REGISTER", c.URI)
		if err != nil || c.Username != user || c.Response != want {
			p.refused <- 403
			_ = tx.Respond(sip.NewResponseFromRequest(req, 403, "Forbidden", nil))
			return
		}
		exp := "3600"
		if e := req.GetHeader("Expires"); e != nil {
			exp = e.Value()
		}
		res := sip.NewResponseFromRequest(req, 200, "OK", nil)
		res.AppendHeader(sip.NewHeader("Expires", exp))
		p.accepted <- exp
		_ = tx.Respond(res)
	})
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = conn.LocalAddr().String()
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() { cancel(); _ = ctx; conn.Close() })
	return p
}

func TestOutboundRegistrationWithAProvider(t *testing.T) {
	cases := []struct {
		name     string
		password string
		wantOK   bool
	}{
		{"the right credentials register and unregister on stop", "s3cret", true},
		{"wrong credentials are reported, not retried in a hurry", "wrong", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prov := startProvider(t, "branch42", "s3cret")
			f := startFront(t, newEchoJoiner())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- f.KeepRegistered(ctx, OutboundRegistration{Name: "provider", Registrar: "sip:" + prov.addr,
					Username: "branch42", Password: tc.password, Expiry: 600 * time.Second})
			}()
			if tc.wantOK {
				select {
				case exp := <-prov.accepted:
					if exp != "600" {
						t.Fatalf("registered for %s s, want 600", exp)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("the provider never accepted a REGISTER")
				}
				waitFor(t, func() bool { return f.Registrations()["provider"].Registered })
				cancel()
				select {
				case exp := <-prov.accepted:
					if exp != "0" {
						t.Fatalf("on stop the Front sent Expires %s, want 0", exp)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("no unregister on stop")
				}
			} else {
				select {
				case <-prov.refused:
				case <-time.After(5 * time.Second):
					t.Fatal("the provider saw no credentials")
				}
				waitFor(t, func() bool {
					st := f.Registrations()["provider"]
					return !st.Registered && strings.Contains(st.LastError, "403")
				})
				cancel()
			}
			<-done
		})
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
