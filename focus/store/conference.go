package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Admission is who a conference lets in.
type Admission string

// Admission policies.
const (
	// AdmissionOpen lets in anyone who dials the number (after the PIN
	// prompt if the conference has a PIN).
	AdmissionOpen Admission = "open"
	// AdmissionPIN requires the PIN (or the moderator PIN) from everyone.
	AdmissionPIN Admission = "pin"
	// AdmissionLobby holds callers until a moderator admits them.
	AdmissionLobby Admission = "lobby"
	// AdmissionClosed refuses everyone but moderators.
	AdmissionClosed Admission = "closed"
)

// Admissions lists the valid policies, for forms and help text.
func Admissions() []Admission {
	return []Admission{AdmissionOpen, AdmissionPIN, AdmissionLobby, AdmissionClosed}
}

// Conference is a conference as scheduled in the database. Its live state
// (roster, who is speaking) belongs to its Focus, not here.
type Conference struct {
	ID int64
	// FocusID is the conference id of the Focus URI,
	// sip:<organizer>@<domain>;gruu;opaque=app:conf:focus:id:<FocusID>:
	// 8-32 letters or digits, compared case-insensitively. Left empty,
	// CreateConference generates one.
	FocusID string
	// Number is the dial-in number, 2-15 digits (E.164 has at most 15).
	Number    string
	Name      string
	Subject   string
	Organizer string
	// PIN and ModeratorPIN are 4-12 digits or empty; they must differ, since
	// the PIN entered decides the caller's role.
	PIN          string
	ModeratorPIN string
	// Admission is the admission policy; empty means AdmissionOpen.
	Admission           Admission
	Locked              bool
	MaxMembers          int // 0 means no limit
	WaitForLeader       bool
	EndWhenLeaderLeaves bool
	// Announcements turns join/leave tones and prompts on. The zero
	// Conference has them off; NewConference turns them on, as the product
	// does by default.
	Announcements bool
	// Expiry is when the conference may be purged; nil means never.
	Expiry    *time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// NewConference returns a conference with the product's defaults for the
// given dial-in number: open admission, announcements on.
func NewConference(number string) Conference {
	return Conference{Number: number, Admission: AdmissionOpen, Announcements: true}
}

// Field limits, in characters.
const (
	maxNameLen    = 128
	maxSubjectLen = 256
)

// Validate checks every field a caller sets and returns ErrInvalid wrapped
// with a message naming the first field at fault. An empty FocusID or
// Admission is valid: CreateConference fills them in.
func (c Conference) Validate() error {
	if c.FocusID != "" && !validFocusID(c.FocusID) {
		return invalidf("focus id must be 8-32 letters or digits")
	}
	if !isDigits(c.Number, 2, 15) {
		return invalidf("number must be 2-15 digits")
	}
	if err := checkText("name", c.Name, maxNameLen); err != nil {
		return err
	}
	if err := checkText("subject", c.Subject, maxSubjectLen); err != nil {
		return err
	}
	if err := checkText("organizer", c.Organizer, maxSubjectLen); err != nil {
		return err
	}
	if c.PIN != "" && !isDigits(c.PIN, 4, 12) {
		return invalidf("pin must be 4-12 digits")
	}
	if c.ModeratorPIN != "" && !isDigits(c.ModeratorPIN, 4, 12) {
		return invalidf("moderator pin must be 4-12 digits")
	}
	if c.ModeratorPIN != "" && c.ModeratorPIN == c.PIN {
		return invalidf("moderator pin must differ from pin")
	}
	switch c.Admission {
	case "", AdmissionOpen, AdmissionLobby, AdmissionClosed:
	case AdmissionPIN:
		if c.PIN == "" {
			return invalidf("pin is required when admission is %q", AdmissionPIN)
		}
	default:
		return invalidf("admission must be one of open, pin, lobby, closed")
	}
	if c.MaxMembers < 0 {
		return invalidf("max members must not be negative (0 means no limit)")
	}
	if c.Expiry != nil && c.Expiry.IsZero() {
		return invalidf("expiry must be a time or unset")
	}
	return nil
}

func validFocusID(id string) bool {
	if len(id) < 8 || len(id) > 32 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isAlphanumeric(id[i]) {
			return false
		}
	}
	return true
}

