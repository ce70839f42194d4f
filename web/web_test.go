package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/sipfront"
	"confab/focus/store"
	"confab/hal"
	"confab/mixer"
)

// confs is the real conferencing database as the Focus Factory shows it.
type confs struct{ *store.Store }

func (confs) FocusURI(c store.Conference) string {
	return "sip:org@box;gruu;opaque=app:conf:focus:id:" + c.FocusID
}

// fakeLive has one active conference with two callers and records the
// commands it gets.
type fakeLive struct {
	mu       sync.Mutex
	active   int64
	commands []string
}

func (f *fakeLive) Roster(id int64) (httpapi.Roster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.active || id == 0 {
		return httpapi.Roster{}, false
	}
	return httpapi.Roster{Participants: []httpapi.Participant{
		{ID: "1", Name: "Alice", URI: "sip:alice@box", Role: "presenter", State: "in-conference", Talking: true, Codec: "G722", MOS: 4.3, JoinedAt: time.Now()},
		{ID: "2", URI: "sip:+15551230000@trunk", Role: "attendee", State: "in-conference", Muted: true, Codec: "PCMU", MOS: 3.2, LossPercent: 2.5},
	}}, true
}

func (f *fakeLive) Command(_ context.Context, id int64, member, cmd string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.active {
		return httpapi.ErrNotActive
	}
	f.commands = append(f.commands, fmt.Sprintf("%d/%s/%s", id, member, cmd))
	return nil
}

func (f *fakeLive) setActive(id int64) { f.mu.Lock(); f.active = id; f.mu.Unlock() }

func (f *fakeLive) got() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.commands, " ")
}

// fakeEvents hands out one subscription the test publishes on.
type fakeEvents struct{ ch chan focus.Event }

func (f *fakeEvents) Subscribe(int) (<-chan focus.Event, func()) { return f.ch, func() {} }

type fakeEngine struct{}

func (fakeEngine) Stats() mixer.Stats {
	return mixer.Stats{PathName: "socket", PathReason: "XDP needs root and a NIC driver that takes it"}
}
func (fakeEngine) Config() mixer.Config { return mixer.Config{Frame: 20 * time.Millisecond} }

type fixture struct {
	srv    *httptest.Server
	db     *store.Store
	live   *fakeLive
	events *fakeEvents
	logs   *LogRing
}

const setupToken = "SETUPTOKEN123456"

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	return newFixtureWith(t, nil, opts...)
}

// newFixtureWith is newFixture with the trunks' outbound registrations.
func newFixtureWith(t *testing.T, regs func() map[string]sipfront.OutboundState, opts ...Option) *fixture {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "confab.db"), store.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	f := &fixture{db: db, live: &fakeLive{}, events: &fakeEvents{ch: make(chan focus.Event, 16)}, logs: NewLogRing(10)}
	api := httpapi.New(confs{db}, f.live, db)
	page, err := New(Deps{Conferences: confs{db}, Live: f.live, Events: f.events, Accounts: db, Directory: db, Records: db,
		Engine: fakeEngine{}, API: api, Logs: f.logs,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "confab_up 1\n") }),
		Runtime: Runtime{Version: "test", StartedAt: time.Now(), InUse: DefaultSettings(), Domain: "box.example",
			HAL: func() []hal.DriverStatus {
				return []hal.DriverStatus{
					{Capability: hal.CapCodec, Driver: "go", Active: true, Reason: "no -dsp configured"},
					{Capability: hal.CapPanel, Driver: "none", Reason: "GPIO13 <is> not on this board"},
				}
			}},
		Registrations: regs,
	}, append([]Option{WithSetupToken(setupToken)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	httpapi.WithSessions(page)(api)
	f.srv = httptest.NewServer(page.Handler())
	t.Cleanup(func() { page.Close(); f.srv.Close() })
	return f
}

// browser is a client with a cookie jar that does not follow redirects,
// so tests see where the page sends it.
func (f *fixture) browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type reply struct {
	status   int
	location string
	body     string
	header   http.Header
}

func do(t *testing.T, c *http.Client, method, u string, form url.Values, headers ...string) reply {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, u, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header}
}

