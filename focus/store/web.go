package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// What the web page and the API need from the database: admin login
// sessions, API tokens, and the configuration backup the System page
// downloads and restores.
//
// Session and token secrets are 256 random bits handed to the client once;
// the database keeps only their SHA-256, so a copy of the file logs nobody
// in. SHA-256 without salt or stretching is enough here: the secrets are
// random, not chosen by people, and cannot be guessed from a hash.

// APITokenPrefix starts every API token, so that a token pasted into a
// script or found in a log is recognisable as one.
const APITokenPrefix = "cft_"

// apiTokenUseResolution is how stale an API token's LastUsedAt may be: the
// token is written back at most this often, not on every request.
const apiTokenUseResolution = time.Minute

const maxTokenNameLen = 64

// AdminSession is a logged-in administrator of the web page.
type AdminSession struct {
	Username  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// APIToken is a credential for scripts, created on the web page. Its
// secret is shown once, at creation.
type APIToken struct {
	ID         int64
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time // zero if never used
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

func secretHash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}

// CreateAdminSession starts a login session of the admin user, valid for
// ttl, and returns its secret for the session cookie. An unknown user gives
// ErrNotFound.
func (s *Store) CreateAdminSession(ctx context.Context, user string, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", invalidf("session lifetime must be positive")
	}
	secret := newSecret()
	now := s.clock()
	err := s.write(ctx, func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM admins WHERE username = ?)", user).Scan(&exists); err != nil {
			return fmt.Errorf("create session of %q: %w", user, err)
		}
		if !exists {
			return fmt.Errorf("admin %q: %w", user, ErrNotFound)
		}
		// Expired sessions go whenever a new one starts: the table stays
		// as small as the number of people logged in.
		if _, err := tx.ExecContext(ctx, "DELETE FROM admin_sessions WHERE expires_at <= ?", dbTime(now)); err != nil {
			return fmt.Errorf("purge sessions: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_sessions (secret_hash, username, created_at, expires_at)
			VALUES (?, ?, ?, ?)`, secretHash(secret), user, dbTime(now), dbTime(now.Add(ttl)))
		if err != nil {
			return fmt.Errorf("create session of %q: %w", user, err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return secret, nil
}

// AdminSession returns the session whose secret is given, or ErrNotFound if
// there is none or it has expired.
func (s *Store) AdminSession(ctx context.Context, secret string) (AdminSession, error) {
	var (
		a                AdminSession
		created, expires int64
	)
	err := s.r.QueryRowContext(ctx, "SELECT username, created_at, expires_at FROM admin_sessions WHERE secret_hash = ?",
		secretHash(secret)).Scan(&a.Username, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return AdminSession{}, fmt.Errorf("session: %w", ErrNotFound)
	}
	if err != nil {
		return AdminSession{}, fmt.Errorf("read session: %w", err)
	}
	a.CreatedAt, a.ExpiresAt = goTime(created), goTime(expires)
	if !s.clock().Before(a.ExpiresAt) {
		return AdminSession{}, fmt.Errorf("session: expired: %w", ErrNotFound)
	}
	return a, nil
}

// DeleteAdminSession ends the session (logout). Ending a session that does
// not exist is not an error: the result is the same.
func (s *Store) DeleteAdminSession(ctx context.Context, secret string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM admin_sessions WHERE secret_hash = ?", secretHash(secret)); err != nil {
			return fmt.Errorf("delete session: %w", err)
		}
		return nil
	})
}

// DeleteOtherAdminSessions ends every session of user except the one whose
// secret is keep (which may be ""), as a password change should, and
// returns how many ended.
func (s *Store) DeleteOtherAdminSessions(ctx context.Context, user, keep string) (int64, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM admin_sessions WHERE username = ? AND secret_hash <> ?",
			user, secretHash(keep))
		if err != nil {
			return fmt.Errorf("delete sessions of %q: %w", user, err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CreateAPIToken creates an API token called name and returns it with its
// secret, which is not stored and cannot be shown again. A name already in
// use gives ErrDuplicate.
func (s *Store) CreateAPIToken(ctx context.Context, name string) (APIToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return APIToken{}, "", invalidf("token name is required")
	}
	if err := checkText("token name", name, maxTokenNameLen); err != nil {
		return APIToken{}, "", err
	}
	secret := APITokenPrefix + newSecret()
	now := s.clock()
	var t APIToken
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "INSERT INTO api_tokens (name, secret_hash, created_at) VALUES (?, ?, ?)",
			name, secretHash(secret), dbTime(now))
		if _, dup := uniqueViolation(err); dup {
			return fmt.Errorf("token name %q: %w", name, ErrDuplicate)
		}
		if err != nil {
			return fmt.Errorf("create token %q: %w", name, err)
		}
		id, err := res.LastInsertId()
		t = APIToken{ID: id, Name: name, CreatedAt: now}
		return err
	})
	if err != nil {
		return APIToken{}, "", err
	}
	return t, secret, nil
}

func scanAPIToken(row interface{ Scan(...any) error }) (APIToken, error) {
	var (
		t             APIToken
		created, used int64
	)
	if err := row.Scan(&t.ID, &t.Name, &created, &used); err != nil {
		return APIToken{}, err
	}
	t.CreatedAt = goTime(created)
	if used != 0 {
		t.LastUsedAt = goTime(used)
	}
	return t, nil
}

// ListAPITokens returns every API token, without secrets, by name.
func (s *Store) ListAPITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT id, name, created_at, last_used_at FROM api_tokens ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var ts []APIToken
	for rows.Next() {
		t, err := scanAPIToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return ts, nil
}

// DeleteAPIToken revokes the token, or returns ErrNotFound.
func (s *Store) DeleteAPIToken(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM api_tokens WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete token %d: %w", id, err)
		}
		return requireOne(res, fmt.Sprintf("token %d", id))
	})
}

// CheckAPIToken returns the token whose secret is given and notes that it
// was used, or returns ErrNotFound.
func (s *Store) CheckAPIToken(ctx context.Context, secret string) (APIToken, error) {
	if !strings.HasPrefix(secret, APITokenPrefix) {
		return APIToken{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	t, err := scanAPIToken(s.r.QueryRowContext(ctx,
		"SELECT id, name, created_at, last_used_at FROM api_tokens WHERE secret_hash = ?", secretHash(secret)))
	if errors.Is(err, sql.ErrNoRows) {
		return APIToken{}, fmt.Errorf("token: %w", ErrNotFound)
	}
	if err != nil {
		return APIToken{}, fmt.Errorf("read token: %w", err)
	}
	now := s.clock()
	if now.Sub(t.LastUsedAt) >= apiTokenUseResolution {
		err := s.write(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, "UPDATE api_tokens SET last_used_at = ? WHERE id = ?", dbTime(now), t.ID)
			return err
		})
		if err != nil {
			return APIToken{}, fmt.Errorf("note use of token %q: %w", t.Name, err)
		}
		t.LastUsedAt = now
	}
	return t, nil
}

// BackupFormat is the version of the Backup layout; Restore refuses others.
const BackupFormat = 1

// Backup is the appliance's configuration as the System page downloads it:
// conferences, SIP users (their digest hashes, not passwords, which are not
// kept), trunks with their DIDs and settings. Admin accounts, sessions, API
// tokens, registrations and call records are not part of it: restoring a
// backup must not lock out the administrator who restores it, and the rest
// is state, not configuration.
type Backup struct {
	Format      int                `json:"format"`
	CreatedAt   time.Time          `json:"created_at"`
	Conferences []BackupConference `json:"conferences"`
	Users       []BackupUser       `json:"users"`
	Trunks      []BackupTrunk      `json:"trunks"`
	Settings    map[string]string  `json:"settings"`
}

// BackupConference is a Conference in a Backup.
type BackupConference struct {
	ID                  int64      `json:"id"`
	FocusID             string     `json:"focus_id"`
	Number              string     `json:"number"`
	Name                string     `json:"name"`
	Subject             string     `json:"subject"`
	Organizer           string     `json:"organizer"`
	PIN                 string     `json:"pin"`
	ModeratorPIN        string     `json:"moderator_pin"`
	Admission           Admission  `json:"admission"`
	Locked              bool       `json:"locked"`
	MaxMembers          int        `json:"max_members"`
	WaitForLeader       bool       `json:"wait_for_leader"`
	EndWhenLeaderLeaves bool       `json:"end_when_leader_leaves"`
	Announcements       bool       `json:"announcements"`
	Expiry              *time.Time `json:"expiry,omitempty"`
}

// BackupUser is a User in a Backup.
type BackupUser struct {
	Username    string `json:"username"`
	DisplayName string `json:"display_name"`
	Realm       string `json:"realm"`
	HA1MD5      string `json:"ha1_md5"`
	HA1SHA256   string `json:"ha1_sha256"`
}

// BackupTrunk is a Trunk in a Backup.
type BackupTrunk struct {
	Name                  string   `json:"name"`
	Peers                 []string `json:"peers"`
	Username              string   `json:"username"`
	Password              string   `json:"password"`
	OutboundRegistrar     string   `json:"outbound_registrar"`
	OutboundUsername      string   `json:"outbound_username"`
	OutboundPassword      string   `json:"outbound_password"`
	OutboundExpirySeconds int64    `json:"outbound_expiry_seconds"`
	DIDs                  []DID    `json:"dids"`
}

func (c BackupConference) conference() Conference {
	return Conference{ID: c.ID, FocusID: c.FocusID, Number: c.Number, Name: c.Name, Subject: c.Subject,
		Organizer: c.Organizer, PIN: c.PIN, ModeratorPIN: c.ModeratorPIN, Admission: c.Admission, Locked: c.Locked,
		MaxMembers: c.MaxMembers, WaitForLeader: c.WaitForLeader, EndWhenLeaderLeaves: c.EndWhenLeaderLeaves,
		Announcements: c.Announcements, Expiry: c.Expiry}
}

func (t BackupTrunk) trunk() Trunk {
	return Trunk{Name: t.Name, Peers: t.Peers, Username: t.Username, Password: t.Password,
		OutboundRegistrar: t.OutboundRegistrar, OutboundUsername: t.OutboundUsername,
		OutboundPassword: t.OutboundPassword, OutboundExpiry: time.Duration(t.OutboundExpirySeconds) * time.Second,
		DIDs: t.DIDs}
}

// Backup returns the configuration as it stands, read in one snapshot.
func (s *Store) Backup(ctx context.Context) (Backup, error) {
	b := Backup{Format: BackupFormat, CreatedAt: s.clock(), Conferences: []BackupConference{}, Users: []BackupUser{},
		Trunks: []BackupTrunk{}, Settings: map[string]string{}}
	err := s.read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT "+conferenceColumns+" FROM conferences ORDER BY id")
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanConference(rows)
			if err != nil {
				rows.Close()
				return err
			}
			b.Conferences = append(b.Conferences, BackupConference{ID: c.ID, FocusID: c.FocusID, Number: c.Number,
				Name: c.Name, Subject: c.Subject, Organizer: c.Organizer, PIN: c.PIN, ModeratorPIN: c.ModeratorPIN,
				Admission: c.Admission, Locked: c.Locked, MaxMembers: c.MaxMembers, WaitForLeader: c.WaitForLeader,
				EndWhenLeaderLeaves: c.EndWhenLeaderLeaves, Announcements: c.Announcements, Expiry: c.Expiry})
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		rows, err = tx.QueryContext(ctx, "SELECT "+userColumns+" FROM users ORDER BY username")
		if err != nil {
			return err
		}
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				rows.Close()
				return err
			}
			b.Users = append(b.Users, BackupUser{Username: u.Username, DisplayName: u.DisplayName, Realm: u.Realm,
				HA1MD5: u.HA1MD5, HA1SHA256: u.HA1SHA256})
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		trunks, err := listTrunks(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range trunks {
			b.Trunks = append(b.Trunks, BackupTrunk{Name: t.Name, Peers: t.Peers, Username: t.Username,
				Password: t.Password, OutboundRegistrar: t.OutboundRegistrar, OutboundUsername: t.OutboundUsername,
				OutboundPassword: t.OutboundPassword, OutboundExpirySeconds: int64(t.OutboundExpiry / time.Second),
				DIDs: t.DIDs})
		}
		rows, err = tx.QueryContext(ctx, "SELECT key, value FROM settings ORDER BY key")
		if err != nil {
			return err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return err
			}
			b.Settings[k] = v
		}
		return errors.Join(rows.Err(), rows.Close())
	})
	if err != nil {
		return Backup{}, fmt.Errorf("backup: %w", err)
	}
	return b, nil
}

// Validate checks every record of the backup as Create* would, and that
// numbers, names and ids are unique, and returns ErrInvalid naming the
// first record at fault.
func (b Backup) Validate() error {
	if b.Format != BackupFormat {
		return invalidf("backup format %d is not supported (this program reads format %d)", b.Format, BackupFormat)
	}
	ids, numbers, focusIDs := map[int64]bool{}, map[string]bool{}, map[string]bool{}
	for i, bc := range b.Conferences {
		c := bc.conference()
		if c.ID <= 0 {
			return invalidf("conference %d in the backup: id must be positive", i+1)
		}
		if c.FocusID == "" {
			return invalidf("conference %s in the backup: focus id is required", c.Number)
		}
		if err := c.Validate(); err != nil {
			return fmt.Errorf("conference %s in the backup: %w", c.Number, err)
		}
		if ids[c.ID] || numbers[c.Number] || focusIDs[strings.ToUpper(c.FocusID)] {
			return invalidf("conference %s in the backup: id, number or focus id is listed twice", c.Number)
		}
		ids[c.ID], numbers[c.Number], focusIDs[strings.ToUpper(c.FocusID)] = true, true, true
	}
	users := map[string]bool{}
	for _, u := range b.Users {
		if err := validateUsername(u.Username); err != nil {
			return fmt.Errorf("user %q in the backup: %w", u.Username, err)
		}
		if err := checkText("display name", u.DisplayName, maxNameLen); err != nil {
			return fmt.Errorf("user %q in the backup: %w", u.Username, err)
		}
		if err := validateRealm(u.Realm); err != nil {
			return fmt.Errorf("user %q in the backup: %w", u.Username, err)
		}
		if !isHex(u.HA1MD5, 32) || !isHex(u.HA1SHA256, 64) {
			return invalidf("user %q in the backup: digest hashes must be 32 and 64 hex digits", u.Username)
		}
		if users[u.Username] {
			return invalidf("user %q is listed twice in the backup", u.Username)
		}
		users[u.Username] = true
	}
	trunks := map[string]bool{}
	for _, bt := range b.Trunks {
		t := bt.trunk()
		if err := t.Validate(); err != nil {
			return fmt.Errorf("trunk %q in the backup: %w", t.Name, err)
		}
		for _, d := range t.DIDs {
			if d.Conference != "" && !numbers[d.Conference] {
				return invalidf("trunk %q in the backup: did %s: there is no conference %s", t.Name, d.Number, d.Conference)
			}
		}
		if trunks[strings.ToLower(t.Name)] {
			return invalidf("trunk %q is listed twice in the backup", t.Name)
		}
		trunks[strings.ToLower(t.Name)] = true
	}
	for k, v := range b.Settings {
		if err := validateSettingKey(k); err != nil {
			return fmt.Errorf("backup: %w", err)
		}
		if len(v) > maxSettingValueLen {
			return invalidf("setting %s in the backup must be at most %d bytes", k, maxSettingValueLen)
		}
	}
	return nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}

// Restore replaces the configuration with the backup's, all in one
// transaction: either all of it is restored or, on any error, nothing
// changes. Registrations of users the backup does not have go with them;
// call records stay and are linked again to the conference with their
// number, if the backup has one.
func (s *Store) Restore(ctx context.Context, b Backup) error {
	if err := b.Validate(); err != nil {
		return err
	}
	now := s.clock()
	err := s.write(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{"DELETE FROM trunk_dids", "DELETE FROM trunks", "DELETE FROM conferences",
			"DELETE FROM settings"} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		for _, bc := range b.Conferences {
			c := bc.conference()
			if c.Admission == "" {
				c.Admission = AdmissionOpen
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO conferences (id, focus_id, number, name, subject, organizer,
				pin, moderator_pin, admission, locked, max_members, wait_for_leader, end_when_leader_leaves,
				announcements, expiry, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				c.ID, c.FocusID, c.Number, c.Name, c.Subject, c.Organizer, c.PIN, c.ModeratorPIN, string(c.Admission),
				c.Locked, c.MaxMembers, c.WaitForLeader, c.EndWhenLeaderLeaves, c.Announcements,
				dbTimePtr(c.Expiry), dbTime(now), dbTime(now))
			if err != nil {
				return fmt.Errorf("conference %s: %w", c.Number, conferenceConflict(err, c))
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE call_records SET conference_id =
			(SELECT id FROM conferences WHERE number = call_records.conference_number)
			WHERE conference_id IS NULL`); err != nil {
			return fmt.Errorf("link call records: %w", err)
		}
		// Users are replaced in place, so that the registrations of those
		// the backup keeps survive (they cascade with a deleted user).
		keep := make([]any, 0, len(b.Users))
		for _, u := range b.Users {
			keep = append(keep, u.Username)
			_, err := tx.ExecContext(ctx, `INSERT INTO users (username, display_name, realm, ha1_md5, ha1_sha256,
				created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (username) DO UPDATE SET
				display_name = excluded.display_name, realm = excluded.realm, ha1_md5 = excluded.ha1_md5,
				ha1_sha256 = excluded.ha1_sha256`,
				u.Username, u.DisplayName, u.Realm, strings.ToLower(u.HA1MD5), strings.ToLower(u.HA1SHA256), dbTime(now))
			if err != nil {
				return fmt.Errorf("user %q: %w", u.Username, err)
			}
		}
		del := "DELETE FROM users"
		if len(keep) > 0 {
			del += " WHERE username NOT IN (?" + strings.Repeat(", ?", len(keep)-1) + ")"
		}
		if _, err := tx.ExecContext(ctx, del, keep...); err != nil {
			return fmt.Errorf("remove users: %w", err)
		}
		for _, bt := range b.Trunks {
			t := canonicalTrunk(bt.trunk())
			peers, err := jsonPeers(t.Peers)
			if err != nil {
				return err
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO trunks (name, peers, username, password, outbound_registrar,
				outbound_username, outbound_password, outbound_expiry_seconds, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				t.Name, peers, t.Username, t.Password, t.OutboundRegistrar, t.OutboundUsername,
				t.OutboundPassword, int64(t.OutboundExpiry/time.Second), dbTime(now), dbTime(now))
			if err != nil {
				return fmt.Errorf("trunk %q: %w", t.Name, trunkConflict(err, t))
			}
			if t.ID, err = res.LastInsertId(); err != nil {
				return err
			}
			if err := writeDIDs(ctx, tx, t); err != nil {
				return err
			}
		}
		for k, v := range b.Settings {
			if _, err := tx.ExecContext(ctx, "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)",
				k, v, dbTime(now)); err != nil {
				return fmt.Errorf("setting %s: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	return nil
}

func jsonPeers(peers []string) (string, error) {
	b, err := json.Marshal(peers)
	return string(b), err
}
