package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// config is confabd's start-up configuration: flags, each also readable
// from a CONFAB_* environment variable (the flag wins).
type config struct {
	Data  string
	SIP   string
	HTTP  string
	HTTPS string // "" for none; the certificate is generated into Data
	// MediaIf is the interface the XDP fast path attaches to: "auto" (the
	// one holding the public IP; none on loopback), a name, or "" for the
	// pure-Go sockets.
	MediaIf  string
	RTPLow   uint16
	RTPHigh  uint16
	PublicIP netip.Addr
	LogLevel string
	Domain   string
	// MediaTimeout ends a call that sends no RTP or RTCP for this long.
	MediaTimeout time.Duration
	// SessionTimer is the RFC 4028 session interval confabd asks for.
	SessionTimer time.Duration
	// Panel maps front-panel roles (status, active, mute, reset) to GPIO
	// pin names; empty for no panel.
	Panel map[string]string
	// Watchdog is the watchdog device fed while confabd is healthy, ""
	// for none; WatchdogTimeout is the timeout it is armed with.
	Watchdog        string
	WatchdogTimeout time.Duration
	// DSP is the codec and mix coprocessor's target (hal/dsp), "" for
	// none: the MCU then does that work in Go.
	DSP string
}

func parseConfig(args []string, getenv func(string) string) (config, error) {
	fs := flag.NewFlagSet("confabd", flag.ContinueOnError)
	env := func(name, def string) string {
		if v := getenv(name); v != "" {
			return v
		}
		return def
	}
	data := fs.String("data", env("CONFAB_DATA", "./data"), "data directory (conferencing database, settings) [CONFAB_DATA]")
	sip := fs.String("sip", env("CONFAB_SIP", "0.0.0.0:5060"), "SIP listen address, UDP and TCP [CONFAB_SIP]")
	httpAddr := fs.String("http", env("CONFAB_HTTP", "127.0.0.1:8080"), "HTTP address of the API and web page [CONFAB_HTTP]")
	httpsAddr := fs.String("https", env("CONFAB_HTTPS", ""), "HTTPS address of the web page (self-signed certificate kept in the data directory), e.g. 0.0.0.0:443 [CONFAB_HTTPS]")
	ports := fs.String("rtp-ports", env("CONFAB_RTP_PORTS", "20000-29999"), "RTP port range LOW-HIGH [CONFAB_RTP_PORTS]")
	public := fs.String("public-ip", env("CONFAB_PUBLIC_IP", ""), "address written into SDP and Contact (default: the outbound interface's) [CONFAB_PUBLIC_IP]")
	mediaIf := fs.String("media-if", env("CONFAB_MEDIA_IF", "auto"), "interface for the XDP/AF_XDP media fast path: auto, a name, or none [CONFAB_MEDIA_IF]")
	level := fs.String("log-level", env("CONFAB_LOG_LEVEL", "info"), "debug, info, warn or error [CONFAB_LOG_LEVEL]")
	domain := fs.String("domain", env("CONFAB_DOMAIN", ""), "SIP domain of Focus URIs (default: the public IP) [CONFAB_DOMAIN]")
	mediaTimeout := fs.Duration("media-timeout", envDuration(getenv, "CONFAB_MEDIA_TIMEOUT", 30*time.Second), "end calls without media for this long [CONFAB_MEDIA_TIMEOUT]")
	sessionTimer := fs.Duration("session-timer", envDuration(getenv, "CONFAB_SESSION_TIMER", 30*time.Minute), "RFC 4028 session interval [CONFAB_SESSION_TIMER]")
	panelSpec := fs.String("panel", env("CONFAB_PANEL", ""), "front panel GPIO pins as ROLE=PIN,...: status (LED), active (LED), mute (mute-all button), reset (factory-reset button), e.g. status=GPIO5,active=GPIO6,mute=GPIO13,reset=GPIO19 [CONFAB_PANEL]")
	wdog := fs.String("watchdog", env("CONFAB_WATCHDOG", ""), "watchdog device to feed while healthy, e.g. /dev/watchdog (off by default; the appliance image's init feeds it instead) [CONFAB_WATCHDOG]")
	wdogTimeout := fs.Duration("watchdog-timeout", envDuration(getenv, "CONFAB_WATCHDOG_TIMEOUT", 30*time.Second), "timeout the watchdog is armed with [CONFAB_WATCHDOG_TIMEOUT]")
	dsp := fs.String("dsp", env("CONFAB_DSP", ""), "codec and mix coprocessor, e.g. spidev:/dev/spidev0.0?ready=GPIO17&reset=GPIO27 or unix:/run/dsp.sock (default: none, the MCU codes and mixes in Go) [CONFAB_DSP]")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c := config{Data: *data, SIP: *sip, HTTP: *httpAddr, HTTPS: *httpsAddr, LogLevel: *level, Domain: *domain, MediaIf: *mediaIf,
		MediaTimeout: *mediaTimeout, SessionTimer: *sessionTimer, Watchdog: *wdog, WatchdogTimeout: *wdogTimeout, DSP: *dsp}
	panel, err := parsePanel(*panelSpec)
	if err != nil {
		return c, err
	}
	c.Panel = panel
	lo, hi, ok := strings.Cut(*ports, "-")
	l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
	h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
	if !ok || err1 != nil || err2 != nil {
		return c, fmt.Errorf("-rtp-ports %q: want LOW-HIGH, e.g. 20000-29999", *ports)
	}
	c.RTPLow, c.RTPHigh = uint16(l), uint16(h)
	if *public != "" {
		a, err := netip.ParseAddr(*public)
		if err != nil {
			return c, fmt.Errorf("-public-ip %q: not an IP address", *public)
		}
		c.PublicIP = a.Unmap()
	} else {
		c.PublicIP = outboundAddr()
	}
	if c.Domain == "" {
		c.Domain = c.PublicIP.String()
	}
	return c, c.validate()
}

