package store

import (
	"context"
	"maps"
	"strings"
	"testing"
)

func TestSettings(t *testing.T) {
	ctx := context.Background()
	s, _, path := openTest(t)

	t.Run("an unset key reads as not set", func(t *testing.T) {
		v, ok, err := s.GetSetting(ctx, "sip.realm")
		wantErr(t, err, nil, "")
		if ok || v != "" {
			t.Fatalf("got %q, %v", v, ok)
		}
	})

	t.Run("a set key reads back and can be overwritten", func(t *testing.T) {
		wantErr(t, s.SetSetting(ctx, "sip.realm", "confab"), nil, "")
		wantErr(t, s.SetSetting(ctx, "sip.realm", "office"), nil, "")
		v, ok, err := s.GetSetting(ctx, "sip.realm")
		wantErr(t, err, nil, "")
		if !ok || v != "office" {
			t.Fatalf("got %q, %v", v, ok)
		}
	})

	t.Run("an empty value is set, not unset", func(t *testing.T) {
		wantErr(t, s.SetSetting(ctx, "prompts.language", ""), nil, "")
		v, ok, err := s.GetSetting(ctx, "prompts.language")
		wantErr(t, err, nil, "")
		if !ok || v != "" {
			t.Fatalf("got %q, %v", v, ok)
		}
	})

	for _, tc := range []struct {
		name, key, value, msg string
	}{
		{"an empty key is invalid", "", "x", "setting key is required"},
		{"an upper-case key is invalid", "SIP.Realm", "x", "setting key may contain only"},
		{"a key with a space is invalid", "sip realm", "x", "setting key may contain only"},
		{"a value over 64 KiB is invalid", "big", strings.Repeat("x", 64<<10+1), "at most 65536 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.SetSetting(ctx, tc.key, tc.value), ErrInvalid, tc.msg)
		})
	}

	t.Run("all settings are returned together and survive a restart", func(t *testing.T) {
		want := map[string]string{"sip.realm": "office", "prompts.language": ""}
		got, err := s.Settings(ctx)
		wantErr(t, err, nil, "")
		if !maps.Equal(got, want) {
			t.Fatalf("settings = %v, want %v", got, want)
		}
		got, err = openAt(t, path).Settings(ctx)
		wantErr(t, err, nil, "")
		if !maps.Equal(got, want) {
			t.Fatalf("settings after reopen = %v, want %v", got, want)
		}
	})

	t.Run("a deleted setting is unset", func(t *testing.T) {
		wantErr(t, s.DeleteSetting(ctx, "prompts.language"), nil, "")
		_, ok, err := s.GetSetting(ctx, "prompts.language")
		wantErr(t, err, nil, "")
		if ok {
			t.Fatal("still set")
		}
		wantErr(t, s.DeleteSetting(ctx, "prompts.language"), ErrNotFound, "")
	})
}
