package focus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"confab/focus/c3p"
	"confab/focus/confinfo"
	"confab/focus/store"
	"confab/mixer"
)

// Offer and Answer make the fake MCU an offerer (mixer.Conference.Offer).
func (m *fakeMCU) Offer(opts mixer.AddOptions) (mixer.ParticipantID, []byte, error) {
	pid, _, err := m.Add([]byte("dial-out"), opts)
	return pid, []byte(fmt.Sprintf("offer for %d", pid)), err
}

func (m *fakeMCU) Answer(id mixer.ParticipantID, answer []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts[id] == nil {
		return mixer.ErrUnknownParticipant
	}
	m.record("answer %d %s", id, answer)
	return nil
}

// fakeDialer answers every call unless err is set.
type fakeDialer struct {
	mu    sync.Mutex
	err   error
	calls []Invitee
	legs  []*fakeDialed
}

type fakeDialed struct {
	id     string
	done   chan struct{}
	once   sync.Once
	reason string
}

func (d *fakeDialer) Dial(_ context.Context, inv Invitee, offer []byte) ([]byte, DialedCall, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, inv)
	if d.err != nil {
		return nil, nil, d.err
	}
	c := &fakeDialed{id: fmt.Sprintf("out-%d@test", len(d.calls)), done: make(chan struct{})}
	d.legs = append(d.legs, c)
	return append([]byte("answer to "), offer...), c, nil
}

func (c *fakeDialed) CallID() string        { return c.id }
func (c *fakeDialed) Done() <-chan struct{} { return c.done }
func (c *fakeDialed) Hangup(reason string)  { c.once.Do(func() { c.reason = reason; close(c.done) }) }

// c3pScene is a conference organized by olga, who is in it with her
// authenticated phone, with the anonymous attendees anna and bert.
type c3pScene struct {
	h                *harness
	ctl              *Control
	c                store.Conference
	olga, anna, bert *caller
	dialer           *fakeDialer
}

func newC3PScene(t *testing.T, mod func(*store.Conference)) *c3pScene {
	t.Helper()
	h := newHarness(t)
	s := &c3pScene{h: h, ctl: NewControl(h.fa, WithKeySecret([]byte("test secret"))), dialer: &fakeDialer{}}
	s.c = h.conference("7001", mod)
	s.olga = h.mustJoin(s.c, "olga", "olga")
	s.anna = h.mustJoin(s.c, "anna", "")
	s.bert = h.mustJoin(s.c, "bert", "")
	return s
}

// from is the Origin of a command sent in cl's own call.
func (s *c3pScene) from(cl *caller) Origin {
	return Origin{Member: cl.m, From: cl.m.call.From, Dialer: s.dialer}
}

// user is the Origin of a command from an authenticated user's control
// dialog with the Focus.
func (s *c3pScene) user(name string) Origin {
	return Origin{User: name, From: "sip:" + name + "@box.example", Target: s.c.Number, Dialer: s.dialer}
}

func (s *c3pScene) send(o Origin, cmd c3p.Command) *c3p.Response {
	req := &c3p.Request{Version: c3p.Version, ID: "1", From: o.From, To: s.h.fa.FocusURI(s.c), Command: cmd}
	return s.ctl.C3P(context.Background(), o, req)
}

// entity is the user entity of a caller.
func (s *c3pScene) entity(cl *caller) string {
	info, _ := cl.info()
	return s.h.fa.userEntity(info)
}

func wantCode(t *testing.T, res *c3p.Response, code c3p.Code, reason string) {
	t.Helper()
	if res.Code != code || res.Reason != reason {
		t.Fatalf("response %s %q, want %s %q", res.Code, res.Reason, code, reason)
	}
}

