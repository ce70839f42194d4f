package sipfront

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/mixer"
)

var transports = []string{"UDP", "TCP"}

func TestCallSetupAndTeardown(t *testing.T) {
	for _, tp := range transports {
		t.Run("over "+tp+" a call is answered with isfocus and SDP and the caller's BYE makes the member leave", func(t *testing.T) {
			j := newEchoJoiner()
			f := startFront(t, j)
			c := newCaller(t, f, tp)
			ctx := testContext(t)

			sess := c.call(ctx, "7001")
			res := sess.InviteResponse
			if res.StatusCode != sip.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			ct := res.Contact()
			if ct == nil || !ct.Params.Has("isfocus") || ct.Address.User != "7001" {
				t.Fatalf("Contact %v lacks isfocus or the conference user", ct)
			}
			if tp == "TCP" && !strings.Contains(ct.Address.String(), "transport=tcp") {
				t.Errorf("Contact %s does not keep the call on TCP", ct.Address.String())
			}
			if string(res.Body()) != answerSDP || header(res, "Content-Type") != "application/sdp" {
				t.Fatalf("answer %q (%s), want the Joiner's SDP", res.Body(), header(res, "Content-Type"))
			}
			m := j.next(t)
			if m.target != "7001" || string(m.call.Offer) != string(offerSDP("sendrecv")) || m.call.CallID == "" {
				t.Fatalf("Join got target %q, call %+v", m.target, m.call)
			}
			eventually(t, "the call to be counted", func() bool { return f.Calls() == 1 })

			if err := sess.Bye(ctx); err != nil {
				t.Fatalf("BYE: %v", err)
			}
			if got := m.waitLeave(t); got != "bye" {
				t.Fatalf("Leave(%q), want bye", got)
			}
			eventually(t, "the call to be gone", func() bool { return f.Calls() == 0 })
			if s := f.Stats(); s.Invites != 1 || s.Answered != 1 {
				t.Fatalf("stats %+v", s)
			}
		})

		t.Run("over "+tp+" the Focus's hangup sends BYE with a Reason", func(t *testing.T) {
			j := newEchoJoiner()
			f := startFront(t, j)
			c := newCaller(t, f, tp)
			ctx := testContext(t)

			c.call(ctx, "7001")
			m := j.next(t)
			eventually(t, "the ACK", func() bool { return stateOf(f, m.call.CallID) == stateConfirmed })
			m.leg.Hangup("removed by the moderator")
			bye := c.waitBye(t)
			if r := header(bye, "Reason"); !strings.Contains(r, `text="removed by the moderator"`) || !strings.HasPrefix(r, "Q.850;cause=16") {
				t.Fatalf("Reason %q", r)
			}
			if got := m.waitLeave(t); got != "hangup" {
				t.Fatalf("Leave(%q), want hangup", got)
			}
			eventually(t, "the call to be gone", func() bool { return f.Calls() == 0 })
		})
	}
}

// stateOf reads the state of the call with Call-ID id (stateEnded if gone).
func stateOf(f *Front, id string) callState {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.calls {
		if k.callID == id {
			c.mu.Lock()
			defer c.mu.Unlock()
			return c.state
		}
	}
	return stateEnded
}

func TestJoinErrorsMapToFinalResponses(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{focus.ErrUnknownConference, 404},
		{focus.ErrLocked, 403},
		{focus.ErrForbidden, 403},
		{focus.ErrFull, 486},
		{focus.ErrUnavailable, 480},
		{focus.ErrEnded, 480},
		{fmt.Errorf("negotiate: %w", mixer.ErrNoCommonCodec), 488},
		{mixer.ErrBadSDP, 488},
		{mixer.ErrCapacity, 503},
		{errBoom, 500},
	}
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v is answered %d", tt.err, tt.code), func(t *testing.T) {
			j.setErr(tt.err)
			_, err := c.invite(testContext(t), "7001", offerSDP("sendrecv"))
			var de *sipgo.ErrDialogResponse
			if !errors.As(err, &de) || de.Res.StatusCode != tt.code {
				t.Fatalf("INVITE: %v, want %d", err, tt.code)
			}
		})
	}
	if s := f.Stats(); s.Rejected != uint64(len(tests)) || s.Calls != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestInviteChecks(t *testing.T) {
	tests := []struct {
		name string
		user string
		sdp  []byte
		hdrs []sip.Header
		code int
	}{
		{name: "an INVITE without SDP (late offer) is refused with 488", user: "7001", code: 488},
		{name: "an INVITE with a body that is not SDP is refused with 415", user: "7001", sdp: []byte("hello"),
			hdrs: []sip.Header{sip.NewHeader("Content-Type", "text/plain")}, code: 415},
		{name: "an INVITE to a user with odd characters is refused with 404", user: "70%2001", sdp: offerSDP("sendrecv"), code: 404},
		{name: "an INVITE requiring an unknown extension is refused with 420", user: "7001", sdp: offerSDP("sendrecv"),
			hdrs: []sip.Header{sip.NewHeader("Require", "precondition")}, code: 420},
		{name: "a session interval below Min-SE is refused with 422", user: "7001", sdp: offerSDP("sendrecv"),
			hdrs: []sip.Header{sip.NewHeader("Session-Expires", "30"), sip.NewHeader("Supported", "timer")}, code: 422},
	}
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := testContext(t)
			req := sip.NewRequest(sip.INVITE, c.uri(tt.user))
			for _, h := range tt.hdrs {
				req.AppendHeader(h)
			}
			if tt.sdp != nil {
				if req.GetHeader("Content-Type") == nil {
					req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
				}
				req.SetBody(tt.sdp)
			}
			req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "t", Host: "127.0.0.1"}})
			res := c.do(ctx, req)
			if res.StatusCode != tt.code {
				t.Fatalf("status %d %s, want %d", res.StatusCode, res.Reason, tt.code)
			}
			if tt.code == 422 && header(res, "Min-SE") != "90" {
				t.Fatalf("422 without Min-SE: %q", header(res, "Min-SE"))
			}
			if tt.code == 420 && header(res, "Unsupported") != "precondition" {
				t.Fatalf("420 without Unsupported: %q", header(res, "Unsupported"))
			}
		})
	}
}