// loggedIn sets the admin password through setup and returns a browser
// with the session.
func (f *fixture) loggedIn(t *testing.T) *http.Client {
	t.Helper()
	c := f.browser(t)
	r := do(t, c, "POST", f.srv.URL+"/setup", url.Values{"token": {setupToken}, "password": {"good-password"}, "confirm": {"good-password"}})
	if r.status != http.StatusSeeOther || r.location != "/" {
		t.Fatalf("setup: %d %s %s", r.status, r.location, r.body)
	}
	return c
}

func TestFirstStartSetup(t *testing.T) {
	f := newFixture(t)
	c := f.browser(t)
	form := func(token, pw, again string) url.Values {
		return url.Values{"token": {token}, "password": {pw}, "confirm": {again}}
	}
	steps := []struct {
		name         string
		method, path string
		form         url.Values
		status       int
		location     string
		says         string
	}{
		{"every page leads to setup while there is no admin", "GET", "/conferences", nil, 303, "/setup", ""},
		{"the login page leads to setup too", "GET", "/login", nil, 303, "/setup", ""},
		{"setup asks for the console's token", "GET", "/setup", nil, 200, "", "setup token"},
		{"a short password is refused beside its field", "POST", "/setup", form(setupToken, "short", "short"), 400, "", "at least 8 characters"},
		{"two different passwords are refused", "POST", "/setup", form(setupToken, "good-password", "good-passw0rd"), 400, "", "differ"},
		{"a wrong token is refused", "POST", "/setup", form("GUESS", "good-password", "good-password"), 400, "", "not the setup token"},
		{"the right token sets the password and logs in", "POST", "/setup", form(setupToken, "good-password", "good-password"), 303, "/", ""},
		{"the dashboard shows", "GET", "/", nil, 200, "", "No conference is in progress"},
		{"setup is closed once an admin exists", "POST", "/setup", form(setupToken, "other-password", "other-password"), 303, "/login", ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := do(t, c, s.method, f.srv.URL+s.path, s.form)
			if r.status != s.status || r.location != s.location || !strings.Contains(r.body, s.says) {
				t.Fatalf("%s %s: %d %q, want %d %q containing %q\n%s", s.method, s.path, r.status, r.location, s.status, s.location, s.says, r.body)
			}
		})
	}
	t.Run("the session cookie is HttpOnly and SameSite=Strict", func(t *testing.T) {
		c := f.browser(t)
		r := do(t, c, "POST", f.srv.URL+"/login", url.Values{"password": {"good-password"}})
		cookie := r.header.Get("Set-Cookie")
		if r.status != 303 || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Strict") {
			t.Fatalf("login: %d, cookie %q", r.status, cookie)
		}
	})
}

