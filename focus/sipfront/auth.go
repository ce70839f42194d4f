package sipfront

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo/sip"

	"confab/focus/sipfront/digest"
)

// authTimeout bounds one Authenticator or Registrar lookup.
const authTimeout = 5 * time.Second

// authenticate checks the Digest credentials of req (RFC 3261 §22.4) and
// returns the user, or the response to send instead: 401 with fresh
// challenges, 403 for a locked-out source, 400 for credentials that do not
// parse.
func (f *Front) authenticate(req *sip.Request, src netip.Addr) (string, *rejection) {
	if f.guard.locked(src) {
		f.stats.lockedOut.Add(1)
		return "", reject(sip.StatusForbidden, "Forbidden")
	}
	h := req.GetHeader("Authorization")
	if h == nil {
		return "", f.challenge(false)
	}
	cr, err := digest.ParseCredentials(h.Value())
	switch {
	case errors.Is(err, digest.ErrUnsupported):
		return "", f.challenge(false)
	case err != nil:
		return "", reject(sip.StatusBadRequest, "Malformed Authorization")
	case cr.Realm != f.digest.Realm():
		// Credentials cached for another realm: not a guess, just stale.
		return "", f.challenge(false)
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), authTimeout)
	defer cancel()
	ha1, ok, err := f.cfg.auth.HA1(ctx, cr.Username, cr.Realm, cr.Algorithm)
	if err != nil {
		f.log.Warn("credential lookup failed", "user", cr.Username, "error", err)
		return "", reject(sip.StatusInternalServerError, "Server Internal Error")
	}
	if ok {
		err = f.digest.Verify(cr, string(req.Method), ha1)
	} else {
		err = digest.ErrBadResponse // unknown users fail like wrong passwords
	}
	switch {
	case err == nil:
		f.guard.succeed(src)
		return cr.Username, nil
	case errors.Is(err, digest.ErrStale), errors.Is(err, digest.ErrReplay):
		return "", f.challenge(true)
	}
	f.stats.authFailures.Add(1)
	if f.guard.fail(src) {
		f.stats.lockouts.Add(1)
		f.log.Warn("source locked out after repeated authentication failures", "source", src.String(), "user", cr.Username)
		return "", reject(sip.StatusForbidden, "Forbidden")
	}
	return "", f.challenge(false)
}

// challenge is a 401 with one WWW-Authenticate per algorithm, SHA-256
// first (RFC 8760 §2.4).
func (f *Front) challenge(stale bool) *rejection {
	f.stats.challenges.Add(1)
	chs := f.digest.Challenges(stale)
	headers := make([]sip.Header, 0, len(chs))
	for _, ch := range chs {
		headers = append(headers, sip.NewHeader("WWW-Authenticate", ch.String()))
	}
	return reject(sip.StatusUnauthorized, "Unauthorized", headers...)
}

// authenticateInvite decides whether an INVITE (not from a trunk's
// address) must prove who it is: when it carries credentials, when
// WithRequireAuth is set, when its From user is registered from the same
// address, or when it dials a DID of a trunk trusted by credentials.
func (f *Front) authenticateInvite(req *sip.Request, src netip.AddrPort) (string, *rejection) {
	if f.cfg.auth == nil {
		return "", nil
	}
	if req.GetHeader("Authorization") != nil || f.cfg.requireAuth || f.registeredFrom(req, src.Addr()) ||
		f.credentialDID(req) {
		return f.authenticate(req, src.Addr())
	}
	return "", nil
}

// credentialDID reports whether req dials a number that a trunk trusted by
// its credentials delivers (TrunkUsers).
func (f *Front) credentialDID(req *sip.Request) bool {
	tu, ok := f.cfg.trunks.(TrunkUsers)
	if !ok {
		return false
	}
	did, err := targetOf(&req.Recipient)
	return err == nil && tu.CredentialDID(did)
}

// registeredFrom reports whether the From user of req has a binding whose
// source is src.
func (f *Front) registeredFrom(req *sip.Request, src netip.Addr) bool {
	if f.cfg.registrar == nil || req.From().Address.User == "" {
		return false
	}
	ctx, cancel := context.WithTimeout(f.baseContext(), authTimeout)
	defer cancel()
	bindings, err := f.cfg.registrar.Lookup(ctx, f.aor(req.From().Address.User))
	if err != nil {
		f.log.Warn("registration lookup failed", "error", err)
		return false
	}
	for _, b := range bindings {
		if b.Source.Addr().Unmap() == src.Unmap() {
			return true
		}
	}
	return false
}

// aor is the address of record of a user in our domain.
func (f *Front) aor(user string) string { return "sip:" + user + "@" + f.cfg.domain }

// maxTrackedSources bounds the lockout table; spoofed UDP sources cannot
// grow it further (stale entries are swept first, then the oldest go).
const maxTrackedSources = 10000

// lockout refuses a source address after too many authentication failures
// in a window: RFC 3261 §26.1.1 names password guessing against digest as a
// threat, and nothing else in the protocol slows it down.
type lockout struct {
	max     int
	window  time.Duration
	lockFor time.Duration
	now     func() time.Time

	mu      sync.Mutex
	sources map[netip.Addr]*failures
}

type failures struct {
	recent      []time.Time // failure times within the window, oldest first
	lockedUntil time.Time
}

func newLockout(limit int, window, lockFor time.Duration, now func() time.Time) *lockout {
	return &lockout{max: limit, window: window, lockFor: lockFor, now: now, sources: make(map[netip.Addr]*failures)}
}

func (l *lockout) locked(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.sources[a.Unmap()]
	return s != nil && l.now().Before(s.lockedUntil)
}

// fail records a failure and reports whether it locked the source out.
func (l *lockout) fail(a netip.Addr) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	a = a.Unmap()
	now := l.now()
	s := l.sources[a]
	if s == nil {
		if len(l.sources) >= maxTrackedSources {
			l.sweep(now)
		}
		s = &failures{}
		l.sources[a] = s
	}
	cut := 0
	for cut < len(s.recent) && now.Sub(s.recent[cut]) > l.window {
		cut++
	}
	s.recent = append(s.recent[cut:], now)
	if len(s.recent) >= l.max {
		s.recent = s.recent[:0]
		s.lockedUntil = now.Add(l.lockFor)
		return true
	}
	return false
}

func (l *lockout) succeed(a netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.sources[a.Unmap()]; s != nil && !l.now().Before(s.lockedUntil) {
		delete(l.sources, a.Unmap())
	}
}

// sweep drops entries that no longer matter; if the table is still full it
// drops the entries that are not locked out.
func (l *lockout) sweep(now time.Time) {
	for a, s := range l.sources {
		last := time.Time{}
		if n := len(s.recent); n > 0 {
			last = s.recent[n-1]
		}
		if now.Sub(last) > l.window && !now.Before(s.lockedUntil) {
			delete(l.sources, a)
		}
	}
	if len(l.sources) < maxTrackedSources {
		return
	}
	for a, s := range l.sources {
		if !now.Before(s.lockedUntil) {
			delete(l.sources, a)
		}
	}
}