func (c config) validate() error {
	var errs []error
	if c.Data == "" {
		errs = append(errs, errors.New("-data must name a directory"))
	}
	if _, err := netip.ParseAddrPort(c.SIP); err != nil {
		errs = append(errs, fmt.Errorf("-sip %q: want IP:PORT", c.SIP))
	}
	if _, _, err := net.SplitHostPort(c.HTTP); err != nil {
		errs = append(errs, fmt.Errorf("-http %q: want HOST:PORT", c.HTTP))
	}
	if _, _, err := net.SplitHostPort(c.HTTPS); c.HTTPS != "" && err != nil {
		errs = append(errs, fmt.Errorf("-https %q: want HOST:PORT", c.HTTPS))
	}
	if c.RTPLow < 1024 || c.RTPHigh <= c.RTPLow || c.RTPHigh-c.RTPLow < 3 {
		errs = append(errs, fmt.Errorf("-rtp-ports %d-%d: want at least 4 ports above 1023", c.RTPLow, c.RTPHigh))
	}
	if c.MediaTimeout < time.Second {
		errs = append(errs, fmt.Errorf("-media-timeout %v: want at least 1s", c.MediaTimeout))
	}
	if c.Watchdog != "" && (c.WatchdogTimeout < 2*time.Second || c.WatchdogTimeout > time.Hour) {
		errs = append(errs, fmt.Errorf("-watchdog-timeout %v: want 2s to 1h", c.WatchdogTimeout))
	}
	if c.SessionTimer < 90*time.Second {
		errs = append(errs, fmt.Errorf("-session-timer %v: RFC 4028 wants at least 90s", c.SessionTimer))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("-log-level %q: want debug, info, warn or error", c.LogLevel))
	}
	return errors.Join(errs...)
}

// panelRoles are the front panel's parts, as -panel names them.
var panelRoles = []string{"status", "active", "mute", "reset"}

// parsePanel reads -panel: ROLE=PIN pairs separated by commas. A role not
// given is not used. Mistakes in the text (an unknown role, a role or pin
// twice, a missing pin) are start-up errors; whether a pin exists on the
// board is found out when the panel opens.
func parsePanel(spec string) (map[string]string, error) {
	spec = strings.TrimSpace(spec)
	if spec == "" || spec == "none" {
		return nil, nil
	}
	out := make(map[string]string)
	used := make(map[string]string)
	for _, part := range strings.Split(spec, ",") {
		role, pin, ok := strings.Cut(strings.TrimSpace(part), "=")
		role, pin = strings.TrimSpace(role), strings.TrimSpace(pin)
		switch {
		case !ok || pin == "":
			return nil, fmt.Errorf("-panel %q: want ROLE=PIN pairs, e.g. status=GPIO5,mute=GPIO13", spec)
		case !slices.Contains(panelRoles, role):
			return nil, fmt.Errorf("-panel: unknown role %q: want %s", role, strings.Join(panelRoles, ", "))
		case out[role] != "":
			return nil, fmt.Errorf("-panel: %s given twice", role)
		case used[pin] != "":
			return nil, fmt.Errorf("-panel: pin %s is both %s and %s", pin, used[pin], role)
		case strings.ContainsFunc(pin, func(r rune) bool { return r <= ' ' || r > '~' }):
			return nil, fmt.Errorf("-panel: pin name %q has a space or control character", pin)
		}
		out[role], used[pin] = pin, role
	}
	return out, nil
}

// outboundAddr is the address of the interface that routes to the outside.
// Connecting a UDP socket sends nothing; it only asks the kernel for a route.
func outboundAddr() netip.Addr {
	conn, err := net.Dial("udp4", "192.0.2.1:9")
	if err != nil {
		return netip.MustParseAddr("127.0.0.1")
	}
	defer conn.Close()
	return conn.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap()
}

func getenv(k string) string { return os.Getenv(k) }

func envDuration(getenv func(string) string, name string, def time.Duration) time.Duration {
	if v := getenv(name); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}