func TestLoginLogoutAndTheLoginLimit(t *testing.T) {
	f := newFixture(t)
	f.loggedIn(t)
	c := f.browser(t)
	t.Run("a wrong password is refused", func(t *testing.T) {
		if r := do(t, c, "POST", f.srv.URL+"/login", url.Values{"password": {"wrong"}}); r.status != 401 || !strings.Contains(r.body, "Wrong password") {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
	t.Run("logging in reaches the dashboard", func(t *testing.T) {
		if r := do(t, c, "POST", f.srv.URL+"/login", url.Values{"password": {"good-password"}}); r.status != 303 || r.location != "/" {
			t.Fatalf("%d %s", r.status, r.location)
		}
		if r := do(t, c, "GET", f.srv.URL+"/", nil); r.status != 200 {
			t.Fatalf("dashboard: %d", r.status)
		}
	})
	t.Run("logout is a POST, never a GET", func(t *testing.T) {
		if r := do(t, c, "GET", f.srv.URL+"/logout", nil); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("GET /logout: %d", r.status)
		}
	})
	t.Run("logging out ends the session", func(t *testing.T) {
		if r := do(t, c, "POST", f.srv.URL+"/logout", url.Values{}); r.status != 303 || !strings.HasPrefix(r.location, "/login") {
			t.Fatalf("%d %s", r.status, r.location)
		}
		if r := do(t, c, "GET", f.srv.URL+"/", nil); r.status != 303 || r.location != "/login" {
			t.Fatalf("after logout: %d %s", r.status, r.location)
		}
	})
	t.Run("ten wrong passwords block the address, even with the right one", func(t *testing.T) {
		for range 9 {
			do(t, c, "POST", f.srv.URL+"/login", url.Values{"password": {"guess"}})
		}
		r := do(t, c, "POST", f.srv.URL+"/login", url.Values{"password": {"good-password"}})
		if r.status != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", r.status)
		}
	})
}

func TestPagesNeedALoginAndShow(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	anon := f.browser(t)
	conf, err := f.db.CreateConference(context.Background(), store.Conference{Number: "7001", Name: "Weekly", Announcements: true})
	if err != nil {
		t.Fatal(err)
	}
	f.live.setActive(conf.ID)
	slog.New(f.logs.Handler(slog.DiscardHandler, slog.LevelInfo)).Info("a line for the log tail")
	for _, tc := range []struct {
		path, says string
	}{
		{"/", "Alice"},
		{"/conferences", "Weekly"},
		{fmt.Sprintf("/conferences/%d", conf.ID), "Moderator PIN"},
		{"/conferences/new", "Create conference"},
		{"/phones", "box.example"},
		{"/trunks", "No trunks yet"},
		{"/trunks/new", "Numbers the trunk delivers"},
		{"/settings", "XDP needs root"},
		{"/system", "a line for the log tail"},
		{"/account", "API tokens"},
		{"/metrics", "confab_up 1"},
	} {
		t.Run(tc.path+" shows to the admin", func(t *testing.T) {
			r := do(t, c, "GET", f.srv.URL+tc.path, nil)
			if r.status != 200 || !strings.Contains(r.body, tc.says) {
				t.Fatalf("GET %s: %d, want 200 with %q\n%s", tc.path, r.status, tc.says, r.body)
			}
		})
		t.Run(tc.path+" is not shown without a login", func(t *testing.T) {
			r := do(t, anon, "GET", f.srv.URL+tc.path, nil)
			if r.status == 200 {
				t.Fatalf("GET %s without a session: 200", tc.path)
			}
		})
	}
	t.Run("the dashboard works without JavaScript by refreshing itself", func(t *testing.T) {
		r := do(t, c, "GET", f.srv.URL+"/", nil)
		if !strings.Contains(r.body, `<noscript><meta http-equiv="refresh"`) {
			t.Fatal("no noscript refresh on the dashboard")
		}
	})
	t.Run("the style sheet is embedded", func(t *testing.T) {
		r := do(t, anon, "GET", f.srv.URL+"/static/style.css", nil)
		if r.status != 200 || !strings.Contains(r.body, ".talk.on") {
			t.Fatalf("style.css: %d", r.status)
		}
	})
}

func cross(t *testing.T, c *http.Client, u string, v url.Values) reply {
	return do(t, c, "POST", u, v, "Sec-Fetch-Site", "cross-site")
}

func TestCommandsAndCrossOriginRequests(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	conf, _ := f.db.CreateConference(context.Background(), store.NewConference("7001"))
	f.live.setActive(conf.ID)
	u := fmt.Sprintf("%s/conferences/%d/command", f.srv.URL, conf.ID)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
	}{
		{"mute reaches the Focus", url.Values{"command": {"mute"}, "member": {"1"}}, 303},
		{"lock reaches the Focus", url.Values{"command": {"lock"}}, 303},
		{"an unknown command is refused", url.Values{"command": {"explode"}}, 400},
		{"a participant command without a participant is refused", url.Values{"command": {"kick"}}, 400},
		{"a conference command about a participant is refused", url.Values{"command": {"end"}, "member": {"1"}}, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, c, "POST", u, tc.form); r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
	t.Run("a command from another site is refused", func(t *testing.T) {
		if r := cross(t, c, u, url.Values{"command": {"end"}}); r.status != http.StatusForbidden {
			t.Fatalf("cross-site POST: %d, want 403", r.status)
		}
	})
	t.Run("a command on a conference that ended says so", func(t *testing.T) {
		other, _ := f.db.CreateConference(context.Background(), store.NewConference("7002"))
		r := do(t, c, "POST", fmt.Sprintf("%s/conferences/%d/command", f.srv.URL, other.ID), url.Values{"command": {"lock"}})
		if r.status != 303 || !strings.Contains(r.location, "error=") {
			t.Fatalf("%d %s", r.status, r.location)
		}
	})
	if got, want := f.live.got(), fmt.Sprintf("%d/1/mute %d//lock", conf.ID, conf.ID); got != want {
		t.Fatalf("commands reaching the Focus: %q, want %q", got, want)
	}
}

func TestConferenceForm(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	good := url.Values{"number": {"7001"}, "name": {"Weekly"}, "pin": {"1234"}, "moderator_pin": {"9876"},
		"admission": {"open"}, "max_members": {"10"}, "announcements": {"on"}}
	with := func(k, v string) url.Values {
		x := url.Values{}
		for kk, vv := range good {
			x[kk] = vv
		}
		x.Set(k, v)
		return x
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		field  string // the field whose error is shown
		says   string
	}{
		{"a good form creates the conference", good, 303, "", ""},
		{"the same number again is refused beside the number", good, 400, "number", "already exists"},
		{"a number with letters is refused", with("number", "70a1"), 400, "number", "2-15 digits"},
		{"a PIN with letters is refused beside the PIN", with("pin", "12ab"), 400, "pin", "4-12 digits"},
		{"a moderator PIN like the PIN is refused beside it", with("moderator_pin", "1234"), 400, "moderator_pin", "differ"},
		{"an unknown admission policy is refused", with("admission", "vip"), 400, "admission", "one of open"},
		{"a limit that is not a number is refused", with("max_members", "lots"), 400, "max_members", "whole number"},
		{"PIN admission without a PIN is refused", with("admission", "pin"), 0, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			form := tc.form
			if tc.name == "PIN admission without a PIN is refused" {
				form = with("admission", "pin")
				form.Set("number", "7005")
				form.Set("pin", "")
				form.Set("moderator_pin", "")
				tc.status, tc.field, tc.says = 400, "pin", "is required when admission"
			}
			r := do(t, c, "POST", f.srv.URL+"/conferences", form)
			if r.status != tc.status || !strings.Contains(r.body, tc.says) {
				t.Fatalf("%d, want %d with %q\n%s", r.status, tc.status, tc.says, r.body)
			}
			if tc.field != "" && !strings.Contains(r.body, `id="`+tc.field+`" `) {
				t.Fatalf("no field %s", tc.field)
			}
			if tc.field != "" && !fieldMarked(r.body, tc.field) {
				t.Fatalf("field %s is not marked invalid\n%s", tc.field, r.body)
			}
		})
	}
	t.Run("an oversized form is refused", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/conferences", with("name", strings.Repeat("x", 70<<10)))
		if r.status < 400 {
			t.Fatalf("status %d", r.status)
		}
	})
	t.Run("editing keeps the conference and saves the change", func(t *testing.T) {
		cs, _ := f.db.ListConferences(context.Background())
		r := do(t, c, "POST", fmt.Sprintf("%s/conferences/%d", f.srv.URL, cs[0].ID), with("name", "Daily"))
		got, _ := f.db.GetConference(context.Background(), cs[0].ID)
		if r.status != 303 || got.Name != "Daily" || got.FocusID != cs[0].FocusID {
			t.Fatalf("%d %+v", r.status, got)
		}
	})
	t.Run("deleting is a POST and removes it", func(t *testing.T) {
		cs, _ := f.db.ListConferences(context.Background())
		u := fmt.Sprintf("%s/conferences/%d/delete", f.srv.URL, cs[0].ID)
		if r := do(t, c, "GET", u, nil); r.status != http.StatusMethodNotAllowed {
			t.Fatalf("GET delete: %d", r.status)
		}
		if r := do(t, c, "POST", u, url.Values{}); r.status != 303 {
			t.Fatalf("POST delete: %d", r.status)
		}
		if _, err := f.db.GetConference(context.Background(), cs[0].ID); err == nil {
			t.Fatal("still there")
		}
	})
}

