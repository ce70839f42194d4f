package netconf

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeSystem records what the manager does to the kernel.
type fakeSystem struct {
	mu       sync.Mutex
	srv      *fakeServer
	addrs    []netip.Prefix
	routes   []netip.Addr
	hostname string
	dns      []netip.Addr
	up       []string
}

func (f *fakeSystem) FirstEthernet() (string, net.HardwareAddr, error) { return "eth0", testMAC, nil }
func (f *fakeSystem) LinkUp(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = append(f.up, name)
	return nil
}
func (f *fakeSystem) SetAddress(_ string, p netip.Prefix) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs = append(f.addrs, p)
	return nil
}
func (f *fakeSystem) SetDefaultRoute(_ string, gw netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes = append(f.routes, gw)
	return nil
}
func (f *fakeSystem) SetHostname(n string) error {
	f.mu.Lock()
	f.hostname = n
	f.mu.Unlock()
	return nil
}
func (f *fakeSystem) SetDNS(s []netip.Addr) error             { f.mu.Lock(); f.dns = s; f.mu.Unlock(); return nil }
func (f *fakeSystem) DHCPTransport(string) (Transport, error) { return f.srv, nil }

// runUntil runs the manager until want(state) holds, then stops it.
func runUntil(t *testing.T, m *Manager, want func(State) bool) State {
	t.Helper()
	got := make(chan State, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = m.Run(ctx, func(s State) { got <- s })
		close(done)
	}()
	defer func() { cancel(); <-done }()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case s := <-got:
			if want(s) {
				return s
			}
		case <-timeout:
			t.Fatalf("no wanted state; last %+v", m.State())
		}
	}
}