// focusIDAlphabet is what generated focus ids are made of: upper case and
// digits, like the 8-character conference ids OCS hands out, easy to read
// out over the phone.
const focusIDAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// newFocusID returns 8 characters drawn uniformly from focusIDAlphabet with
// crypto/rand: focus ids appear in URIs people may try to guess.
func newFocusID() string {
	const n = 8
	// Bytes at or above limit are rejected so that b % 36 is uniform.
	const limit = 256 - 256%len(focusIDAlphabet)
	id := make([]byte, 0, n)
	var buf [16]byte
	for len(id) < n {
		rand.Read(buf[:]) // never fails (crypto/rand, Go 1.24+)
		for _, b := range buf {
			if int(b) < limit && len(id) < n {
				id = append(id, focusIDAlphabet[int(b)%len(focusIDAlphabet)])
			}
		}
	}
	return string(id)
}

const conferenceColumns = `id, focus_id, number, name, subject, organizer, pin, moderator_pin, admission,
	locked, max_members, wait_for_leader, end_when_leader_leaves, announcements, expiry, created_at, updated_at`

func scanConference(row interface{ Scan(...any) error }) (Conference, error) {
	var (
		c                  Conference
		expiry             sql.NullInt64
		created, updated   int64
		admission, focusID string
	)
	err := row.Scan(&c.ID, &focusID, &c.Number, &c.Name, &c.Subject, &c.Organizer, &c.PIN, &c.ModeratorPIN,
		&admission, &c.Locked, &c.MaxMembers, &c.WaitForLeader, &c.EndWhenLeaderLeaves, &c.Announcements,
		&expiry, &created, &updated)
	if err != nil {
		return Conference{}, err
	}
	c.FocusID = focusID
	c.Admission = Admission(admission)
	c.Expiry = goTimePtr(expiry)
	c.CreatedAt = goTime(created)
	c.UpdatedAt = goTime(updated)
	return c, nil
}

// getConference reads one conference selected by where (a condition on one
// unique column) and arg; what names it in the ErrNotFound message.
func getConference(ctx context.Context, q querier, where string, arg any, what string) (Conference, error) {
	row := q.QueryRowContext(ctx, "SELECT "+conferenceColumns+" FROM conferences WHERE "+where, arg)
	c, err := scanConference(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Conference{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Conference{}, fmt.Errorf("read %s: %w", what, err)
	}
	return c, nil
}

// conferenceConflict turns a unique violation on conferences into
// ErrDuplicate naming the value taken; other errors pass through.
func conferenceConflict(err error, c Conference) error {
	column, ok := uniqueViolation(err)
	if !ok {
		return err
	}
	if strings.HasSuffix(column, ".focus_id") {
		return fmt.Errorf("focus id %q: %w", c.FocusID, ErrDuplicate)
	}
	return fmt.Errorf("conference number %s: %w", c.Number, ErrDuplicate)
}

// CreateConference validates c, stores it as a new conference and returns it
// as stored, with ID, FocusID (generated if empty), CreatedAt and UpdatedAt
// set. A number or focus id already in use gives ErrDuplicate.
func (s *Store) CreateConference(ctx context.Context, c Conference) (Conference, error) {
	if c.Admission == "" {
		c.Admission = AdmissionOpen
	}
	if err := c.Validate(); err != nil {
		return Conference{}, err
	}
	now := s.clock()
	var created Conference
	err := s.write(ctx, func(tx *sql.Tx) error {
		if c.FocusID == "" {
			id, err := unusedFocusID(ctx, tx)
			if err != nil {
				return fmt.Errorf("create conference %s: %w", c.Number, err)
			}
			c.FocusID = id
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO conferences (focus_id, number, name, subject, organizer,
			pin, moderator_pin, admission, locked, max_members, wait_for_leader, end_when_leader_leaves,
			announcements, expiry, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.FocusID, c.Number, c.Name, c.Subject, c.Organizer, c.PIN, c.ModeratorPIN, string(c.Admission),
			c.Locked, c.MaxMembers, c.WaitForLeader, c.EndWhenLeaderLeaves, c.Announcements,
			dbTimePtr(c.Expiry), dbTime(now), dbTime(now))
		if err != nil {
			return fmt.Errorf("create conference %s: %w", c.Number, conferenceConflict(err, c))
		}
		id, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("create conference %s: %w", c.Number, err)
		}
		created, err = getConference(ctx, tx, "id = ?", id, fmt.Sprintf("conference %d", id))
		return err
	})
	if err != nil {
		return Conference{}, err
	}
	return created, nil
}

// unusedFocusID generates focus ids until one is free. With 36^8 ids the
// first is all but certainly free; the check costs one index lookup, and
// the write transaction keeps anyone from taking the id before the insert.
func unusedFocusID(ctx context.Context, tx *sql.Tx) (string, error) {
	for range 10 {
		id := newFocusID()
		var taken bool
		err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM conferences WHERE focus_id = ?)", id).Scan(&taken)
		if err != nil {
			return "", fmt.Errorf("generate focus id: %w", err)
		}
		if !taken {
			return id, nil
		}
	}
	return "", errors.New("generate focus id: no free id found")
}