// fieldMarked reports whether the input with id field is marked invalid.
func fieldMarked(body, field string) bool {
	i := strings.Index(body, `id="`+field+`"`)
	if i < 0 {
		return false
	}
	end := strings.Index(body[i:], ">")
	return strings.Contains(body[i:i+end], `aria-invalid="true"`)
}

func TestAPITokensAndSessionsReachTheAPI(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	r := do(t, c, "POST", f.srv.URL+"/account/tokens", url.Values{"name": {"nightly backup"}})
	i := strings.Index(r.body, `id="new-token">`)
	if r.status != 200 || i < 0 {
		t.Fatalf("create token: %d\n%s", r.status, r.body)
	}
	secret := r.body[i+len(`id="new-token">`):]
	secret = secret[:strings.Index(secret, "<")]
	plain := &http.Client{}
	for _, tc := range []struct {
		name    string
		client  *http.Client
		headers []string
		path    string
		status  int
	}{
		{"the page's session reaches the API", c, nil, "/api/v1/conferences", 200},
		{"the new token reaches the API", plain, []string{"Authorization", "Bearer " + secret}, "/api/v1/conferences", 200},
		{"the token fetches a backup", plain, []string{"Authorization", "Bearer " + secret}, "/api/v1/backup", 200},
		{"the token scrapes /metrics", plain, []string{"Authorization", "Bearer " + secret}, "/metrics", 200},
		{"a made-up token is refused", plain, []string{"Authorization", "Bearer cft_madeup"}, "/api/v1/conferences", 401},
		{"nothing is refused", plain, nil, "/api/v1/backup", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := do(t, tc.client, "GET", f.srv.URL+tc.path, nil, tc.headers...); r.status != tc.status {
				t.Fatalf("%d %s, want %d", r.status, r.body, tc.status)
			}
		})
	}
	t.Run("a revoked token is refused", func(t *testing.T) {
		toks, _ := f.db.ListAPITokens(context.Background())
		do(t, c, "POST", fmt.Sprintf("%s/account/tokens/%d/delete", f.srv.URL, toks[0].ID), url.Values{})
		if r := do(t, plain, "GET", f.srv.URL+"/api/v1/conferences", nil, "Authorization", "Bearer "+secret); r.status != 401 {
			t.Fatalf("%d", r.status)
		}
	})
	t.Run("a password change ends the other sessions", func(t *testing.T) {
		other := f.browser(t)
		do(t, other, "POST", f.srv.URL+"/login", url.Values{"password": {"good-password"}})
		r := do(t, c, "POST", f.srv.URL+"/account/password", url.Values{"current": {"good-password"}, "password": {"newer-password"}, "confirm": {"newer-password"}})
		if r.status != 303 {
			t.Fatalf("change: %d %s", r.status, r.body)
		}
		if r := do(t, c, "GET", f.srv.URL+"/", nil); r.status != 200 {
			t.Fatalf("own session: %d", r.status)
		}
		if r := do(t, other, "GET", f.srv.URL+"/", nil); r.status != 303 {
			t.Fatalf("other session: %d, want a redirect to login", r.status)
		}
	})
	t.Run("a wrong current password changes nothing", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/account/password", url.Values{"current": {"nope"}, "password": {"x-password"}, "confirm": {"x-password"}})
		ok, _ := f.db.CheckAdminPassword(context.Background(), "admin", "newer-password")
		if r.status != 400 || !ok || !strings.Contains(r.body, "not the current password") {
			t.Fatalf("%d ok=%v", r.status, ok)
		}
	})
}

