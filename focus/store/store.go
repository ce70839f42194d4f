// Package store is the conferencing database: conferences, SIP users and
// their registrations, trunks and their DIDs, settings, call records and admin
// accounts, kept in one SQLite file on the data partition.
//
// The file is opened through modernc.org/sqlite (pure Go, no cgo) in WAL
// journal mode with synchronous=FULL, so every method that returns without an
// error has its change on disk and it survives a crash or a power cut. Writes
// go through a single connection, one transaction per method call, so writers
// never contend for the SQLite write lock; reads use a small pool of separate
// read-only connections and are not blocked by a writer (WAL readers see the
// last committed state).
//
// The schema is created and upgraded by the numbered SQL files embedded from
// migrations/, applied in one transaction when the store is opened. A program
// older than the database refuses to open it with ErrSchemaTooNew rather than
// guess at columns it does not know.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Errors callers tell apart. Methods wrap them with the record they concern,
// so err.Error() is a message fit to show to whoever caused it.
var (
	// ErrNotFound means no record has the given id, number or name.
	ErrNotFound = errors.New("not found")
	// ErrDuplicate means a unique value (conference number, focus id,
	// username, trunk name) is already taken.
	ErrDuplicate = errors.New("already exists")
	// ErrInvalid means a field failed validation; the wrapping message names
	// the field and the rule.
	ErrInvalid = errors.New("invalid")
	// ErrSchemaTooNew means the database was written by a newer program.
	ErrSchemaTooNew = errors.New("database schema is newer than this program")
)

// busyTimeout is how long a connection waits for a lock another connection
// (or, during an upgrade, another process) holds before failing with
// SQLITE_BUSY. Writers are serialised in Go, so in normal running this only
// covers checkpoints.
const busyTimeout = 5 * time.Second

// readConns is the size of the read pool: enough for the SIP front, the HTTP
// API and the Focus to read at once on a small box.
const readConns = 4

// Store is an open conferencing database. Its methods are safe for
// concurrent use.
type Store struct {
	w   *sql.DB // the one writing connection
	r   *sql.DB // read-only connections
	log *slog.Logger
	now func() time.Time

	bcryptCost int
	dummyHash  dummyHash // for constant-time admin password checks
}

// Option configures Open.
type Option func(*options)

type options struct {
	log        *slog.Logger
	now        func() time.Time
	bcryptCost int
}

// WithLogger sets the logger; the store adds component=store. The default
// discards.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.log = l }
}

// WithClock sets the clock used for CreatedAt, UpdatedAt and for closing call
// records at Open. The default is time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// WithBcryptCost sets the bcrypt cost of admin password hashes (default
// bcrypt.DefaultCost). Tests of packages that log in a lot lower it to
// bcrypt.MinCost to stay fast under the race detector; production keeps the
// default.
func WithBcryptCost(cost int) Option {
	return func(o *options) { o.bcryptCost = cost }
}

// Open opens the database file at path, creating it (mode 0600: it holds
// trunk passwords and password hashes) if it does not exist, brings its
// schema up to date and closes any call record a crash left open.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	o := options{log: slog.New(slog.DiscardHandler), now: time.Now, bcryptCost: bcrypt.DefaultCost}
	for _, opt := range opts {
		opt(&o)
	}
	if o.bcryptCost < bcrypt.MinCost || o.bcryptCost > bcrypt.MaxCost {
		return nil, fmt.Errorf("open store: %w: bcrypt cost must be %d-%d", ErrInvalid, bcrypt.MinCost, bcrypt.MaxCost)
	}
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("open store: %w: path must name a file, got %q", ErrInvalid, path)
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}

	s := &Store{log: o.log.With("component", "store"), now: o.now, bcryptCost: o.bcryptCost}
	ms := busyTimeout.Milliseconds()
	// _txlock=immediate takes the write lock at BEGIN, so a transaction never
	// has to upgrade a read lock, which in WAL mode can fail with
	// SQLITE_BUSY_SNAPSHOT without waiting for the busy timeout.
	w, err := sql.Open("sqlite", fmt.Sprintf(
		"%s?_busy_timeout=%d&_journal_mode=WAL&_synchronous=FULL&_foreign_keys=1&_txlock=immediate", path, ms))
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	s.w = w
	if err := s.checkPragmas(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := s.migrate(ctx, migrationFiles); err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}

	r, err := sql.Open("sqlite", fmt.Sprintf(
		"%s?_busy_timeout=%d&_foreign_keys=1&_query_only=1", path, ms))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	r.SetMaxOpenConns(readConns)
	r.SetMaxIdleConns(readConns)
	r.SetConnMaxLifetime(0)
	s.r = r

	if err := s.closeDanglingCallRecords(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return s, nil
}

