package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"confab/focus/store"
)

// fakeSessions knows one session cookie and one API token.
type fakeSessions struct{}

func (fakeSessions) AuthenticateRequest(r *http.Request) (string, bool, error) {
	if c, err := r.Cookie("s"); err == nil && c.Value == "good-session" {
		return "admin", true, nil
	}
	return "admin", r.Header.Get("Authorization") == "Bearer cft_good", nil
}

func newSessionServer(t *testing.T) *httptest.Server {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "confab.db"), store.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAdminPassword(context.Background(), "admin", "correct-horse"); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(confs{db}, &fakeLive{}, db, WithSessions(fakeSessions{})).Handler())
	t.Cleanup(srv.Close)
	return srv
}

func TestTheAPITakesSessionsTokensAndBasicAuth(t *testing.T) {
	srv := newSessionServer(t)
	for _, tc := range []struct {
		name   string
		header func(r *http.Request)
		want   int
	}{
		{"a web page session is let in", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "s", Value: "good-session"}) }, 200},
		{"an API token is let in", func(r *http.Request) { r.Header.Set("Authorization", "Bearer cft_good") }, 200},
		{"the admin password is let in", func(r *http.Request) { r.SetBasicAuth("admin", "correct-horse") }, 200},
		{"a stale session is refused", func(r *http.Request) { r.AddCookie(&http.Cookie{Name: "s", Value: "old"}) }, 401},
		{"a revoked token is refused", func(r *http.Request) { r.Header.Set("Authorization", "Bearer cft_revoked") }, 401},
		{"a wrong password is refused", func(r *http.Request) { r.SetBasicAuth("admin", "wrong") }, 401},
		{"no credentials are refused", func(*http.Request) {}, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/conferences", nil)
			tc.header(req)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

func TestWrongTokensCountTowardsTheLoginLimit(t *testing.T) {
	srv := newSessionServer(t)
	status := func(auth string) int {
		req, _ := http.NewRequest("GET", srv.URL+"/api/v1/conferences", nil)
		req.Header.Set("Authorization", auth)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for range 10 {
		if got := status("Bearer cft_guess"); got != http.StatusUnauthorized {
			t.Fatalf("guess: status %d, want 401", got)
		}
	}
	if got := status("Bearer cft_good"); got != http.StatusTooManyRequests {
		t.Fatalf("after 10 wrong tokens even the right one gets %d, want 429", got)
	}
}

type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *stepClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *stepClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestLoginGuard(t *testing.T) {
	clock := &stepClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	g := NewLoginGuard(3, time.Minute, clock.now)
	steps := []struct {
		name    string
		do      func()
		addr    string
		blocked bool
	}{
		{"a new address is not blocked", func() {}, "192.0.2.1", false},
		{"two failures are allowed", func() { g.Fail("192.0.2.1"); g.Fail("192.0.2.1") }, "192.0.2.1", false},
		{"the third failure blocks", func() { g.Fail("192.0.2.1") }, "192.0.2.1", true},
		{"another address is not blocked", func() {}, "192.0.2.2", false},
		{"the block lasts the window", func() { clock.add(59 * time.Second) }, "192.0.2.1", true},
		{"the block ends when the failures are older than the window", func() { clock.add(time.Second) }, "192.0.2.1", false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			s.do()
			if got := g.Blocked(s.addr); got != s.blocked {
				t.Fatalf("Blocked(%s) = %v, want %v", s.addr, got, s.blocked)
			}
		})
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct{ remote, want string }{
		{"192.0.2.1:5000", "192.0.2.1"},
		{"[2001:db8::1]:443", "2001:db8::1"},
		{"odd", "odd"},
	} {
		t.Run("the address of "+tc.remote+" is "+tc.want, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remote}
			if got := ClientAddr(r); got != tc.want {
				t.Fatalf("ClientAddr = %q", got)
			}
		})
	}
}
