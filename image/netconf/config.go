// Package netconf brings up the appliance's network: the first Ethernet
// interface gets an address by DHCP (RFC 2131), or the static fallback an
// admin set on the web page when no DHCP server answers; the box's hostname
// is set and sent to the DHCP server. Addresses and routes are set over
// rtnetlink; nothing outside this package is needed (no dhclient, no ip).
//
// The configuration lives on the data partition (Path), so it survives
// updates; changes apply at the next boot.
package netconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Path is where the configuration is kept, under /perm.
const Path = "/perm/confab/network.json"

// ErrInvalid wraps every validation failure, with a message for the page.
var ErrInvalid = errors.New("invalid network settings")

// Config is the network configuration an admin may change.
type Config struct {
	// Hostname of the box (RFC 1123 label); empty means confab-XXXXXX from
	// the MAC address.
	Hostname string `json:"hostname,omitempty"`
	// DHCP says whether to ask a DHCP server first (default true).
	DHCP bool `json:"dhcp"`
	// DHCPTimeout is how long to wait for a lease before the fallback.
	DHCPTimeout Duration `json:"dhcp_timeout,omitempty"`
	// Static is the fallback (or, with DHCP off, the only) address.
	Static *Static `json:"static,omitempty"`
}

// Static is a fixed address.
type Static struct {
	Address netip.Prefix `json:"address"` // e.g. 192.168.1.20/24
	Gateway netip.Addr   `json:"gateway,omitzero"`
	DNS     []netip.Addr `json:"dns,omitempty"`
}

// Duration is a time.Duration written as "10s".
type Duration time.Duration

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "10s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	*d = Duration(v)
	return err
}

// Default is DHCP with no fallback.
func Default() Config { return Config{DHCP: true, DHCPTimeout: Duration(10 * time.Second)} }

var hostnameRE = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$`)

// Problem is one thing wrong with a configuration, with the field it is
// about ("hostname", "dhcp", "dhcp_timeout", "address", "gateway", "dns"),
// so that a form can show it beside that field.
type Problem struct {
	Field   string
	Message string
}

// Problems lists what is wrong with the configuration, in words an admin
// understands; none means it is valid.
func (c Config) Problems() []Problem {
	var ps []Problem
	add := func(field, format string, args ...any) {
		ps = append(ps, Problem{field, fmt.Sprintf(format, args...)})
	}
	if c.Hostname != "" && !hostnameRE.MatchString(c.Hostname) {
		add("hostname", "the host name %q may hold only letters, digits and inner hyphens, at most 63", c.Hostname)
	}
	if !c.DHCP && c.Static == nil {
		add("address", "with DHCP off, a static address is needed")
	}
	if c.DHCPTimeout < 0 || c.DHCPTimeout > Duration(10*time.Minute) {
		add("dhcp_timeout", "the DHCP wait must be between 0 and 10 minutes")
	}
	if s := c.Static; s != nil {
		a := s.Address.Addr()
		switch {
		case !s.Address.IsValid() || !a.Is4():
			add("address", "the static address must be an IPv4 address with its prefix, such as 192.168.1.20/24")
		case s.Address.Bits() < 8 || s.Address.Bits() > 30:
			add("address", "the prefix /%d leaves no room for a network (use /8 to /30)", s.Address.Bits())
		case a.IsLoopback() || a.IsMulticast() || a.IsUnspecified() || a == s.Address.Masked().Addr() || a == broadcast(s.Address):
			add("address", "%s cannot be the box's address", a)
		}
		if s.Gateway.IsValid() && (!s.Gateway.Is4() || !s.Address.Masked().Contains(s.Gateway) || s.Gateway == a) {
			add("gateway", "the gateway %s must be another address in %s", s.Gateway, s.Address.Masked())
		}
		for _, d := range s.DNS {
			if !d.Is4() {
				add("dns", "the DNS server %s is not an IPv4 address", d)
			}
		}
	}
	return ps
}

// broadcast is the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	if !p.Addr().Is4() {
		return netip.Addr{}
	}
	b := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(b)
}

// Validate checks the configuration and says what is wrong in words an
// admin understands.
func (c Config) Validate() error {
	var errs []error
	for _, p := range c.Problems() {
		errs = append(errs, errors.New(p.Message))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// Parse reads a configuration strictly.
func Parse(data []byte) (Config, error) {
	c := Default()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return c, c.Validate()
}

// Load reads the configuration at path; a missing file is the default.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return Default(), fmt.Errorf("netconf: %w", err)
	}
	return Parse(data)
}

// Save validates c and writes it atomically: temporary file, fsync,
// rename, fsync of the directory.
func Save(path string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	_, werr := f.Write(append(data, '\n'))
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("netconf: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("netconf: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
