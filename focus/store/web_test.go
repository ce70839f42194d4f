package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

func TestAdminSessions(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock()
	s := openAt(t, filepath.Join(t.TempDir(), "confab.db"), WithClock(clock.Now), WithBcryptCost(bcrypt.MinCost))
	wantErr(t, s.SetAdminPassword(ctx, "admin", "a-good-password"), nil, "")

	t.Run("a session cannot start for an admin that does not exist", func(t *testing.T) {
		_, err := s.CreateAdminSession(ctx, "nobody", time.Hour)
		wantErr(t, err, ErrNotFound, "nobody")
	})

	t.Run("a session's secret finds it until it expires", func(t *testing.T) {
		secret, err := s.CreateAdminSession(ctx, "admin", time.Hour)
		wantErr(t, err, nil, "")
		a, err := s.AdminSession(ctx, secret)
		wantErr(t, err, nil, "")
		if a.Username != "admin" || !a.ExpiresAt.Equal(clock.Now().Add(time.Hour)) {
			t.Fatalf("session = %+v", a)
		}
		clock.Advance(time.Hour)
		_, err = s.AdminSession(ctx, secret)
		wantErr(t, err, ErrNotFound, "expired")
	})

	t.Run("only the hash of a secret is stored", func(t *testing.T) {
		secret, err := s.CreateAdminSession(ctx, "admin", time.Hour)
		wantErr(t, err, nil, "")
		var n int
		if err := s.r.QueryRow("SELECT COUNT(*) FROM admin_sessions WHERE secret_hash = ?", secret).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Fatal("the session secret is stored in the clear")
		}
	})

	t.Run("a wrong secret finds nothing", func(t *testing.T) {
		_, err := s.AdminSession(ctx, "not-a-session")
		wantErr(t, err, ErrNotFound, "")
	})

	t.Run("logout ends the session and only it", func(t *testing.T) {
		a, _ := s.CreateAdminSession(ctx, "admin", time.Hour)
		b, _ := s.CreateAdminSession(ctx, "admin", time.Hour)
		wantErr(t, s.DeleteAdminSession(ctx, a), nil, "")
		_, err := s.AdminSession(ctx, a)
		wantErr(t, err, ErrNotFound, "")
		_, err = s.AdminSession(ctx, b)
		wantErr(t, err, nil, "")
	})

	t.Run("a password change ends every other session", func(t *testing.T) {
		keep, _ := s.CreateAdminSession(ctx, "admin", time.Hour)
		other, _ := s.CreateAdminSession(ctx, "admin", time.Hour)
		n, err := s.DeleteOtherAdminSessions(ctx, "admin", keep)
		wantErr(t, err, nil, "")
		if n < 1 {
			t.Fatalf("ended %d sessions, want at least 1", n)
		}
		_, err = s.AdminSession(ctx, other)
		wantErr(t, err, ErrNotFound, "")
		_, err = s.AdminSession(ctx, keep)
		wantErr(t, err, nil, "")
	})
}

func TestAPITokens(t *testing.T) {
	ctx := context.Background()
	s, clock, _ := openTest(t)

	var secret string
	var tok APIToken
	t.Run("a new token has a recognisable secret", func(t *testing.T) {
		var err error
		tok, secret, err = s.CreateAPIToken(ctx, " backup script ")
		wantErr(t, err, nil, "")
		if !strings.HasPrefix(secret, APITokenPrefix) || len(secret) < 40 || tok.Name != "backup script" {
			t.Fatalf("token %+v, secret %q", tok, secret)
		}
	})

	for _, tc := range []struct {
		name, token string
		target      error
		msg         string
	}{
		{"a token needs a name", "  ", ErrInvalid, "token name is required"},
		{"a token name is unique", "backup script", ErrDuplicate, "backup script"},
		{"a token name has no control characters", "a\nb", ErrInvalid, "control characters"},
		{"a token name is short", strings.Repeat("x", 65), ErrInvalid, "at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateAPIToken(ctx, tc.token)
			wantErr(t, err, tc.target, tc.msg)
		})
	}

	t.Run("the secret checks and its use is noted", func(t *testing.T) {
		clock.Advance(time.Hour)
		got, err := s.CheckAPIToken(ctx, secret)
		wantErr(t, err, nil, "")
		if got.ID != tok.ID || !got.LastUsedAt.Equal(clock.Now()) {
			t.Fatalf("token = %+v", got)
		}
		list, err := s.ListAPITokens(ctx)
		wantErr(t, err, nil, "")
		if len(list) != 1 || !list[0].LastUsedAt.Equal(clock.Now()) {
			t.Fatalf("list = %+v", list)
		}
	})

	for _, bad := range []string{"", "cft_", secret + "x", strings.TrimPrefix(secret, APITokenPrefix)} {
		t.Run("a wrong secret is refused: "+bad, func(t *testing.T) {
			_, err := s.CheckAPIToken(ctx, bad)
			wantErr(t, err, ErrNotFound, "")
		})
	}

	t.Run("a revoked token no longer checks", func(t *testing.T) {
		wantErr(t, s.DeleteAPIToken(ctx, tok.ID), nil, "")
		_, err := s.CheckAPIToken(ctx, secret)
		wantErr(t, err, ErrNotFound, "")
		wantErr(t, s.DeleteAPIToken(ctx, tok.ID), ErrNotFound, "")
	})
}