func TestC3PFocusCommands(t *testing.T) {
	tests := []struct {
		name   string
		from   func(s *c3pScene) Origin
		cmd    func(s *c3pScene) c3p.Command
		code   c3p.Code
		reason string
		check  func(t *testing.T, s *c3pScene)
	}{
		{
			name: "an attendee's modifyUserRoles on someone else is refused",
			from: func(s *c3pScene) Origin { return s.from(s.anna) },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyUserRoles{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}, Roles: []string{"presenter"}}
			},
			code: c3p.Failure, reason: c3p.ReasonForbidden,
			check: func(t *testing.T, s *c3pScene) {
				if info, _ := s.bert.info(); info.Role != RoleAttendee {
					t.Errorf("bert is %v, want still an attendee", info.Role)
				}
			},
		},
		{
			name: "the organizer makes an attendee a presenter from her control dialog",
			from: func(s *c3pScene) Origin { return s.user("olga") },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyUserRoles{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}, Roles: []string{"presenter"}}
			},
			code: c3p.Success,
			check: func(t *testing.T, s *c3pScene) {
				if info, _ := s.bert.info(); info.Role != RolePresenter {
					t.Errorf("bert is %v, want a presenter", info.Role)
				}
			},
		},
		{
			name: "an unknown role is refused as invalid",
			from: func(s *c3pScene) Origin { return s.user("olga") },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyUserRoles{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}, Roles: []string{"emperor"}}
			},
			code: c3p.Failure, reason: c3p.ReasonInvalidRole,
		},
		{
			name: "an attendee mutes itself through the ingress filter",
			from: func(s *c3pScene) Origin { return s.from(s.anna) },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyEndpointMedia{Keys: c3p.Keys{EndpointEntity: endpointEntity(s.entity(s.anna), s.anna.m.id), MediaID: "1"},
					Media: confinfo.Media{ID: "1", IngressFilter: confinfo.FilterBlock}}
			},
			code: c3p.Success,
			check: func(t *testing.T, s *c3pScene) {
				if p, _ := s.h.mcu(s.c).state(s.anna.m.pid); !p.muted {
					t.Error("anna is not muted at the MCU")
				}
			},
		},
		{
			name: "an attendee may not mute someone else",
			from: func(s *c3pScene) Origin { return s.from(s.anna) },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyEndpointMedia{Keys: c3p.Keys{UserEntity: s.entity(s.bert)},
					Media: confinfo.Media{IngressFilter: confinfo.FilterBlock}}
			},
			code: c3p.Failure, reason: c3p.ReasonForbidden,
			check: func(t *testing.T, s *c3pScene) {
				if p, _ := s.h.mcu(s.c).state(s.bert.m.pid); p.muted {
					t.Error("bert was muted")
				}
			},
		},
		{
			name: "the organizer deafens an attendee through the egress filter",
			from: func(s *c3pScene) Origin { return s.from(s.olga) },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyEndpointMedia{Keys: c3p.Keys{UserEntity: s.entity(s.anna)},
					Media: confinfo.Media{EgressFilter: confinfo.FilterBlock}}
			},
			code: c3p.Success,
			check: func(t *testing.T, s *c3pScene) {
				if p, _ := s.h.mcu(s.c).state(s.anna.m.pid); !p.deaf || p.muted {
					t.Errorf("anna deaf %t muted %t, want deaf only", p.deaf, p.muted)
				}
			},
		},
		{
			name: "a medium other than the audio one does not exist",
			from: func(s *c3pScene) Origin { return s.from(s.olga) },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.ModifyEndpointMedia{Keys: c3p.Keys{UserEntity: s.entity(s.anna), MediaID: "2"},
					Media: confinfo.Media{IngressFilter: confinfo.FilterBlock}}
			},
			code: c3p.Failure, reason: c3p.ReasonMediaDoesNotExist,
		},
		{
			name: "the organizer locks the conference and the next attendee is refused",
			from: func(s *c3pScene) Origin { return s.from(s.olga) },
			cmd:  func(s *c3pScene) c3p.Command { return c3p.ModifyConferenceLock{Locked: true} },
			code: c3p.Success,
			check: func(t *testing.T, s *c3pScene) {
				if _, err := s.h.join(s.c, s.h.call("carl", "")); !errors.Is(err, ErrLocked) {
					t.Errorf("join after lock = %v, want %v", err, ErrLocked)
				}
			},
		},
		{
			name: "an attendee may not lock the conference",
			from: func(s *c3pScene) Origin { return s.from(s.bert) },
			cmd:  func(s *c3pScene) c3p.Command { return c3p.ModifyConferenceLock{Locked: true} },
			code: c3p.Failure, reason: c3p.ReasonForbidden,
		},
		{
			name: "deleteUser by the organizer hangs up on the user",
			from: func(s *c3pScene) Origin { return s.user("olga") },
			cmd:  func(s *c3pScene) c3p.Command { return c3p.DeleteUser{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}} },
			code: c3p.Success,
			check: func(t *testing.T, s *c3pScene) {
				if _, in := s.bert.info(); in || len(s.bert.leg.reasons()) == 0 {
					t.Errorf("bert still in (%t) or not hung up (%v)", in, s.bert.leg.reasons())
				}
			},
		},
		{
			name: "deleteUser of nobody in the conference names no user",
			from: func(s *c3pScene) Origin { return s.user("olga") },
			cmd: func(s *c3pScene) c3p.Command {
				return c3p.DeleteUser{Keys: c3p.Keys{UserEntity: "sip:zed@nowhere.example"}}
			},
			code: c3p.Failure, reason: c3p.ReasonUserDoesNotExist,
		},
		{
			name: "a sender with no call and no credentials is unauthorized",
			from: func(s *c3pScene) Origin { return Origin{From: "sip:mallory@evil.example", Target: s.c.Number} },
			cmd:  func(s *c3pScene) c3p.Command { return c3p.ModifyConferenceLock{Locked: true} },
			code: c3p.Failure, reason: c3p.ReasonUnauthorized,
		},
		{
			name: "an authenticated user with no part in the conference is forbidden",
			from: func(s *c3pScene) Origin { return s.user("mallory") },
			cmd:  func(s *c3pScene) c3p.Command { return c3p.ModifyConferenceLock{Locked: true} },
			code: c3p.Failure, reason: c3p.ReasonForbidden,
		},
		{
			name: "keys naming another conference than the call are refused",
			from: func(s *c3pScene) Origin { return s.from(s.olga) },
			cmd: func(s *c3pScene) c3p.Command {
				other := s.h.conference("7002", nil)
				return c3p.ModifyConferenceLock{Keys: c3p.Keys{ConfEntity: s.h.fa.FocusURI(other)}, Locked: true}
			},
			code: c3p.Failure, reason: c3p.ReasonForbidden,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newC3PScene(t, nil)
			res := s.send(tt.from(s), tt.cmd(s))
			wantCode(t, res, tt.code, tt.reason)
			if res.ID != "1" {
				t.Errorf("response id %q, want the request's", res.ID)
			}
			if tt.check != nil {
				tt.check(t, s)
			}
		})
	}
}

