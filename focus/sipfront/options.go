package sipfront

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"confab/focus/sipfront/digest"
)

// Errors returned by New, ListenAndServe, Shutdown and Dial.
var (
	// ErrNoJoiner means New was given a nil focus.Joiner.
	ErrNoJoiner = errors.New("sipfront: no joiner")
	// ErrBadOption means an option value is out of range.
	ErrBadOption = errors.New("sipfront: bad option")
	// ErrServing means ListenAndServe was called twice.
	ErrServing = errors.New("sipfront: already serving")
	// ErrNotServing means a request needs the listeners, which are not up.
	ErrNotServing = errors.New("sipfront: not serving")
	// ErrShuttingDown means the Front is shutting down.
	ErrShuttingDown = errors.New("sipfront: shutting down")
	// ErrBadTarget means a dial target is not a SIP URI.
	ErrBadTarget = errors.New("sipfront: bad target")
	// ErrCallFailed means an outgoing call got a final error response; the
	// error is a *StatusError.
	ErrCallFailed = errors.New("sipfront: call failed")
)

// Authenticator looks up digest credentials. It is what the Front needs
// from the user store.
type Authenticator interface {
	// HA1 returns H(username ":" realm ":" password) in hex for alg, and
	// false when the user is unknown (RFC 7616 §3.4.2).
	HA1(ctx context.Context, username, realm string, alg digest.Algorithm) (ha1 string, ok bool, err error)
}

// Binding is one registered Contact of an address of record (RFC 3261 §10.3).
type Binding struct {
	// AOR is the address of record, sip:user@domain.
	AOR string
	// User is the authenticated user that registered it.
	User string
	// Contact is the Contact URI.
	Contact   string
	Expires   time.Time
	CallID    string
	CSeq      uint32
	Source    netip.AddrPort
	Transport string // "UDP" or "TCP"
	UserAgent string
}

// Registrar stores registrations so that they survive restarts. Lookup
// returns the bindings of aor that have not expired.
type Registrar interface {
	Upsert(ctx context.Context, b Binding) error
	Delete(ctx context.Context, aor, contact string) error
	Lookup(ctx context.Context, aor string) ([]Binding, error)
}

// TrunkDirectory says which peers are SIP trunks and where their DIDs go.
type TrunkDirectory interface {
	// TrunkForAddress names the trunk whose peer has this address.
	TrunkForAddress(addr netip.Addr) (name string, ok bool)
	// TargetForDID maps a dialled number on a trunk to a Joiner target.
	TargetForDID(trunk, did string) (target string, ok bool)
}

// TrunkUsers is a TrunkDirectory that also knows the trunks that prove who
// they are with digest credentials rather than by address: a call whose
// credentials are a trunk's inbound username is that trunk's, and its
// Request-URI user is a DID like an address-trusted trunk's.
type TrunkUsers interface {
	TrunkForUser(username string) (name string, ok bool)
	// CredentialDID reports whether a trunk trusted by credentials
	// delivers this number: an INVITE for it is challenged, since a
	// provider sends its credentials only when asked.
	CredentialDID(did string) bool
}

// Option configures a Front.
type Option func(*config)

type config struct {
	log             *slog.Logger
	publicAddr      netip.Addr
	userAgent       string
	domain          string
	auth            Authenticator
	registrar       Registrar
	requireAuth     bool
	trunks          TrunkDirectory
	sessionInterval time.Duration
	minSE           time.Duration
	lockFailures    int
	lockWindow      time.Duration
	lockFor         time.Duration
	now             func() time.Time
	t1, t2          time.Duration
	conferencing    Conferencing  // conferencing.go
	notifyInterval  time.Duration // 0: defaultNotifyInterval
	minSubExpiry    time.Duration // 0: minSubExpiry; tests shorten it
}

func defaultConfig() config {
	return config{
		log:             slog.New(slog.DiscardHandler),
		userAgent:       "Confab",
		domain:          "confab",
		sessionInterval: 30 * time.Minute,
		minSE:           90 * time.Second,
		lockFailures:    5,
		lockWindow:      time.Minute,
		lockFor:         10 * time.Minute,
		now:             time.Now,
		t1:              500 * time.Millisecond, // RFC 3261 §17.1.1.1
		t2:              4 * time.Second,
	}
}

