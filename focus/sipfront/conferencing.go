package sipfront

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"confab/focus"
	"confab/focus/c3p"
	"confab/focus/confinfo"
)

// Conferencing is the conference control the Front carries besides joins
// (WithConferencing): C3P in SERVICE, INVITE and INFO (MS-CONFBAS), RFC
// 4579 ad-hoc conferences and REFER, and the RFC 4575 conference event
// package (SUBSCRIBE/NOTIFY, RFC 6665). *focus.Control implements it.
type Conferencing interface {
	// C3P carries out a C3P request from the sender o describes.
	C3P(ctx context.Context, o focus.Origin, req *c3p.Request) *c3p.Response
	// CreateAdHoc creates a conference organized by user and returns its
	// join target and Focus URI (RFC 4579 §5.2).
	CreateAdHoc(ctx context.Context, user string) (target, focusURI string, err error)
	// Refer calls participant into the conference, or with bye removes
	// it (RFC 4579 §5.5, §5.6); done gets a call's outcome.
	Refer(ctx context.Context, o focus.Origin, participant string, bye bool, done func(error)) error
	// Resolve finds the conference a target names.
	Resolve(ctx context.Context, target string) (int64, error)
	// ConferenceInfo returns a conference's full state.
	ConferenceInfo(ctx context.Context, id int64) (*confinfo.Document, error)
	// Subscribe returns every conference's events.
	Subscribe(buf int) (<-chan focus.Event, func())
}

var _ Conferencing = (*focus.Control)(nil)

// WithConferencing turns on conference control over SIP: SERVICE to the
// Focus Factory URI, C3P in INVITE and INFO to a Focus, SUBSCRIBE to the
// conference event package, REFER to a Focus and INVITE to the conference
// factory URI. Without it these get 405 (SUBSCRIBE 489).
func WithConferencing(c Conferencing) Option { return func(cfg *config) { cfg.conferencing = c } }

// WithNotifyInterval sets the least time between two NOTIFYs of one
// conference subscription (default 500 ms): changes within it are
// coalesced into one partial document (RFC 4575 §3.9 asks notifiers to
// limit their rate; RFC 6446 describes the throttle).
func WithNotifyInterval(d time.Duration) Option { return func(cfg *config) { cfg.notifyInterval = d } }

// Methods and the media type of conference control.
const (
	methodSERVICE         = sip.RequestMethod("SERVICE")
	eventConference       = "conference" // RFC 4575 §3.1
	eventRefer            = "refer"      // RFC 3515 §2.4.4
	contentTypeSipfrag    = "message/sipfrag;version=2.0"
	conferencingMethods   = ", SUBSCRIBE, REFER, SERVICE"
	conferencingTypes     = ", " + c3p.ContentType
	factoryOpaque         = "app:conf:focusfactory"
	defaultNotifyInterval = 500 * time.Millisecond
)

// Subscription durations (RFC 6665 §4.2.1.1; RFC 4575 §3.7 suggests an
// hour).
const (
	defaultSubExpiry = time.Hour
	maxSubExpiry     = 2 * time.Hour
	minSubExpiry     = 60 * time.Second
)

// conferencing is the Front's conference-control state: the subscriptions
// of the conference event package.
type conferencing struct {
	f   *Front
	ctl Conferencing

	watchOnce sync.Once

	mu     sync.Mutex
	subs   map[dialogKey]*subscription
	byConf map[int64]map[*subscription]struct{}
	closed bool
}

func newConferencing(f *Front, ctl Conferencing) *conferencing {
	return &conferencing{f: f, ctl: ctl, subs: make(map[dialogKey]*subscription),
		byConf: make(map[int64]map[*subscription]struct{})}
}

// allowed is the Allow header value (RFC 3261 §20.5).
func (f *Front) allowed() string {
	if f.conf != nil {
		return allowedMethods + conferencingMethods
	}
	return allowedMethods
}

// accepted is the Accept header value of OPTIONS.
func (f *Front) accepted() string {
	if f.conf != nil {
		return acceptedTypes + conferencingTypes
	}
	return acceptedTypes
}

// isFactoryURI reports whether a Request-URI is the Focus Factory's:
// sip:<user>@<domain>;gruu;opaque=app:conf:focusfactory (MS-CONFPRO). It
// is also the conference factory URI of RFC 4579 §2.4.
func isFactoryURI(u *sip.Uri) bool {
	opaque, ok := u.UriParams.Get("opaque")
	return ok && strings.EqualFold(opaque, factoryOpaque)
}

// authenticatedUser authenticates a request that needs a user (SERVICE,
// REFER and INVITE to the factory, C3P INVITE): with an Authenticator,
// credentials or a challenge; without one, nobody.
func (f *Front) authenticatedUser(req *sip.Request) (string, *rejection) {
	if f.cfg.auth == nil {
		return "", nil
	}
	src, _ := netip.ParseAddrPort(req.Source())
	return f.authenticate(req, src.Addr())
}

