// Package web is the appliance's local web page: the whole admin surface of
// a Confab box for an office without a telephony expert. It sets the first
// admin password, logs the admin in, shows the active conferences with
// their live rosters and controls them, and manages conferences, phones,
// trunks, settings, backups and call records; on the appliance image also
// software updates and the network (WithAppliance).
//
// Every page is plain HTML from templates parsed once at start, with the
// style sheet and a little JavaScript embedded in the binary. Every page
// works without JavaScript (forms post and redirect back); with it, the
// dashboard follows the conferences live over Server-Sent Events.
//
// Security: there is no default password. Until an admin exists, only the
// setup page answers, and it needs the one-time setup token confabd prints
// on its console. Sessions are kept server-side (in the conferencing
// database, as hashes); the cookie is HttpOnly, SameSite=Strict and Secure
// over HTTPS. Cross-origin state changes are refused
// (http.CrossOriginProtection), nothing changes state on GET, and failed
// logins are limited per address.
//
// The conference commands on the dashboard are the HTTP API's (the same
// httpapi.Live), so they reach the Focus with the same privilege checks as
// DTMF and SIP.
package web

import (
	"context"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/sipfront"
	"confab/focus/store"
	"confab/hal"
	"confab/mixer"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Accounts is the admin account, its login sessions and API tokens.
type Accounts interface {
	HasAdmin(ctx context.Context) (bool, error)
	SetAdminPassword(ctx context.Context, user, password string) error
	CheckAdminPassword(ctx context.Context, user, password string) (bool, error)
	CreateAdminSession(ctx context.Context, user string, ttl time.Duration) (string, error)
	AdminSession(ctx context.Context, secret string) (store.AdminSession, error)
	DeleteAdminSession(ctx context.Context, secret string) error
	DeleteOtherAdminSessions(ctx context.Context, user, keep string) (int64, error)
	CreateAPIToken(ctx context.Context, name string) (store.APIToken, string, error)
	ListAPITokens(ctx context.Context) ([]store.APIToken, error)
	DeleteAPIToken(ctx context.Context, id int64) error
	CheckAPIToken(ctx context.Context, secret string) (store.APIToken, error)
}

// Directory is the phones (SIP users) and trunks.
type Directory interface {
	ListUsers(ctx context.Context) ([]store.User, error)
	CreateUser(ctx context.Context, username, displayName, realm, password string) (store.User, error)
	DeleteUser(ctx context.Context, username string) error
	SetUserPassword(ctx context.Context, username, password string) error
	ActiveRegistrations(ctx context.Context, username string, now time.Time) ([]store.Registration, error)
	ListTrunks(ctx context.Context) ([]store.Trunk, error)
	GetTrunk(ctx context.Context, id int64) (store.Trunk, error)
	CreateTrunk(ctx context.Context, t store.Trunk) (store.Trunk, error)
	UpdateTrunk(ctx context.Context, t store.Trunk) (store.Trunk, error)
	DeleteTrunk(ctx context.Context, id int64) error
}

// Records is the stored configuration and history: settings, backups and
// call records.
type Records interface {
	GetSetting(ctx context.Context, key string) (string, bool, error)
	SetSetting(ctx context.Context, key, value string) error
	Backup(ctx context.Context) (store.Backup, error)
	Restore(ctx context.Context, b store.Backup) error
	ListCallRecords(ctx context.Context, conferenceID int64, limit int) ([]store.CallRecord, error)
}

// Events is the Focus Factory's stream of conference events.
type Events interface {
	Subscribe(buf int) (<-chan focus.Event, func())
}

// Engine is what the page shows of the audio MCU.
type Engine interface {
	Stats() mixer.Stats
	Config() mixer.Config
}

// Deps are what the page is a client of. Every field is required.
type Deps struct {
	Conferences httpapi.Conferences
	Live        httpapi.Live
	Events      Events
	Accounts    Accounts
	Directory   Directory
	Records     Records
	Engine      Engine
	// API serves /api/v1/ and guards it (httpapi.API).
	API *httpapi.API
	// Metrics serves /metrics (behind the admin login).
	Metrics http.Handler
	// Logs is the ring of recent log records the System page shows.
	Logs *LogRing
	// Runtime is how the daemon runs now.
	Runtime Runtime
	// Registrations, optional, reports the trunks' outbound registrations
	// by trunk name (sipfront.Front.Registrations).
	Registrations func() map[string]sipfront.OutboundState
}

// Runtime is how the daemon was started, for the Settings and System pages.
type Runtime struct {
	Version   string
	StartedAt time.Time
	// InUse are the settings the daemon runs with now.
	InUse Settings
	// Pinned names the settings (Settings field JSON names) the command
	// line or environment fixes, which the page cannot change.
	Pinned    map[string]bool
	Domain    string
	HTTPAddr  string
	HTTPSAddr string
	DataDir   string
	// HAL, optional, reports the HAL's drivers per capability (packet
	// path, codec, mix, panel, watchdog): which is in use and why the
	// others are not.
	HAL func() []hal.DriverStatus
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger; the page adds component=web.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithSetupToken sets the one-time token that lets whoever has the console
// set the first admin password. Without it, first-time setup is closed.
func WithSetupToken(token string) Option { return func(s *Server) { s.setupToken = token } }

// WithLoginGuard shares the limit of failed logins (with the API).
func WithLoginGuard(g *httpapi.LoginGuard) Option { return func(s *Server) { s.guard = g } }

// WithClock sets the clock (time.Now).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// WithSessionLifetime sets how long a login lasts (default 12 hours).
func WithSessionLifetime(d time.Duration) Option { return func(s *Server) { s.sessionTTL = d } }

// Server is the web page.
type Server struct {
	d          Deps
	log        *slog.Logger
	now        func() time.Time
	guard      *httpapi.LoginGuard
	sessionTTL time.Duration
	pages      map[string]*template.Template
	fragments  *template.Template
	appliance  Appliance // nil: not on the appliance image

	done      chan struct{} // closed by Close: live streams end
	closeOnce sync.Once

	mu         sync.Mutex
	setupToken string // "" once used
}

// Close ends the live event streams, so that an http.Server shutting down
// need not wait for them (http.Server.RegisterOnShutdown).
func (s *Server) Close() { s.closeOnce.Do(func() { close(s.done) }) }

// New returns the web page over d.
func New(d Deps, opts ...Option) (*Server, error) {
	if d.Conferences == nil || d.Live == nil || d.Events == nil || d.Accounts == nil || d.Directory == nil ||
		d.Records == nil || d.Engine == nil || d.API == nil || d.Metrics == nil || d.Logs == nil {
		return nil, errors.New("web: a dependency is missing")
	}
	s := &Server{d: d, log: slog.New(slog.DiscardHandler), now: time.Now, sessionTTL: 12 * time.Hour,
		done: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	if s.guard == nil {
		s.guard = httpapi.NewLoginGuard(10, time.Minute, s.now)
	}
	s.log = s.log.With("component", "web")
	var err error
	if s.pages, s.fragments, err = parseTemplates(); err != nil {
		return nil, err
	}
	return s, nil
}

// Handler returns the whole site: the pages, their assets, the live
// event stream, /api/v1/ and /metrics. Cross-origin requests that would
// change state are refused before they reach any of them.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFiles, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheFor(time.Hour, http.FileServerFS(static))))

	mux.HandleFunc("GET /setup", s.setupForm)
	mux.HandleFunc("POST /setup", s.setup)
	mux.HandleFunc("GET /login", s.loginForm)
	mux.HandleFunc("POST /login", s.login)

	page := func(pattern string, h http.HandlerFunc) { mux.Handle(pattern, s.requireLogin(h)) }
	page("POST /logout", s.logout)
	page("GET /{$}", s.dashboard)
	page("GET /events", s.events)
	page("POST /conferences/{id}/command", s.command)
	page("GET /conferences", s.conferenceList)
	page("GET /conferences/new", s.conferenceNew)
	page("POST /conferences", s.conferenceCreate)
	page("GET /conferences/{id}", s.conferenceEdit)
	page("POST /conferences/{id}", s.conferenceUpdate)
	page("POST /conferences/{id}/delete", s.conferenceDelete)
	page("GET /phones", s.phones)
	page("POST /phones", s.phoneCreate)
	page("POST /phones/{name}/password", s.phonePassword)
	page("POST /phones/{name}/delete", s.phoneDelete)
	page("GET /trunks", s.trunks)
	page("GET /trunks/new", s.trunkNew)
	page("POST /trunks", s.trunkCreate)
	page("GET /trunks/{id}", s.trunkEdit)
	page("POST /trunks/{id}", s.trunkUpdate)
	page("POST /trunks/{id}/delete", s.trunkDelete)
	page("GET /settings", s.settings)
	page("POST /settings", s.settingsSave)
	page("GET /system", s.system)
	page("GET /system/backup", s.backupDownload)
	page("POST /system/restore", s.restoreUpload)
	page("GET /system/calls.csv", s.callsCSV)
	page("POST /system/update", s.updateUpload)
	page("POST /system/reboot", s.reboot)
	page("POST /system/network", s.networkSave)
	page("GET /account", s.account)
	page("POST /account/password", s.passwordChange)
	page("POST /account/tokens", s.tokenCreate)
	page("POST /account/tokens/{id}/delete", s.tokenDelete)

	// The API's own scripts-facing extras, behind the API's login.
	mux.Handle("/api/v1/", s.d.API.Handler())
	mux.Handle("GET /api/v1/backup", s.d.API.Authenticate(http.HandlerFunc(s.backupDownload)))
	mux.Handle("POST /api/v1/restore", s.d.API.Authenticate(http.HandlerFunc(s.restoreAPI)))
	mux.Handle("GET /metrics", s.d.API.Authenticate(s.d.Metrics))

	return securityHeaders(http.NewCrossOriginProtection().Handler(mux))
}

// securityHeaders keeps the page out of frames and from running or loading
// anything but its own files.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

func cacheFor(d time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", fmt.Sprintf("max-age=%d", int(d.Seconds())))
		next.ServeHTTP(w, r)
	})
}

// takeSetupToken reports whether token is the setup token and, if so,
// uses it up.
func (s *Server) takeSetupToken(token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.setupToken == "" || subtle.ConstantTimeCompare([]byte(token), []byte(s.setupToken)) != 1 {
		return false
	}
	s.setupToken = ""
	return true
}

func (s *Server) setupOpen() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.setupToken != ""
}
