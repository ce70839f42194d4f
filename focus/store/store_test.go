package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// fakeClock is a settable clock for WithClock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 9, 30, 0, 123456789, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// openAt opens the store at path and closes it when the test ends.
func openAt(t *testing.T, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// openTest opens a fresh store in a temporary directory with a fake clock.
func openTest(t *testing.T) (*Store, *fakeClock, string) {
	t.Helper()
	clock := newFakeClock()
	path := filepath.Join(t.TempDir(), "confab.db")
	return openAt(t, path, WithClock(clock.Now)), clock, path
}

// wantErr fails the test unless err is target (nil for no error) and, when
// msg is set, its message contains msg.
func wantErr(t *testing.T, err, target error, msg string) {
	t.Helper()
	switch {
	case target == nil && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case target != nil && !errors.Is(err, target):
		t.Fatalf("error = %v, want %v", err, target)
	case msg != "" && (err == nil || !strings.Contains(err.Error(), msg)):
		t.Fatalf("error = %v, want message containing %q", err, msg)
	}
}

func integrityCheck(t *testing.T, s *Store) {
	t.Helper()
	var result string
	if err := s.r.QueryRow("PRAGMA integrity_check").Scan(&result); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	if result != "ok" {
		t.Fatalf("integrity_check = %q, want ok", result)
	}
}

func TestOpen(t *testing.T) {
	ctx := context.Background()

	t.Run("the writing connection runs WAL, synchronous FULL and foreign keys", func(t *testing.T) {
		s, _, _ := openTest(t)
		for _, tc := range []struct{ pragma, want string }{
			{"journal_mode", "wal"},
			{"synchronous", "2"},
			{"foreign_keys", "1"},
			{"busy_timeout", "5000"},
		} {
			var got string
			if err := s.w.QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("PRAGMA %s = %q, want %q", tc.pragma, got, tc.want)
			}
		}
	})

	t.Run("read connections cannot write", func(t *testing.T) {
		s, _, _ := openTest(t)
		_, err := s.r.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES ('a', 'b', 0)")
		if err == nil {
			t.Fatal("insert through a read connection succeeded")
		}
	})

	t.Run("the database file is readable by its owner only", func(t *testing.T) {
		_, _, path := openTest(t)
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if perm := fi.Mode().Perm(); perm != 0o600 {
			t.Fatalf("mode = %v, want 0600", perm)
		}
	})

	for _, tc := range []struct{ name, path string }{
		{"an empty path is refused", ""},
		{"an in-memory database is refused", ":memory:"},
		{"a path with a query is refused", "/tmp/x.db?mode=ro"},
		{"a URI is refused", "file:x.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Open(ctx, tc.path)
			wantErr(t, err, ErrInvalid, "path must name a file")
		})
	}

	t.Run("a directory that does not exist fails", func(t *testing.T) {
		_, err := Open(ctx, filepath.Join(t.TempDir(), "missing", "confab.db"))
		if err == nil {
			t.Fatal("Open succeeded")
		}
	})
}

func TestMigrations(t *testing.T) {
	ctx := context.Background()
	all, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("embedded migrations: %v", err)
	}
	latest := all[len(all)-1].version

	t.Run("reopening applies nothing twice and keeps the data", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "confab.db")
		for round := range 3 {
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatalf("open #%d: %v", round, err)
			}
			if round == 0 {
				if _, err := s.CreateConference(ctx, NewConference("7001")); err != nil {
					t.Fatal(err)
				}
			}
			v, err := s.SchemaVersion(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var rows int
			if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_version").Scan(&rows); err != nil {
				t.Fatal(err)
			}
			_, cerr := s.ConferenceByNumber(ctx, "7001")
			s.Close()
			if v != latest || rows != latest {
				t.Fatalf("open #%d: version %d in %d rows, want %d", round, v, rows, latest)
			}
			if cerr != nil {
				t.Fatalf("open #%d: conference lost: %v", round, cerr)
			}
		}
	})

	t.Run("a database from a newer program is refused", func(t *testing.T) {
		s, _, path := openTest(t)
		if _, err := s.w.ExecContext(ctx, "INSERT INTO schema_version (version, applied_at) VALUES (?, 0)", latest+1); err != nil {
			t.Fatal(err)
		}
		s.Close()
		_, err := Open(ctx, path)
		wantErr(t, err, ErrSchemaTooNew, "knows up to")
	})

	t.Run("a failing step leaves the schema as it was", func(t *testing.T) {
		s, _, _ := openTest(t)
		fsys := fstest.MapFS{}
		for _, m := range all {
			fsys["migrations/"+m.name] = &fstest.MapFile{Data: []byte(m.sql)}
		}
		fsys[fmt.Sprintf("migrations/%04d_broken.sql", latest+1)] = &fstest.MapFile{
			Data: []byte("CREATE TABLE half (a INTEGER); INSERT INTO nowhere VALUES (1);"),
		}
		// Only the new step runs, and it fails halfway.
		if err := s.migrate(ctx, fsys); err == nil {
			t.Fatal("migrate succeeded")
		}
		var n int
		if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'half'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if v, _ := s.SchemaVersion(ctx); n != 0 || v != latest {
			t.Fatalf("after failed step: table half present=%v, version %d, want absent and %d", n != 0, v, latest)
		}
	})

	for _, tc := range []struct {
		name  string
		files []string
		want  string
	}{
		{"steps are ordered by number", []string{"0002_b.sql", "0001_a.sql"}, ""},
		{"a gap in the numbering is refused", []string{"0001_a.sql", "0003_c.sql"}, "expected version 2"},
		{"a name without a number is refused", []string{"init.sql"}, "NNNN_description.sql"},
		{"a three-digit number is refused", []string{"001_a.sql"}, "NNNN_description.sql"},
		{"no steps at all is refused", nil, "no migrations"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for _, f := range tc.files {
				fsys["migrations/"+f] = &fstest.MapFile{Data: []byte("SELECT 1")}
			}
			ms, err := loadMigrations(fsys)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error = %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, m := range ms {
				if m.version != i+1 {
					t.Fatalf("step %d has version %d", i, m.version)
				}
			}
		})
	}
}

func TestClose(t *testing.T) {
	t.Run("methods fail after Close", func(t *testing.T) {
		s, _, _ := openTest(t)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ListConferences(context.Background()); err == nil {
			t.Fatal("ListConferences after Close succeeded")
		}
		if err := s.SetSetting(context.Background(), "a", "b"); err == nil {
			t.Fatal("SetSetting after Close succeeded")
		}
	})

	t.Run("committed writes are in the file after Close", func(t *testing.T) {
		s, _, path := openTest(t)
		if err := s.SetSetting(context.Background(), "sip.realm", "confab"); err != nil {
			t.Fatal(err)
		}
		s.Close()
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v string
		if err := db.QueryRow("SELECT value FROM settings WHERE key = 'sip.realm'").Scan(&v); err != nil || v != "confab" {
			t.Fatalf("setting read back = %q, %v", v, err)
		}
	})
}
