package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/sipfront"
	"confab/focus/store"
	"confab/hal/halselect"
	"confab/metrics"
	"confab/mixer"
	"confab/mixer/sdpneg"
	"confab/web"
)

// The web page, /metrics and HTTPS: what confabd serves over HTTP besides
// the JSON API, and the first-start setup that goes with it.

// logRingSize is how many log records the System page can show.
const logRingSize = 500

// newLogger returns the daemon's logger, writing to the console and
// keeping the latest records for the web page's System page.
func newLogger(console io.Writer, level slog.Level) (*slog.Logger, *web.LogRing) {
	ring := web.NewLogRing(logRingSize)
	text := slog.NewTextHandler(console, &slog.HandlerOptions{Level: level})
	return slog.New(ring.Handler(text, slog.LevelInfo)), ring
}

// ensureAdmin makes sure the box can get an admin: from
// CONFAB_ADMIN_PASSWORD on first start, else through the web page's setup,
// which needs the one-time token returned here and printed on the console
// (whoever can read the console owns the box). There is no default
// password. It returns "" once an admin exists.
func ensureAdmin(ctx context.Context, db *store.Store, console io.Writer) (string, error) {
	has, err := db.HasAdmin(ctx)
	if err != nil || has {
		return "", err
	}
	if pw := os.Getenv("CONFAB_ADMIN_PASSWORD"); pw != "" {
		if err := db.SetAdminPassword(ctx, "admin", pw); err != nil {
			return "", fmt.Errorf("CONFAB_ADMIN_PASSWORD: %w", err)
		}
		return "", nil
	}
	b := make([]byte, 10)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	// Base32 without padding: 16 characters, easy to read off a console.
	token := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b)
	fmt.Fprintf(console, "confabd: first start: open the web page and enter the setup token %s to set the admin password\n", token)
	return token, nil
}

// pinnedSettings names the web.Settings (by JSON name) that the command
// line or the environment sets: those win over what the page stored.
func pinnedSettings(args []string, getenv func(string) string) map[string]bool {
	flags := map[string]string{"sip": "sip", "rtp-ports": "rtp_ports", "public-ip": "public_ip", "domain": "domain"}
	envs := map[string]string{"CONFAB_SIP": "sip", "CONFAB_RTP_PORTS": "rtp_ports", "CONFAB_PUBLIC_IP": "public_ip",
		"CONFAB_DOMAIN": "domain"}
	pinned := make(map[string]bool)
	for env, key := range envs {
		if getenv(env) != "" {
			pinned[key] = true
		}
	}
	for _, a := range args {
		if a == "--" || !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if key, ok := flags[name]; ok {
			pinned[key] = true
		}
	}
	return pinned
}

// applySettings reads the settings stored by the web page and applies
// those not pinned by the command line or environment to cfg. It returns
// the settings in use. Stored settings that fail to load are reported and
// the defaults used: a bad setting must not keep the box from starting.
func applySettings(ctx context.Context, db *store.Store, cfg config, pinned map[string]bool, log *slog.Logger) (config, web.Settings) {
	set, err := web.LoadSettings(ctx, db)
	if err != nil {
		log.Error("stored settings ignored; using the defaults", "err", err)
	}
	if !pinned["sip"] {
		cfg.SIP = set.SIP
	}
	if !pinned["rtp_ports"] {
		cfg.RTPLow, cfg.RTPHigh = uint16(set.RTPLow), uint16(set.RTPHigh)
	}
	if !pinned["public_ip"] && set.PublicIP != "" {
		if a, err := netip.ParseAddr(set.PublicIP); err == nil {
			derived := cfg.Domain == cfg.PublicIP.String()
			cfg.PublicIP = a.Unmap()
			if derived && !pinned["domain"] {
				cfg.Domain = cfg.PublicIP.String()
			}
		}
	}
	set.SIP, set.RTPLow, set.RTPHigh = cfg.SIP, int(cfg.RTPLow), int(cfg.RTPHigh)
	set.PublicIP = cfg.PublicIP.String()
	return cfg, set
}

// mixerConfig is the engine's configuration from the daemon's and the
// page's settings.
func mixerConfig(cfg config, set web.Settings) mixer.Config {
	var pref []sdpneg.Supported
	for _, name := range set.Codecs {
		for _, s := range sdpneg.DefaultPreference {
			if strings.EqualFold(s.Name, name) {
				pref = append(pref, s)
			}
		}
	}
	return mixer.Config{MediaTimeout: cfg.MediaTimeout, Frame: time.Duration(set.FrameMs) * time.Millisecond,
		MaxRate: set.MixRate, TalkThreshold: int32(set.TalkThreshold), Preference: pref}
}

// version is the build's VCS revision, as `go build` records it.
func version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "development build (" + info.GoVersion + ")"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		rev += " with local changes"
	}
	return rev + " (" + info.GoVersion + ")"
}

// webFront is the HTTP side of the daemon: the web page with /api/v1 and
// /metrics, on plain HTTP and, with -https, on HTTPS.
type webFront struct {
	page    *web.Server
	metrics *metrics.Registry
	servers []*http.Server
	lns     []net.Listener
}

