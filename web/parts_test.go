package web

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"confab/focus/store"
)

func TestLogRingKeepsTheLatestRecords(t *testing.T) {
	ring := NewLogRing(3)
	log := slog.New(ring.Handler(slog.DiscardHandler, slog.LevelInfo)).With("component", "sip")
	log.Debug("below the level")
	for i := range 5 {
		log.Info("message", "n", i, "who", "a b")
	}
	got := ring.Records()
	if len(got) != 3 {
		t.Fatalf("kept %d records, want 3", len(got))
	}
	for i, r := range got {
		want := fmt.Sprintf(`component=sip n=%d who="a b"`, i+2)
		if r.Attrs != want {
			t.Errorf("record %d attrs %q, want %q", i, r.Attrs, want)
		}
	}
}

func TestTheCertificateIsMadeOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	first, err := LoadOrCreateCertificate(dir, []string{"confab.local", "192.0.2.10"}, now)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("it names the box's host and address", func(t *testing.T) {
		c, err := x509.ParseCertificate(first.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if err := c.VerifyHostname("192.0.2.10"); err != nil {
			t.Error(err)
		}
		if err := c.VerifyHostname("confab.local"); err != nil {
			t.Error(err)
		}
	})
	t.Run("the key is private to the daemon", func(t *testing.T) {
		fi, err := os.Stat(filepath.Join(dir, KeyFile))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file: %v %v", fi.Mode(), err)
		}
	})
	t.Run("the next start loads the same certificate", func(t *testing.T) {
		again, err := LoadOrCreateCertificate(dir, nil, now.Add(time.Hour))
		if err != nil || string(again.Certificate[0]) != string(first.Certificate[0]) {
			t.Fatalf("a different certificate: %v", err)
		}
	})
	t.Run("a damaged certificate is an error, not silently replaced", func(t *testing.T) {
		os.WriteFile(filepath.Join(dir, CertFile), []byte("junk"), 0o644)
		if _, err := LoadOrCreateCertificate(dir, nil, now); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestCSVCellsCannotBecomeFormulas(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Alice <sip:alice@box>", "Alice <sip:alice@box>"},
		{"=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"},
		{"+15551230000", "'+15551230000"},
		{"-1", "'-1"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"", ""},
	} {
		t.Run(fmt.Sprintf("%q is written as %q", tc.in, tc.want), func(t *testing.T) {
			if got := csvSafe(tc.in); got != tc.want {
				t.Fatalf("csvSafe = %q", got)
			}
		})
	}
}

func TestStoreErrorsFindTheirField(t *testing.T) {
	for _, tc := range []struct {
		err         error
		field, says string
	}{
		{fmt.Errorf("%w: moderator pin must be 4-12 digits", store.ErrInvalid), "moderator_pin", "Moderator pin must be 4-12 digits."},
		{fmt.Errorf("%w: pin must be 4-12 digits", store.ErrInvalid), "pin", "Pin must be 4-12 digits."},
		{fmt.Errorf("create conference 7001: conference number 7001: %w", store.ErrDuplicate), "number", "Conference number 7001 already exists."},
		{fmt.Errorf("%w: focus id must be 8-32 letters or digits", store.ErrInvalid), "", "Focus id must be 8-32 letters or digits."},
	} {
		t.Run(tc.says, func(t *testing.T) {
			field, msg := fieldOf(tc.err, conferenceFields)
			if field != tc.field || msg != tc.says {
				t.Fatalf("fieldOf = %q, %q", field, msg)
			}
		})
	}
	t.Run("other errors are not the admin's to fix", func(t *testing.T) {
		if _, ok := storeFailed(errors.New("disk full"), fieldErrors{}, conferenceFields); ok {
			t.Fatal("a disk error was shown as a form error")
		}
	})
}

func TestSettingsPendingARestart(t *testing.T) {
	inUse := DefaultSettings()
	inUse.SIP, inUse.PublicIP = "127.0.0.1:15060", "192.0.2.10"
	for _, tc := range []struct {
		name   string
		saved  func(s *Settings)
		pinned map[string]bool
		want   bool
	}{
		{"defaults over pinned command-line values are not pending", func(*Settings) {}, map[string]bool{"sip": true}, false},
		{"an empty public address means the one in use", func(*Settings) {}, map[string]bool{"sip": true}, false},
		{"a saved SIP address not pinned is pending", func(*Settings) {}, nil, true},
		{"a new talker threshold is pending", func(s *Settings) { s.TalkThreshold = 300 }, map[string]bool{"sip": true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := DefaultSettings()
			tc.saved(&saved)
			if got := pending(saved, inUse, tc.pinned); got != tc.want {
				t.Fatalf("pending = %v", got)
			}
		})
	}
}
