package sipfront

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/c3p"
	"confab/focus/confinfo"
	"confab/focus/serverfactory"
	"confab/focus/store"
	"confab/hal/sockpath"
	"confab/mixer"
	"confab/mixer/prompt"
)

// The conference control tests run the Front over a real Focus Factory:
// the conferencing database in a temporary directory, the audio MCU on
// loopback sockets, and sipgo clients (and SIPp) as the other side.

const confDomain = "confab.test"

// noPrompts gives the Focus no prompts: what would follow a prompt
// happens at once.
type noPrompts struct{}

func (noPrompts) Prompt(string) *prompt.Prompt { return nil }

type confEnv struct {
	db    *store.Store
	fa    *focus.Factory
	front *Front
}

// startConferencing runs a Front with conference control over a real
// Factory and mixer whose media ports start at low.
func startConferencing(t *testing.T, low uint16, opts ...Option) *confEnv {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "confab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	path, err := sockpath.New(netip.MustParseAddr("127.0.0.1"), low, low+199)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := mixer.NewEngine(path, netip.MustParseAddr("127.0.0.1"), mixer.Config{MediaTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	engineDone := make(chan error, 1)
	go func() { engineDone <- engine.Run(ctx) }()
	servers := serverfactory.NewLocal(engine.NewConference)
	fa := focus.NewFactory(db, servers, noPrompts{}, focus.WithDomain(confDomain), focus.WithLogger(testLogger()))
	go func() {
		for ev := range engine.Events() {
			fa.HandleMCUEvent(ev)
		}
	}()
	opts = append([]Option{
		WithLogger(testLogger()), withTimers(50*time.Millisecond, 400*time.Millisecond),
		WithDomain(confDomain), WithAuth(users{"alice": "alice-pw", "bob": "bob-pw"}),
		WithConferencing(focus.NewControl(fa)), WithNotifyInterval(100 * time.Millisecond),
	}, opts...)
	front, err := New(fa, opts...)
	if err != nil {
		t.Fatal(err)
	}
	serveDone := make(chan error, 1)
	go func() { serveDone <- front.ListenAndServe(ctx, "127.0.0.1:0") }()
	select {
	case <-front.Ready():
	case err := <-serveDone:
		t.Fatalf("ListenAndServe: %v", err)
	}
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = front.Shutdown(sctx)
		fa.Close()
		cancel()
		if err := <-serveDone; err != nil {
			t.Errorf("ListenAndServe: %v", err)
		}
		<-engineDone
	})
	return &confEnv{db: db, fa: fa, front: front}
}

// party is a SIP client with a name: its From user, its NOTIFYs.
type party struct {
	*caller
	name     string
	notifies chan *sip.Request
}

// newParty makes a client over UDP; subscribers use newTCPParty, since
// conference-info documents soon outgrow a UDP datagram (RFC 3261 §18.1.1).
func newParty(t *testing.T, env *confEnv, name string) *party {
	return newPartyOver(t, env, name, "UDP")
}

func newTCPParty(t *testing.T, env *confEnv, name string) *party {
	return newPartyOver(t, env, name, "TCP")
}

func newPartyOver(t *testing.T, env *confEnv, name, transport string) *party {
	c := newCaller(t, env.front, transport)
	p := &party{caller: c, name: name, notifies: make(chan *sip.Request, 256)}
	c.srv.OnNotify(func(req *sip.Request, tx sip.ServerTransaction) {
		_ = tx.Respond(sip.NewResponseFromRequest(req, sip.StatusOK, "OK", nil))
		p.notifies <- req
	})
	return p
}

func (p *party) from() *sip.FromHeader {
	h := &sip.FromHeader{DisplayName: p.name, Address: sip.Uri{Scheme: "sip", User: p.name, Host: "127.0.0.1"},
		Params: sip.NewParams()}
	h.Params.Add("tag", sip.GenerateTagN(12))
	return h
}

// at points a URI (a Focus URI, the factory URI) at the Front.
func (p *party) at(uri string) sip.Uri {
	p.t.Helper()
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil {
		p.t.Fatalf("parse %q: %v", uri, err)
	}
	host, port, _ := net.SplitHostPort(p.front)
	u.Host = host
	u.Port, _ = strconv.Atoi(port)
	if p.transport == "TCP" {
		u.UriParams.Add("transport", "tcp")
	}
	return u
}

