package store

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzCanonicalPeer feeds trunk peers as an admin might type them: whatever
// is accepted must be stored in a form that is itself accepted unchanged,
// and an address or prefix must keep meaning the same addresses.
func FuzzCanonicalPeer(f *testing.F) {
	for _, seed := range []string{"192.0.2.1", "10.1.2.3/8", "::ffff:192.0.2.1", "2001:DB8::/32", "SBC.example.",
		"fe80::1%eth0", "-bad.example", "a..b", "1.2.3.4/33", ""} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p string) {
		canon, err := canonicalPeer(p)
		if err != nil {
			return
		}
		again, err := canonicalPeer(canon)
		if err != nil || again != canon {
			t.Fatalf("canonical %q of %q is not stable: %q, %v", canon, p, again, err)
		}
		if prefix, err := netip.ParsePrefix(p); err == nil {
			if got := netip.MustParsePrefix(canon); got.Bits() != prefix.Bits() || !got.Contains(prefix.Addr()) {
				t.Fatalf("prefix %q stored as %q", p, canon)
			}
		}
	})
}

// FuzzConferenceValidate checks that Validate never panics and that what it
// accepts keeps the rules the Focus relies on.
func FuzzConferenceValidate(f *testing.F) {
	f.Add("7001", "1234", "5678", "open", "ABCDEFGH")
	f.Add("7001", "1234", "1234", "pin", "")
	f.Add("", "", "", "", "abc")
	f.Add("12345678901234567", "１２３４", "", "lobby", "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ")
	f.Fuzz(func(t *testing.T, number, pin, modPIN, admission, focusID string) {
		c := Conference{Number: number, PIN: pin, ModeratorPIN: modPIN, Admission: Admission(admission), FocusID: focusID}
		if err := c.Validate(); err != nil {
			if !strings.HasPrefix(err.Error(), ErrInvalid.Error()+": ") {
				t.Fatalf("error %q does not start with %q", err, ErrInvalid.Error()+": ")
			}
			return
		}
		if !isDigits(c.Number, 2, 15) || c.PIN != "" && !isDigits(c.PIN, 4, 12) {
			t.Fatalf("accepted number %q pin %q", c.Number, c.PIN)
		}
		if c.ModeratorPIN != "" && c.ModeratorPIN == c.PIN {
			t.Fatalf("accepted equal pins %q", c.PIN)
		}
		if c.Admission == AdmissionPIN && c.PIN == "" {
			t.Fatal("accepted pin admission without a pin")
		}
	})
}
