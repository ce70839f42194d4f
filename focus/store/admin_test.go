package store

import (
	"context"
	"strings"
	"testing"
)

func TestAdmins(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)

	t.Run("a new box has no admin", func(t *testing.T) {
		has, err := s.HasAdmin(ctx)
		wantErr(t, err, nil, "")
		if has {
			t.Fatal("HasAdmin = true")
		}
	})

	t.Run("a set password is accepted and nothing else is", func(t *testing.T) {
		wantErr(t, s.SetAdminPassword(ctx, "admin", "smoke-Secret-1"), nil, "")
		has, err := s.HasAdmin(ctx)
		wantErr(t, err, nil, "")
		if !has {
			t.Fatal("HasAdmin = false")
		}
		for _, tc := range []struct {
			user, password string
			want           bool
		}{
			{"admin", "smoke-Secret-1", true},
			{"admin", "smoke-secret-1", false},
			{"admin", "", false},
			{"Admin", "smoke-Secret-1", false},
			{"root", "smoke-Secret-1", false},
		} {
			ok, err := s.CheckAdminPassword(ctx, tc.user, tc.password)
			wantErr(t, err, nil, "")
			if ok != tc.want {
				t.Errorf("CheckAdminPassword(%q, %q) = %v, want %v", tc.user, tc.password, ok, tc.want)
			}
		}
	})

	t.Run("a changed password replaces the old one", func(t *testing.T) {
		wantErr(t, s.SetAdminPassword(ctx, "admin", "another-pass"), nil, "")
		for password, want := range map[string]bool{"another-pass": true, "smoke-Secret-1": false} {
			ok, err := s.CheckAdminPassword(ctx, "admin", password)
			wantErr(t, err, nil, "")
			if ok != want {
				t.Errorf("CheckAdminPassword(%q) = %v, want %v", password, ok, want)
			}
		}
	})

	t.Run("only a bcrypt hash is stored", func(t *testing.T) {
		var hash string
		wantErr(t, s.r.QueryRowContext(ctx, "SELECT password_hash FROM admins WHERE username = 'admin'").Scan(&hash), nil, "")
		if !strings.HasPrefix(hash, "$2a$") || strings.Contains(hash, "another-pass") {
			t.Fatalf("stored %q", hash)
		}
	})

	for _, tc := range []struct {
		name, user, password, msg string
	}{
		{"a short password is invalid", "admin", "1234567", "at least 8 characters"},
		{"a password over 72 bytes is invalid", "admin", strings.Repeat("p", 73), "at most 72 bytes"},
		{"an empty username is invalid", "", "long enough", "admin username is required"},
		{"a username with a space is invalid", "ad min", "long enough", "admin username may contain only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, s.SetAdminPassword(ctx, tc.user, tc.password), ErrInvalid, tc.msg)
		})
	}
}