func (p *party) factoryURI() sip.Uri {
	return p.at("sip:" + p.name + "@" + confDomain + ";gruu;opaque=app:conf:focusfactory")
}

// service sends a C3P command to the Focus Factory by SERVICE, with
// digest credentials when password is set, and returns the SIP response.
func (p *party) service(ctx context.Context, password string, cmd c3p.Command) (*sip.Response, *c3p.Response) {
	p.t.Helper()
	u := p.factoryURI()
	body := (&c3p.Request{Version: c3p.Version, ID: "42", From: "sip:" + p.name + "@" + confDomain, To: u.String(),
		Command: cmd}).Encode()
	req := sip.NewRequest(methodSERVICE, u)
	req.AppendHeader(p.from())
	ct := sip.ContentTypeHeader(c3p.ContentType)
	req.AppendHeader(&ct)
	req.SetBody(body)
	res := p.do(ctx, req)
	if res.StatusCode == sip.StatusUnauthorized && password != "" {
		var err error
		res, err = p.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.name, Password: password})
		if err != nil {
			p.t.Fatalf("SERVICE with credentials: %v", err)
		}
	}
	if res.StatusCode != sip.StatusOK {
		return res, nil
	}
	cr, err := c3p.DecodeResponse(res.Body())
	if err != nil {
		p.t.Fatalf("C3P response: %v\n%s", err, res.Body())
	}
	return res, cr
}

// invite calls u with a body of content type ct, answering a challenge
// with password if set.
func (p *party) invite(ctx context.Context, u sip.Uri, ct string, body []byte, password string) (*sipgo.DialogClientSession, error) {
	req := sip.NewRequest(sip.INVITE, u)
	req.AppendHeader(p.from())
	h := sip.ContentTypeHeader(ct)
	req.AppendHeader(&h)
	req.SetBody(body)
	req.SetTransport(p.transport)
	sess, err := p.dialogUA().WriteInvite(ctx, req)
	if err != nil {
		return nil, err
	}
	return sess, sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.name, Password: password})
}

// join calls into the conference of focusURI with SDP.
func (p *party) join(ctx context.Context, focusURI string) *sipgo.DialogClientSession {
	p.t.Helper()
	sess, err := p.invite(ctx, p.at(focusURI), "application/sdp", offerSDP("sendrecv"), "")
	if err != nil {
		p.t.Fatalf("%s joining: %v", p.name, err)
	}
	if err := sess.Ack(ctx); err != nil {
		p.t.Fatal(err)
	}
	return sess
}

// control opens a C3P control dialog with the Focus: INVITE with addUser.
func (p *party) control(ctx context.Context, focusURI, password string) (*sipgo.DialogClientSession, *c3p.Response) {
	p.t.Helper()
	me := "sip:" + p.name + "@" + confDomain
	body := (&c3p.Request{Version: c3p.Version, ID: "1", From: me, To: focusURI, Command: c3p.AddUser{
		Keys: c3p.Keys{ConfEntity: focusURI}, User: confinfo.User{Entity: me, Roles: []string{"attendee"}}}}).Encode()
	sess, err := p.invite(ctx, p.at(focusURI), c3p.ContentType, body, password)
	if err != nil {
		p.t.Fatalf("%s: C3P INVITE: %v", p.name, err)
	}
	if err := sess.Ack(ctx); err != nil {
		p.t.Fatal(err)
	}
	res, err := c3p.DecodeResponse(sess.InviteResponse.Body())
	if err != nil {
		p.t.Fatalf("addUser response: %v", err)
	}
	return sess, res
}

// info sends a C3P command in a dialog by INFO.
func (p *party) info(ctx context.Context, sess *sipgo.DialogClientSession, focusURI string, cmd c3p.Command) *c3p.Response {
	p.t.Helper()
	body := (&c3p.Request{Version: c3p.Version, ID: "7", From: "sip:" + p.name + "@" + confDomain, To: focusURI,
		Command: cmd}).Encode()
	ct := sip.ContentTypeHeader(c3p.ContentType)
	res := p.inDialog(ctx, sess, sip.INFO, body, &ct)
	if res.StatusCode != sip.StatusOK {
		p.t.Fatalf("INFO %s: %d %s", cmd.Name(), res.StatusCode, res.Reason)
	}
	cr, err := c3p.DecodeResponse(res.Body())
	if err != nil {
		p.t.Fatalf("INFO response: %v", err)
	}
	return cr
}

