package httpapi

import (
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Authenticator checks the admin's password.
type Authenticator interface {
	CheckAdminPassword(ctx context.Context, user, password string) (bool, error)
}

// RequestAuthenticator recognises the credentials the web page hands out:
// its login session cookie and the API tokens an admin creates on it.
type RequestAuthenticator interface {
	// AuthenticateRequest returns the admin that r's session cookie or
	// API token (Authorization: Bearer) names; ok is false if r carries
	// neither, or they are unknown or expired.
	AuthenticateRequest(r *http.Request) (admin string, ok bool, err error)
}

// WithSessions lets the web page's sessions and API tokens in, besides
// Basic auth.
func WithSessions(s RequestAuthenticator) Option { return func(a *API) { a.sessions = s } }

// WithLoginGuard shares a limit of failed logins with the web page's login
// form, so that guessing on one does not double the guesses allowed. The
// default is the API's own: 10 failures a minute per address.
func WithLoginGuard(g *LoginGuard) Option { return func(a *API) { a.guard = g } }

// Authenticate lets through requests from the admin: a session, an API
// token or Basic credentials. Failed Basic and token attempts count towards
// the per-address limit; an address over it is refused with 429 before
// any check, so the limit also stops guessing at valid passwords.
func (a *API) Authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		addr := ClientAddr(r)
		if a.guard.Blocked(addr) {
			w.Header().Set("Retry-After", "60")
			writeError(w, http.StatusTooManyRequests, "too many failed logins; try again in a minute")
			return
		}
		if a.sessions != nil {
			_, ok, err := a.sessions.AuthenticateRequest(r)
			if err != nil {
				a.log.Error("checking session", "err", err)
				writeError(w, http.StatusInternalServerError, "cannot check credentials")
				return
			}
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
				a.guard.Fail(addr)
				writeError(w, http.StatusUnauthorized, "the API token is not valid (revoked, or mistyped)")
				return
			}
		}
		user, pass, ok := r.BasicAuth()
		if ok {
			good, err := a.auth.CheckAdminPassword(r.Context(), user, pass)
			if err != nil {
				a.log.Error("checking admin password", "err", err)
				writeError(w, http.StatusInternalServerError, "cannot check credentials")
				return
			}
			if good {
				next.ServeHTTP(w, r)
				return
			}
			a.guard.Fail(addr)
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="confab", charset="UTF-8"`)
		writeError(w, http.StatusUnauthorized, "admin credentials required: log in on the web page, or use an API token or the admin password")
	})
}

// LoginGuard limits failed logins per client address: an address with max
// failures within window is refused until the oldest of them is older
// than window.
type LoginGuard struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

// NewLoginGuard returns a guard allowing max failures per window; now is
// the clock (time.Now).
func NewLoginGuard(max int, window time.Duration, now func() time.Time) *LoginGuard {
	return &LoginGuard{max: max, window: window, now: now, failures: make(map[string][]time.Time)}
}

// Blocked reports whether addr has used up its failures.
func (g *LoginGuard) Blocked(addr string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	cut := g.now().Add(-g.window)
	f := g.failures[addr]
	for len(f) > 0 && !f[0].After(cut) {
		f = f[1:]
	}
	if len(f) == 0 {
		delete(g.failures, addr)
	} else {
		g.failures[addr] = f
	}
	return len(f) >= g.max
}

// Fail records a failed login from addr.
func (g *LoginGuard) Fail(addr string) {
	g.mu.Lock()
	g.failures[addr] = append(g.failures[addr], g.now())
	g.mu.Unlock()
}

// ClientAddr is the address a request came from, without the port. The
// appliance is reached directly, so X-Forwarded-For is not trusted.
func ClientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
