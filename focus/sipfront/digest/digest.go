// Package digest is the server side of HTTP Digest access authentication as
// SIP uses it (RFC 3261 §22, RFC 7616, RFC 8760): it issues challenges for
// SHA-256 and MD5, makes stateless nonces (a timestamp and random bytes
// sealed with an HMAC), parses the Authorization header, checks the response
// against a stored HA1 and refuses replayed nonce counts.
//
// Passwords never reach this package: the caller looks up HA1 =
// H(username ":" realm ":" password) for the algorithm the client chose
// (HA1 computes it for stores that keep plain passwords).
package digest

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"sync"
	"time"
)

// Errors returned by ParseCredentials and Server.Verify.
var (
	// ErrMalformed means the Authorization header does not parse.
	ErrMalformed = errors.New("digest: malformed credentials")
	// ErrUnsupported means an algorithm or qop this server does not offer.
	ErrUnsupported = errors.New("digest: unsupported algorithm or qop")
	// ErrRealm means the credentials are for another realm.
	ErrRealm = errors.New("digest: wrong realm")
	// ErrBadResponse means the response does not match: wrong password or
	// unknown user.
	ErrBadResponse = errors.New("digest: response does not match")
	// ErrStale means the response matched but the nonce is expired or was
	// not issued by this server (for example before a restart); the client
	// should retry with a fresh nonce without asking the user (stale=true,
	// RFC 7616 §3.3).
	ErrStale = errors.New("digest: stale nonce")
	// ErrReplay means a nonce count was used again (RFC 7616 §3.4).
	ErrReplay = errors.New("digest: nonce count replayed")
)

// Algorithm is a Digest hash algorithm (RFC 7616 §3.3, RFC 8760 §2.1).
type Algorithm string

// Algorithms this package offers.
const (
	MD5    Algorithm = "MD5"
	SHA256 Algorithm = "SHA-256"
)

func (a Algorithm) valid() bool { return a == MD5 || a == SHA256 }

func (a Algorithm) newHash() hash.Hash {
	if a == SHA256 {
		return sha256.New()
	}
	return md5.New()
}

func (a Algorithm) hexLen() int {
	if a == SHA256 {
		return sha256.Size * 2
	}
	return md5.Size * 2
}

// h is H(parts joined by ":") in lower-case hex (RFC 7616 §3.4.1).
func (a Algorithm) h(parts ...string) string {
	hh := a.newHash()
	for i, p := range parts {
		if i > 0 {
			hh.Write([]byte{':'})
		}
		hh.Write([]byte(p))
	}
	return hex.EncodeToString(hh.Sum(nil))
}

// HA1 returns H(username ":" realm ":" password) for alg (RFC 7616 §3.4.2).
func HA1(alg Algorithm, username, realm, password string) string {
	return alg.h(username, realm, password)
}

// Response computes the request-digest (RFC 7616 §3.4.1): with qop "auth"
// H(HA1:nonce:nc:cnonce:qop:HA2), without qop H(HA1:nonce:HA2), where
// HA2 = H(method:uri).
func Response(alg Algorithm, ha1, nonce, nc, cnonce, qop, method, uri string) string {
	ha2 := alg.h(method, uri)
	if qop == "" {
		return alg.h(ha1, nonce, ha2)
	}
	return alg.h(ha1, nonce, nc, cnonce, qop, ha2)
}

// Challenge is one WWW-Authenticate header value (RFC 7616 §3.3).
type Challenge struct {
	Realm     string
	Nonce     string
	Algorithm Algorithm
	Stale     bool
}

// String renders the challenge as a header value offering qop=auth.
func (c Challenge) String() string {
	var b strings.Builder
	b.WriteString("Digest realm=")
	b.WriteString(quote(c.Realm))
	b.WriteString(", nonce=")
	b.WriteString(quote(c.Nonce))
	b.WriteString(`, algorithm=`)
	b.WriteString(string(c.Algorithm))
	b.WriteString(`, qop="auth"`)
	if c.Stale {
		b.WriteString(", stale=true")
	}
	return b.String()
}

// Nonce layout: 8 bytes issue time (Unix nanoseconds, big endian), 8 random
// bytes, 16 bytes of HMAC-SHA256 over the first 16 and the realm.
const (
	nonceTimeLen = 8
	nonceRandLen = 8
	nonceMACLen  = 16
	nonceLen     = nonceTimeLen + nonceRandLen + nonceMACLen
	// clockSkew tolerates a nonce stamped slightly in the future.
	clockSkew = time.Minute
	// DefaultNonceLifetime is how long a nonce is accepted.
	DefaultNonceLifetime = 5 * time.Minute
)

// Server issues challenges and verifies credentials for one realm. It is
// safe for concurrent use.
type Server struct {
	realm    string
	key      []byte
	lifetime time.Duration
	now      func() time.Time

	// Nonce counts seen per nonce (RFC 7616 §3.4 replay protection), kept
	// in two generations each one lifetime long so entries for expired
	// nonces fall away without a sweep. Only verified requests add entries.
	mu       sync.Mutex
	cur      map[string]uint32
	prev     map[string]uint32
	genStart time.Time
}