func TestManager(t *testing.T) {
	static := &Static{Address: netip.MustParsePrefix("192.168.7.20/24"), Gateway: netip.MustParseAddr("192.168.7.1"),
		DNS: []netip.Addr{netip.MustParseAddr("192.168.7.1")}}
	t.Run("loopback and the NIC come up and a DHCP lease is applied with route, DNS and a hostname from the MAC", func(t *testing.T) {
		sys := &fakeSystem{srv: newFakeServer(slirp)}
		s := runUntil(t, NewManager(Default(), sys), func(s State) bool { return s.Source == "dhcp" })
		if s.Address != netip.MustParsePrefix("10.0.2.15/24") || s.Hostname != "confab-123456" || !reflect.DeepEqual(sys.up, []string{"lo", "eth0"}) ||
			!reflect.DeepEqual(sys.routes, []netip.Addr{netip.MustParseAddr("10.0.2.2")}) || len(sys.dns) != 2 ||
			sys.hostname != "confab-123456" {
			t.Fatalf("state %+v, system %+v", s, sys)
		}
	})
	t.Run("without a DHCP server the static fallback is applied", func(t *testing.T) {
		sys := &fakeSystem{srv: newFakeServer(func(message) *message { return nil })}
		cfg := Config{DHCP: true, DHCPTimeout: Duration(100 * time.Millisecond), Static: static, Hostname: "office-bridge"}
		s := runUntil(t, NewManager(cfg, sys, WithRetry(time.Hour)), func(s State) bool { return s.Source == "static" })
		if s.Address != static.Address || s.Gateway != static.Gateway || sys.hostname != "office-bridge" {
			t.Fatalf("state %+v", s)
		}
	})
	t.Run("a lease that comes after the fallback replaces it", func(t *testing.T) {
		var mu sync.Mutex
		serving := false
		srv := newFakeServer(func(req message) *message {
			mu.Lock()
			defer mu.Unlock()
			if !serving {
				return nil
			}
			return slirp(req)
		})
		sys := &fakeSystem{srv: srv}
		cfg := Config{DHCP: true, DHCPTimeout: Duration(100 * time.Millisecond), Static: static}
		m := NewManager(cfg, sys, WithRetry(100*time.Millisecond))
		s := runUntil(t, m, func(s State) bool {
			if s.Source == "static" {
				mu.Lock()
				serving = true
				mu.Unlock()
			}
			return s.Source == "dhcp"
		})
		if s.Address.Addr() != netip.MustParseAddr("10.0.2.15") {
			t.Fatalf("state %+v", s)
		}
	})
	t.Run("without DHCP or fallback the state says why", func(t *testing.T) {
		sys := &fakeSystem{srv: newFakeServer(func(message) *message { return nil })}
		cfg := Config{DHCP: true, DHCPTimeout: Duration(50 * time.Millisecond)}
		s := runUntil(t, NewManager(cfg, sys, WithRetry(time.Hour)), func(s State) bool { return s.Error != "" })
		if s.Source != "none" || s.Address.IsValid() {
			t.Fatalf("state %+v", s)
		}
	})
	t.Run("with DHCP off the static address is used at once", func(t *testing.T) {
		sys := &fakeSystem{srv: newFakeServer(slirp)}
		s := runUntil(t, NewManager(Config{Static: static}, sys), func(s State) bool { return s.Source == "static" })
		if len(sys.srv.seen) != 0 || s.Address != static.Address {
			t.Fatalf("state %+v; DHCP messages %d", s, len(sys.srv.seen))
		}
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name string
		json string
		ok   bool
	}{
		{"the default is valid", `{"dhcp":true}`, true},
		{"a static fallback with gateway and DNS is valid", `{"dhcp":true,"static":{"address":"192.168.1.20/24","gateway":"192.168.1.1","dns":["192.168.1.1"]}}`, true},
		{"DHCP off without an address is refused", `{"dhcp":false}`, false},
		{"an address without a prefix is refused", `{"dhcp":false,"static":{"address":"192.168.1.20"}}`, false},
		{"a gateway outside the network is refused", `{"dhcp":false,"static":{"address":"192.168.1.20/24","gateway":"10.0.0.1"}}`, false},
		{"the network's own address is refused", `{"dhcp":false,"static":{"address":"192.168.1.0/24"}}`, false},
		{"the network's broadcast address is refused", `{"dhcp":false,"static":{"address":"192.168.1.255/24"}}`, false},
		{"an IPv6 address is refused", `{"dhcp":false,"static":{"address":"fd00::2/64"}}`, false},
		{"a host name with a dot is refused", `{"dhcp":true,"hostname":"a.b"}`, false},
		{"an unknown field is refused", `{"dhcp":true,"wifi":true}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.json))
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrInvalid)) {
				t.Fatalf("Parse = %v", err)
			}
		})
	}
	t.Run("each problem names its field", func(t *testing.T) {
		c := Config{Hostname: "a b", Static: &Static{Address: netip.MustParsePrefix("192.168.1.20/24"),
			Gateway: netip.MustParseAddr("10.0.0.1"), DNS: []netip.Addr{netip.MustParseAddr("fd00::1")}}}
		got := map[string]string{}
		for _, p := range c.Problems() {
			got[p.Field] = p.Message
		}
		if len(got) != 3 || !strings.Contains(got["hostname"], "letters, digits") ||
			!strings.Contains(got["gateway"], "192.168.1.0/24") || !strings.Contains(got["dns"], "fd00::1") {
			t.Fatalf("problems %q", got)
		}
	})
	t.Run("a saved configuration loads back", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "confab", "network.json")
		want := Config{DHCP: true, DHCPTimeout: Duration(5 * time.Second), Hostname: "bridge-2",
			Static: &Static{Address: netip.MustParsePrefix("10.1.1.5/16"), Gateway: netip.MustParseAddr("10.1.0.1")}}
		if err := Save(path, want); err != nil {
			t.Fatal(err)
		}
		got, err := Load(path)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Load = %+v, %v", got, err)
		}
	})
	t.Run("a missing file is the default", func(t *testing.T) {
		got, err := Load(filepath.Join(t.TempDir(), "absent.json"))
		if err != nil || !reflect.DeepEqual(got, Default()) {
			t.Fatalf("Load = %+v, %v", got, err)
		}
	})
	t.Run("an invalid configuration is not saved", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "network.json")
		if err := Save(path, Config{}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Save = %v", err)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatal("an invalid configuration was written")
		}
	})
}
