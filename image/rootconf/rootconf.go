// Package rootconf is the appliance's system configuration that the image
// builder bakes into each root file system (/etc/confab/system.json) and
// the init reads at boot: the version of the slot, how to run confabd, how
// to tell that it is healthy, and the update and watchdog timings.
//
// It travels with the root, so an update brings its own; settings an admin
// changes (network, conferences) live on /perm instead.
package rootconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"strings"
	"time"

	"confab/image/boot"
)

// Path is where the configuration lives in a root file system.
const Path = "/etc/confab/system.json"

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("rootconf: invalid system configuration")

// Duration is a time.Duration written as "90s" in JSON.
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "90s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Config is the system configuration of one root.
type Config struct {
	Version string `json:"version"`
	// Arch and Created are the build's, as in its update bundle's manifest:
	// the box refuses updates for another architecture and, unless the
	// admin asks for it, updates built before the running system.
	Arch    string    `json:"arch,omitempty"`
	Created time.Time `json:"created,omitzero"`
	// Confabd is the daemon's binary and its arguments; the init adds
	// -data and -public-ip.
	ConfabdPath string   `json:"confabd_path"`
	ConfabdArgs []string `json:"confabd_args"`
	// ConfabdEnv are extra environment variables (KEY=value).
	ConfabdEnv []string `json:"confabd_env,omitempty"`
	// HealthSIP is where a SIP OPTIONS probe is sent (UDP); HealthURL is
	// confabd's /healthz over HTTP(S), which must report the mixer, SIP
	// and the database healthy (health.Healthz). confabd is healthy when
	// both pass.
	HealthSIP string `json:"health_sip"`
	HealthURL string `json:"health_url"`
	// CommitTimeout is how long a trial boot of a new slot may take to
	// become healthy before the init reboots into the old slot.
	CommitTimeout Duration `json:"commit_timeout"`
	// WatchdogTimeout is the hardware watchdog's timeout; zero leaves the
	// watchdog closed. BootGrace is how long after start the init feeds it
	// whether or not confabd is healthy yet.
	WatchdogTimeout Duration `json:"watchdog_timeout"`
	BootGrace       Duration `json:"boot_grace"`
}

// Default is the configuration of a standard image: the web page over
// HTTPS on 443 only (confabd's self-signed certificate on /perm), plain
// HTTP on the loopback address for local tools, SIP on 5060.
func Default(version string) Config {
	return Config{
		Version:     version,
		ConfabdPath: "/usr/bin/confabd",
		ConfabdArgs: []string{"-sip", "0.0.0.0:5060", "-https", "0.0.0.0:443", "-http", "127.0.0.1:8080",
			"-rtp-ports", "20000-29999"},
		HealthSIP:       "127.0.0.1:5060",
		HealthURL:       "https://127.0.0.1:443/healthz",
		CommitTimeout:   Duration(90 * time.Second),
		WatchdogTimeout: Duration(30 * time.Second),
		BootGrace:       Duration(120 * time.Second),
	}
}

// Validate checks every field and names what is wrong.
func (c Config) Validate() error {
	var errs []error
	if !boot.ValidVersion(c.Version) {
		errs = append(errs, fmt.Errorf("version %q is not a version", c.Version))
	}
	if !strings.HasPrefix(c.ConfabdPath, "/") {
		errs = append(errs, fmt.Errorf("confabd_path %q is not absolute", c.ConfabdPath))
	}
	for _, a := range c.ConfabdArgs {
		if a == "-data" || a == "-public-ip" || strings.HasPrefix(a, "-data=") || strings.HasPrefix(a, "-public-ip=") {
			errs = append(errs, fmt.Errorf("confabd_args sets %s, which the init sets", a))
		}
	}
	for _, e := range c.ConfabdEnv {
		if k, _, ok := strings.Cut(e, "="); !ok || k == "" {
			errs = append(errs, fmt.Errorf("confabd_env %q is not KEY=value", e))
		}
	}
	if _, err := netip.ParseAddrPort(c.HealthSIP); err != nil {
		errs = append(errs, fmt.Errorf("health_sip %q is not IP:port", c.HealthSIP))
	}
	if u, err := url.Parse(c.HealthURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("health_url %q is not an http(s) URL", c.HealthURL))
	}
	if c.CommitTimeout < Duration(10*time.Second) {
		errs = append(errs, fmt.Errorf("commit_timeout %v: want at least 10s", time.Duration(c.CommitTimeout)))
	}
	if c.WatchdogTimeout != 0 && (c.WatchdogTimeout < Duration(5*time.Second) || c.WatchdogTimeout > Duration(10*time.Minute)) {
		errs = append(errs, fmt.Errorf("watchdog_timeout %v: want 0 (off) or 5s to 10m", time.Duration(c.WatchdogTimeout)))
	}
	if c.BootGrace < 0 {
		errs = append(errs, errors.New("boot_grace is negative"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Marshal renders the configuration, validated.
func (c Config) Marshal() ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Parse reads a configuration strictly: unknown fields are errors.
func Parse(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return c, c.Validate()
}

// Load reads the configuration at path.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("rootconf: %w", err)
	}
	return Parse(data)
}
