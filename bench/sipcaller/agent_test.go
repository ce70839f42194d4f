package sipcaller

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestACallIsAnsweredAcknowledgedAndHungUp(t *testing.T) {
	for _, tc := range []struct {
		name      string
		transport string
		params    string
	}{
		{"over UDP from the agent's own port", "UDP", ""},
		{"over TCP", "TCP", ";transport=tcp"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newFakeBridge(t)
			a := newAgent(t, WithTCP(), WithUser("alice", "Alice"))
			ctx := testContext(t)
			c, err := a.Dial(ctx, b.uri("7001", tc.params), []byte(callerSDP))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			if string(c.Answer()) != bridgeSDP {
				t.Fatalf("answer %q, want the bridge's SDP", c.Answer())
			}
			b.session(t)
			eventually(t, "the ACK", func() bool { _, _, acks, _, _, _ := b.snapshot(); return len(acks) == 1 })
			invites, _, _, _, _, _ := b.snapshot()
			inv := invites[0]
			if got := inv.Transport(); got != tc.transport {
				t.Errorf("INVITE came over %s, want %s", got, tc.transport)
			}
			if tc.transport == "UDP" && inv.Source() != a.Addr().String() {
				t.Errorf("INVITE came from %s, want the agent's port %s", inv.Source(), a.Addr())
			}
			if ct := inv.Contact(); ct == nil || ct.Address.User != "alice" || ct.Address.Port != int(a.Addr().Port()) {
				t.Errorf("Contact %v does not name the agent", inv.Contact())
			}
			if inv.From().DisplayName != "Alice" || string(inv.Body()) != callerSDP || header(inv, "Content-Type") != "application/sdp" {
				t.Errorf("INVITE From %q, body %q, type %q", inv.From().DisplayName, inv.Body(), header(inv, "Content-Type"))
			}
			if err := c.Bye(ctx); err != nil {
				t.Fatalf("Bye: %v", err)
			}
			if _, _, _, byes, _, _ := b.snapshot(); byes != 1 {
				t.Fatalf("the bridge got %d BYEs, want 1", byes)
			}
			select {
			case <-c.Ended():
			default:
				t.Fatal("the call did not end with its BYE")
			}
			if e := c.Ending(); e.Remote {
				t.Fatalf("ending %+v, want a local hang-up", e)
			}
			if err := c.Bye(ctx); !errors.Is(err, ErrCallEnded) {
				t.Fatalf("a second Bye gave %v, want ErrCallEnded", err)
			}
		})
	}
}

func TestDialFailures(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	for _, tc := range []struct {
		name   string
		target string
		opts   []DialOption
		want   int
	}{
		{"a busy target fails with its status", b.uri("busy"), nil, sip.StatusBusyHere},
		{"a challenge without credentials fails with 401", b.uri("secret"), nil, sip.StatusUnauthorized},
		{"a challenge with a wrong password fails with 401", b.uri("secret"), []DialOption{WithCredentials("alice", "guess")}, sip.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := a.Dial(testContext(t), tc.target, []byte(callerSDP), tc.opts...)
			if got := StatusCode(err); got != tc.want || c != nil {
				t.Fatalf("Dial gave %v (status %d), want status %d", err, got, tc.want)
			}
		})
	}
	t.Run("a target that is not a SIP URI is refused before anything is sent", func(t *testing.T) {
		if _, err := a.Dial(testContext(t), "mailto:someone@example.com", nil); !errors.Is(err, ErrBadTarget) {
			t.Fatalf("got %v, want ErrBadTarget", err)
		}
	})
	t.Run("a TCP target needs an agent listening on TCP", func(t *testing.T) {
		if _, err := a.Dial(testContext(t), b.uri("7001", ";transport=tcp"), nil); !errors.Is(err, ErrNoTCP) {
			t.Fatalf("got %v, want ErrNoTCP", err)
		}
	})
}