func TestC3PLobby(t *testing.T) {
	lobby := func(c *store.Conference) { c.Admission = store.AdmissionLobby }
	t.Run("callers who did not authenticate wait; an authenticated one goes in", func(t *testing.T) {
		s := newC3PScene(t, lobby)
		if s.anna.state() != StateLobby {
			t.Errorf("anna is %v, want in the lobby", s.anna.state())
		}
		carl := s.h.mustJoin(s.c, "carl", "carl")
		if carl.state() != StateInConference {
			t.Errorf("authenticated carl is %v, want in the conference", carl.state())
		}
	})
	t.Run("a presenter grants access and the caller goes in", func(t *testing.T) {
		s := newC3PScene(t, lobby)
		res := s.send(s.from(s.olga), c3p.SetLobbyAccess{Keys: c3p.Keys{UserEntity: s.entity(s.anna)}, Access: c3p.AccessGranted})
		wantCode(t, res, c3p.Success, "")
		if s.anna.state() != StateInConference || !s.anna.mixed() {
			t.Errorf("anna is %v (mixed %t), want in the conference", s.anna.state(), s.anna.mixed())
		}
	})
	t.Run("a presenter denies access and the caller is sent away", func(t *testing.T) {
		s := newC3PScene(t, lobby)
		res := s.send(s.user("olga"), c3p.SetLobbyAccess{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}, Access: c3p.AccessDenied})
		wantCode(t, res, c3p.Success, "")
		s.bert.promptDone(PromptGoodbye)
		if _, in := s.bert.info(); in {
			t.Error("bert is still in the roster")
		}
		if got := s.bert.leg.reasons(); len(got) != 1 || got[0] != ReasonNotAdmitted {
			t.Errorf("hang-up reasons %v, want %q", got, ReasonNotAdmitted)
		}
	})
	t.Run("an attendee in the lobby cannot let another in", func(t *testing.T) {
		s := newC3PScene(t, lobby)
		res := s.send(s.from(s.anna), c3p.SetLobbyAccess{Keys: c3p.Keys{UserEntity: s.entity(s.bert)}, Access: c3p.AccessGranted})
		wantCode(t, res, c3p.Failure, c3p.ReasonForbidden)
		if s.bert.state() != StateLobby {
			t.Errorf("bert is %v, want still in the lobby", s.bert.state())
		}
	})
	t.Run("denying someone who is not in the lobby is refused", func(t *testing.T) {
		s := newC3PScene(t, nil)
		res := s.send(s.from(s.olga), c3p.SetLobbyAccess{Keys: c3p.Keys{UserEntity: s.entity(s.anna)}, Access: c3p.AccessDenied})
		wantCode(t, res, c3p.Failure, c3p.ReasonMalformed)
	})
}