// subscriber holds one conference subscription and the state its
// NOTIFYs built, applied as RFC 4575 §4.6 asks.
type subscriber struct {
	p        *party
	req      *sip.Request // the initial SUBSCRIBE
	toTag    string
	cseq     uint32
	doc      *confinfo.Document
	versions []uint32
	states   []string // Subscription-State of each NOTIFY
}

func (p *party) subscribe(ctx context.Context, target sip.Uri, expires int) (*subscriber, *sip.Response) {
	p.t.Helper()
	req := sip.NewRequest(sip.SUBSCRIBE, target)
	req.AppendHeader(p.from())
	req.AppendHeader(sip.NewHeader("Event", "conference"))
	req.AppendHeader(sip.NewHeader("Accept", confinfo.ContentType))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: p.name, Host: "127.0.0.1"}})
	res := p.do(ctx, req)
	s := &subscriber{p: p, req: req, cseq: req.CSeq().SeqNo}
	s.toTag, _ = res.To().Params.Get("tag")
	return s, res
}

// again sends a SUBSCRIBE in the subscription's dialog.
func (s *subscriber) again(ctx context.Context, expires int) *sip.Response {
	s.p.t.Helper()
	s.cseq++
	req := sip.NewRequest(sip.SUBSCRIBE, s.req.Recipient)
	req.AppendHeader(sip.HeaderClone(s.req.From()))
	to := sip.HeaderClone(s.req.To()).(*sip.ToHeader)
	if to.Params == nil {
		to.Params = sip.NewParams()
	}
	to.Params.Add("tag", s.toTag)
	req.AppendHeader(to)
	req.AppendHeader(sip.HeaderClone(s.req.CallID()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: s.cseq, MethodName: sip.SUBSCRIBE})
	req.AppendHeader(sip.NewHeader("Event", "conference"))
	req.AppendHeader(sip.NewHeader("Expires", strconv.Itoa(expires)))
	req.AppendHeader(sip.HeaderClone(s.req.Contact()))
	return s.p.do(ctx, req)
}

// next applies the next NOTIFY and returns its Subscription-State.
func (s *subscriber) next(t *testing.T) string {
	t.Helper()
	return s.nextFor(t, "the next NOTIFY")
}

func (s *subscriber) nextFor(t *testing.T, what string) string {
	t.Helper()
	select {
	case req := <-s.p.notifies:
		if ev := header(req, "Event"); ev != "conference" {
			t.Fatalf("NOTIFY for event %q", ev)
		}
		state := header(req, "Subscription-State")
		s.states = append(s.states, state)
		if len(req.Body()) == 0 {
			return state
		}
		if ct := header(req, "Content-Type"); ct != confinfo.ContentType {
			t.Fatalf("NOTIFY body of type %q", ct)
		}
		d, err := confinfo.Unmarshal(req.Body())
		if err != nil {
			t.Fatalf("NOTIFY body: %v\n%s", err, req.Body())
		}
		if s.doc, err = confinfo.Apply(s.doc, d); err != nil {
			t.Fatalf("applying version %d: %v", d.Version, err)
		}
		s.versions = append(s.versions, d.Version)
		return state
	case <-time.After(10 * time.Second):
		t.Fatalf("no NOTIFY while waiting for %s; state so far %+v", what, s.doc)
		return ""
	}
}

// until applies NOTIFYs until cond holds of the state they built.
func (s *subscriber) until(t *testing.T, what string, cond func(d *confinfo.Document) bool) {
	t.Helper()
	for s.doc == nil || !cond(s.doc) {
		s.nextFor(t, what)
	}
}

// statusOf is the SIP status an INVITE failed with, 0 if none.
func statusOf(err error) int {
	var de *sipgo.ErrDialogResponse
	if errors.As(err, &de) {
		return de.Res.StatusCode
	}
	return 0
}

