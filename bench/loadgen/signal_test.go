package loadgen

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/icholy/digest"
)

// digestUAS is a SIP server that challenges every INVITE with an MD5
// digest (RFC 3261 §22.4), checks the answer by hand and then answers with
// SDP; it counts the BYEs it gets.
type digestUAS struct {
	addr string
	byes atomic.Int32
}

const uasSDP = "v=0\r\no=uas 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
	"m=audio 30000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"

func newDigestUAS(t *testing.T, user, password string) *digestUAS {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ua, err := sipgo.NewUA(sipgo.WithUserAgentHostname("127.0.0.1"),
		sipgo.WithUserAgentTransactionLayerOptions(sip.WithTransactionLayerLogger(quiet)),
		sipgo.WithUserAgentTransportLayerOptions(sip.WithTransportLayerLogger(quiet)))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := sipgo.NewServer(ua, sipgo.WithServerLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	u := &digestUAS{addr: conn.LocalAddr().String()}
	dialogs := sipgo.NewDialogServerCache(cli, sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "uas", Host: "127.0.0.1", Port: port}})
	const realm, nonce = "bench.test", "n0nce"
	srv.OnInvite(func(req *sip.Request, tx sip.ServerTransaction) {
		if !validDigest(req, user, password, realm, nonce) {
			res := sip.NewResponseFromRequest(req, sip.StatusUnauthorized, "Unauthorized", nil)
			res.AppendHeader(sip.NewHeader("WWW-Authenticate",
				fmt.Sprintf(`Digest realm=%q, nonce=%q, qop="auth", algorithm=MD5`, realm, nonce)))
			_ = tx.Respond(res)
			return
		}
		dlg, err := dialogs.ReadInvite(req, tx)
		if err != nil {
			return
		}
		_ = dlg.RespondSDP([]byte(uasSDP))
	})
	srv.OnAck(func(req *sip.Request, tx sip.ServerTransaction) { _ = dialogs.ReadAck(req, tx) })
	srv.OnBye(func(req *sip.Request, tx sip.ServerTransaction) {
		u.byes.Add(1)
		_ = dialogs.ReadBye(req, tx)
	})
	go func() { _ = srv.ServeUDP(conn) }()
	t.Cleanup(func() {
		_ = conn.Close()
		_ = ua.Close()
	})
	return u
}

// validDigest checks MD5 digest credentials with qop=auth (RFC 2617 §3.2.2).
func validDigest(req *sip.Request, user, password, realm, nonce string) bool {
	h := req.GetHeader("Authorization")
	if h == nil {
		return false
	}
	cr, err := digest.ParseCredentials(h.Value())
	if err != nil || cr.Username != user || cr.Realm != realm || cr.Nonce != nonce {
		return false
	}
	md5hex := func(s string) string {
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:])
	}
	ha1 := md5hex(user + ":" + realm + ":" + password)
	ha2 := md5hex("INVITE:" + cr.URI)
	want := md5hex(strings.Join([]string{ha1, nonce, fmt.Sprintf("%08x", cr.Nc), cr.Cnonce, cr.QOP, ha2}, ":"))
	return cr.Response == want
}

func TestSIPDialer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SIP over loopback")
	}
	uas := newDigestUAS(t, "bench", "s3cret")
	tests := []struct {
		name     string
		password string
		wantErr  string // failure kind; "" for success
	}{
		{"a challenged INVITE is answered with the credentials and the call set up", "s3cret", ""},
		{"a wrong password ends in the challenge's status", "wrong", "SIP 401"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewSIPDialer("127.0.0.1:0", "bench", tt.password, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			call, err := d.Dial(t.Context(), "sip:7001@"+uas.addr, []byte(uasSDP))
			if tt.wantErr != "" {
				if err == nil || failureKind(err) != tt.wantErr {
					t.Fatalf("error %v (%s), want %s", err, failureKind(err), tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(call.Answer()) != uasSDP {
				t.Errorf("answer %q", call.Answer())
			}
			before := uas.byes.Load()
			if err := call.Hangup(t.Context()); err != nil {
				t.Fatal(err)
			}
			select {
			case <-call.Ended():
			case <-time.After(5 * time.Second):
				t.Fatal("the call did not end after BYE")
			}
			if uas.byes.Load() != before+1 {
				t.Error("the server got no BYE")
			}
			// Hanging up twice is not an error.
			if err := call.Hangup(t.Context()); err != nil {
				t.Errorf("second hangup: %v", err)
			}
		})
	}
}