// Option configures a Server.
type Option func(*Server)

// WithKey sets the HMAC key that seals nonces. Without it a random key is
// made, so nonces do not survive a restart (clients then get stale=true and
// retry without prompting).
func WithKey(key []byte) Option {
	return func(s *Server) { s.key = append([]byte(nil), key...) }
}

// WithNonceLifetime sets how long a nonce is accepted (default 5 minutes).
func WithNonceLifetime(d time.Duration) Option {
	return func(s *Server) { s.lifetime = d }
}

// WithClock injects the clock (for tests).
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// NewServer returns a Server for realm.
func NewServer(realm string, opts ...Option) (*Server, error) {
	s := &Server{realm: realm, lifetime: DefaultNonceLifetime, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.lifetime <= 0 {
		return nil, fmt.Errorf("digest: nonce lifetime %v must be positive", s.lifetime)
	}
	if len(s.key) == 0 {
		s.key = make([]byte, 32)
		if _, err := rand.Read(s.key); err != nil {
			return nil, fmt.Errorf("digest: nonce key: %w", err)
		}
	}
	s.cur = make(map[string]uint32)
	s.prev = make(map[string]uint32)
	s.genStart = s.now()
	return s, nil
}

// Realm returns the realm the server challenges for.
func (s *Server) Realm() string { return s.realm }

// Challenges returns the challenges for a 401 response: SHA-256 first, then
// MD5, each with a fresh nonce (RFC 8760 §2.4: in order of preference, one
// header per algorithm). stale marks a retry after ErrStale or ErrReplay.
func (s *Server) Challenges(stale bool) []Challenge {
	return []Challenge{
		{Realm: s.realm, Nonce: s.newNonce(), Algorithm: SHA256, Stale: stale},
		{Realm: s.realm, Nonce: s.newNonce(), Algorithm: MD5, Stale: stale},
	}
}

func (s *Server) newNonce() string {
	var b [nonceLen]byte
	binary.BigEndian.PutUint64(b[:nonceTimeLen], uint64(s.now().UnixNano()))
	// crypto/rand.Read never fails on Linux (Go 1.24+ panics rather than
	// return an error), so the error is not checked.
	_, _ = rand.Read(b[nonceTimeLen : nonceTimeLen+nonceRandLen])
	copy(b[nonceTimeLen+nonceRandLen:], s.mac(b[:nonceTimeLen+nonceRandLen]))
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (s *Server) mac(b []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write(b)
	m.Write([]byte(s.realm))
	return m.Sum(nil)[:nonceMACLen]
}

// nonceFresh reports whether nonce was issued by this server and is still
// within its lifetime.
func (s *Server) nonceFresh(nonce string) bool {
	b, err := base64.RawURLEncoding.DecodeString(nonce)
	if err != nil || len(b) != nonceLen {
		return false
	}
	if !hmac.Equal(b[nonceTimeLen+nonceRandLen:], s.mac(b[:nonceTimeLen+nonceRandLen])) {
		return false
	}
	issued := time.Unix(0, int64(binary.BigEndian.Uint64(b[:nonceTimeLen])))
	now := s.now()
	return !issued.After(now.Add(clockSkew)) && now.Sub(issued) <= s.lifetime
}

// Verify checks credentials for a request with the given method against the
// HA1 the caller looked up for c.Username, c.Realm and c.Algorithm. It
// returns nil, ErrRealm, ErrBadResponse, ErrStale or ErrReplay.
//
// The response is checked before the nonce so that ErrStale is only
// reported to a client that knows the password (RFC 7616 §3.3 stale).
// Without qop a nonce is good for one request (RFC 3261 §22.4 clients that
// predate qop then get a fresh challenge each time).
func (s *Server) Verify(c Credentials, method, ha1 string) error {
	if c.Realm != s.realm {
		return ErrRealm
	}
	if !c.Algorithm.valid() {
		return ErrUnsupported
	}
	want := Response(c.Algorithm, strings.ToLower(ha1), c.Nonce, c.NC, c.CNonce, c.QOP, method, c.URI)
	if subtle.ConstantTimeCompare([]byte(want), []byte(strings.ToLower(c.Response))) != 1 {
		return ErrBadResponse
	}
	if !s.nonceFresh(c.Nonce) {
		return ErrStale
	}
	count := c.Count
	if c.QOP == "" {
		count = 1
	}
	if !s.advance(c.Nonce, count) {
		return ErrReplay
	}
	return nil
}

// advance records count for nonce; it reports false when count does not
// exceed the highest count already seen.
func (s *Server) advance(nonce string, count uint32) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); now.Sub(s.genStart) > s.lifetime {
		s.prev, s.cur = s.cur, make(map[string]uint32)
		s.genStart = now
	}
	last, ok := s.cur[nonce]
	if !ok {
		last = s.prev[nonce]
	}
	if count <= last {
		return false
	}
	s.cur[nonce] = count
	return true
}
