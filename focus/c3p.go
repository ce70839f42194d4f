package focus

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"time"

	"confab/focus/c3p"
	"confab/focus/confinfo"
	"confab/focus/store"
)

// Control is conference control for SIP clients, over the Focus Factory:
// C3P commands sent to the Focus Factory (SIP SERVICE) and to a Focus
// (INVITE with addUser, INFO in the dialog; MS-CONFBAS, MS-CONFPRO), RFC
// 4579 ad-hoc conferences and REFER, and the RFC 4575 documents of the
// conference event package. It is a client of the Focus like the web page:
// every command reaches Focus.Do (or Factory.DialOut) with the sender's own
// privileges, never an administrator's; an unauthenticated or unprivileged
// sender gets a failure, not an effect.
type Control struct {
	fa      *Factory
	log     *slog.Logger
	secret  []byte
	numbers func() string
}

// ControlOption configures NewControl.
type ControlOption func(*Control)

// WithKeySecret turns on getEncryptionKey: each conference's key is derived
// from secret and its Focus ID (HMAC-SHA-256), so it is stable across
// restarts and differs between conferences. Without a secret,
// getEncryptionKey fails with notSupported.
func WithKeySecret(secret []byte) ControlOption {
	return func(c *Control) { c.secret = secret }
}

// WithNumbers sets where dial-in numbers for conferences created over SIP
// come from (default: random six-digit numbers).
func WithNumbers(next func() string) ControlOption { return func(c *Control) { c.numbers = next } }