// endpoints returns the endpoints of the user named name in d.
func endpoints(d *confinfo.Document, name string) []confinfo.Endpoint {
	if u := d.User("sip:" + name + "@127.0.0.1"); u != nil {
		return u.Endpoints
	}
	if u := d.User("sip:" + name + "@" + confDomain); u != nil {
		return u.Endpoints
	}
	return nil
}

func userCount(d *confinfo.Document) uint32 {
	if d.ConfState == nil || d.ConfState.UserCount == nil {
		return 0
	}
	return *d.ConfState.UserCount
}

func TestService(t *testing.T) {
	env := startConferencing(t, 47200)
	alice := newParty(t, env, "alice")
	ctx := testContext(t)

	t.Run("a sender without credentials is challenged", func(t *testing.T) {
		res, _ := alice.service(ctx, "", c3p.GetAvailableMCUTypes{})
		if res.StatusCode != sip.StatusUnauthorized || header(res, "WWW-Authenticate") == "" {
			t.Errorf("SERVICE without credentials: %d, want 401 with a challenge", res.StatusCode)
		}
	})
	t.Run("an authenticated user gets the MCU types", func(t *testing.T) {
		res, cr := alice.service(ctx, "alice-pw", c3p.GetAvailableMCUTypes{})
		if cr == nil || cr.Code != c3p.Success || len(cr.MCUTypes) != 1 || header(res, "Content-Type") != c3p.ContentType {
			t.Errorf("response %d %+v", res.StatusCode, cr)
		}
	})
	t.Run("addConference answers the Focus URI of a stored conference", func(t *testing.T) {
		_, cr := alice.service(ctx, "alice-pw", c3p.AddConference{Info: &confinfo.Document{
			Description: &confinfo.Description{Subject: "Standup"}}})
		if cr == nil || cr.Code != c3p.Success || !strings.Contains(cr.ConferenceEntity, ";opaque=app:conf:focus:id:") {
			t.Fatalf("response %+v", cr)
		}
		c, err := env.fa.Resolve(ctx, cr.ConferenceEntity)
		if err != nil || c.Subject != "Standup" || c.Organizer != "sip:alice@"+confDomain {
			t.Errorf("stored %+v, %v", c, err)
		}
	})

	bad := []struct {
		name string
		uri  sip.Uri
		ct   string
		body string
		code int
	}{
		{"SERVICE to anything but the Focus Factory is not found", alice.at("sip:alice@" + confDomain), c3p.ContentType, "<x/>", sip.StatusNotFound},
		{"SERVICE with another body type is unsupported", alice.factoryURI(), "application/sdp", "v=0", sip.StatusUnsupportedMediaType},
		{"SERVICE with a body that is not C3P is a bad request", alice.factoryURI(), c3p.ContentType, "<request", sip.StatusBadRequest},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			req := sip.NewRequest(methodSERVICE, tt.uri)
			ct := sip.ContentTypeHeader(tt.ct)
			req.AppendHeader(&ct)
			req.SetBody([]byte(tt.body))
			res := alice.do(ctx, req)
			if res.StatusCode == sip.StatusUnauthorized { // the body is read once the sender is known
				var err error
				if res, err = alice.cli.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: "alice", Password: "alice-pw"}); err != nil {
					t.Fatal(err)
				}
			}
			if res.StatusCode != tt.code {
				t.Errorf("status %d, want %d", res.StatusCode, tt.code)
			}
		})
	}
}

