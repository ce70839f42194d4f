package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"confab/focus/store"
	"confab/web"
)

func TestPinnedSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"nothing given pins nothing", nil, nil, ""},
		{"a flag pins its setting", []string{"-sip", "127.0.0.1:5070"}, nil, "sip"},
		{"a --flag=value pins its setting", []string{"--rtp-ports=30000-30099"}, nil, "rtp_ports"},
		{"an environment variable pins its setting", nil, map[string]string{"CONFAB_PUBLIC_IP": "192.0.2.1"}, "public_ip"},
		{"other flags pin nothing", []string{"-data", "/tmp/x", "-http", ":8080"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pinnedSettings(tc.args, func(k string) string { return tc.env[k] })
			var keys []string
			for _, k := range []string{"sip", "rtp_ports", "public_ip", "domain"} {
				if got[k] {
					keys = append(keys, k)
				}
			}
			if strings.Join(keys, ",") != tc.want {
				t.Fatalf("pinned %v, want %q", keys, tc.want)
			}
		})
	}
}

func TestStoredSettingsApplyAtStart(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "confab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	saved := web.DefaultSettings()
	saved.SIP, saved.RTPLow, saved.RTPHigh, saved.PublicIP = "0.0.0.0:5070", 30000, 30099, "192.0.2.7"
	saved.Codecs, saved.FrameMs, saved.MixRate, saved.TalkThreshold = []string{"PCMU", "G722"}, 10, 16000, 300
	b, _ := jsonOf(saved)
	if err := db.SetSetting(ctx, web.SettingsKey, b); err != nil {
		t.Fatal(err)
	}
	base := config{SIP: "0.0.0.0:5060", RTPLow: 20000, RTPHigh: 29999, PublicIP: netip.MustParseAddr("10.0.0.1"),
		Domain: "10.0.0.1", MediaTimeout: 30 * time.Second}
	log := slog.New(slog.DiscardHandler)

	t.Run("what the page saved applies where nothing pins it", func(t *testing.T) {
		cfg, inUse := applySettings(ctx, db, base, nil, log)
		if cfg.SIP != "0.0.0.0:5070" || cfg.RTPLow != 30000 || cfg.PublicIP.String() != "192.0.2.7" || cfg.Domain != "192.0.2.7" {
			t.Fatalf("config %+v", cfg)
		}
		if inUse.PublicIP != "192.0.2.7" {
			t.Fatalf("in use %+v", inUse)
		}
		mc := mixerConfig(cfg, inUse)
		if mc.Frame != 10*time.Millisecond || mc.MaxRate != 16000 || mc.TalkThreshold != 300 ||
			len(mc.Preference) != 2 || mc.Preference[0].Name != "PCMU" || mc.MediaTimeout != 30*time.Second {
			t.Fatalf("mixer config %+v", mc)
		}
	})
	t.Run("the command line wins", func(t *testing.T) {
		cfg, inUse := applySettings(ctx, db, base, map[string]bool{"sip": true, "public_ip": true}, log)
		if cfg.SIP != "0.0.0.0:5060" || cfg.PublicIP.String() != "10.0.0.1" || cfg.RTPLow != 30000 || inUse.SIP != "0.0.0.0:5060" {
			t.Fatalf("config %+v, in use %+v", cfg, inUse)
		}
	})
	t.Run("a damaged setting is reported and the defaults used", func(t *testing.T) {
		if err := db.SetSetting(ctx, web.SettingsKey, `{"sip":`); err != nil {
			t.Fatal(err)
		}
		var logged bytes.Buffer
		cfg, _ := applySettings(ctx, db, base, nil, slog.New(slog.NewTextHandler(&logged, nil)))
		if cfg.SIP != web.DefaultSettings().SIP || !strings.Contains(logged.String(), "stored settings ignored") {
			t.Fatalf("config %+v, log %q", cfg, logged.String())
		}
	})
}

func TestFirstStartNeedsTheSetupToken(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "confab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Setenv("CONFAB_ADMIN_PASSWORD", "")
	var console bytes.Buffer
	token, err := ensureAdmin(ctx, db, &console)
	if err != nil || len(token) != 16 || !strings.Contains(console.String(), "setup token "+token) {
		t.Fatalf("token %q, console %q, %v", token, console.String(), err)
	}
	if has, _ := db.HasAdmin(ctx); has {
		t.Fatal("an admin exists before setup")
	}
	t.Setenv("CONFAB_ADMIN_PASSWORD", "preset-password")
	if token, err := ensureAdmin(ctx, db, &console); err != nil || token != "" {
		t.Fatalf("with CONFAB_ADMIN_PASSWORD: token %q, %v", token, err)
	}
	if ok, _ := db.CheckAdminPassword(ctx, "admin", "preset-password"); !ok {
		t.Fatal("CONFAB_ADMIN_PASSWORD did not set the password")
	}
}

func jsonOf(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}