// createPrivate creates the database file with owner-only permissions if it
// does not exist yet; SQLite gives the -wal and -shm files the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// checkPragmas confirms the settings durability depends on took effect:
// journal_mode=WAL silently stays "delete" on file systems without shared
// memory, and a typo in the DSN would otherwise go unnoticed.
func (s *Store) checkPragmas(ctx context.Context) error {
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return err
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal mode is %q, want wal", mode)
	}
	var syncMode, fk int
	if err := s.w.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
		return err
	}
	if syncMode != 2 { // FULL
		return fmt.Errorf("synchronous is %d, want 2 (FULL)", syncMode)
	}
	if err := s.w.QueryRowContext(ctx, "PRAGMA foreign_keys").Scan(&fk); err != nil {
		return err
	}
	if fk != 1 {
		return errors.New("foreign keys are not enforced")
	}
	return nil
}

// Close closes the database. Methods called after Close fail.
func (s *Store) Close() error {
	var rerr error
	if s.r != nil {
		rerr = s.r.Close()
	}
	return errors.Join(rerr, s.w.Close())
}

// querier is what reads need from either a pool or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// write runs fn in a transaction on the writing connection and commits it.
// fn's error is returned as is, so it can carry a sentinel.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return rollback(tx, err)
	}
	return tx.Commit()
}

// writeRecord is write for call records: it commits without waiting for
// the disk. In WAL mode with synchronous=NORMAL a commit survives a crash of
// the process (kill -9) at once, because it is in the WAL that the next open
// replays; against power loss it is safe from the next fully synced commit
// or checkpoint on. Waiting for fsync on every call's start and end would
// cap call set-up at what the disk syncs per second (measured: about 300
// calls/s here instead of 500), while conferences, settings and accounts
// keep synchronous=FULL.
func (s *Store) writeRecord(ctx context.Context, fn func(tx *sql.Tx) error) error {
	conn, err := s.w.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
		return err
	}
	// Back to FULL whatever happens, before the connection serves anyone else.
	defer conn.ExecContext(context.Background(), "PRAGMA synchronous=FULL") //nolint:errcheck
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		return rollback(tx, err)
	}
	return tx.Commit()
}

// read runs fn in a read transaction, for reads that span several
// statements and must see one snapshot.
func (s *Store) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	return rollback(tx, fn(tx))
}

// rollback ends tx and returns err, joined with the rollback's own failure
// if there is one.
func rollback(tx *sql.Tx, err error) error {
	if rerr := tx.Rollback(); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
		return errors.Join(err, fmt.Errorf("rollback: %w", rerr))
	}
	return err
}

// uniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint
// failure and, if so, the "table.column" SQLite names in its message
// ("UNIQUE constraint failed: conferences.number").
func uniqueViolation(err error) (column string, ok bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	if se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", false
	}
	msg := se.Error()
	if i := strings.LastIndex(msg, "constraint failed: "); i >= 0 {
		column = msg[i+len("constraint failed: "):]
		if j := strings.IndexAny(column, " ,("); j >= 0 {
			column = column[:j]
		}
	}
	return column, true
}

// dbTime and goTime convert between time.Time and the INTEGER columns that
// hold times as Unix nanoseconds (UTC, good until 2262): integers compare
// and index correctly, and nothing is lost in the round trip.
func dbTime(t time.Time) int64 { return t.UnixNano() }

func goTime(n int64) time.Time { return time.Unix(0, n).UTC() }

func dbTimePtr(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: dbTime(*t), Valid: true}
}

func goTimePtr(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := goTime(n.Int64)
	return &t
}

// clock returns the current time as it will read back from the database.
func (s *Store) clock() time.Time { return goTime(dbTime(s.now())) }
