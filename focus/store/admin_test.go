package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestAdmins(t *testing.T) {
	ctx := context.Background()
	// The minimum cost keeps this test fast under the race detector; the
	// default is checked below.
	s := openAt(t, filepath.Join(t.TempDir(), "confab.db"), WithBcryptCost(bcrypt.MinCost))

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

	t.Run("hashes use the default bcrypt cost unless told otherwise", func(t *testing.T) {
		d, _, _ := openTest(t)
		wantErr(t, d.SetAdminPassword(ctx, "admin", "long enough"), nil, "")
		var hash string
		wantErr(t, d.r.QueryRowContext(ctx, "SELECT password_hash FROM admins").Scan(&hash), nil, "")
		if cost, err := bcrypt.Cost([]byte(hash)); err != nil || cost != bcrypt.DefaultCost {
			t.Fatalf("cost = %d, %v; want %d", cost, err, bcrypt.DefaultCost)
		}
	})

	t.Run("a bcrypt cost out of range is refused", func(t *testing.T) {
		_, err := Open(ctx, filepath.Join(t.TempDir(), "confab.db"), WithBcryptCost(bcrypt.MaxCost+1))
		wantErr(t, err, ErrInvalid, "bcrypt cost")
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