// TestConferenceControlOverSIP is the whole path of the issue: a
// conference scheduled by SERVICE, joined with addUser and SDP, watched by
// a subscriber through full and partial NOTIFYs as people join, are muted
// and leave, locked against the next attendee, and an attendee's attempt
// on someone else's role refused.
func TestConferenceControlOverSIP(t *testing.T) {
	env := startConferencing(t, 47400)
	ctx := testContext(t)
	alice, bob := newParty(t, env, "alice"), newTCPParty(t, env, "bob")
	carol, dave, erin := newParty(t, env, "carol"), newParty(t, env, "dave"), newParty(t, env, "erin")

	_, cr := alice.service(ctx, "alice-pw", c3p.AddConference{Info: &confinfo.Document{
		Description: &confinfo.Description{Subject: "Launch"}}})
	if cr == nil || cr.Code != c3p.Success {
		t.Fatalf("addConference: %+v", cr)
	}
	focusURI := cr.ConferenceEntity

	sub, res := bob.subscribe(ctx, bob.at(focusURI), 600)
	if res.StatusCode != sip.StatusOK || header(res, "Expires") != "600" {
		t.Fatalf("SUBSCRIBE: %d, Expires %q", res.StatusCode, header(res, "Expires"))
	}
	if state := sub.next(t); !strings.HasPrefix(state, "active") || sub.doc.State != confinfo.Full || sub.versions[0] != 1 {
		t.Fatalf("first NOTIFY: %q, %+v", state, sub.doc)
	}
	if *sub.doc.ConfState.Active || userCount(sub.doc) != 0 {
		t.Fatalf("the conference is active before anyone joined: %+v", sub.doc.ConfState)
	}

	ctl, added := alice.control(ctx, focusURI, "alice-pw")
	if added.Code != c3p.Success || added.User == nil || added.User.Roles[0] != "presenter" {
		t.Fatalf("addUser: %+v", added)
	}
	if ct := ctl.InviteResponse.Contact(); ct == nil || !ct.Params.Has("isfocus") {
		t.Errorf("the Focus's Contact %v lacks isfocus", ct)
	}

	carolCall := carol.join(ctx, focusURI)
	daveCall := dave.join(ctx, focusURI)
	sub.until(t, "carol and dave in", func(d *confinfo.Document) bool {
		return len(endpoints(d, "carol")) == 1 && len(endpoints(d, "dave")) == 1 && *d.ConfState.Active
	})

	carolEP := endpoints(sub.doc, "carol")[0]
	mute := alice.info(ctx, ctl, focusURI, c3p.ModifyEndpointMedia{
		Keys:  c3p.Keys{ConfEntity: focusURI, UserEntity: "sip:carol@127.0.0.1", EndpointEntity: carolEP.Entity, MediaID: "1"},
		Media: confinfo.Media{ID: "1", Type: "audio", IngressFilter: confinfo.FilterBlock}})
	if mute.Code != c3p.Success {
		t.Fatalf("the organizer's mute of carol: %+v", mute)
	}
	sub.until(t, "carol muted", func(d *confinfo.Document) bool {
		e := endpoints(d, "carol")
		return len(e) == 1 && e[0].Media[0].IngressFilter == confinfo.FilterBlock && e[0].Status == "muted-via-focus"
	})

	refused := carol.info(ctx, carolCall, focusURI, c3p.ModifyUserRoles{
		Keys: c3p.Keys{ConfEntity: focusURI, UserEntity: "sip:dave@127.0.0.1"}, Roles: []string{"presenter"}})
	if refused.Code != c3p.Failure || refused.Reason != c3p.ReasonForbidden {
		t.Errorf("an attendee's modifyUserRoles on dave: %+v, want failure forbidden", refused)
	}

	lock := alice.info(ctx, ctl, focusURI, c3p.ModifyConferenceLock{Keys: c3p.Keys{ConfEntity: focusURI}, Locked: true})
	if lock.Code != c3p.Success {
		t.Fatalf("lock: %+v", lock)
	}
	sub.until(t, "locked", func(d *confinfo.Document) bool { return *d.ConfState.Locked })
	if _, err := erin.invite(ctx, erin.at(focusURI), "application/sdp", offerSDP("sendrecv"), ""); statusOf(err) != sip.StatusForbidden {
		t.Errorf("the next attendee after the lock: %v, want 403", err)
	}

	if res := carol.inDialog(ctx, carolCall, sip.BYE, nil); res.StatusCode != sip.StatusOK {
		t.Fatalf("carol's BYE: %d", res.StatusCode)
	}
	sub.until(t, "carol gone", func(d *confinfo.Document) bool { return endpoints(d, "carol") == nil })
	for i := 1; i < len(sub.versions); i++ {
		if sub.versions[i] != sub.versions[i-1]+1 {
			t.Fatalf("versions %v do not rise one by one", sub.versions)
		}
	}
	if d := sub.doc.Users.Users; len(d) != 1 || userCount(sub.doc) != 1 {
		t.Errorf("users now %+v, want dave alone", d)
	}

	// The subscriber's state is the conference's.
	id, _ := env.front.conf.ctl.Resolve(ctx, focusURI)
	want, _ := env.fa.ConferenceInfo(ctx, id)
	want, _ = confinfo.Unmarshal(want.Marshal()) // as the wire has it: times to the second
	if p := confinfo.Diff(sub.doc, want); p != nil {
		t.Errorf("the subscriber's state differs from the Focus's by %s", p.Marshal())
	}

	// The last caller leaves: the conference ends, and so does the
	// subscription.
	if res := dave.inDialog(ctx, daveCall, sip.BYE, nil); res.StatusCode != sip.StatusOK {
		t.Fatalf("dave's BYE: %d", res.StatusCode)
	}
	for {
		state := sub.next(t)
		if strings.HasPrefix(state, "terminated") {
			if state != "terminated;reason=noresource" || *sub.doc.ConfState.Active {
				t.Errorf("final NOTIFY %q, active %t", state, *sub.doc.ConfState.Active)
			}
			break
		}
	}
}