func TestFocusURITarget(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)
	u := c.uri("alice")
	u.UriParams.Add("gruu", "")
	u.UriParams.Add("opaque", "app:conf:focus:id:3ICYEOLH")
	req := sip.NewRequest(sip.INVITE, u)
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody(offerSDP("sendrecv"))
	req.SetTransport("UDP")
	sess, err := c.dialogUA().WriteInvite(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	_ = sess.Ack(ctx)
	if got := j.lastJoin(t).target; got != "focus:3ICYEOLH" {
		t.Fatalf("target %q, want focus:3ICYEOLH", got)
	}
	ct := sess.InviteResponse.Contact()
	if v, _ := ct.Address.UriParams.Get("opaque"); v != "app:conf:focus:id:3ICYEOLH" || !ct.Params.Has("isfocus") {
		t.Fatalf("Contact %s is not the Focus URI with isfocus", ct.Value())
	}
}

func TestCancelBeforeAnswer(t *testing.T) {
	for _, tp := range transports {
		t.Run("over "+tp+" a CANCEL during Join gets 487 and the late member leaves", func(t *testing.T) {
			j := newEchoJoiner()
			j.setBlock(true)
			f := startFront(t, j)
			c := newCaller(t, f, tp)
			ctx := testContext(t)

			req := sip.NewRequest(sip.INVITE, c.uri("7001"))
			req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
			req.SetBody(offerSDP("sendrecv"))
			req.SetTransport(tp)
			sess, err := c.dialogUA().WriteInvite(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, "Join", func() bool { j.mu.Lock(); defer j.mu.Unlock(); return len(j.joins) == 1 })
			cancelCtx, cancel := newCanceled(ctx)
			defer cancel()
			err = sess.WaitAnswer(cancelCtx, sipgo.AnswerOptions{})
			if !errors.Is(err, errCanceledOnPurpose) && err == nil {
				t.Fatalf("WaitAnswer: %v", err)
			}
			if sess.InviteResponse == nil || sess.InviteResponse.StatusCode != sip.StatusRequestTerminated {
				t.Fatalf("final response %v, want 487", sess.InviteResponse)
			}
			eventually(t, "the member to leave", func() bool {
				ms := j.allMembers()
				if len(ms) != 1 {
					return false
				}
				_, _, leaves := ms[0].snapshot()
				return len(leaves) == 1 && leaves[0] == "cancel"
			})
			if s := f.Stats(); s.Canceled != 1 || s.Calls != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestOptions(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)
	sess := c.call(ctx, "7001")

	check := func(t *testing.T, res *sip.Response) {
		t.Helper()
		if res.StatusCode != 200 || header(res, "Allow") != allowedMethods ||
			header(res, "Accept") != acceptedTypes || header(res, "Supported") != "timer" {
			t.Fatalf("OPTIONS answer %d Allow=%q Accept=%q Supported=%q", res.StatusCode,
				header(res, "Allow"), header(res, "Accept"), header(res, "Supported"))
		}
	}
	t.Run("OPTIONS outside a dialog lists what the Front allows, accepts and supports", func(t *testing.T) {
		check(t, c.do(ctx, sip.NewRequest(sip.OPTIONS, c.uri("7001"))))
	})
	t.Run("OPTIONS inside a dialog is answered the same", func(t *testing.T) {
		check(t, c.inDialog(ctx, sess, sip.OPTIONS, nil))
	})
	t.Run("OPTIONS for an unknown dialog gets 481", func(t *testing.T) {
		req := sip.NewRequest(sip.OPTIONS, c.uri("7001"))
		to := &sip.ToHeader{Address: c.uri("7001"), Params: sip.NewParams()}
		to.Params.Add("tag", "nope")
		req.AppendHeader(to)
		if res := c.do(ctx, req); res.StatusCode != 481 {
			t.Fatalf("status %d, want 481", res.StatusCode)
		}
	})
	t.Run("an unknown method gets 501 and a known unhandled one 405, both with Allow", func(t *testing.T) {
		for method, code := range map[sip.RequestMethod]int{"FOO": 501, sip.MESSAGE: 405} {
			res := c.do(ctx, sip.NewRequest(method, c.uri("7001")))
			if res.StatusCode != code || header(res, "Allow") == "" {
				t.Fatalf("%s: %d Allow=%q, want %d", method, res.StatusCode, header(res, "Allow"), code)
			}
		}
	})
}

func TestInfoDTMF(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "TCP")
	ctx := testContext(t)
	sess := c.call(ctx, "7001")
	m := j.next(t)

	tests := []struct {
		name  string
		ctype string
		body  string
		code  int
		digit byte
	}{
		{"dtmf-relay with Signal=5 relays 5", "application/dtmf-relay", "Signal=5\r\nDuration=160\r\n", 200, '5'},
		{"dtmf-relay with Signal=# relays #", "application/dtmf-relay", "Signal= #\r\nDuration= 250\r\n", 200, '#'},
		{"dtmf with event code 10 relays *", "application/dtmf", "10", 200, '*'},
		{"an unknown signal is refused with 400", "application/dtmf-relay", "Signal=X\r\n", 400, 0},
		{"another body type is refused with 415", "application/media_control+xml", "<x/>", 415, 0},
	}
	var want []byte
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.inDialog(ctx, sess, sip.INFO, []byte(tt.body), sip.NewHeader("Content-Type", tt.ctype))
			if res.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.code)
			}
			if tt.digit != 0 {
				want = append(want, tt.digit)
			}
			if digits, _, _ := m.snapshot(); string(digits) != string(want) {
				t.Fatalf("digits %q, want %q", digits, want)
			}
		})
	}
}

