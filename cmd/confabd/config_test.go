package main

import (
	"strings"
	"testing"
	"time"
)

func TestParsePanel(t *testing.T) {
	tests := []struct {
		name, spec string
		want       map[string]string
		err        string
	}{
		{"empty is no panel", "", nil, ""},
		{"none is no panel", "none", nil, ""},
		{"every role", "status=GPIO5,active=GPIO6,mute=GPIO13,reset=GPIO19",
			map[string]string{"status": "GPIO5", "active": "GPIO6", "mute": "GPIO13", "reset": "GPIO19"}, ""},
		{"some roles, with spaces", " mute = GPIO13 , status=GPIO5", map[string]string{"mute": "GPIO13", "status": "GPIO5"}, ""},
		{"an unknown role is refused", "beeper=GPIO4", nil, `unknown role "beeper"`},
		{"a role without a pin is refused", "mute=", nil, "want ROLE=PIN"},
		{"a bare word is refused", "GPIO13", nil, "want ROLE=PIN"},
		{"a role twice is refused", "mute=GPIO13,mute=GPIO14", nil, "mute given twice"},
		{"a pin twice is refused", "mute=GPIO13,reset=GPIO13", nil, "pin GPIO13 is both mute and reset"},
		{"a control character is refused", "mute=GPIO\x0013", nil, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePanel(tt.spec)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func FuzzParsePanel(f *testing.F) {
	for _, s := range []string{"", "status=GPIO5,active=GPIO6,mute=GPIO13,reset=GPIO19", "mute=", "=,=,", "mute=a,mute=b", "reset=P1_3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		got, err := parsePanel(spec)
		if err != nil {
			return
		}
		pins := map[string]bool{}
		for role, pin := range got {
			if !strings.Contains("status active mute reset", role) || pin == "" || pins[pin] {
				t.Fatalf("%q parsed to %v", spec, got)
			}
			pins[pin] = true
		}
	})
}

func TestHALFlags(t *testing.T) {
	env := map[string]string{"CONFAB_PANEL": "mute=GPIO13", "CONFAB_WATCHDOG": "/dev/watchdog1", "CONFAB_DSP": "unix:/run/dsp.sock"}
	t.Run("each flag reads its environment variable", func(t *testing.T) {
		c, err := parseConfig([]string{"-public-ip", "127.0.0.1"}, func(k string) string { return env[k] })
		if err != nil {
			t.Fatal(err)
		}
		if c.Panel["mute"] != "GPIO13" || c.Watchdog != "/dev/watchdog1" || c.WatchdogTimeout != 30*time.Second || c.DSP != "unix:/run/dsp.sock" {
			t.Fatalf("config %+v", c)
		}
	})
	t.Run("the flag wins", func(t *testing.T) {
		c, err := parseConfig([]string{"-public-ip", "127.0.0.1", "-panel", "status=GPIO5", "-watchdog-timeout", "10s"},
			func(k string) string { return env[k] })
		if err != nil || c.Panel["status"] != "GPIO5" || c.Panel["mute"] != "" || c.WatchdogTimeout != 10*time.Second {
			t.Fatalf("config %+v, %v", c, err)
		}
	})
	t.Run("a bad -panel is a start-up error", func(t *testing.T) {
		_, err := parseConfig([]string{"-public-ip", "127.0.0.1", "-panel", "mute"}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "-panel") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a silly watchdog timeout is a start-up error", func(t *testing.T) {
		_, err := parseConfig([]string{"-public-ip", "127.0.0.1", "-watchdog", "/dev/watchdog", "-watchdog-timeout", "1ms"}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "-watchdog-timeout") {
			t.Fatalf("err %v", err)
		}
	})
}
