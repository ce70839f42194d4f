package store

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"
	"time"
)

// User is a SIP user: a desk phone or softphone account that registers and
// authenticates with HTTP Digest (RFC 3261 §22). The password itself is
// never stored, only the two HA1 values the SIP front needs to check a
// digest response.
type User struct {
	ID          int64
	Username    string
	DisplayName string
	Realm       string
	// HA1MD5 is hex(MD5(username ":" realm ":" password)), RFC 2617 §3.2.2.2.
	HA1MD5 string
	// HA1SHA256 is hex(SHA-256(username ":" realm ":" password)), RFC 7616
	// §3.4.2, for phones that offer algorithm=SHA-256.
	HA1SHA256 string
	CreatedAt time.Time
}

// Field limits.
const (
	maxUsernameLen = 64
	maxRealmLen    = 128
	maxPasswordLen = 256
)

// usernameByte allows what RFC 3261 §25.1 allows in a SIP URI user part
// (unreserved and user-unreserved characters) except ";", "?" and "/",
// which phones and trunks read as URI parameters, headers or paths, and
// "%" escapes, so a username has one spelling only.
func usernameByte(c byte) bool {
	return isAlphanumeric(c) || strings.IndexByte("-_.!~*'()&=+$,", c) >= 0
}

func validateUsername(username string) error {
	return checkToken("username", username, maxUsernameLen, usernameByte,
		"letters, digits and -_.!~*'()&=+$,")
}

// validateRealm keeps the realm fit for a quoted-string in WWW-Authenticate.
func validateRealm(realm string) error {
	if realm == "" {
		return invalidf("realm is required")
	}
	if strings.ContainsAny(realm, `"\`) {
		return invalidf(`realm must not contain " or \`)
	}
	return checkText("realm", realm, maxRealmLen)
}

func validatePassword(password string) error {
	if password == "" {
		return invalidf("password is required")
	}
	if len(password) > maxPasswordLen {
		return invalidf("password must be at most %d bytes", maxPasswordLen)
	}
	return nil
}

// ha1 is H(A1) for the plain (not -sess) algorithms: H(username ":" realm
// ":" password), hex encoded (RFC 7616 §3.4.2).
func ha1(newHash func() hash.Hash, username, realm, password string) string {
	h := newHash()
	h.Write([]byte(username + ":" + realm + ":" + password))
	return hex.EncodeToString(h.Sum(nil))
}

const userColumns = "id, username, display_name, realm, ha1_md5, ha1_sha256, created_at"

func scanUser(row interface{ Scan(...any) error }) (User, error) {
	var (
		u       User
		created int64
	)
	if err := row.Scan(&u.ID, &u.Username, &u.DisplayName, &u.Realm, &u.HA1MD5, &u.HA1SHA256, &created); err != nil {
		return User{}, err
	}
	u.CreatedAt = goTime(created)
	return u, nil
}

func getUser(ctx context.Context, q querier, username string) (User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, "SELECT "+userColumns+" FROM users WHERE username = ?", username))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, fmt.Errorf("user %q: %w", username, ErrNotFound)
	}
	if err != nil {
		return User{}, fmt.Errorf("read user %q: %w", username, err)
	}
	return u, nil
}

// CreateUser creates a SIP user whose digest credentials are username,
// realm and password, and returns it. A username already taken gives
// ErrDuplicate.
func (s *Store) CreateUser(ctx context.Context, username, displayName, realm, password string) (User, error) {
	if err := validateUsername(username); err != nil {
		return User{}, err
	}
	if err := checkText("display name", displayName, maxNameLen); err != nil {
		return User{}, err
	}
	if err := validateRealm(realm); err != nil {
		return User{}, err
	}
	if err := validatePassword(password); err != nil {
		return User{}, err
	}
	now := s.clock()
	var u User
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO users (username, display_name, realm, ha1_md5, ha1_sha256,
			created_at) VALUES (?, ?, ?, ?, ?, ?)`, username, displayName, realm,
			ha1(md5.New, username, realm, password), ha1(sha256.New, username, realm, password), dbTime(now))
		if _, dup := uniqueViolation(err); dup {
			return fmt.Errorf("username %q: %w", username, ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("create user %q: %w", username, err)
		}
		u, err = getUser(ctx, tx, username)
		return err
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// UserByName returns the user, or ErrNotFound.
func (s *Store) UserByName(ctx context.Context, username string) (User, error) {
	return getUser(ctx, s.r, username)
}

// ListUsers returns every user, ordered by username.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY username")
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var us []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

// DeleteUser deletes the user and its registrations, or returns ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, username string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM users WHERE username = ?", username)
		if err != nil {
			return fmt.Errorf("delete user %q: %w", username, err)
		}
		return requireOne(res, fmt.Sprintf("user %q", username))
	})
}

// SetUserPassword replaces the user's HA1 values with those of password in
// the user's realm, or returns ErrNotFound.
func (s *Store) SetUserPassword(ctx context.Context, username, password string) error {
	if err := validatePassword(password); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		u, err := getUser(ctx, tx, username)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE users SET ha1_md5 = ?, ha1_sha256 = ? WHERE id = ?",
			ha1(md5.New, u.Username, u.Realm, password), ha1(sha256.New, u.Username, u.Realm, password), u.ID)
		if err != nil {
			return fmt.Errorf("set password of user %q: %w", username, err)
		}
		return nil
	})
}