// newCanceled returns a context that is cancelled shortly, so that sipgo's
// WaitAnswer sends CANCEL once the 100 Trying is in.
func newCanceled(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	time.AfterFunc(100*time.Millisecond, func() { cancel(errCanceledOnPurpose) })
	return ctx, func() { cancel(nil) }
}

var errCanceledOnPurpose = errors.New("test cancels the INVITE")

func TestHangupBeforeAnswer(t *testing.T) {
	j := newEchoJoiner()
	j.setBlock(true)
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)
	result := make(chan error, 1)
	go func() { _, err := c.invite(ctx, "7001", offerSDP("sendrecv")); result <- err }()
	eventually(t, "Join", func() bool { j.mu.Lock(); defer j.mu.Unlock(); return len(j.joins) == 1 })
	j.lastJoin(t).leg.Hangup("wrong PIN")

	var de *sipgo.ErrDialogResponse
	if err := <-result; !errors.As(err, &de) || de.Res.StatusCode != 480 {
		t.Fatalf("INVITE: %v, want 480", err)
	}
	if r := header(de.Res, "Reason"); !strings.Contains(r, `text="wrong PIN"`) {
		t.Fatalf("Reason %q", r)
	}
	eventually(t, "the late member to leave", func() bool {
		ms := j.allMembers()
		if len(ms) != 1 {
			return false
		}
		_, _, leaves := ms[0].snapshot()
		return len(leaves) == 1 && leaves[0] == "hangup"
	})
}

// An RFC 2543 style ACK reuses the INVITE's branch and so reaches the
// INVITE transaction rather than OnAck; it must confirm the call too.
func TestAckWithTheInviteBranch(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j, withTimers(200*time.Millisecond, time.Second))
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	me := conn.LocalAddr().String()
	sdp := offerSDP("sendrecv")
	invite := "INVITE sip:7001@" + f.Addr().String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bKsamebranch\r\n" +
		"From: <sip:old@" + me + ">;tag=1\r\nTo: <sip:7001@" + f.Addr().String() + ">\r\n" +
		"Call-ID: samebranch@test\r\nCSeq: 1 INVITE\r\nContact: <sip:old@" + me + ">\r\nMax-Forwards: 70\r\n" +
		"Content-Type: application/sdp\r\nContent-Length: " + strconv.Itoa(len(sdp)) + "\r\n\r\n" + string(sdp)
	front := net.UDPAddrFromAddrPort(f.Addr())
	if _, err := conn.WriteToUDP([]byte(invite), front); err != nil {
		t.Fatal(err)
	}
	var ok *sip.Response
	buf := make([]byte, 4096)
	for ok == nil {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no 200: %v", err)
		}
		if msg, err := sip.ParseMessage(buf[:n]); err == nil {
			if res, isRes := msg.(*sip.Response); isRes && res.StatusCode == 200 {
				ok = res
			}
		}
	}
	ack := "ACK sip:7001@" + f.Addr().String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + me + ";branch=z9hG4bKsamebranch\r\n" +
		"From: <sip:old@" + me + ">;tag=1\r\nTo: " + header(ok, "To") + "\r\n" +
		"Call-ID: samebranch@test\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
	if _, err := conn.WriteToUDP([]byte(ack), front); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the call to be confirmed", func() bool { return stateOf(f, "samebranch@test") == stateConfirmed })
	// No more 200 retransmissions once confirmed (after any in flight).
	time.Sleep(300 * time.Millisecond)
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("still got %q after the ACK", buf[:n])
	}
}