// webDeps are what newWebFront wires.
type webDeps struct {
	cfg        config
	db         *store.Store
	factory    *focus.Factory
	engine     *mixer.Engine
	front      *sipfront.Front
	api        *httpapi.API
	log        *slog.Logger
	logs       *web.LogRing
	inUse      web.Settings
	pinned     map[string]bool
	setupToken string
	// pathMetrics holds the packet path's collectors until the registry exists.
	pathMetrics *laterRegisterer
	// health answers /healthz, without a login.
	health http.Handler
	// hal is the HAL's driver report, for the Settings page.
	hal *halselect.Report
}

func newWebFront(d webDeps) (*webFront, error) {
	reg := metrics.New(metrics.Sources{
		Mixer:        d.engine.Stats,
		SIP:          d.front.Stats,
		SIPResponses: d.front.Responses,
		Rosters:      func() metrics.Rosters { return rosterStats(d.factory) },
		Frame:        d.engine.Config().Frame,
	})
	guard := httpapi.NewLoginGuard(10, time.Minute, time.Now)
	page, err := web.New(web.Deps{
		Conferences: d.factory, Live: newLive(d.factory), Events: d.factory, Accounts: d.db, Directory: d.db,
		Records: d.db, Engine: d.engine, API: d.api, Metrics: reg.Handler(), Logs: d.logs,
		Registrations: d.front.Registrations,
		Runtime: web.Runtime{Version: version(), StartedAt: time.Now(), InUse: d.inUse, Pinned: d.pinned,
			Domain: d.cfg.Domain, HTTPAddr: d.cfg.HTTP, HTTPSAddr: d.cfg.HTTPS, DataDir: d.cfg.Data, HAL: d.hal.List},
	}, web.WithLogger(d.log), web.WithSetupToken(d.setupToken), web.WithLoginGuard(guard), applianceOption(controlSocket()))
	if err != nil {
		return nil, err
	}
	// The API takes the page's sessions and API tokens and shares its limit
	// of failed logins.
	httpapi.WithSessions(page)(d.api)
	httpapi.WithLoginGuard(guard)(d.api)

	d.engine.SetTickObserver(reg.ObserveTick)
	if d.pathMetrics != nil {
		if err := d.pathMetrics.handOver(reg.Registerer()); err != nil {
			return nil, fmt.Errorf("metrics of the media path: %w", err)
		}
	}
	wf := &webFront{page: page, metrics: reg}
	handler := page.Handler()
	handler = withAppliance(d.api, handler, controlSocket()) // the image's System API (appliance.go)
	if d.health != nil {
		mux := http.NewServeMux()
		mux.Handle("/healthz", d.health)
		mux.Handle("/", handler)
		handler = mux
	}
	ln, err := net.Listen("tcp", d.cfg.HTTP)
	if err != nil {
		return nil, fmt.Errorf("http: %w", err)
	}
	wf.add(ln, handler, d.log)
	if d.cfg.HTTPS != "" {
		host, _, _ := strings.Cut(d.cfg.Domain, ":")
		name, _ := os.Hostname()
		cert, err := web.LoadOrCreateCertificate(d.cfg.Data, []string{host, d.cfg.PublicIP.String(), name, "localhost", "127.0.0.1", "::1"}, time.Now())
		if err != nil {
			ln.Close()
			return nil, err
		}
		tln, err := net.Listen("tcp", d.cfg.HTTPS)
		if err != nil {
			ln.Close()
			return nil, fmt.Errorf("https: %w", err)
		}
		wf.add(tls.NewListener(tln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), handler, d.log)
	}
	return wf, nil
}

func (wf *webFront) add(ln net.Listener, h http.Handler, log *slog.Logger) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.With("component", "http").Handler(), slog.LevelWarn)}
	srv.RegisterOnShutdown(wf.page.Close)
	wf.servers = append(wf.servers, srv)
	wf.lns = append(wf.lns, ln)
}

// serve runs the servers and the metrics sampler until shutdown.
func (wf *webFront) serve(ctx context.Context, errc chan<- error) {
	for i, srv := range wf.servers {
		go func() {
			if err := srv.Serve(wf.lns[i]); !errors.Is(err, http.ErrServerClosed) {
				errc <- wrap("http", err)
			}
		}()
	}
}

// urls says where the page is, for the console.
func (wf *webFront) urls() string {
	var us []string
	for i, ln := range wf.lns {
		scheme := "http"
		if i > 0 {
			scheme = "https"
		}
		us = append(us, fmt.Sprintf("%s://%s/", scheme, ln.Addr()))
	}
	return strings.Join(us, " and ")
}

func (wf *webFront) shutdown(ctx context.Context) {
	wf.page.Close()
	for _, srv := range wf.servers {
		_ = srv.Shutdown(ctx)
	}
}

// rosterStats sums up the active conferences for /metrics.
func rosterStats(f *focus.Factory) metrics.Rosters {
	r := metrics.Rosters{Codecs: make(map[string]int)}
	for _, fc := range f.Active() {
		s := fc.Snapshot()
		if s.Ended {
			continue
		}
		r.Conferences++
		for _, m := range s.Members {
			r.Participants++
			if m.Codec != "" {
				r.Codecs[m.Codec]++
			}
			r.PacketsLost += m.Quality.PacketsLost
		}
	}
	return r
}
