package store

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func testRegistration(now time.Time) Registration {
	return Registration{
		Username:  "201",
		Contact:   "sip:201@192.0.2.10:5062;transport=udp",
		Source:    netip.MustParseAddrPort("192.0.2.10:5062"),
		Transport: "udp",
		ExpiresAt: now.Add(time.Hour),
		CallID:    "reg-1@192.0.2.10",
		CSeq:      1,
	}
}

func TestRegistrationValidate(t *testing.T) {
	now := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		change func(r *Registration)
		msg    string
	}{
		{"a complete binding is valid", func(r *Registration) {}, ""},
		{"a sips contact over TLS is valid", func(r *Registration) { r.Contact, r.Transport = "sips:201@phone.example", "tls" }, ""},
		{"a contact that is not a SIP URI is invalid", func(r *Registration) { r.Contact = "http://x" }, "contact must be a sip: or sips: URI"},
		{"a source without a port is invalid", func(r *Registration) { r.Source = netip.AddrPortFrom(r.Source.Addr(), 0) }, "source"},
		{"an unknown transport is invalid", func(r *Registration) { r.Transport = "sctp" }, "transport must be one of"},
		{"a missing call-id is invalid", func(r *Registration) { r.CallID = "" }, "call-id is required"},
		{"a missing expiry is invalid", func(r *Registration) { r.ExpiresAt = time.Time{} }, "expiry time is required"},
		{"a bad username is invalid", func(r *Registration) { r.Username = "a b" }, "username"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testRegistration(now)
			tc.change(&r)
			err := r.Validate()
			if tc.msg == "" {
				wantErr(t, err, nil, "")
				return
			}
			wantErr(t, err, ErrInvalid, tc.msg)
		})
	}
}

func TestRegistrations(t *testing.T) {
	ctx := context.Background()
	s, clock, path := openTest(t)
	now := clock.Now()
	_, err := s.CreateUser(ctx, "201", "", "confab", "secret")
	wantErr(t, err, nil, "")

	reg := testRegistration(now)
	t.Run("a new binding is active until it expires", func(t *testing.T) {
		wantErr(t, s.UpsertRegistration(ctx, reg), nil, "")
		rs, err := s.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		want := reg
		want.UpdatedAt = now
		if len(rs) != 1 || rs[0] != want {
			t.Fatalf("active = %+v, want [%+v]", rs, want)
		}
		rs, err = s.ActiveRegistrations(ctx, "201", reg.ExpiresAt)
		wantErr(t, err, nil, "")
		if len(rs) != 0 {
			t.Fatalf("active at expiry = %+v", rs)
		}
	})

	t.Run("a refresh with a higher cseq replaces the binding", func(t *testing.T) {
		r := reg
		r.CSeq, r.ExpiresAt, r.Source = 2, now.Add(2*time.Hour), netip.MustParseAddrPort("[2001:db8::1]:5060")
		wantErr(t, s.UpsertRegistration(ctx, r), nil, "")
		rs, err := s.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		if len(rs) != 1 || rs[0].CSeq != 2 || rs[0].Source != r.Source || !rs[0].ExpiresAt.Equal(r.ExpiresAt) {
			t.Fatalf("active = %+v", rs)
		}
		reg = r
	})

	for _, tc := range []struct {
		name   string
		change func(r *Registration)
		target error
	}{
		{"a replayed cseq in the same call-id is out of order", func(r *Registration) {}, ErrOutOfOrder},
		{"a lower cseq in the same call-id is out of order", func(r *Registration) { r.CSeq = 1 }, ErrOutOfOrder},
		{"a lower cseq in a new call-id is accepted", func(r *Registration) { r.CallID, r.CSeq = "reg-2", 1 }, nil},
		{"a binding of an unknown user is not found", func(r *Registration) { r.Username = "999" }, ErrNotFound},
		{"an invalid binding is refused", func(r *Registration) { r.Transport = "" }, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := reg
			tc.change(&r)
			wantErr(t, s.UpsertRegistration(ctx, r), tc.target, "")
		})
	}

	t.Run("bindings are listed latest expiry first", func(t *testing.T) {
		second := reg
		second.Contact, second.CallID, second.ExpiresAt = "sip:201@198.51.100.7", "reg-3", now.Add(3*time.Hour)
		wantErr(t, s.UpsertRegistration(ctx, second), nil, "")
		rs, err := s.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		if len(rs) != 2 || rs[0].Contact != second.Contact || rs[1].Contact != reg.Contact {
			t.Fatalf("active = %+v", rs)
		}
	})

	t.Run("purging removes only what has expired", func(t *testing.T) {
		n, err := s.PurgeExpired(ctx, now.Add(2*time.Hour))
		wantErr(t, err, nil, "")
		if n != 1 {
			t.Fatalf("purged %d, want 1", n)
		}
		rs, err := s.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		if len(rs) != 1 || rs[0].Contact != "sip:201@198.51.100.7" {
			t.Fatalf("left = %+v", rs)
		}
	})

	t.Run("bindings survive a restart", func(t *testing.T) {
		s2 := openAt(t, path)
		rs, err := s2.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		if len(rs) != 1 {
			t.Fatalf("after reopen: %+v", rs)
		}
	})

	t.Run("removing a binding that is not there is not found", func(t *testing.T) {
		wantErr(t, s.DeleteRegistration(ctx, "201", "sip:nobody@192.0.2.1"), ErrNotFound, "")
	})

	t.Run("removing a binding makes it inactive", func(t *testing.T) {
		wantErr(t, s.DeleteRegistration(ctx, "201", "sip:201@198.51.100.7"), nil, "")
		rs, err := s.ActiveRegistrations(ctx, "201", now)
		wantErr(t, err, nil, "")
		if len(rs) != 0 {
			t.Fatalf("left = %+v", rs)
		}
	})

	t.Run("removing all bindings of a user counts them", func(t *testing.T) {
		for i, c := range []string{"sip:201@192.0.2.1", "sip:201@192.0.2.2"} {
			r := reg
			r.Contact, r.CallID = c, "all-"+string(rune('a'+i))
			wantErr(t, s.UpsertRegistration(ctx, r), nil, "")
		}
		n, err := s.DeleteRegistrations(ctx, "201")
		wantErr(t, err, nil, "")
		if n != 2 {
			t.Fatalf("removed %d, want 2", n)
		}
	})

	t.Run("deleting the user removes its bindings", func(t *testing.T) {
		wantErr(t, s.UpsertRegistration(ctx, reg), nil, "")
		wantErr(t, s.DeleteUser(ctx, "201"), nil, "")
		var n int
		wantErr(t, s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM registrations").Scan(&n), nil, "")
		if n != 0 {
			t.Fatalf("%d bindings left", n)
		}
	})
}