func TestRestore(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	ctx := context.Background()
	f.db.CreateConference(ctx, store.NewConference("7001"))
	backup := do(t, c, "GET", f.srv.URL+"/system/backup", nil).body
	post := func(body string) reply {
		req, _ := http.NewRequest("POST", f.srv.URL+"/api/v1/restore", strings.NewReader(body))
		req.SetBasicAuth("admin", "good-password")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{status: resp.StatusCode, body: string(b)}
	}
	for _, tc := range []struct {
		name, body string
		status     int
		says       string
	}{
		{"an empty body is refused", "", 400, "empty"},
		{"a file that is not JSON is refused", "number=7001", 400, "not a Confab backup"},
		{"an unknown field is refused", `{"format":1,"colour":"red"}`, 400, "unknown field"},
		{"trailing data is refused", backup + "{}", 400, "data after"},
		{"another format is refused", `{"format":2}`, 400, "format 2"},
		{"a bad conference is refused by its field", strings.Replace(backup, `"number": "7001"`, `"number": "x"`, 1), 400, "number must be 2-15 digits"},
		{"an oversized body is refused", `{"format":1,"settings":{"a":"` + strings.Repeat("x", maxBackup) + `"}}`, 400, "not a Confab backup"},
		{"a good backup is restored", backup, 200, `"restored":true`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := post(tc.body)
			if r.status != tc.status || !strings.Contains(r.body, tc.says) {
				t.Fatalf("%d %s, want %d with %q", r.status, r.body, tc.status, tc.says)
			}
		})
	}
	t.Run("nothing is restored while a conference is in progress", func(t *testing.T) {
		cs, _ := f.db.ListConferences(ctx)
		f.live.setActive(cs[0].ID)
		defer f.live.setActive(0)
		if r := post(backup); r.status != http.StatusConflict {
			t.Fatalf("%d %s", r.status, r.body)
		}
	})
}