// WithLogger sets the logger; the Front adds component=sipfront.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.log = l
		}
	}
}

// WithPublicAddr sets the address written in Contact and Via. Without it the
// Front uses the address it listens on or, when that is unspecified, the
// host the caller addressed in the Request-URI.
func WithPublicAddr(a netip.Addr) Option {
	return func(c *config) { c.publicAddr = a }
}

// WithUserAgent sets the Server and User-Agent header value.
func WithUserAgent(ua string) Option {
	return func(c *config) { c.userAgent = ua }
}

// WithDomain sets the SIP domain: the digest realm and the host of
// addresses of record (default "confab").
func WithDomain(d string) Option {
	return func(c *config) { c.domain = d }
}

// WithAuth sets the Authenticator for REGISTER and INVITE challenges.
func WithAuth(a Authenticator) Option {
	return func(c *config) { c.auth = a }
}

// WithRegistrar sets where REGISTER bindings are stored.
func WithRegistrar(r Registrar) Option {
	return func(c *config) { c.registrar = r }
}

// WithRequireAuth makes every INVITE that is not from a trunk prove who it
// is (default false: public dial-in). It needs WithAuth.
func WithRequireAuth(require bool) Option {
	return func(c *config) { c.requireAuth = require }
}

// WithTrunks sets the trunk directory.
func WithTrunks(t TrunkDirectory) Option {
	return func(c *config) { c.trunks = t }
}

// WithSessionTimer sets the session interval the Front asks for (RFC 4028
// §9; default 30 minutes, 0 turns session timers off unless the caller asks
// for one).
func WithSessionTimer(interval time.Duration) Option {
	return func(c *config) { c.sessionInterval = interval }
}

// WithMinSE sets the smallest session interval the Front accepts (RFC 4028
// §5; default 90 s, which is also the protocol's floor — smaller values are
// for tests only).
func WithMinSE(d time.Duration) Option {
	return func(c *config) { c.minSE = d }
}

// WithLockout sets the brute-force guard: a source address with failures
// authentication failures within window is refused for lockFor (default 5
// per minute, 10 minutes).
func WithLockout(failures int, window, lockFor time.Duration) Option {
	return func(c *config) {
		c.lockFailures, c.lockWindow, c.lockFor = failures, window, lockFor
	}
}

// withClock and withTimers are for tests: they inject the clock and shorten
// the RFC 3261 timers T1 and T2 that pace the 2xx retransmissions and the
// ACK wait (sipgo's transaction layer keeps its own timers).
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func withTimers(t1, t2 time.Duration) Option {
	return func(c *config) { c.t1, c.t2 = t1, t2 }
}

func (c *config) validate() error {
	switch {
	case c.sessionInterval < 0 || c.minSE <= 0:
		return fmt.Errorf("%w: session timer values must be positive", ErrBadOption)
	case c.sessionInterval > 0 && c.sessionInterval < c.minSE:
		return fmt.Errorf("%w: session interval below Min-SE", ErrBadOption)
	case c.lockFailures < 1 || c.lockWindow <= 0 || c.lockFor <= 0:
		return fmt.Errorf("%w: lockout values must be positive", ErrBadOption)
	case c.requireAuth && c.auth == nil:
		return fmt.Errorf("%w: WithRequireAuth needs WithAuth", ErrBadOption)
	case c.t1 <= 0 || c.t2 < c.t1:
		return fmt.Errorf("%w: timers", ErrBadOption)
	case c.domain == "" || strings.ContainsAny(c.domain, " \t\r\n\"<>;,@"):
		return fmt.Errorf("%w: domain %q is not a host name", ErrBadOption, c.domain)
	case strings.ContainsFunc(c.userAgent, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return fmt.Errorf("%w: user agent has control characters", ErrBadOption)
	}
	return nil
}
