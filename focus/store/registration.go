package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// ErrOutOfOrder means a REGISTER carried a CSeq no higher than the one
// already stored for its Call-ID; RFC 3261 §10.3 step 7 says to drop it
// (the registrar answers 500).
var ErrOutOfOrder = errors.New("out-of-order registration")

// Registration is one contact binding of a user (RFC 3261 §10). Bindings are
// kept in the database so that phones stay reachable across a restart of
// the daemon without waiting for them to register again.
type Registration struct {
	Username string
	// Contact is the contact URI as the registrar normalised it; bindings are
	// told apart by (Username, Contact).
	Contact string
	// Source is where the REGISTER came from, which is where requests go
	// for a phone behind NAT.
	Source    netip.AddrPort
	Transport string // "udp", "tcp", "tls", "ws" or "wss"
	ExpiresAt time.Time
	CallID    string
	CSeq      uint32
	UpdatedAt time.Time
}

const maxContactLen = 1024

// Validate checks the fields of a binding.
func (r Registration) Validate() error {
	if err := validateUsername(r.Username); err != nil {
		return err
	}
	lower := strings.ToLower(r.Contact)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") {
		return invalidf("contact must be a sip: or sips: URI")
	}
	if err := checkText("contact", r.Contact, maxContactLen); err != nil {
		return err
	}
	if !r.Source.IsValid() || r.Source.Port() == 0 {
		return invalidf("source must be an address and port")
	}
	switch r.Transport {
	case "udp", "tcp", "tls", "ws", "wss":
	default:
		return invalidf("transport must be one of udp, tcp, tls, ws, wss")
	}
	if r.ExpiresAt.IsZero() {
		return invalidf("expiry time is required")
	}
	if r.CallID == "" {
		return invalidf("call-id is required")
	}
	if err := checkText("call-id", r.CallID, 256); err != nil {
		return err
	}
	return nil
}

const registrationColumns = "username, contact, source, transport, expires_at, call_id, cseq, updated_at"

func scanRegistration(row interface{ Scan(...any) error }) (Registration, error) {
	var (
		r                Registration
		source           string
		expires, updated int64
		cseq             int64
	)
	if err := row.Scan(&r.Username, &r.Contact, &source, &r.Transport, &expires, &r.CallID, &cseq, &updated); err != nil {
		return Registration{}, err
	}
	src, err := netip.ParseAddrPort(source)
	if err != nil {
		return Registration{}, fmt.Errorf("source of %s: %w", r.Contact, err)
	}
	r.Source = src
	r.ExpiresAt = goTime(expires)
	r.CSeq = uint32(cseq)
	r.UpdatedAt = goTime(updated)
	return r, nil
}

// UpsertRegistration adds the binding or refreshes the one with the same
// username and contact. A refresh in the same Call-ID must carry a higher
// CSeq, else ErrOutOfOrder; a user that does not exist gives ErrNotFound.
func (s *Store) UpsertRegistration(ctx context.Context, r Registration) error {
	if err := r.Validate(); err != nil {
		return err
	}
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM users WHERE username = ?)", r.Username).Scan(&exists)
		if err != nil {
			return fmt.Errorf("register %s: %w", r.Contact, err)
		}
		if !exists {
			return fmt.Errorf("user %q: %w", r.Username, ErrNotFound)
		}
		var (
			callID string
			cseq   int64
		)
		err = tx.QueryRowContext(ctx, "SELECT call_id, cseq FROM registrations WHERE username = ? AND contact = ?",
			r.Username, r.Contact).Scan(&callID, &cseq)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return fmt.Errorf("register %s: %w", r.Contact, err)
		case callID == r.CallID && int64(r.CSeq) <= cseq:
			return fmt.Errorf("register %s: cseq %d after %d: %w", r.Contact, r.CSeq, cseq, ErrOutOfOrder)
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO registrations (`+registrationColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (username, contact) DO UPDATE SET source = excluded.source,
				transport = excluded.transport, expires_at = excluded.expires_at,
				call_id = excluded.call_id, cseq = excluded.cseq, updated_at = excluded.updated_at`,
			r.Username, r.Contact, r.Source.String(), r.Transport, dbTime(r.ExpiresAt), r.CallID,
			int64(r.CSeq), dbTime(now))
		if err != nil {
			return fmt.Errorf("register %s: %w", r.Contact, err)
		}
		return nil
	})
}

// DeleteRegistration removes one binding (a REGISTER with Expires: 0), or
// returns ErrNotFound.
func (s *Store) DeleteRegistration(ctx context.Context, username, contact string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM registrations WHERE username = ? AND contact = ?", username, contact)
		if err != nil {
			return fmt.Errorf("unregister %s: %w", contact, err)
		}
		return requireOne(res, fmt.Sprintf("registration of %q at %s", username, contact))
	})
}

// DeleteRegistrations removes every binding of the user (Contact: * with
// Expires: 0, RFC 3261 §10.2.2) and returns how many there were.
func (s *Store) DeleteRegistrations(ctx context.Context, username string) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM registrations WHERE username = ?", username)
		if err != nil {
			return fmt.Errorf("unregister %q: %w", username, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// ActiveRegistrations returns the user's bindings that have not expired at
// now, soonest to expire last.
func (s *Store) ActiveRegistrations(ctx context.Context, username string, now time.Time) ([]Registration, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+registrationColumns+` FROM registrations
		WHERE username = ? AND expires_at > ? ORDER BY expires_at DESC, contact`, username, dbTime(now))
	if err != nil {
		return nil, fmt.Errorf("registrations of %q: %w", username, err)
	}
	defer rows.Close()
	var rs []Registration
	for rows.Next() {
		r, err := scanRegistration(rows)
		if err != nil {
			return nil, fmt.Errorf("registrations of %q: %w", username, err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("registrations of %q: %w", username, err)
	}
	return rs, nil
}

// PurgeExpired deletes the bindings expired at now and returns how many.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM registrations WHERE expires_at <= ?", dbTime(now))
		if err != nil {
			return fmt.Errorf("purge registrations: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}