func TestSettingsPage(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	good := url.Values{"sip": {"0.0.0.0:5070"}, "rtp_ports": {"30000-30999"}, "public_ip": {""}, "codecs": {"g722, pcmu"},
		"mix_rate": {"16000"}, "frame_ms": {"20"}, "talk_threshold": {"200"}}
	with := func(k, v string) url.Values {
		x := url.Values{}
		for kk, vv := range good {
			x[kk] = vv
		}
		x.Set(k, v)
		return x
	}
	for _, tc := range []struct {
		name, field, value, says string
	}{
		{"a SIP address without a port is refused", "sip", "0.0.0.0", "address and port"},
		{"a port range backwards is refused", "rtp_ports", "30000-20000", "at least 4 ports"},
		{"a port range that is not one is refused", "rtp_ports", "lots", "LOW-HIGH"},
		{"a public address that is not one is refused", "public_ip", "box", "IP address"},
		{"an unknown codec is refused", "codecs", "opus, mp3", `&#34;mp3&#34; is not a codec`},
		{"a codec twice is refused", "codecs", "opus, OPUS", "listed twice"},
		{"an odd mixing rate is refused", "mix_rate", "44100", "8000, 16000 or 48000"},
		{"an odd interval is refused", "frame_ms", "30", "10, 20 or 40"},
		{"a threshold of zero is refused", "talk_threshold", "0", "1 to 32767"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, c, "POST", f.srv.URL+"/settings", with(tc.field, tc.value))
			if r.status != 400 || !strings.Contains(r.body, tc.says) || !fieldMarked(r.body, tc.field) {
				t.Fatalf("%d, want 400 with %q beside %s\n%s", r.status, tc.says, tc.field, r.body)
			}
		})
	}
	t.Run("good settings are saved for the next start", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/settings", good)
		if r.status != 303 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		s, err := LoadSettings(context.Background(), f.db)
		if err != nil || s.SIP != "0.0.0.0:5070" || s.RTPLow != 30000 || strings.Join(s.Codecs, ",") != "G722,PCMU" || s.MixRate != 16000 {
			t.Fatalf("stored %+v, %v", s, err)
		}
		if r := do(t, c, "GET", f.srv.URL+"/settings", nil); !strings.Contains(r.body, "take effect when confabd restarts") {
			t.Fatal("the page does not say a restart is due")
		}
	})
	t.Run("the HAL's drivers are shown with why", func(t *testing.T) {
		r := do(t, c, "GET", f.srv.URL+"/settings", nil)
		for _, want := range []string{
			`<tr data-capability="codec" data-driver="go"><td>codec</td><td>go</td><td>yes</td><td>no -dsp configured</td></tr>`,
			`<tr data-capability="panel" data-driver="none"><td>panel</td><td>none</td><td>no</td><td>GPIO13 &lt;is&gt; not on this board</td></tr>`,
		} {
			if !strings.Contains(r.body, want) {
				t.Fatalf("the page lacks %s\n%s", want, r.body)
			}
		}
	})
}

