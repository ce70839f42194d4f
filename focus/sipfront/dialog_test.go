package sipfront

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/mixer"
)

func TestReinvite(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)
	sess := c.call(ctx, "7001")
	m := j.next(t)
	eventually(t, "the ACK", func() bool { return stateOf(f, m.call.CallID) == stateConfirmed })

	sdpType := sip.NewHeader("Content-Type", "application/sdp")
	tests := []struct {
		name   string
		offer  []byte
		code   int
		answer string
	}{
		{"putting the call on hold reaches Reoffer and is answered recvonly", offerSDP("sendonly"), 200, "a=recvonly"},
		{"an inactive offer is answered inactive", offerSDP("inactive"), 200, "a=inactive"},
		{"resuming is answered sendrecv", offerSDP("sendrecv"), 200, "a=sendrecv"},
		{"a codec change reaches Reoffer", []byte(strings.Replace(string(offerSDP("sendrecv")), "RTP/AVP 0 8 101", "RTP/AVP 8 101", 1)), 200, "a=sendrecv"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := c.inDialog(ctx, sess, sip.INVITE, tt.offer, sdpType)
			if res.StatusCode != tt.code || !sdpHas(res.Body(), tt.answer) {
				t.Fatalf("status %d answer %q, want %d with %s", res.StatusCode, res.Body(), tt.code, tt.answer)
			}
			if ct := res.Contact(); ct == nil || !ct.Params.Has("isfocus") {
				t.Fatalf("re-INVITE 200 without isfocus Contact")
			}
			ack := sip.NewRequest(sip.ACK, sess.InviteResponse.Contact().Address)
			ack.AppendHeader(&sip.CSeqHeader{SeqNo: res.CSeq().SeqNo, MethodName: sip.ACK})
			if err := sess.WriteAck(ctx, ack); err != nil {
				t.Fatal(err)
			}
			if _, offers, _ := m.snapshot(); len(offers) != i+1 || string(offers[i]) != string(tt.offer) {
				t.Fatalf("Reoffer got %d offers, last %q", len(offers), offers[len(offers)-1])
			}
			eventually(t, "the re-INVITE ACK", func() bool {
				c := lookupByID(f, m.call.CallID)
				c.mu.Lock()
				defer c.mu.Unlock()
				return c.acked == nil
			})
		})
	}
	t.Run("an offer the MCU cannot take is refused with 488 and the call goes on", func(t *testing.T) {
		m.setReoffer(func([]byte) ([]byte, error) { return nil, mixer.ErrNoCommonCodec })
		res := c.inDialog(ctx, sess, sip.INVITE, offerSDP("sendrecv"), sdpType)
		if res.StatusCode != 488 {
			t.Fatalf("status %d, want 488", res.StatusCode)
		}
		m.setReoffer(nil)
		if f.Calls() != 1 {
			t.Fatalf("the call ended")
		}
	})
	t.Run("an UPDATE with an offer reaches Reoffer", func(t *testing.T) {
		res := c.inDialog(ctx, sess, sip.UPDATE, offerSDP("sendonly"), sdpType)
		if res.StatusCode != 200 || !sdpHas(res.Body(), "a=recvonly") {
			t.Fatalf("status %d answer %q", res.StatusCode, res.Body())
		}
	})
}

func lookupByID(f *Front, id string) *call {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, c := range f.calls {
		if k.callID == id {
			return c
		}
	}
	return nil
}