// UpdateConference replaces every field of the conference c.ID with those of
// c and returns it as stored. An empty FocusID keeps the current one;
// CreatedAt is kept and UpdatedAt set. An unknown ID gives ErrNotFound.
func (s *Store) UpdateConference(ctx context.Context, c Conference) (Conference, error) {
	if c.Admission == "" {
		c.Admission = AdmissionOpen
	}
	if err := c.Validate(); err != nil {
		return Conference{}, err
	}
	now := s.clock()
	var updated Conference
	err := s.write(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("conference %d", c.ID)
		old, err := getConference(ctx, tx, "id = ?", c.ID, what)
		if err != nil {
			return err
		}
		if c.FocusID == "" {
			c.FocusID = old.FocusID
		}
		_, err = tx.ExecContext(ctx, `UPDATE conferences SET focus_id = ?, number = ?, name = ?, subject = ?,
			organizer = ?, pin = ?, moderator_pin = ?, admission = ?, locked = ?, max_members = ?,
			wait_for_leader = ?, end_when_leader_leaves = ?, announcements = ?, expiry = ?, updated_at = ?
			WHERE id = ?`,
			c.FocusID, c.Number, c.Name, c.Subject, c.Organizer, c.PIN, c.ModeratorPIN, string(c.Admission),
			c.Locked, c.MaxMembers, c.WaitForLeader, c.EndWhenLeaderLeaves, c.Announcements,
			dbTimePtr(c.Expiry), dbTime(now), c.ID)
		if err != nil {
			return fmt.Errorf("update %s: %w", what, conferenceConflict(err, c))
		}
		updated, err = getConference(ctx, tx, "id = ?", c.ID, what)
		return err
	})
	if err != nil {
		return Conference{}, err
	}
	return updated, nil
}

// DeleteConference deletes the conference. Its call records stay (with
// ConferenceID 0) and trunk DIDs routed to it fall back to asking for the
// number. An unknown id gives ErrNotFound.
func (s *Store) DeleteConference(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM conferences WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete conference %d: %w", id, err)
		}
		return requireOne(res, fmt.Sprintf("conference %d", id))
	})
}

// requireOne turns "no row affected" into ErrNotFound for what.
func requireOne(res sql.Result, what string) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// GetConference returns the conference with the given id, or ErrNotFound.
func (s *Store) GetConference(ctx context.Context, id int64) (Conference, error) {
	return getConference(ctx, s.r, "id = ?", id, fmt.Sprintf("conference %d", id))
}

// ConferenceByNumber returns the conference with the given dial-in number,
// or ErrNotFound.
func (s *Store) ConferenceByNumber(ctx context.Context, number string) (Conference, error) {
	return getConference(ctx, s.r, "number = ?", number, fmt.Sprintf("conference number %s", number))
}

// ConferenceByFocusID returns the conference with the given focus id, in any
// letter case, or ErrNotFound.
func (s *Store) ConferenceByFocusID(ctx context.Context, focusID string) (Conference, error) {
	return getConference(ctx, s.r, "focus_id = ?", focusID, fmt.Sprintf("focus id %q", focusID))
}

// ListConferences returns every conference, ordered by number.
func (s *Store) ListConferences(ctx context.Context) ([]Conference, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT "+conferenceColumns+" FROM conferences ORDER BY number")
	if err != nil {
		return nil, fmt.Errorf("list conferences: %w", err)
	}
	defer rows.Close()
	var cs []Conference
	for rows.Next() {
		c, err := scanConference(rows)
		if err != nil {
			return nil, fmt.Errorf("list conferences: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list conferences: %w", err)
	}
	return cs, nil
}