func TestSubscription(t *testing.T) {
	env := startConferencing(t, 47600, withMinSubscription(time.Second))
	ctx := testContext(t)
	alice := newParty(t, env, "alice")
	_, cr := alice.service(ctx, "alice-pw", c3p.AddConference{Info: &confinfo.Document{}})
	focusURI := cr.ConferenceEntity
	conf, err := env.fa.Resolve(ctx, focusURI)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a conference number names the conference too", func(t *testing.T) {
		p := newTCPParty(t, env, "bob")
		sub, res := p.subscribe(ctx, p.uri(conf.Number), 60)
		if res.StatusCode != sip.StatusOK {
			t.Fatalf("status %d", res.StatusCode)
		}
		sub.next(t)
		if sub.doc.Entity != focusURI {
			t.Errorf("entity %q, want the Focus URI", sub.doc.Entity)
		}
	})
	t.Run("Expires 0 ends the subscription with a final NOTIFY", func(t *testing.T) {
		p := newTCPParty(t, env, "bob")
		sub, _ := p.subscribe(ctx, p.at(focusURI), 60)
		sub.next(t)
		if res := sub.again(ctx, 0); res.StatusCode != sip.StatusOK {
			t.Fatalf("unsubscribe: %d", res.StatusCode)
		}
		if state := sub.next(t); state != "terminated;reason=timeout" {
			t.Errorf("state %q", state)
		}
		if res := sub.again(ctx, 60); res.StatusCode != sip.StatusCallTransactionDoesNotExists {
			t.Errorf("a refresh after the end: %d, want 481", res.StatusCode)
		}
	})
	t.Run("a refresh keeps the subscription and sends the full state again", func(t *testing.T) {
		p := newTCPParty(t, env, "bob")
		sub, _ := p.subscribe(ctx, p.at(focusURI), 2)
		sub.next(t)
		if res := sub.again(ctx, 60); res.StatusCode != sip.StatusOK || header(res, "Expires") != "60" {
			t.Fatalf("refresh: %d, Expires %q", res.StatusCode, header(res, "Expires"))
		}
		if state := sub.next(t); !strings.HasPrefix(state, "active") || sub.versions[1] != 2 {
			t.Errorf("state %q, versions %v", state, sub.versions)
		}
		select {
		case req := <-p.notifies:
			t.Errorf("the refreshed subscription ended at its old expiry: %s", header(req, "Subscription-State"))
		case <-time.After(2500 * time.Millisecond):
		}
	})
	t.Run("a subscription that is not refreshed expires", func(t *testing.T) {
		p := newTCPParty(t, env, "bob")
		sub, _ := p.subscribe(ctx, p.at(focusURI), 1)
		sub.next(t)
		if state := sub.next(t); state != "terminated;reason=timeout" {
			t.Errorf("state %q", state)
		}
	})
	t.Run("a burst of changes is coalesced", func(t *testing.T) {
		p := newTCPParty(t, env, "bob")
		sub, _ := p.subscribe(ctx, p.at(focusURI), 60)
		sub.next(t)
		carol := newParty(t, env, "carol")
		carol.join(ctx, focusURI)
		sub.until(t, "carol in", func(d *confinfo.Document) bool { return len(endpoints(d, "carol")) == 1 })
		f, _ := env.fa.FocusByConference(conf.ID)
		member := f.Snapshot().Members[0].ID
		before := len(sub.versions)
		for i := range 20 {
			kind := focus.Mute
			if i%2 == 1 {
				kind = focus.Unmute
			}
			if err := f.Do(ctx, focus.AdminSender("test"), focus.Command{Kind: kind, Member: member}); err != nil {
				t.Fatal(err)
			}
		}
		_ = f.Do(ctx, focus.AdminSender("test"), focus.Command{Kind: focus.Mute, Member: member})
		sub.until(t, "carol muted", func(d *confinfo.Document) bool {
			return endpoints(d, "carol")[0].Media[0].IngressFilter == confinfo.FilterBlock
		})
		if n := len(sub.versions) - before; n > 3 {
			t.Errorf("21 changes in a burst took %d NOTIFYs, want them coalesced", n)
		}
	})

	errCases := []struct {
		name   string
		mutate func(req *sip.Request)
		code   int
	}{
		{"another event package is a bad event", func(req *sip.Request) {
			req.ReplaceHeader(sip.NewHeader("Event", "presence"))
		}, statusBadEvent},
		{"a subscriber that accepts no conference-info is refused", func(req *sip.Request) {
			req.ReplaceHeader(sip.NewHeader("Accept", "application/pidf+xml"))
		}, sip.StatusNotAcceptable},
		{"Expires 0 on a new subscription fetches the state once", func(req *sip.Request) {
			req.ReplaceHeader(sip.NewHeader("Expires", "0"))
		}, sip.StatusOK},
		{"an unknown conference is not found", func(req *sip.Request) {
			req.Recipient.User = "999999"
			req.Recipient.UriParams = sip.NewParams()
		}, sip.StatusNotFound},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) {
			p := newTCPParty(t, env, "bob")
			req := sip.NewRequest(sip.SUBSCRIBE, p.at(focusURI))
			req.AppendHeader(sip.NewHeader("Event", "conference"))
			req.AppendHeader(sip.NewHeader("Accept", confinfo.ContentType))
			req.AppendHeader(sip.NewHeader("Expires", "60"))
			tt.mutate(req)
			if res := p.do(ctx, req); res.StatusCode != tt.code {
				t.Errorf("status %d, want %d", res.StatusCode, tt.code)
			}
		})
	}
	t.Run("an expiry below the minimum is too brief", func(t *testing.T) {
		env2 := startConferencing(t, 47800)
		p := newParty(t, env2, "alice")
		_, cr := p.service(ctx, "alice-pw", c3p.AddConference{Info: &confinfo.Document{}})
		_, res := p.subscribe(ctx, p.at(cr.ConferenceEntity), 5)
		if res.StatusCode != sip.StatusIntervalToBrief || header(res, "Min-Expires") != "60" {
			t.Errorf("status %d, Min-Expires %q; want 423 with 60", res.StatusCode, header(res, "Min-Expires"))
		}
	})
}

