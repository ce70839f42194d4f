package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
)

// ReasonDaemonRestart is the Reason of call records that were still open
// when the daemon stopped without finishing them (a crash or power cut);
// Open closes them with it.
const ReasonDaemonRestart = "daemon restart"

// CallRecord is one participant's stay in a conference.
type CallRecord struct {
	ID int64
	// ConferenceID is the conference's id, or 0 once it has been deleted;
	// ConferenceNumber keeps saying which one it was.
	ConferenceID     int64
	ConferenceNumber string
	// Participant is who it was: display name and URI, as the Focus shows it.
	Participant string
	CallID      string
	Role        string // e.g. "attendee", "presenter"
	Codec       string
	JoinedAt    time.Time
	// LeftAt is zero while the participant is still in the conference.
	LeftAt  time.Time
	Reason  string
	Quality Quality
}

// Quality summarises the audio the bridge received from the participant.
type Quality struct {
	PacketsReceived int64
	// PacketsLost is the RTP cumulative loss; it can be negative when
	// duplicates outnumber losses (RFC 3550 §6.4.1).
	PacketsLost int64
	JitterMs    float64
	// MOS is the estimated mean opinion score, 1 to 5; 0 means unknown.
	MOS float64
}

const maxCallTextLen = 512

func (q Quality) validate() error {
	if q.PacketsReceived < 0 {
		return invalidf("packets received must not be negative")
	}
	if q.JitterMs < 0 || math.IsNaN(q.JitterMs) || math.IsInf(q.JitterMs, 0) {
		return invalidf("jitter must be a non-negative number of milliseconds")
	}
	if q.MOS != 0 && !(q.MOS >= 1 && q.MOS <= 5) {
		return invalidf("mos must be between 1 and 5, or 0 when unknown")
	}
	return nil
}

const callRecordColumns = `id, COALESCE(conference_id, 0), conference_number, participant, call_id, role, codec,
	joined_at, left_at, reason, packets_received, packets_lost, jitter_ms, mos`

func scanCallRecord(row interface{ Scan(...any) error }) (CallRecord, error) {
	var (
		r      CallRecord
		joined int64
		left   sql.NullInt64
	)
	err := row.Scan(&r.ID, &r.ConferenceID, &r.ConferenceNumber, &r.Participant, &r.CallID, &r.Role, &r.Codec,
		&joined, &left, &r.Reason, &r.Quality.PacketsReceived, &r.Quality.PacketsLost, &r.Quality.JitterMs,
		&r.Quality.MOS)
	if err != nil {
		return CallRecord{}, err
	}
	r.JoinedAt = goTime(joined)
	if left.Valid {
		r.LeftAt = goTime(left.Int64)
	}
	return r, nil
}

// StartCallRecord records that a participant joined and returns the
// record's id for FinishCallRecord. r.ConferenceID must name an existing
// conference (ErrNotFound otherwise); ConferenceNumber is filled in from it.
// ID, LeftAt, Reason and Quality are ignored.
func (s *Store) StartCallRecord(ctx context.Context, r CallRecord) (int64, error) {
	if r.JoinedAt.IsZero() {
		return 0, invalidf("joined at is required")
	}
	for _, f := range []struct{ name, value string }{
		{"participant", r.Participant}, {"call-id", r.CallID}, {"role", r.Role}, {"codec", r.Codec},
	} {
		if err := checkText(f.name, f.value, maxCallTextLen); err != nil {
			return 0, err
		}
	}
	if r.CallID == "" {
		return 0, invalidf("call-id is required")
	}
	var id int64
	err := s.writeRecord(ctx, func(tx *sql.Tx) error {
		c, err := getConference(ctx, tx, "id = ?", r.ConferenceID, fmt.Sprintf("conference %d", r.ConferenceID))
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO call_records (conference_id, conference_number, participant,
			call_id, role, codec, joined_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.ID, c.Number, r.Participant, r.CallID, r.Role, r.Codec, dbTime(r.JoinedAt))
		if err != nil {
			return fmt.Errorf("start call record for %s: %w", r.CallID, err)
		}
		id, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// FinishCallRecord records that the participant of record id left at leftAt
// for reason, with the call's quality. An unknown id gives ErrNotFound; a
// record already finished, or leftAt before the join, gives ErrInvalid.
func (s *Store) FinishCallRecord(ctx context.Context, id int64, leftAt time.Time, reason string, q Quality) error {
	if leftAt.IsZero() {
		return invalidf("left at is required")
	}
	if err := checkText("reason", reason, maxCallTextLen); err != nil {
		return err
	}
	if err := q.validate(); err != nil {
		return err
	}
	return s.writeRecord(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("call record %d", id)
		r, err := scanCallRecord(tx.QueryRowContext(ctx, "SELECT "+callRecordColumns+" FROM call_records WHERE id = ?", id))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s: %w", what, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		if !r.LeftAt.IsZero() {
			return invalidf("%s is already finished (%s)", what, r.Reason)
		}
		if leftAt.Before(r.JoinedAt) {
			return invalidf("left at must not be before joined at")
		}
		_, err = tx.ExecContext(ctx, `UPDATE call_records SET left_at = ?, reason = ?, packets_received = ?,
			packets_lost = ?, jitter_ms = ?, mos = ? WHERE id = ?`,
			dbTime(leftAt), reason, q.PacketsReceived, q.PacketsLost, q.JitterMs, q.MOS, id)
		if err != nil {
			return fmt.Errorf("finish %s: %w", what, err)
		}
		return nil
	})
}

// ListCallRecords returns the newest call records of the conference, or of
// every conference when conferenceID is 0, newest first; at most limit of
// them, or all when limit is 0 or less.
func (s *Store) ListCallRecords(ctx context.Context, conferenceID int64, limit int) ([]CallRecord, error) {
	if limit <= 0 {
		limit = -1 // SQLite: no limit
	}
	query := "SELECT " + callRecordColumns + " FROM call_records"
	args := []any{}
	if conferenceID != 0 {
		query += " WHERE conference_id = ?"
		args = append(args, conferenceID)
	}
	query += " ORDER BY joined_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list call records: %w", err)
	}
	defer rows.Close()
	var rs []CallRecord
	for rows.Next() {
		r, err := scanCallRecord(rows)
		if err != nil {
			return nil, fmt.Errorf("list call records: %w", err)
		}
		rs = append(rs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list call records: %w", err)
	}
	return rs, nil
}

// PruneCallRecords deletes finished call records of participants who left
// before the given time, and returns how many: the box keeps a bounded
// history on a small disk.
func (s *Store) PruneCallRecords(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM call_records WHERE left_at IS NOT NULL AND left_at < ?",
			dbTime(before))
		if err != nil {
			return fmt.Errorf("prune call records: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// closeDanglingCallRecords finishes the records a crash left open, so that
// no participant seems to be in a conference forever.
func (s *Store) closeDanglingCallRecords(ctx context.Context) error {
	now := s.clock()
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		// MAX keeps LeftAt >= JoinedAt even if the clock stepped back.
		res, err := tx.ExecContext(ctx, `UPDATE call_records SET left_at = MAX(joined_at, ?), reason = ?
			WHERE left_at IS NULL`, dbTime(now), ReasonDaemonRestart)
		if err != nil {
			return fmt.Errorf("close call records left open: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return err
	}
	if n > 0 {
		s.log.Warn("closed call records left open by an unclean stop", "records", n)
	}
	return nil
}
