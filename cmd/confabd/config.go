package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
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
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	c := config{Data: *data, SIP: *sip, HTTP: *httpAddr, HTTPS: *httpsAddr, LogLevel: *level, Domain: *domain, MediaIf: *mediaIf,
		MediaTimeout: *mediaTimeout, SessionTimer: *sessionTimer}
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