func TestAChallengedInviteIsAnsweredWithTheCredentials(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	ctx := testContext(t)
	c, err := a.Dial(ctx, b.uri("secret"), []byte(callerSDP), WithCredentials("alice", "wonderland"))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	invites, _, _, _, _, _ := b.snapshot()
	if len(invites) != 2 || invites[1].GetHeader("Authorization") == nil {
		t.Fatalf("%d INVITEs, want the first challenged and the second with credentials", len(invites))
	}
	if invites[1].CSeq().SeqNo <= invites[0].CSeq().SeqNo {
		t.Fatalf("the retried INVITE reuses CSeq %d", invites[1].CSeq().SeqNo)
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestTheFarEndsByeEndsTheCallWithItsReason(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	ctx := testContext(t)
	c, err := a.Dial(ctx, b.uri("7001"), []byte(callerSDP))
	if err != nil {
		t.Fatal(err)
	}
	dlg := b.session(t)
	bye := sip.NewRequest(sip.BYE, dlg.InviteRequest.Contact().Address)
	bye.AppendHeader(sip.NewHeader("Reason", `Q.850;cause=16;text="wrong PIN"`))
	if err := dlg.WriteBye(ctx, bye); err != nil {
		t.Fatalf("the agent did not answer the BYE: %v", err)
	}
	e, err := c.WaitEnded(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !e.Remote || !strings.Contains(e.Reason, "wrong PIN") {
		t.Fatalf("ending %+v, want remote with the Reason", e)
	}
	if err := c.Bye(ctx); !errors.Is(err, ErrCallEnded) {
		t.Fatalf("Bye after the far end's BYE gave %v, want ErrCallEnded", err)
	}
}

func TestHoldAndResumeByReinvite(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	ctx := testContext(t)
	c, err := a.Dial(ctx, b.uri("7001"), []byte(callerSDP))
	if err != nil {
		t.Fatal(err)
	}
	b.session(t)
	offer := []byte(callerSDP)
	for i, tc := range []struct {
		name, dir, wantAnswer string
	}{
		{"hold offers sendonly and the answer is recvonly", "sendonly", "a=recvonly"},
		{"resume offers sendrecv again", "sendrecv", "a=sendrecv"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			offer, err = WithDirection(offer, tc.dir)
			if err != nil {
				t.Fatal(err)
			}
			answer, err := c.Reinvite(ctx, offer)
			if err != nil {
				t.Fatalf("Reinvite: %v", err)
			}
			if !strings.Contains(string(answer), tc.wantAnswer) || string(c.Answer()) != string(answer) {
				t.Fatalf("answer %q, want %s", answer, tc.wantAnswer)
			}
			_, reinvites, _, _, _, _ := b.snapshot()
			if len(reinvites) != i+1 || !strings.Contains(string(reinvites[i].Body()), "a="+tc.dir) {
				t.Fatalf("the bridge got %d re-INVITEs, the last %q", len(reinvites), reinvites[len(reinvites)-1].Body())
			}
			cseq := reinvites[i].CSeq().SeqNo
			eventually(t, "the ACK of the re-INVITE", func() bool {
				_, _, acks, _, _, _ := b.snapshot()
				return len(acks) == i+2 && acks[i+1] == cseq
			})
		})
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestInfoCarriesTheDigitAsDTMFRelay(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	ctx := testContext(t)
	c, err := a.Dial(ctx, b.uri("7001"), []byte(callerSDP))
	if err != nil {
		t.Fatal(err)
	}
	b.session(t)
	for _, d := range []byte("1#") {
		if err := c.InfoDTMF(ctx, d); err != nil {
			t.Fatalf("InfoDTMF(%c): %v", d, err)
		}
	}
	if err := c.InfoDTMF(ctx, 'x'); err == nil {
		t.Fatal("a letter that is no DTMF digit was sent")
	}
	_, _, _, _, infos, _ := b.snapshot()
	want := []string{"application/dtmf-relay|Signal=1\r\nDuration=160\r\n", "application/dtmf-relay|Signal=#\r\nDuration=160\r\n"}
	if strings.Join(infos, "\n") != strings.Join(want, "\n") {
		t.Fatalf("INFOs %q, want %q", infos, want)
	}
}

func TestASessionRefreshIsAnsweredWithTheCurrentSDP(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t)
	ctx := testContext(t)
	c, err := a.Dial(ctx, b.uri("7001"), []byte(callerSDP))
	if err != nil {
		t.Fatal(err)
	}
	dlg := b.session(t)
	eventually(t, "the ACK", func() bool { _, _, acks, _, _, _ := b.snapshot(); return len(acks) == 1 })
	refresh := sip.NewRequest(sip.UPDATE, dlg.InviteRequest.Contact().Address)
	refresh.AppendHeader(sip.NewHeader("Session-Expires", "1800;refresher=uas"))
	res, err := dlg.Do(ctx, refresh)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != sip.StatusOK || header(res, "Session-Expires") != "1800;refresher=uas" {
		t.Fatalf("UPDATE answered %d with Session-Expires %q", res.StatusCode, header(res, "Session-Expires"))
	}
	reinvite := sip.NewRequest(sip.INVITE, dlg.InviteRequest.Contact().Address)
	res, err = dlg.Do(ctx, reinvite)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != sip.StatusOK || string(res.Body()) != callerSDP {
		t.Fatalf("a re-INVITE without offer got %d with %q, want 200 with the caller's SDP", res.StatusCode, res.Body())
	}
	if err := c.Bye(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRegisterWithDigest(t *testing.T) {
	b := newFakeBridge(t)
	a := newAgent(t, WithUser("alice", ""))
	registrar := "sip:" + b.addr
	for _, tc := range []struct {
		name     string
		password string
		opts     []RegisterOption
		want     int // 0: registered
		wantAlg  string
	}{
		{"without a password the registrar's 401 comes back", "", nil, sip.StatusUnauthorized, ""},
		{"the registrar's first choice, SHA-256, registers", "wonderland", nil, 0, "SHA-256"},
		{"MD5 registers when asked for", "wonderland", []RegisterOption{WithAlgorithm("md5")}, 0, "MD5"},
		{"a wrong password is refused with 401", "guess", nil, sip.StatusUnauthorized, "SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, _, _, before := b.snapshot()
			reg, err := a.Register(testContext(t), registrar, "alice", tc.password, time.Hour, tc.opts...)
			if got := StatusCode(err); got != tc.want {
				t.Fatalf("Register gave %v (status %d), want status %d", err, got, tc.want)
			}
			_, _, _, _, _, after := b.snapshot()
			sent := after[len(before):]
			if tc.wantAlg != "" {
				last := header(sent[len(sent)-1], "Authorization")
				if !strings.Contains(last, "algorithm="+tc.wantAlg) {
					t.Fatalf("credentials %q, want algorithm %s", last, tc.wantAlg)
				}
			}
			for i := 1; i < len(sent); i++ {
				if sent[i].CallID().Value() != sent[0].CallID().Value() || sent[i].CSeq().SeqNo <= sent[i-1].CSeq().SeqNo {
					t.Fatal("REGISTERs of one agent must share a Call-ID and count CSeq up (RFC 3261 §10.2)")
				}
			}
			if tc.want != 0 {
				return
			}
			if len(reg.Bindings) != 1 || !strings.Contains(reg.Bindings[0].Contact, a.Addr().String()) ||
				reg.Bindings[0].Expires < 59*time.Minute {
				t.Fatalf("bindings %+v, want the agent's contact for an hour", reg.Bindings)
			}
		})
	}
	t.Run("a query without Contact lists the bindings and changes none", func(t *testing.T) {
		reg, err := a.Register(testContext(t), registrar, "alice", "wonderland", 0, WithoutContact())
		if err != nil {
			t.Fatal(err)
		}
		if len(reg.Bindings) != 1 {
			t.Fatalf("bindings %+v, want the one registered", reg.Bindings)
		}
	})
	t.Run("expires 0 removes the binding", func(t *testing.T) {
		reg, err := a.Register(testContext(t), registrar, "alice", "wonderland", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(reg.Bindings) != 0 {
			t.Fatalf("bindings %+v after unregistering", reg.Bindings)
		}
	})
}

func TestMediaAddr(t *testing.T) {
	for _, tc := range []struct {
		name, sdp string
		want      string
		err       bool
	}{
		{"the session-level address and the audio port", callerSDP, "127.0.0.1:41000", false},
		{"a media-level address wins", strings.Replace(callerSDP, "a=rtpmap", "c=IN IP4 10.0.0.9\r\na=rtpmap", 1), "10.0.0.9:41000", false},
		{"a rejected stream (port 0) is no audio", strings.Replace(callerSDP, "41000", "0", 1), "", true},
		{"garbage is an error", "hello", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := MediaAddr([]byte(tc.sdp))
			if (err != nil) != tc.err || (!tc.err && got != netip.MustParseAddrPort(tc.want)) {
				t.Fatalf("MediaAddr = %v, %v; want %s (error %v)", got, err, tc.want, tc.err)
			}
		})
	}
}

func TestWithDirection(t *testing.T) {
	t.Run("hold replaces the direction and counts the version up", func(t *testing.T) {
		held, err := WithDirection([]byte(callerSDP), "sendonly")
		if err != nil {
			t.Fatal(err)
		}
		s := string(held)
		if !strings.Contains(s, "a=sendonly") || strings.Contains(s, "a=sendrecv") || !strings.Contains(s, "o=caller 7 2 ") {
			t.Fatalf("held SDP %q", s)
		}
	})
	t.Run("an unknown direction is refused", func(t *testing.T) {
		if _, err := WithDirection([]byte(callerSDP), "sideways"); err == nil {
			t.Fatal("no error")
		}
	})
}