func TestC3PAddUser(t *testing.T) {
	t.Run("joining grants the organizer her role whatever she asks", func(t *testing.T) {
		s := newC3PScene(t, nil)
		res := s.send(s.user("olga"), c3p.AddUser{User: confinfo.User{Entity: "sip:olga@box.example", Roles: []string{"attendee"}}})
		wantCode(t, res, c3p.Success, "")
		if res.User == nil || len(res.User.Roles) != 1 || res.User.Roles[0] != "presenter" {
			t.Errorf("granted %+v, want presenter", res.User)
		}
	})
	t.Run("joining a locked conference is refused to an attendee", func(t *testing.T) {
		s := newC3PScene(t, nil)
		wantCode(t, s.send(s.from(s.olga), c3p.ModifyConferenceLock{Locked: true}), c3p.Success, "")
		res := s.send(s.user("carl"), c3p.AddUser{User: confinfo.User{Entity: "sip:carl@box.example"}})
		wantCode(t, res, c3p.Failure, c3p.ReasonConferenceLocked)
	})
	t.Run("a presenter's dial-out calls the invitee into the conference", func(t *testing.T) {
		s := newC3PScene(t, nil)
		before := len(s.h.focus(s.c).Snapshot().Members)
		res := s.send(s.user("olga"), c3p.AddUser{User: confinfo.User{Entity: "sip:dave@phones.example", DisplayText: "Dave",
			Endpoints: []confinfo.Endpoint{{Entity: "sip:dave@192.0.2.9:5070", JoiningMethod: "dialed-out"}}}})
		wantCode(t, res, c3p.Success, "")
		var dave MemberInfo
		eventually(t, "dave to join", func() bool {
			ms := s.h.focus(s.c).Snapshot().Members
			if len(ms) == before+1 {
				dave = ms[len(ms)-1]
				return true
			}
			return false
		})
		if !dave.DialedOut || dave.By != "sip:olga@box.example" || dave.URI != "sip:dave@192.0.2.9:5070" ||
			dave.State != StateInConference {
			t.Errorf("dave = %+v, want dialed out by olga, in the conference", dave)
		}
		if got := s.dialer.calls[0].URI; got != "sip:dave@192.0.2.9:5070" {
			t.Errorf("dialled %q, want the endpoint's URI", got)
		}
		// The callee hangs up: dave leaves.
		s.dialer.legs[0].Hangup("bye")
		eventually(t, "dave to leave", func() bool { return len(s.h.focus(s.c).Snapshot().Members) == before })
	})
	t.Run("an attendee may not call others in", func(t *testing.T) {
		s := newC3PScene(t, nil)
		res := s.send(s.from(s.anna), c3p.AddUser{User: confinfo.User{Entity: "sip:dave@phones.example"}})
		wantCode(t, res, c3p.Failure, c3p.ReasonForbidden)
		if len(s.dialer.calls) != 0 {
			t.Errorf("the Focus dialled %v", s.dialer.calls)
		}
	})
	t.Run("a failed dial-out leaves nothing behind at the MCU", func(t *testing.T) {
		s := newC3PScene(t, nil)
		s.dialer.err = errors.New("486 busy")
		var outcome = make(chan error, 1)
		inv := Invitee{URI: "sip:dave@phones.example"}
		if err := s.h.fa.DialOut(context.Background(), s.c.Number, MemberSender(s.olga.m.id), inv, s.dialer,
			func(err error) { outcome <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-outcome; err == nil {
			t.Fatal("the failed call reported success")
		}
		if adds, removes := s.h.mcu(s.c).count("add"), s.h.mcu(s.c).count("remove"); adds != 4 || removes != 1 {
			t.Errorf("MCU adds %d removes %d, want the offer's participant removed", adds, removes)
		}
	})
}

func TestRefer(t *testing.T) {
	t.Run("REFER with method BYE removes the participant", func(t *testing.T) {
		s := newC3PScene(t, nil)
		if err := s.ctl.Refer(context.Background(), s.from(s.olga), "sip:bert@phones.example", true, nil); err != nil {
			t.Fatal(err)
		}
		if _, in := s.bert.info(); in {
			t.Error("bert is still in")
		}
	})
	t.Run("an attendee's REFER to remove someone is refused", func(t *testing.T) {
		s := newC3PScene(t, nil)
		err := s.ctl.Refer(context.Background(), s.from(s.anna), "sip:bert@phones.example", true, nil)
		if !errors.Is(err, ErrForbidden) {
			t.Errorf("Refer = %v, want %v", err, ErrForbidden)
		}
	})
	t.Run("REFER to a participant makes the Focus call it", func(t *testing.T) {
		s := newC3PScene(t, nil)
		done := make(chan error, 1)
		if err := s.ctl.Refer(context.Background(), s.user("olga"), "sip:erin@192.0.2.10", false,
			func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatalf("dial-out: %v", err)
		}
	})
	t.Run("a telephone number goes out on the trunk that registers outbound", func(t *testing.T) {
		s := newC3PScene(t, nil)
		if _, err := s.h.db.CreateTrunk(context.Background(), store.Trunk{Name: "carrier", Peers: []string{"198.51.100.1"},
			OutboundRegistrar: "sip:sip.carrier.example", OutboundUsername: "box", OutboundPassword: "pw"}); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		if err := s.ctl.Refer(context.Background(), s.user("olga"), "tel:+15551234567", false,
			func(err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		<-done
		if got := s.dialer.calls[0]; got.URI != "sip:+15551234567@sip.carrier.example" || got.Username != "box" {
			t.Errorf("dialled %+v, want the number at the carrier with its credentials", got)
		}
	})
}

func TestC3PFactoryCommands(t *testing.T) {
	h := newHarness(t)
	ctl := NewControl(h.fa, WithNumbers(func() string { return "555001" }))
	send := func(user string, cmd c3p.Command) *c3p.Response {
		o := Origin{User: user, From: "sip:" + user + "@box.example"}
		return ctl.C3P(context.Background(), o, &c3p.Request{Version: "1", ID: "9", From: o.From,
			To: "sip:" + user + "@box.example;gruu;opaque=app:conf:focusfactory", Command: cmd})
	}
	expiry := h.clock.Now().Add(24 * time.Hour).UTC()
	add := c3p.AddConference{Info: &confinfo.Document{
		Description: &confinfo.Description{Subject: "Planning", ConferenceID: "PLAN2026X", AdmissionPolicy: PolicyOpenAuthenticated,
			ExpiryTime: &expiry},
		ConfState: &confinfo.ConferenceState{Locked: confinfo.Ptr(true)},
	}}

	t.Run("an unauthenticated sender cannot schedule", func(t *testing.T) {
		wantCode(t, send("", add), c3p.Failure, c3p.ReasonUnauthorized)
		if cs, _ := h.db.ListConferences(context.Background()); len(cs) != 0 {
			t.Errorf("conferences %v were created", cs)
		}
	})
	t.Run("addConference stores what the organizer asks for and answers its Focus URI", func(t *testing.T) {
		res := send("alice", add)
		wantCode(t, res, c3p.Success, "")
		if want := "sip:alice@box.example;gruu;opaque=app:conf:focus:id:PLAN2026X"; res.ConferenceEntity != want {
			t.Errorf("entity %q, want %q", res.ConferenceEntity, want)
		}
		c, err := h.db.ConferenceByFocusID(context.Background(), "PLAN2026X")
		if err != nil {
			t.Fatal(err)
		}
		if c.Number != "555001" || c.Subject != "Planning" || c.Organizer != "sip:alice@box.example" ||
			c.Admission != store.AdmissionLobby || !c.Locked || c.Expiry == nil || !c.Expiry.Equal(expiry) {
			t.Errorf("stored %+v", c)
		}
	})
	t.Run("the same conference id again exists already", func(t *testing.T) {
		wantCode(t, send("alice", add), c3p.Failure, c3p.ReasonConferenceExists)
	})

	keys := c3p.Keys{ConferenceID: "PLAN2026X"}
	errCases := []struct {
		name   string
		user   string
		cmd    c3p.Command
		reason string
	}{
		{"an unknown admission policy is refused", "alice", c3p.AddConference{Info: &confinfo.Document{
			Description: &confinfo.Description{AdmissionPolicy: "everyone"}}}, c3p.ReasonInvalidAdmission},
		{"an expiry in the past is refused", "alice", c3p.AddConference{Info: &confinfo.Document{
			Description: &confinfo.Description{ExpiryTime: confinfo.Ptr(h.clock.Now().Add(-time.Hour))}}}, c3p.ReasonInvalidExpiryTime},
		{"a malformed conference id is refused", "alice", c3p.AddConference{Info: &confinfo.Document{
			Description: &confinfo.Description{ConferenceID: "no"}}}, c3p.ReasonInvalidConferenceID},
		{"someone else may not modify the conference", "bob", c3p.ModifyConference{Keys: keys,
			Info: &confinfo.Document{Description: &confinfo.Description{Subject: "Mine now"}}}, c3p.ReasonForbidden},
		{"someone else may not delete the conference", "bob", c3p.DeleteConference{Keys: keys}, c3p.ReasonForbidden},
		{"an unknown conference does not exist", "alice", c3p.GetConference{Keys: c3p.Keys{ConferenceID: "NOSUCH99"}},
			c3p.ReasonConferenceDoesNotExist},
		{"encryption keys are not offered without a secret", "alice", c3p.GetEncryptionKey{Keys: keys}, c3p.ReasonNotSupported},
	}
	for _, tt := range errCases {
		t.Run(tt.name, func(t *testing.T) { wantCode(t, send(tt.user, tt.cmd), c3p.Failure, tt.reason) })
	}

	t.Run("getAvailableMcuTypes lists the audio MCU", func(t *testing.T) {
		res := send("bob", c3p.GetAvailableMCUTypes{})
		if res.Code != c3p.Success || len(res.MCUTypes) != 1 || res.MCUTypes[0] != "audio-video" {
			t.Errorf("response %+v", res)
		}
	})
	t.Run("the organizer modifies the subject", func(t *testing.T) {
		res := send("alice", c3p.ModifyConference{Keys: keys, Info: &confinfo.Document{
			Description: &confinfo.Description{Subject: "Planning, moved"}}})
		wantCode(t, res, c3p.Success, "")
		if c, _ := h.db.ConferenceByFocusID(context.Background(), "PLAN2026X"); c.Subject != "Planning, moved" || !c.Locked {
			t.Errorf("stored %+v, want the new subject and the rest unchanged", c)
		}
	})
	t.Run("getConference answers the full state of an inactive conference", func(t *testing.T) {
		res := send("bob", c3p.GetConference{Keys: keys})
		wantCode(t, res, c3p.Success, "")
		if res.Info == nil || res.Info.ConfState == nil || *res.Info.ConfState.Active || !*res.Info.ConfState.Locked ||
			res.Info.Description.Subject != "Planning, moved" {
			t.Errorf("info %+v", res.Info)
		}
	})
	t.Run("with a secret each conference has its own stable key", func(t *testing.T) {
		keyed := NewControl(h.fa, WithKeySecret([]byte("s3cret")))
		o := Origin{User: "alice", From: "sip:alice@box.example"}
		get := func() []byte {
			res := keyed.C3P(context.Background(), o, &c3p.Request{ID: "1", Command: c3p.GetEncryptionKey{Keys: keys}})
			wantCode(t, res, c3p.Success, "")
			return res.Key.Key
		}
		k1, k2 := get(), get()
		if len(k1) != 32 || !bytes.Equal(k1, k2) {
			t.Errorf("keys %x and %x, want the same 32 bytes", k1, k2)
		}
		res := keyed.C3P(context.Background(), Origin{User: "bob"}, &c3p.Request{ID: "1", Command: c3p.GetEncryptionKey{Keys: keys}})
		wantCode(t, res, c3p.Failure, c3p.ReasonForbidden)
	})
	t.Run("the organizer deletes the conference", func(t *testing.T) {
		wantCode(t, send("alice", c3p.DeleteConference{Keys: keys}), c3p.Success, "")
		if _, err := h.db.ConferenceByFocusID(context.Background(), "PLAN2026X"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("lookup after delete = %v", err)
		}
	})
	t.Run("an ad-hoc conference is organized by its creator", func(t *testing.T) {
		adhoc := NewControl(h.fa, WithNumbers(func() string { return "555002" }))
		target, uri, err := adhoc.CreateAdHoc(context.Background(), "carol")
		if err != nil {
			t.Fatal(err)
		}
		c, err := h.fa.Resolve(context.Background(), target)
		if err != nil || c.Organizer != "sip:carol@box.example" || uri != h.fa.FocusURI(c) {
			t.Errorf("resolved %+v, %v; uri %q", c, err, uri)
		}
		if _, _, err := adhoc.CreateAdHoc(context.Background(), ""); !errors.Is(err, errUnauthenticated) {
			t.Errorf("anonymous ad-hoc = %v, want %v", err, errUnauthenticated)
		}
	})
}

func TestConferenceInfo(t *testing.T) {
	s := newC3PScene(t, nil)
	doc, err := s.h.fa.ConferenceInfo(context.Background(), s.c.ID)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the full state lists every caller as a user with one endpoint", func(t *testing.T) {
		if doc.Users == nil || len(doc.Users.Users) != 3 || *doc.ConfState.UserCount != 3 || !*doc.ConfState.Active {
			t.Fatalf("users %+v, state %+v", doc.Users, doc.ConfState)
		}
		olga := doc.User("sip:olga@box.example")
		if olga == nil || len(olga.Roles) != 2 || olga.Endpoints[0].Status != "connected" {
			t.Errorf("olga = %+v, want presenter and organizer, connected", olga)
		}
	})
	t.Run("a mute shows as a partial document with the user's endpoint blocked", func(t *testing.T) {
		if err := s.anna.do(Command{Kind: Mute, Member: s.anna.m.id}); err != nil {
			t.Fatal(err)
		}
		now, _ := s.h.fa.ConferenceInfo(context.Background(), s.c.ID)
		p := confinfo.Diff(doc, now)
		if p == nil || p.Users == nil || len(p.Users.Users) != 1 {
			t.Fatalf("diff %+v, want anna alone", p)
		}
		e := p.Users.Users[0].Endpoints[0]
		if e.Status != "muted-via-focus" || e.Media[0].IngressFilter != confinfo.FilterBlock {
			t.Errorf("anna's endpoint %+v, want muted via the focus", e)
		}
	})
	t.Run("an inactive conference is described from the database", func(t *testing.T) {
		c := s.h.conference("7010", func(c *store.Conference) { c.Subject = "Later" })
		d, err := s.h.fa.ConferenceInfo(context.Background(), c.ID)
		if err != nil || *d.ConfState.Active || len(d.Users.Users) != 0 || d.Description.Subject != "Later" {
			t.Errorf("document %+v, %v", d, err)
		}
	})
}

// eventually polls cond until it holds, for what happens on other
// goroutines (dial-out).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
