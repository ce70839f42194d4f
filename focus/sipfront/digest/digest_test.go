package digest

import (
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	icholy "github.com/icholy/digest"
)

// hexMD5 and hexSHA256 compute digests independently of the package code.
func hexMD5(s string) string    { h := md5.Sum([]byte(s)); return hex.EncodeToString(h[:]) }
func hexSHA256(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// RFC 7616 §3.9.1 example: user Mufasa, password "Circle of Life".
func TestResponseMatchesRFC7616Example(t *testing.T) {
	const (
		realm  = "http-auth@example.org"
		nonce  = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
		cnonce = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
		uri    = "/dir/index.html"
	)
	tests := []struct {
		name string
		alg  Algorithm
		want string
	}{
		{"the MD5 example gives the RFC's response", MD5, "8ca523f5e9506fed4657c9700eebdbec"},
		{"the SHA-256 example gives the RFC's response", SHA256, "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ha1 := HA1(tt.alg, "Mufasa", realm, "Circle of Life")
			got := Response(tt.alg, ha1, nonce, "00000001", cnonce, "auth", "GET", uri)
			if got != tt.want {
				t.Fatalf("Response = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParseCredentials(t *testing.T) {
	md5Resp := strings.Repeat("a", 32)
	tests := []struct {
		name    string
		header  string
		want    Credentials
		wantErr error
	}{
		{
			name: "a typical desk phone header with qop parses",
			header: `Digest username="alice", realm="confab", nonce="abc", uri="sip:confab", ` +
				`response="` + md5Resp + `", algorithm=MD5, cnonce="xyz", qop=auth, nc=00000001`,
			want: Credentials{Username: "alice", Realm: "confab", Nonce: "abc", URI: "sip:confab",
				Response: md5Resp, Algorithm: MD5, CNonce: "xyz", QOP: "auth", NC: "00000001", Count: 1},
		},
		{
			name:   "a header without algorithm defaults to MD5 and without qop has no count",
			header: `digest username="bob",realm="r",nonce="n",uri="sip:x",response="` + md5Resp + `"`,
			want:   Credentials{Username: "bob", Realm: "r", Nonce: "n", URI: "sip:x", Response: md5Resp, Algorithm: MD5},
		},
		{
			name:   "escaped quotes in a quoted string are unescaped",
			header: `Digest username="a\"b", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`,
			want:   Credentials{Username: `a"b`, Realm: "r", Nonce: "n", URI: "sip:x", Response: md5Resp, Algorithm: MD5},
		},
		{name: "the Basic scheme is refused", header: `Basic YWxhZGRpbjpvcGVuc2VzYW1l`, wantErr: ErrMalformed},
		{name: "a missing response is refused", header: `Digest username="a", realm="r", nonce="n", uri="sip:x"`, wantErr: ErrMalformed},
		{name: "a repeated parameter is refused", header: `Digest username="a", username="b", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `"`, wantErr: ErrMalformed},
		{name: "an unterminated quoted string is refused", header: `Digest username="a, realm="r`, wantErr: ErrMalformed},
		{name: "qop=auth without nc is refused", header: `Digest username="a", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", qop=auth, cnonce="c"`, wantErr: ErrMalformed},
		{name: "a zero nonce count is refused", header: `Digest username="a", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", qop=auth, cnonce="c", nc=00000000`, wantErr: ErrMalformed},
		{name: "a response of the wrong length for SHA-256 is refused", header: `Digest username="a", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", algorithm=SHA-256`, wantErr: ErrMalformed},
		{name: "MD5-sess is not offered", header: `Digest username="a", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", algorithm=MD5-sess`, wantErr: ErrUnsupported},
		{name: "qop=auth-int is not offered", header: `Digest username="a", realm="r", nonce="n", uri="sip:x", response="` + md5Resp + `", qop=auth-int, cnonce="c", nc=00000001`, wantErr: ErrUnsupported},
		{name: "a header with CR LF inside a quoted string is refused", header: "Digest username=\"a\r\nX: y\", realm=\"r\"", wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCredentials(tt.header)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCredentials: %v", err)
			}
			if got != tt.want {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// answer builds an Authorization header for a challenge with hand-computed
// hashes, as a phone would.
func answer(ch Challenge, user, password, method, uri, nc, cnonce string) string {
	hf := hexMD5
	if ch.Algorithm == SHA256 {
		hf = hexSHA256
	}
	ha1 := hf(user + ":" + ch.Realm + ":" + password)
	ha2 := hf(method + ":" + uri)
	resp := hf(ha1 + ":" + ch.Nonce + ":" + nc + ":" + cnonce + ":auth:" + ha2)
	return fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", algorithm=%s, qop=auth, nc=%s, cnonce="%s"`,
		user, ch.Realm, ch.Nonce, uri, resp, ch.Algorithm, nc, cnonce)
}

func TestServerVerify(t *testing.T) {
	const (
		realm  = "confab"
		user   = "alice"
		pass   = "s3cret"
		method = "REGISTER"
		uri    = "sip:confab"
	)
	tests := []struct {
		name    string
		alg     Algorithm
		run     func(t *testing.T, s *Server, clk *clock, ch Challenge) error
		wantErr error
	}{
		{
			name: "a correct MD5 answer is accepted", alg: MD5,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), MD5)
			},
		},
		{
			name: "a correct SHA-256 answer is accepted", alg: SHA256,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), SHA256)
			},
		},
		{
			name: "a wrong password is a bad response", alg: MD5, wantErr: ErrBadResponse,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				return verify(t, s, answer(ch, user, "guess", method, uri, "00000001", "c1"), MD5)
			},
		},
		{
			name: "an expired nonce with the right password is stale", alg: SHA256, wantErr: ErrStale,
			run: func(t *testing.T, s *Server, clk *clock, ch Challenge) error {
				clk.advance(DefaultNonceLifetime + time.Second)
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), SHA256)
			},
		},
		{
			name: "a nonce from another server key is stale", alg: MD5, wantErr: ErrStale,
			run: func(t *testing.T, s *Server, clk *clock, _ Challenge) error {
				other, err := NewServer(realm, WithKey([]byte("other key")), WithClock(clk.now))
				if err != nil {
					t.Fatal(err)
				}
				ch := other.Challenges(false)[1]
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), MD5)
			},
		},
		{
			name: "a repeated nonce count is a replay", alg: MD5, wantErr: ErrReplay,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				h := answer(ch, user, pass, method, uri, "00000002", "c1")
				if err := verify(t, s, h, MD5); err != nil {
					t.Fatalf("first use: %v", err)
				}
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), MD5)
			},
		},
		{
			name: "an increasing nonce count reuses the nonce", alg: SHA256,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				if err := verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), SHA256); err != nil {
					t.Fatalf("first use: %v", err)
				}
				return verify(t, s, answer(ch, user, pass, method, uri, "00000002", "c2"), SHA256)
			},
		},
		{
			name: "credentials for another realm are refused", alg: MD5, wantErr: ErrRealm,
			run: func(t *testing.T, s *Server, _ *clock, ch Challenge) error {
				ch.Realm = "elsewhere"
				return verify(t, s, answer(ch, user, pass, method, uri, "00000001", "c1"), MD5)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &clock{t: time.Unix(1_700_000_000, 0)}
			s, err := NewServer(realm, WithClock(clk.now))
			if err != nil {
				t.Fatal(err)
			}
			ch := pick(s.Challenges(false), tt.alg)
			err = tt.run(t, s, clk, ch)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Verify = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func verify(t *testing.T, s *Server, header string, alg Algorithm) error {
	t.Helper()
	c, err := ParseCredentials(header)
	if err != nil {
		t.Fatalf("ParseCredentials(%q): %v", header, err)
	}
	return s.Verify(c, "REGISTER", HA1(alg, c.Username, c.Realm, "s3cret"))
}

func pick(chs []Challenge, alg Algorithm) Challenge {
	for _, c := range chs {
		if c.Algorithm == alg {
			return c
		}
	}
	panic("no challenge for " + alg)
}

func TestChallengesOfferSHA256BeforeMD5(t *testing.T) {
	s, err := NewServer("confab")
	if err != nil {
		t.Fatal(err)
	}
	chs := s.Challenges(true)
	if len(chs) != 2 || chs[0].Algorithm != SHA256 || chs[1].Algorithm != MD5 {
		t.Fatalf("challenges = %+v, want SHA-256 then MD5", chs)
	}
	if chs[0].Nonce == chs[1].Nonce {
		t.Fatal("both challenges share a nonce")
	}
	for _, c := range chs {
		if !strings.Contains(c.String(), "stale=true") || !strings.Contains(c.String(), `qop="auth"`) {
			t.Fatalf("challenge %q lacks stale or qop", c.String())
		}
	}
}

// An independent client implementation (github.com/icholy/digest, which
// sipgo uses to answer challenges) must be able to answer our challenges.
func TestThirdPartyClientAnswersChallenges(t *testing.T) {
	s, err := NewServer(`con"fab`)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range s.Challenges(false) {
		t.Run(string(ch.Algorithm)+" challenge is answered correctly by icholy/digest", func(t *testing.T) {
			parsed, err := icholy.ParseChallenge(ch.String())
			if err != nil {
				t.Fatalf("ParseChallenge(%q): %v", ch.String(), err)
			}
			cred, err := icholy.Digest(parsed, icholy.Options{Method: "INVITE", URI: "sip:7001@box", Username: "bob", Password: "pw", Count: 1})
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParseCredentials(cred.String())
			if err != nil {
				t.Fatalf("ParseCredentials(%q): %v", cred.String(), err)
			}
			if err := s.Verify(c, "INVITE", HA1(ch.Algorithm, "bob", `con"fab`, "pw")); err != nil {
				t.Fatalf("Verify: %v", err)
			}
		})
	}
}

func FuzzParseCredentials(f *testing.F) {
	f.Add(`Digest username="alice", realm="confab", nonce="abc", uri="sip:confab", response="` + strings.Repeat("a", 32) + `", qop=auth, nc=00000001, cnonce="x"`)
	f.Add(`Digest username="a\"b",realm=r,nonce=n,uri="sip:x",response="` + strings.Repeat("0", 64) + `",algorithm=SHA-256`)
	f.Add(`Digest ,,, username=`)
	f.Add(`Digest realm="\`)
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseCredentials(h)
		if err != nil {
			return
		}
		if c.Username == "" || c.Nonce == "" || c.URI == "" || !c.Algorithm.valid() {
			t.Fatalf("accepted incomplete credentials %+v from %q", c, h)
		}
		if len(c.Response) != c.Algorithm.hexLen() {
			t.Fatalf("accepted response of length %d for %s", len(c.Response), c.Algorithm)
		}
		if c.QOP == "auth" && c.Count == 0 {
			t.Fatalf("accepted qop=auth with zero count from %q", h)
		}
	})
}