func TestBackupRestore(t *testing.T) {
	ctx := context.Background()
	src, _, _ := openTest(t)
	c, err := src.CreateConference(ctx, Conference{Number: "7001", Name: "Weekly", PIN: "1234", ModeratorPIN: "9876",
		Admission: AdmissionPIN, Announcements: true, MaxMembers: 10})
	wantErr(t, err, nil, "")
	_, err = src.CreateUser(ctx, "alice", "Alice", "confab", "alice-secret")
	wantErr(t, err, nil, "")
	_, err = src.CreateTrunk(ctx, Trunk{Name: "carrier", Peers: []string{"192.0.2.0/24"},
		DIDs: []DID{{Number: "+15551230000", Conference: "7001"}}})
	wantErr(t, err, nil, "")
	wantErr(t, src.SetSetting(ctx, "confab.settings", `{"x":1}`), nil, "")

	b, err := src.Backup(ctx)
	wantErr(t, err, nil, "")

	t.Run("a backup holds the whole configuration", func(t *testing.T) {
		if b.Format != BackupFormat || len(b.Conferences) != 1 || len(b.Users) != 1 || len(b.Trunks) != 1 ||
			b.Settings["confab.settings"] != `{"x":1}` {
			t.Fatalf("backup = %+v", b)
		}
	})

	dst, _, _ := openTest(t)
	_, err = dst.CreateConference(ctx, NewConference("5555"))
	wantErr(t, err, nil, "")
	_, err = dst.CreateUser(ctx, "bob", "", "confab", "bob-secret")
	wantErr(t, err, nil, "")

	t.Run("a restore replaces the configuration", func(t *testing.T) {
		wantErr(t, dst.Restore(ctx, b), nil, "")
		got, err := dst.GetConference(ctx, c.ID)
		wantErr(t, err, nil, "")
		if got.Number != "7001" || got.FocusID != c.FocusID || got.PIN != "1234" || got.MaxMembers != 10 {
			t.Fatalf("restored conference = %+v", got)
		}
		_, err = dst.ConferenceByNumber(ctx, "5555")
		wantErr(t, err, ErrNotFound, "")
		_, err = dst.UserByName(ctx, "bob")
		wantErr(t, err, ErrNotFound, "")
		u, err := dst.UserByName(ctx, "alice")
		wantErr(t, err, nil, "")
		want, _ := src.UserByName(ctx, "alice")
		if u.HA1MD5 != want.HA1MD5 || u.HA1SHA256 != want.HA1SHA256 {
			t.Fatal("restored user's digest hashes differ")
		}
		tr, err := dst.TrunkByName(ctx, "carrier")
		wantErr(t, err, nil, "")
		if len(tr.DIDs) != 1 || tr.DIDs[0].Conference != "7001" {
			t.Fatalf("restored trunk = %+v", tr)
		}
	})

	broken := func(edit func(b *Backup)) Backup {
		c := b
		c.Conferences = append([]BackupConference(nil), b.Conferences...)
		c.Users = append([]BackupUser(nil), b.Users...)
		c.Trunks = append([]BackupTrunk(nil), b.Trunks...)
		edit(&c)
		return c
	}
	for _, tc := range []struct {
		name string
		b    Backup
		msg  string
	}{
		{"another format is refused", broken(func(b *Backup) { b.Format = 9 }), "format 9"},
		{"a bad conference number is refused", broken(func(b *Backup) { b.Conferences[0].Number = "x" }), "number must be 2-15 digits"},
		{"a conference listed twice is refused", broken(func(b *Backup) { b.Conferences = append(b.Conferences, b.Conferences[0]) }), "listed twice"},
		{"a user with a bad hash is refused", broken(func(b *Backup) { b.Users[0].HA1MD5 = "zz" }), "hex digits"},
		{"a did to a missing conference is refused", broken(func(b *Backup) {
			b.Trunks[0].DIDs = []DID{{Number: "100", Conference: "4444"}}
		}), "there is no conference 4444"},
		{"a bad setting key is refused", broken(func(b *Backup) { b.Settings = map[string]string{"Bad Key": ""} }), "setting key"},
	} {
		t.Run(tc.name+" and nothing changes", func(t *testing.T) {
			before, err := dst.Backup(ctx)
			wantErr(t, err, nil, "")
			wantErr(t, dst.Restore(ctx, tc.b), ErrInvalid, tc.msg)
			after, err := dst.Backup(ctx)
			wantErr(t, err, nil, "")
			if len(after.Conferences) != len(before.Conferences) || len(after.Users) != len(before.Users) ||
				len(after.Trunks) != len(before.Trunks) {
				t.Fatal("a refused restore changed the database")
			}
		})
	}
}