func TestOverlappingOffers(t *testing.T) {
	sdpType := sip.NewHeader("Content-Type", "application/sdp")

	t.Run("a re-INVITE while the previous one is being answered gets 500 with Retry-After", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j)
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		sess := c.call(ctx, "7001")
		m := j.next(t)
		eventually(t, "the ACK", func() bool { return stateOf(f, m.call.CallID) == stateConfirmed })

		release := make(chan struct{})
		m.setReoffer(func([]byte) ([]byte, error) { <-release; return []byte(answerSDP), nil })
		first := make(chan *sip.Response, 1)
		go func() { first <- c.inDialog(ctx, sess, sip.INVITE, offerSDP("sendonly"), sdpType) }()
		<-m.reofferIn
		res := c.inDialog(ctx, sess, sip.INVITE, offerSDP("sendrecv"), sdpType)
		close(release)
		if res.StatusCode != 500 {
			t.Fatalf("second re-INVITE: %d, want 500", res.StatusCode)
		}
		if ra, err := strconv.Atoi(header(res, "Retry-After")); err != nil || ra < 0 || ra > 10 {
			t.Fatalf("Retry-After %q, want 0-10", header(res, "Retry-After"))
		}
		if r := <-first; r.StatusCode != 200 {
			t.Fatalf("first re-INVITE: %d", r.StatusCode)
		}
	})

	t.Run("a re-INVITE before the ACK of the INVITE gets 491", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, withTimers(time.Second, 4*time.Second))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		sess, err := c.invite(ctx, "7001", offerSDP("sendrecv"))
		if err != nil {
			t.Fatal(err)
		}
		// No ACK yet.
		if res := c.inDialog(ctx, sess, sip.INVITE, offerSDP("sendonly"), sdpType); res.StatusCode != 491 {
			t.Fatalf("re-INVITE before ACK: %d, want 491", res.StatusCode)
		}
		_ = sess.Ack(ctx)
	})

	t.Run("a re-INVITE crossing our own session refresh gets 491", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithSessionTimer(2*time.Second), WithMinSE(time.Second))
		c := newCaller(t, f, "UDP")
		refreshIn := make(chan sip.ServerTransaction, 1)
		answered := make(chan struct{})
		c.onRequest = func(req *sip.Request, tx sip.ServerTransaction) bool {
			refreshIn <- tx
			<-answered
			return false
		}
		ctx := testContext(t)
		// refresher=uas: the Front refreshes, with UPDATE since we allow it.
		sess := c.call(ctx, "7001", sip.NewHeader("Session-Expires", "2;refresher=uas"),
			sip.NewHeader("Supported", "timer"), sip.NewHeader("Allow", "INVITE, ACK, BYE, UPDATE"))
		select {
		case <-refreshIn:
		case <-time.After(5 * time.Second):
			t.Fatal("no session refresh from the Front")
		}
		res := c.inDialog(ctx, sess, sip.INVITE, offerSDP("sendonly"), sdpType)
		close(answered)
		if res.StatusCode != 491 {
			t.Fatalf("re-INVITE during our refresh: %d, want 491", res.StatusCode)
		}
	})
}