func TestAdHocConference(t *testing.T) {
	env := startConferencing(t, 48000)
	ctx := testContext(t)
	alice := newParty(t, env, "alice")
	t.Run("an INVITE to the conference factory creates a conference and names it in the Contact", func(t *testing.T) {
		sess, err := alice.invite(ctx, alice.factoryURI(), "application/sdp", offerSDP("sendrecv"), "alice-pw")
		if err != nil {
			t.Fatal(err)
		}
		_ = sess.Ack(ctx)
		ct := sess.InviteResponse.Contact()
		if ct == nil || !ct.Params.Has("isfocus") {
			t.Fatalf("Contact %v, want isfocus", ct)
		}
		opaque, _ := ct.Address.UriParams.Get("opaque")
		id, ok := strings.CutPrefix(opaque, "app:conf:focus:id:")
		if !ok {
			t.Fatalf("Contact %v is not a Focus URI", ct)
		}
		c, err := env.fa.Resolve(ctx, "focus:"+id)
		if err != nil || c.Organizer != "sip:alice@"+confDomain {
			t.Fatalf("conference %+v, %v", c, err)
		}
		f, ok := env.fa.FocusByConference(c.ID)
		if !ok || len(f.Snapshot().Members) != 1 || f.Snapshot().Members[0].Role != focus.RoleOrganizer {
			t.Errorf("the creator is not in her conference as its organizer")
		}
	})
	t.Run("an anonymous caller is challenged", func(t *testing.T) {
		_, err := alice.invite(ctx, alice.factoryURI(), "application/sdp", offerSDP("sendrecv"), "")
		if statusOf(err) != sip.StatusUnauthorized {
			t.Errorf("INVITE without credentials: %v, want 401", err)
		}
	})
}

