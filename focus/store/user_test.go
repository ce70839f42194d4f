package store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strings"
	"testing"
)

// digestResponse computes a qop=auth response from a stored HA1 (RFC 7616
// §3.4.1): KD(HA1, nonce:nc:cnonce:qop:H(method:uri)).
func digestResponse(newHash func() hash.Hash, ha1, nonce, nc, cnonce, method, uri string) string {
	h := func(s string) string {
		d := newHash()
		d.Write([]byte(s))
		return hex.EncodeToString(d.Sum(nil))
	}
	return h(strings.Join([]string{ha1, nonce, nc, cnonce, "auth", h(method + ":" + uri)}, ":"))
}

func TestUserDigestCredentials(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)

	t.Run("HA1 MD5 matches RFC 2617 §3.5", func(t *testing.T) {
		u, err := s.CreateUser(ctx, "Mufasa", "", "testrealm@host.com", "Circle Of Life")
		wantErr(t, err, nil, "")
		if u.HA1MD5 != "939e7578ed9e3c518a452acee763bce9" {
			t.Fatalf("HA1 = %s", u.HA1MD5)
		}
		got := digestResponse(md5.New, u.HA1MD5, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001", "0a4f113b",
			"GET", "/dir/index.html")
		if got != "6629fae49393a05397450978507c4ef1" {
			t.Fatalf("response = %s, want the RFC's 6629fae4...", got)
		}
	})

	t.Run("HA1 SHA-256 gives the response of RFC 7616 §3.9.1", func(t *testing.T) {
		wantErr(t, s.DeleteUser(ctx, "Mufasa"), nil, "")
		u, err := s.CreateUser(ctx, "Mufasa", "", "http-auth@example.org", "Circle of Life")
		wantErr(t, err, nil, "")
		got := digestResponse(sha256.New, u.HA1SHA256, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", "00000001",
			"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "GET", "/dir/index.html")
		if got != "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1" {
			t.Fatalf("response = %s", got)
		}
	})

	t.Run("the password itself is stored nowhere", func(t *testing.T) {
		var n int
		err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE display_name || realm || ha1_md5 ||
			ha1_sha256 LIKE '%Circle%'`).Scan(&n)
		wantErr(t, err, nil, "")
		if n != 0 {
			t.Fatal("password found in users")
		}
	})
}

func TestCreateUser(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name                    string
		username, display, pass string
		realm                   string
		target                  error
		msg                     string
	}{
		{"a plain extension is accepted", "201", "Front desk", "secret", "confab", nil, ""},
		{"SIP user part marks are accepted", "a.b-c_d!~*'()&=+$,", "", "secret", "confab", nil, ""},
		{"an empty username is invalid", "", "", "secret", "confab", ErrInvalid, "username is required"},
		{"a username with @ is invalid", "ann@example.com", "", "secret", "confab", ErrInvalid, "username may contain only"},
		{"a username with a semicolon is invalid", "ann;x=1", "", "secret", "confab", ErrInvalid, "username may contain only"},
		{"a username with an escape is invalid", "ann%20", "", "secret", "confab", ErrInvalid, "username may contain only"},
		{"an overlong username is invalid", strings.Repeat("u", 65), "", "secret", "confab", ErrInvalid, "at most 64"},
		{"an empty realm is invalid", "201", "", "secret", "", ErrInvalid, "realm is required"},
		{"a realm with a quote is invalid", "201", "", "secret", `con"fab`, ErrInvalid, "realm must not contain"},
		{"an empty password is invalid", "201", "", "", "confab", ErrInvalid, "password is required"},
		{"a display name with a newline is invalid", "201", "a\nb", "secret", "confab", ErrInvalid, "display name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, clock, _ := openTest(t)
			u, err := s.CreateUser(ctx, tc.username, tc.display, tc.realm, tc.pass)
			wantErr(t, err, tc.target, tc.msg)
			if tc.target != nil {
				return
			}
			want := User{ID: u.ID, Username: tc.username, DisplayName: tc.display, Realm: tc.realm,
				HA1MD5:    ha1(md5.New, tc.username, tc.realm, tc.pass),
				HA1SHA256: ha1(sha256.New, tc.username, tc.realm, tc.pass), CreatedAt: clock.Now()}
			if u != want {
				t.Fatalf("created %+v, want %+v", u, want)
			}
			got, err := s.UserByName(ctx, tc.username)
			wantErr(t, err, nil, "")
			if got != want {
				t.Fatalf("read back %+v, want %+v", got, want)
			}
		})
	}

	t.Run("a username already taken is a duplicate", func(t *testing.T) {
		s, _, _ := openTest(t)
		_, err := s.CreateUser(ctx, "201", "", "confab", "secret")
		wantErr(t, err, nil, "")
		_, err = s.CreateUser(ctx, "201", "", "confab", "other")
		wantErr(t, err, ErrDuplicate, `username "201"`)
	})

	t.Run("usernames differ by case", func(t *testing.T) {
		s, _, _ := openTest(t)
		_, err := s.CreateUser(ctx, "ann", "", "confab", "secret")
		wantErr(t, err, nil, "")
		_, err = s.CreateUser(ctx, "Ann", "", "confab", "secret")
		wantErr(t, err, nil, "")
	})
}

func TestUserMaintenance(t *testing.T) {
	ctx := context.Background()
	s, _, _ := openTest(t)
	for _, name := range []string{"202", "201"} {
		_, err := s.CreateUser(ctx, name, "", "confab", "secret")
		wantErr(t, err, nil, "")
	}

	t.Run("users are listed by username", func(t *testing.T) {
		us, err := s.ListUsers(ctx)
		wantErr(t, err, nil, "")
		if len(us) != 2 || us[0].Username != "201" || us[1].Username != "202" {
			t.Fatalf("listed %+v", us)
		}
	})

	t.Run("a new password replaces both HA1 values", func(t *testing.T) {
		wantErr(t, s.SetUserPassword(ctx, "201", "new secret"), nil, "")
		u, err := s.UserByName(ctx, "201")
		wantErr(t, err, nil, "")
		if u.HA1MD5 != ha1(md5.New, "201", "confab", "new secret") || u.HA1SHA256 != ha1(sha256.New, "201", "confab", "new secret") {
			t.Fatalf("HA1 not updated: %+v", u)
		}
	})

	for _, tc := range []struct {
		name   string
		op     func() error
		target error
	}{
		{"setting the password of an unknown user is not found", func() error { return s.SetUserPassword(ctx, "999", "x") }, ErrNotFound},
		{"setting an empty password is invalid", func() error { return s.SetUserPassword(ctx, "201", "") }, ErrInvalid},
		{"deleting an unknown user is not found", func() error { return s.DeleteUser(ctx, "999") }, ErrNotFound},
		{"looking up an unknown user is not found", func() error { _, err := s.UserByName(ctx, "999"); return err }, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantErr(t, tc.op(), tc.target, "")
		})
	}

	t.Run("a deleted user is gone", func(t *testing.T) {
		wantErr(t, s.DeleteUser(ctx, "202"), nil, "")
		_, err := s.UserByName(ctx, "202")
		wantErr(t, err, ErrNotFound, "")
	})
}