func TestAckTimeoutEndsCall(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j) // T1 = 50 ms: the ACK wait is 3.2 s
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
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{}); err != nil {
		t.Fatal(err)
	}
	m := j.next(t)
	// We never ACK: the Front retransmits the 200, then gives up with BYE.
	bye := c.waitBye(t)
	if bye.CallID().Value() != m.call.CallID {
		t.Fatalf("BYE for %s, want %s", bye.CallID().Value(), m.call.CallID)
	}
	if got := m.waitLeave(t); got != "ack timeout" {
		t.Fatalf("Leave(%q), want ack timeout", got)
	}
	if s := f.Stats(); s.AckTimeouts != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestSessionTimer(t *testing.T) {
	t.Run("without a refresh the Front ends the call with BYE before the session expires", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithSessionTimer(3*time.Second), WithMinSE(time.Second))
		c := newCaller(t, f, "TCP")
		ctx := testContext(t)
		start := time.Now()
		sess := c.call(ctx, "7001", sip.NewHeader("Supported", "timer"))
		if se := header(sess.InviteResponse, "Session-Expires"); se != "3;refresher=uac" {
			t.Fatalf("Session-Expires %q, want 3;refresher=uac", se)
		}
		if rq := header(sess.InviteResponse, "Require"); rq != "timer" {
			t.Fatalf("Require %q, want timer", rq)
		}
		m := j.next(t)
		bye := c.waitBye(t)
		// RFC 4028 §10: BYE at SE - min(32, SE/3) = 2 s.
		if el := time.Since(start); el < 1900*time.Millisecond || el > 3*time.Second {
			t.Fatalf("BYE after %v, want about 2 s", el)
		}
		if !strings.Contains(header(bye, "Reason"), "session timer expired") {
			t.Fatalf("Reason %q", header(bye, "Reason"))
		}
		if got := m.waitLeave(t); got != "session expired" {
			t.Fatalf("Leave(%q), want session expired", got)
		}
		if s := f.Stats(); s.SessionExpired != 1 {
			t.Fatalf("stats %+v", s)
		}
	})

	t.Run("UPDATE refreshes keep the call up past the interval", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithSessionTimer(3*time.Second), WithMinSE(time.Second))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		sess := c.call(ctx, "7001", sip.NewHeader("Supported", "timer"))
		m := j.next(t)
		for range 4 {
			time.Sleep(time.Second)
			res := c.inDialog(ctx, sess, sip.UPDATE, nil, sip.NewHeader("Session-Expires", "3;refresher=uac"), sip.NewHeader("Supported", "timer"))
			if res.StatusCode != 200 || header(res, "Session-Expires") != "3;refresher=uac" {
				t.Fatalf("UPDATE: %d Session-Expires=%q", res.StatusCode, header(res, "Session-Expires"))
			}
		}
		if _, _, leaves := m.snapshot(); len(leaves) != 0 || f.Calls() != 1 {
			t.Fatalf("call ended despite refreshes: %v", leaves)
		}
	})

	t.Run("as refresher the Front sends UPDATE at half the interval", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithSessionTimer(2*time.Second), WithMinSE(time.Second))
		c := newCaller(t, f, "UDP")
		ctx := testContext(t)
		c.call(ctx, "7001", sip.NewHeader("Session-Expires", "2;refresher=uas"), sip.NewHeader("Supported", "timer"),
			sip.NewHeader("Allow", "INVITE, ACK, BYE, UPDATE"))
		for range 2 {
			select {
			case req := <-c.requests:
				if req.Method != sip.UPDATE || header(req, "Session-Expires") != "2;refresher=uas" {
					t.Fatalf("refresh %s Session-Expires=%q", req.Method, header(req, "Session-Expires"))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("no refresh")
			}
		}
		if f.Calls() != 1 {
			t.Fatal("call ended")
		}
	})

	t.Run("without UPDATE in Allow the Front refreshes with a re-INVITE carrying its SDP", func(t *testing.T) {
		j := newEchoJoiner()
		f := startFront(t, j, WithSessionTimer(2*time.Second), WithMinSE(time.Second))
		c := newCaller(t, f, "TCP")
		ctx := testContext(t)
		c.call(ctx, "7001", sip.NewHeader("Session-Expires", "2;refresher=uas"), sip.NewHeader("Supported", "timer"))
		select {
		case req := <-c.requests:
			if req.Method != sip.INVITE || string(req.Body()) != answerSDP {
				t.Fatalf("refresh %s with %q", req.Method, req.Body())
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no refresh")
		}
		if f.Calls() != 1 {
			t.Fatal("call ended")
		}
	})
}

func TestShutdownSendsBye(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	c := newCaller(t, f, "UDP")
	ctx := testContext(t)
	for range 3 {
		c.call(ctx, "7001")
	}
	eventually(t, "three confirmed calls", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		n := 0
		for _, c := range f.calls {
			c.mu.Lock()
			if c.state == stateConfirmed {
				n++
			}
			c.mu.Unlock()
		}
		return n == 3
	})
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	for range 3 {
		c.waitBye(t)
	}
	for _, m := range j.allMembers() {
		if _, _, leaves := m.snapshot(); len(leaves) != 1 || leaves[0] != "shutdown" {
			t.Fatalf("leaves %v, want [shutdown]", leaves)
		}
	}
	_, err := c.invite(ctx, "7001", offerSDP("sendrecv"))
	if err == nil || !strings.Contains(err.Error(), "503") {
		t.Fatalf("INVITE after Shutdown: %v, want 503", err)
	}
}