func TestLiveEvents(t *testing.T) {
	f := newFixture(t)
	c := f.loggedIn(t)
	conf, _ := f.db.CreateConference(context.Background(), store.NewConference("7001"))
	f.live.setActive(conf.ID)
	req, _ := http.NewRequest("GET", f.srv.URL+"/events", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func(event string) string {
		t.Helper()
		deadline := time.After(5 * time.Second)
		lines := make(chan string)
		go func() {
			var data []string
			seen := false
			for sc.Scan() {
				l := sc.Text()
				switch {
				case l == "event: "+event:
					seen = true
				case seen && strings.HasPrefix(l, "data: "):
					data = append(data, strings.TrimPrefix(l, "data: "))
				case seen && l == "":
					lines <- strings.Join(data, "\n")
					return
				}
			}
			close(lines)
		}()
		select {
		case d := <-lines:
			return d
		case <-deadline:
			t.Fatalf("no %s event", event)
		}
		return ""
	}
	t.Run("the stream starts with the active conference's card", func(t *testing.T) {
		card := next("card")
		if !strings.Contains(card, fmt.Sprintf(`id="conf-%d"`, conf.ID)) || !strings.Contains(card, `class="talk on"`) {
			t.Fatalf("card: %s", card)
		}
	})
	t.Run("an ended conference is removed", func(t *testing.T) {
		f.live.setActive(0)
		f.events.ch <- focus.Event{Kind: focus.ConferenceEnded, ConferenceID: conf.ID}
		if got := next("ended"); got != fmt.Sprint(conf.ID) {
			t.Fatalf("ended %q", got)
		}
	})
	t.Run("the stream ends when the admin logs out", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.srv.URL+"/events", nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		do(t, c, "POST", f.srv.URL+"/logout", url.Values{})
		done := make(chan error, 1)
		go func() { _, err := io.Copy(io.Discard, resp.Body); done <- err }()
		select {
		case <-done:
		case <-time.After(3 * liveRefresh):
			t.Fatal("the stream went on after logout")
		}
	})
	t.Run("the stream needs a login", func(t *testing.T) {
		if r := do(t, f.browser(t), "GET", f.srv.URL+"/events", nil); r.status != 401 {
			t.Fatalf("%d", r.status)
		}
	})
}

func TestTrunksShowTheirOutboundRegistration(t *testing.T) {
	until := time.Date(2026, 11, 23, 14, 30, 0, 0, time.Local)
	f := newFixtureWith(t, func() map[string]sipfront.OutboundState {
		return map[string]sipfront.OutboundState{
			"good": {Registered: true, Expires: until},
			"bad":  {LastError: "sipfront: call failed: 403 Forbidden"},
		}
	})
	ctx := context.Background()
	for _, name := range []string{"good", "bad", "later"} {
		if _, err := f.db.CreateTrunk(ctx, store.Trunk{Name: name, Peers: []string{"192.0.2.1"}, OutboundRegistrar: "sip:sip.provider.example",
			OutboundUsername: "branch-" + name, OutboundPassword: "pw-" + name}); err != nil {
			t.Fatal(err)
		}
	}
	r := do(t, f.loggedIn(t), "GET", f.srv.URL+"/trunks", nil)
	for _, want := range []string{"registered until 14:30:00", "not registered: sipfront: call failed: 403 Forbidden", "registers at the next start"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("the trunks page does not say %q", want)
		}
	}
}