// TestReferDialsOut has the Focus call SIPp, running as a UAS, into the
// conference on a REFER, and take it out again with method=BYE.
func TestReferDialsOut(t *testing.T) {
	if testing.Short() {
		t.Skip("runs SIPp")
	}
	uas := startSIPpUAS(t)
	env := startConferencing(t, 48200)
	ctx := testContext(t)
	alice, bob, carol := newParty(t, env, "alice"), newTCPParty(t, env, "bob"), newParty(t, env, "carol")
	_, cr := alice.service(ctx, "alice-pw", c3p.AddConference{Info: &confinfo.Document{}})
	focusURI := cr.ConferenceEntity
	sub, _ := bob.subscribe(ctx, bob.at(focusURI), 600)
	sub.next(t)
	ctl, _ := alice.control(ctx, focusURI, "alice-pw")
	carolCall := carol.join(ctx, focusURI)

	refer := func(p *party, sess *sipgo.DialogClientSession, to string) *sip.Response {
		return p.inDialog(ctx, sess, sip.REFER, nil, sip.NewHeader("Refer-To", "<"+to+">"))
	}
	t.Run("an attendee's REFER is refused", func(t *testing.T) {
		if res := refer(carol, carolCall, uas); res.StatusCode != sip.StatusForbidden {
			t.Errorf("status %d, want 403", res.StatusCode)
		}
	})
	t.Run("the organizer's REFER makes the Focus call the participant in", func(t *testing.T) {
		if res := refer(alice, ctl, uas); res.StatusCode != sip.StatusAccepted {
			t.Fatalf("REFER: %d", res.StatusCode)
		}
		var frags []string
		for len(frags) < 2 {
			select {
			case req := <-alice.notifies:
				if header(req, "Event") != "refer" {
					continue
				}
				frags = append(frags, strings.TrimSpace(string(req.Body())))
			case <-time.After(15 * time.Second):
				t.Fatalf("refer NOTIFYs so far: %q", frags)
			}
		}
		if frags[0] != "SIP/2.0 100 Trying" || frags[1] != "SIP/2.0 200 OK" {
			t.Errorf("refer NOTIFYs %q, want 100 Trying then 200 OK", frags)
		}
		sub.until(t, "the SIPp UAS in", func(d *confinfo.Document) bool {
			u := d.User(uas)
			return u != nil && u.Endpoints[0].JoiningMethod == "dialed-out" && u.Endpoints[0].Status == "connected"
		})
	})
	t.Run("REFER with method BYE takes the participant out", func(t *testing.T) {
		if res := refer(alice, ctl, uas+";method=BYE"); res.StatusCode != sip.StatusAccepted {
			t.Fatalf("REFER: %d", res.StatusCode)
		}
		sub.until(t, "the SIPp UAS gone", func(d *confinfo.Document) bool { return d.User(uas) == nil })
	})
}

// startSIPpUAS runs SIPp's built-in UAS scenario for one call on a free
// loopback port and returns its URI.
func startSIPpUAS(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		t.Skip("sipp not found: install the Debian package sip-tester (apt-get install sip-tester)")
	}
	port := freePort(t, "udp")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	cmd := exec.CommandContext(ctx, bin, "-sn", "uas", "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"-mp", strconv.Itoa(freePort(t, "udp")), "-m", "1", "-nostdin", "-timeout", "60s")
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("sipp: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	// Wait until SIPp listens.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			break // taken: SIPp is up
		}
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Sprintf("sip:service@127.0.0.1:%d", port)
}
