package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// Admin accounts log in to the web page and the HTTP API. Only bcrypt
// hashes are stored.

const (
	maxAdminNameLen = 64
	// minAdminPasswordLen keeps out the shortest guesses; bcrypt reads at
	// most 72 bytes, and a longer password would be cut without notice.
	minAdminPasswordLen = 8
	maxAdminPasswordLen = 72
)

func adminNameByte(c byte) bool {
	return isAlphanumeric(c) || c == '.' || c == '_' || c == '-'
}

// SetAdminPassword creates the admin account user, or changes its password.
func (s *Store) SetAdminPassword(ctx context.Context, user, password string) error {
	if err := checkToken("admin username", user, maxAdminNameLen, adminNameByte, "letters, digits and ._-"); err != nil {
		return err
	}
	if len(password) < minAdminPasswordLen {
		return invalidf("admin password must be at least %d characters", minAdminPasswordLen)
	}
	if len(password) > maxAdminPasswordLen {
		return invalidf("admin password must be at most %d bytes", maxAdminPasswordLen)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), s.bcryptCost)
	if err != nil {
		return fmt.Errorf("hash admin password: %w", err)
	}
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO admins (username, password_hash, created_at, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash,
			updated_at = excluded.updated_at`, user, string(hash), dbTime(now), dbTime(now))
		if err != nil {
			return fmt.Errorf("set admin password of %q: %w", user, err)
		}
		return nil
	})
}

// CheckAdminPassword reports whether password is that of admin user. An
// unknown user is false, not an error, and takes as long to answer as a
// wrong password, so the answer does not tell which usernames exist.
func (s *Store) CheckAdminPassword(ctx context.Context, user, password string) (bool, error) {
	var hash string
	err := s.r.QueryRowContext(ctx, "SELECT password_hash FROM admins WHERE username = ?", user).Scan(&hash)
	if errors.Is(err, sql.ErrNoRows) {
		dummy, err := s.dummyHash.get(s.bcryptCost)
		if err != nil {
			return false, err
		}
		bcrypt.CompareHashAndPassword(dummy, []byte(password))
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read admin %q: %w", user, err)
	}
	err = bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
	if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("check admin password of %q: %w", user, err)
	}
	return true, nil
}

// HasAdmin reports whether any admin account exists; until one does, the
// daemon offers first-start setup.
func (s *Store) HasAdmin(ctx context.Context) (bool, error) {
	var has bool
	if err := s.r.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM admins)").Scan(&has); err != nil {
		return false, fmt.Errorf("read admins: %w", err)
	}
	return has, nil
}

// dummyHash is a bcrypt hash of nothing anyone knows, made on first use, to
// compare against when the username is unknown. It has the cost of real
// hashes so that the comparison takes as long.
type dummyHash struct {
	once sync.Once
	hash []byte
	err  error
}

func (d *dummyHash) get(cost int) ([]byte, error) {
	d.once.Do(func() {
		d.hash, d.err = bcrypt.GenerateFromPassword([]byte("no such admin"), cost)
	})
	return d.hash, d.err
}