// origin describes the sender of a request in call c's dialog (a control
// dialog, or a call's own).
func (f *Front) origin(c *call) focus.Origin {
	c.mu.Lock()
	m := c.member
	c.mu.Unlock()
	o := focus.Origin{From: c.remote.Address.String(), Member: m, Dialer: f.dialer()}
	if ctl := c.ctl; ctl != nil {
		o.User, o.Target = ctl.user, ctl.target
	}
	return o
}

// controlDialog is what a C3P INVITE to a Focus made of a dialog: it
// carries the user's commands, no media (MS-CONFBAS 3.2).
type controlDialog struct {
	user   string // authenticated user, "" if none
	target string // the Focus
}

// dialer places the dial-out calls of C3P addUser and REFER.
func (f *Front) dialer() focus.Dialer { return frontDialer{f} }

type frontDialer struct{ f *Front }

// Dial calls the invitee: a user of this box at the Contact it has
// registered, anyone else at the URI given.
func (d frontDialer) Dial(ctx context.Context, inv focus.Invitee, offer []byte) ([]byte, focus.DialedCall, error) {
	target := d.f.registeredContact(ctx, inv.URI)
	opts := []DialOption{WithCaller("conference", "Conference")}
	if inv.Username != "" {
		opts = append(opts, WithCredentials(inv.Username, inv.Password))
	}
	answer, o, err := d.f.Dial(ctx, target, offer, opts...)
	if err != nil {
		return nil, nil, err
	}
	return answer, o, nil
}

// registeredContact maps an address of record in the Front's domain to
// the Contact its phone registered; anything else is called as it is.
func (f *Front) registeredContact(ctx context.Context, uri string) string {
	if f.cfg.registrar == nil {
		return uri
	}
	var u sip.Uri
	if err := sip.ParseUri(uri, &u); err != nil || u.User == "" || !strings.EqualFold(u.Host, f.cfg.domain) {
		return uri
	}
	bindings, err := f.cfg.registrar.Lookup(ctx, f.aor(u.User))
	if err != nil || len(bindings) == 0 {
		return uri
	}
	b := bindings[0]
	for _, x := range bindings[1:] {
		if x.Expires.After(b.Expires) {
			b = x // the freshest registration
		}
	}
	return b.Contact
}

// c3pReply builds a 2xx or error response carrying a C3P body.
func (f *Front) c3pReply(req *sip.Request, code int, reason string, body []byte, headers ...sip.Header) *sip.Response {
	res := sip.NewResponseFromRequest(req, code, reason, nil)
	for _, h := range headers {
		res.AppendHeader(h)
	}
	res.AppendHeader(sip.NewHeader("Server", f.cfg.userAgent))
	ct := sip.ContentTypeHeader(c3p.ContentType)
	res.AppendHeader(&ct)
	res.SetBody(body)
	return res
}

// c3pFailureStatus is the SIP status of an INVITE whose addUser failed:
// the C3P response goes in its body.
func c3pFailureStatus(reason string) (int, string) {
	switch reason {
	case c3p.ReasonUnauthorized, c3p.ReasonForbidden, c3p.ReasonConferenceLocked:
		return sip.StatusForbidden, "Forbidden"
	case c3p.ReasonConferenceDoesNotExist:
		return sip.StatusNotFound, "Not Found"
	case c3p.ReasonMalformed, c3p.ReasonInvalidRole, c3p.ReasonInvalidUserEntity:
		return sip.StatusBadRequest, "Bad Request"
	case c3p.ReasonMeetingSizeExceeded:
		return sip.StatusBusyHere, "Busy Here"
	case c3p.ReasonUnavailable:
		return sip.StatusTemporarilyUnavailable, "Temporarily Unavailable"
	}
	return sip.StatusForbidden, "Forbidden"
}

// decodeC3P reads a C3P body. It returns the failure response to send
// when the request decodes far enough to be answered, or a rejection when
// it does not.
func decodeC3P(req *sip.Request) (*c3p.Request, *c3p.Response, *rejection) {
	r, err := c3p.Decode(req.Body())
	switch {
	case err == nil:
		return r, nil, nil
	case r != nil:
		reason := c3p.ReasonMalformed
		if errors.Is(err, c3p.ErrUnknownCommand) {
			reason = c3p.ReasonNotImplemented
		}
		return nil, r.Answer(c3p.Failure, reason), nil
	case errors.Is(err, c3p.ErrTooLarge):
		return nil, nil, reject(sip.StatusRequestEntityTooLarge, "Request Entity Too Large")
	}
	return nil, nil, reject(sip.StatusBadRequest, "Malformed C3P Body")
}

// withMinSubscription lowers the shortest subscription the Front accepts,
// for tests of expiry.
func withMinSubscription(d time.Duration) Option { return func(cfg *config) { cfg.minSubExpiry = d } }