// NewControl returns the conference control over the Focus Factory fa.
func NewControl(fa *Factory, opts ...ControlOption) *Control {
	c := &Control{fa: fa, log: fa.log.With("part", "c3p"), numbers: randomNumber}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Origin is who sent a conference-control request and through what, as
// the SIP front vouches for it.
type Origin struct {
	// User is the SIP user the sender authenticated as, "" if it did not.
	User string
	// From is the sender's From URI, for responses and logs.
	From string
	// Member is the sender's own call when the request came in its dialog
	// (INFO, REFER in a call): the sender then has that member's
	// privileges.
	Member Member
	// Target is the conference the Request-URI or the dialog names
	// (number, Focus ID, Focus URI); "" at the Focus Factory.
	Target string
	// Dialer places the calls of dial-out; nil means it is not available.
	Dialer Dialer
}

// Subscribe returns every conference's events (Factory.Subscribe), for the
// conference event package.
func (c *Control) Subscribe(buf int) (<-chan Event, func()) { return c.fa.Subscribe(buf) }

// ConferenceInfo returns the full conference-info document of the
// conference with the given database id (Factory.ConferenceInfo).
func (c *Control) ConferenceInfo(ctx context.Context, id int64) (*confinfo.Document, error) {
	return c.fa.ConferenceInfo(ctx, id)
}

// Resolve finds the conference target names and returns its database id,
// for SUBSCRIBE.
func (c *Control) Resolve(ctx context.Context, target string) (int64, error) {
	conf, err := c.fa.Resolve(ctx, target)
	if err != nil {
		return 0, err
	}
	return conf.ID, nil
}

// MemberID returns the ID of a Member the Factory made, "" for another.
func MemberID(m Member) string {
	if mm, ok := m.(*member); ok {
		return mm.id
	}
	return ""
}

// C3P carries out a C3P request and returns its response: success, or
// failure with a reason (c3p.Reason*).
func (c *Control) C3P(ctx context.Context, o Origin, req *c3p.Request) *c3p.Response {
	res, err := c.do(ctx, o, req)
	if err != nil {
		reason := failureReason(err)
		c.log.Info("C3P command refused", "command", req.Command.Name(), "user", o.User, "from", o.From,
			"reason", reason, "err", err)
		res = req.Answer(c3p.Failure, reason)
		res.Keys = keysOf(req.Command)
		return res
	}
	c.log.Info("C3P command", "command", req.Command.Name(), "user", o.User, "from", o.From)
	return res
}

// Errors of C3P commands that have no Focus error of their own.
var (
	errUnauthenticated = errors.New("focus: the sender did not authenticate")
	errNotSupported    = errors.New("focus: not supported")
	errBadRole         = errors.New("focus: invalid role")
	errNoMedia         = errors.New("focus: no such medium")
	errBadPolicy       = errors.New("focus: invalid admission policy")
	errBadExpiry       = errors.New("focus: invalid expiry time")
	errBadFocusID      = errors.New("focus: invalid conference id")
	errConfExists      = errors.New("focus: conference exists")
	errNotImplemented  = errors.New("focus: command not implemented")
)

func failureReason(err error) string {
	for _, m := range []struct {
		err    error
		reason string
	}{
		{errUnauthenticated, c3p.ReasonUnauthorized},
		{ErrForbidden, c3p.ReasonForbidden},
		{errNotSupported, c3p.ReasonNotSupported},
		{errNotImplemented, c3p.ReasonNotImplemented},
		{errBadRole, c3p.ReasonInvalidRole},
		{errNoMedia, c3p.ReasonMediaDoesNotExist},
		{errBadPolicy, c3p.ReasonInvalidAdmission},
		{errBadExpiry, c3p.ReasonInvalidExpiryTime},
		{errBadFocusID, c3p.ReasonInvalidConferenceID},
		{errConfExists, c3p.ReasonConferenceExists},
		{store.ErrDuplicate, c3p.ReasonConferenceExists},
		{ErrUnknownMember, c3p.ReasonUserDoesNotExist},
		{ErrUnknownConference, c3p.ReasonConferenceDoesNotExist},
		{ErrEnded, c3p.ReasonConferenceDoesNotExist},
		{ErrLocked, c3p.ReasonConferenceLocked},
		{ErrFull, c3p.ReasonMeetingSizeExceeded},
		{ErrUnavailable, c3p.ReasonUnavailable},
		{ErrInvalidCommand, c3p.ReasonMalformed},
		{store.ErrInvalid, c3p.ReasonMalformed},
	} {
		if errors.Is(err, m.err) {
			return m.reason
		}
	}
	return c3p.ReasonOther
}

func keysOf(cmd c3p.Command) *c3p.Keys {
	var k c3p.Keys
	switch cmd := cmd.(type) {
	case c3p.ModifyConference:
		k = cmd.Keys
	case c3p.DeleteConference:
		k = cmd.Keys
	case c3p.GetConference:
		k = cmd.Keys
	case c3p.GetEncryptionKey:
		k = cmd.Keys
	case c3p.AddUser:
		k = cmd.Keys
	case c3p.DeleteUser:
		k = cmd.Keys
	case c3p.ModifyUserRoles:
		k = cmd.Keys
	case c3p.ModifyEndpointMedia:
		k = cmd.Keys
	case c3p.ModifyConferenceLock:
		k = cmd.Keys
	case c3p.SetLobbyAccess:
		k = cmd.Keys
	default:
		return nil
	}
	return &k
}

func (c *Control) do(ctx context.Context, o Origin, req *c3p.Request) (*c3p.Response, error) {
	switch cmd := req.Command.(type) {
	case c3p.GetConferencingCapabilities, c3p.GetAvailableMCUTypes, c3p.AddConference, c3p.ModifyConference,
		c3p.DeleteConference, c3p.GetConference, c3p.GetEncryptionKey:
		if o.User == "" {
			return nil, fmt.Errorf("%w: %s needs an authenticated sender", errUnauthenticated, cmd.Name())
		}
		return c.factoryCommand(ctx, o, req)
	case c3p.AddUser, c3p.DeleteUser, c3p.ModifyUserRoles, c3p.ModifyEndpointMedia, c3p.ModifyConferenceLock,
		c3p.SetLobbyAccess:
		if o.User == "" && o.Member == nil {
			return nil, fmt.Errorf("%w: %s needs an authenticated sender or its own call", errUnauthenticated, cmd.Name())
		}
		return c.focusCommand(ctx, o, req)
	}
	return nil, fmt.Errorf("%w: %s", errNotImplemented, req.Command.Name())
}

// MCU types Confab has (MS-CONFPRO 2.2.3.8): the audio MCU.
var mcuTypes = []string{"audio-video"}

// factoryCommand carries out a Focus Factory command. Scheduling commands
// on an existing conference are its organizer's; any authenticated user
// may create one and ask what the Factory offers.
func (c *Control) factoryCommand(ctx context.Context, o Origin, req *c3p.Request) (*c3p.Response, error) {
	res := req.Answer(c3p.Success, "")
	switch cmd := req.Command.(type) {
	case c3p.GetConferencingCapabilities:
		res.Capabilities = &c3p.Capabilities{MCUTypes: mcuTypes,
			AdmissionPolicies: []string{PolicyAnonymous, PolicyOpenAuthenticated, PolicyClosedAuthenticated}}
		return res, nil
	case c3p.GetAvailableMCUTypes:
		res.MCUTypes = mcuTypes
		return res, nil
	case c3p.AddConference:
		conf := store.NewConference("")
		conf.Organizer = c.organizer(o.User)
		if err := applyInfo(&conf, cmd.Info, c.fa.clock.Now()); err != nil {
			return nil, err
		}
		created, err := c.create(ctx, conf)
		if err != nil {
			return nil, err
		}
		res.ConferenceEntity = c.fa.FocusURI(created)
		return res, nil
	}

	conf, err := c.conference(ctx, keysOf(req.Command))
	if err != nil {
		return nil, err
	}
	res.Keys = keysOf(req.Command)
	owner := sameUser(o.User, conf.Organizer)
	switch cmd := req.Command.(type) {
	case c3p.ModifyConference:
		if !owner {
			return nil, fmt.Errorf("%w: only the organizer may modify conference %s", ErrForbidden, conf.Number)
		}
		if d := cmd.Info; d != nil && d.Description != nil && d.Description.ConferenceID != "" &&
			!strings.EqualFold(d.Description.ConferenceID, conf.FocusID) {
			return nil, fmt.Errorf("%w: the conference id cannot change", errBadFocusID)
		}
		if err := applyInfo(&conf, cmd.Info, c.fa.clock.Now()); err != nil {
			return nil, err
		}
		if _, err := c.fa.UpdateConference(ctx, conf); err != nil {
			return nil, err
		}
	case c3p.DeleteConference:
		if !owner {
			return nil, fmt.Errorf("%w: only the organizer may delete conference %s", ErrForbidden, conf.Number)
		}
		if err := c.fa.DeleteConference(ctx, conf.ID); err != nil {
			return nil, storeErr(err, "conference")
		}
		res.ConferenceEntity = c.fa.FocusURI(conf)
	case c3p.GetConference:
		info, err := c.fa.ConferenceInfo(ctx, conf.ID)
		if err != nil {
			return nil, err
		}
		info.Version = 1
		res.Info = info
	case c3p.GetEncryptionKey:
		if len(c.secret) == 0 {
			return nil, fmt.Errorf("%w: this Focus Factory offers no encryption keys", errNotSupported)
		}
		if !owner && !c.inConference(conf.ID, o.User) {
			return nil, fmt.Errorf("%w: the key of conference %s is for its organizer and members", ErrForbidden, conf.Number)
		}
		mac := hmac.New(sha256.New, c.secret)
		mac.Write([]byte("confab conference key\x00" + strings.ToUpper(conf.FocusID)))
		res.Key = &c3p.EncryptionKey{ID: "1", Key: mac.Sum(nil)}
	}
	return res, nil
}

// organizer is the address of record of an authenticated user.
func (c *Control) organizer(user string) string { return "sip:" + user + "@" + c.fa.domain }

// inConference reports whether user has a member in the conference.
func (c *Control) inConference(id int64, user string) bool {
	f, ok := c.fa.FocusByConference(id)
	if !ok {
		return false
	}
	for _, m := range f.Snapshot().Members {
		if m.User == user {
			return true
		}
	}
	return false
}

// conference finds the conference keys name: by its Focus URI, or by its
// msci:conference-id.
func (c *Control) conference(ctx context.Context, k *c3p.Keys) (store.Conference, error) {
	if k == nil || (k.ConfEntity == "" && k.ConferenceID == "") {
		return store.Conference{}, fmt.Errorf("%w: no conference keys", ErrInvalidCommand)
	}
	target := k.ConfEntity
	if target == "" {
		target = FocusTargetPrefix + k.ConferenceID
	}
	return c.fa.Resolve(ctx, target)
}

// FocusTargetPrefix starts a target that names a conference by Focus ID
// (sipfront.FocusTargetPrefix is the same).
const FocusTargetPrefix = "focus:"

// applyInfo takes what a conference-info of addConference or
// modifyConference asks for into conf; what it leaves out stays.
func applyInfo(conf *store.Conference, info *confinfo.Document, now time.Time) error {
	if info == nil {
		return nil
	}
	if ds := info.Description; ds != nil {
		if ds.DisplayText != "" {
			conf.Name = ds.DisplayText
		}
		if ds.Subject != "" {
			conf.Subject = ds.Subject
		}
		if ds.ConferenceID != "" {
			if len(ds.ConferenceID) < 8 || len(ds.ConferenceID) > 32 || !isAlnumString(ds.ConferenceID) {
				return fmt.Errorf("%w: %q is not 8-32 letters or digits", errBadFocusID, ds.ConferenceID)
			}
			conf.FocusID = ds.ConferenceID
		}
		if ds.AdmissionPolicy != "" {
			a, ok := storeAdmission(ds.AdmissionPolicy)
			if !ok {
				return fmt.Errorf("%w: %q", errBadPolicy, ds.AdmissionPolicy)
			}
			conf.Admission = a
		}
		if ds.ExpiryTime != nil {
			if !ds.ExpiryTime.After(now) {
				return fmt.Errorf("%w: %s has passed", errBadExpiry, ds.ExpiryTime.Format(time.RFC3339))
			}
			t := *ds.ExpiryTime
			conf.Expiry = &t
		}
		if ds.MaxUserCount != nil {
			conf.MaxMembers = int(min(*ds.MaxUserCount, 1<<20))
		}
	}
	if s := info.ConfState; s != nil && s.Locked != nil {
		conf.Locked = *s.Locked
	}
	return nil
}

func isAlnumString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// create stores a new conference under a fresh dial-in number.
func (c *Control) create(ctx context.Context, conf store.Conference) (store.Conference, error) {
	if conf.FocusID != "" {
		if _, err := c.fa.Resolve(ctx, FocusTargetPrefix+conf.FocusID); err == nil {
			return store.Conference{}, fmt.Errorf("%w: conference id %s is in use", errConfExists, conf.FocusID)
		}
	}
	var err error
	for range 20 {
		conf.Number = c.numbers()
		var created store.Conference
		created, err = c.fa.CreateConference(ctx, conf)
		if err == nil {
			return created, nil
		}
		if !errors.Is(err, store.ErrDuplicate) {
			return store.Conference{}, err
		}
	}
	return store.Conference{}, fmt.Errorf("focus: no free dial-in number: %w", err)
}

// CreateAdHoc creates a conference for an RFC 4579 §5.2 ad-hoc INVITE to
// the conference factory URI, organized by the authenticated user, and
// returns its join target and Focus URI.
func (c *Control) CreateAdHoc(ctx context.Context, user string) (target, focusURI string, err error) {
	if user == "" {
		return "", "", fmt.Errorf("%w: an ad-hoc conference needs an authenticated organizer", errUnauthenticated)
	}
	conf := store.NewConference("")
	conf.Organizer = c.organizer(user)
	conf.Name = "Ad-hoc conference of " + user
	created, err := c.create(ctx, conf)
	if err != nil {
		return "", "", err
	}
	c.log.Info("ad-hoc conference created", "number", created.Number, "organizer", user)
	return FocusTargetPrefix + created.FocusID, c.fa.FocusURI(created), nil
}

// randomNumber returns a six-digit dial-in number that does not start
// with 0.
func randomNumber() string {
	n, err := rand.Int(rand.Reader, big.NewInt(900000))
	if err != nil {
		panic(err) // crypto/rand does not fail (Go 1.24+)
	}
	return fmt.Sprintf("%d", 100000+n.Int64())
}

// storeErr maps the store's not-found to ErrUnknownConference.
func storeErr(err error, what string) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %s: %w", ErrUnknownConference, what, err)
	}
	return err
}
