package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Trunk is a SIP trunk to a telephone provider or a PBX: how calls from it
// are recognised, how the box registers to it, and which of its DIDs lead
// to which conference.
//
// Passwords are stored as given, unlike user passwords: the box answers the
// provider's challenges for outbound registration with them, in a realm it
// cannot know in advance.
type Trunk struct {
	ID   int64
	Name string
	// Peers are the addresses calls from this trunk come from: IP
	// addresses, CIDR prefixes or host names. Prefixes are stored masked
	// ("10.1.2.3/24" becomes "10.1.2.0/24"). TrunkForAddress matches
	// addresses and prefixes; host names are for the SIP front to resolve.
	Peers []string
	// Username and Password, when set, are the digest credentials the
	// trunk must present on inbound requests.
	Username string
	Password string
	// OutboundRegistrar, when set, is the sip: or sips: URI the box
	// registers to with OutboundUsername and OutboundPassword, asking for
	// OutboundExpiry (0 leaves it to the registrar; else 1 minute to 24
	// hours, whole seconds).
	OutboundRegistrar string
	OutboundUsername  string
	OutboundPassword  string
	OutboundExpiry    time.Duration
	// DIDs are the numbers the trunk delivers, in the order of their Number.
	DIDs      []DID
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DID routes a number the trunk delivers to a conference.
type DID struct {
	// Number is the called number as the trunk sends it: an optional "+"
	// and 1-20 digits.
	Number string
	// Conference is the conference number callers are put through to;
	// empty means the caller is asked for the conference number.
	Conference string
}

const maxTrunkNameLen = 64

// Validate checks every field and returns ErrInvalid naming the first one at
// fault. Peers are checked as written; CreateTrunk and UpdateTrunk store
// them in canonical form.
func (t Trunk) Validate() error {
	if strings.TrimSpace(t.Name) == "" {
		return invalidf("trunk name is required")
	}
	if err := checkText("trunk name", t.Name, maxTrunkNameLen); err != nil {
		return err
	}
	seen := make(map[string]bool, len(t.Peers))
	for _, p := range t.Peers {
		canon, err := canonicalPeer(p)
		if err != nil {
			return err
		}
		if seen[canon] {
			return invalidf("peer %s is listed twice", p)
		}
		seen[canon] = true
	}
	if t.Username != "" {
		if err := validateUsername(t.Username); err != nil {
			return err
		}
		if t.Password == "" {
			return invalidf("password is required with a username")
		}
	} else if t.Password != "" {
		return invalidf("username is required with a password")
	}
	if err := validateOutbound(t); err != nil {
		return err
	}
	dids := make(map[string]bool, len(t.DIDs))
	for _, d := range t.DIDs {
		n := strings.TrimPrefix(d.Number, "+")
		if !isDigits(n, 1, 20) {
			return invalidf("did %q must be an optional + and 1-20 digits", d.Number)
		}
		if d.Conference != "" && !isDigits(d.Conference, 2, 15) {
			return invalidf("conference number of did %s must be 2-15 digits", d.Number)
		}
		if dids[d.Number] {
			return invalidf("did %s is listed twice", d.Number)
		}
		dids[d.Number] = true
	}
	return nil
}

func validateOutbound(t Trunk) error {
	if t.OutboundRegistrar == "" {
		if t.OutboundUsername != "" || t.OutboundPassword != "" || t.OutboundExpiry != 0 {
			return invalidf("outbound registration settings need an outbound registrar")
		}
		return nil
	}
	lower := strings.ToLower(t.OutboundRegistrar)
	if !strings.HasPrefix(lower, "sip:") && !strings.HasPrefix(lower, "sips:") || strings.ContainsAny(lower, " \t") {
		return invalidf("outbound registrar must be a sip: or sips: URI")
	}
	if err := checkText("outbound registrar", t.OutboundRegistrar, maxContactLen); err != nil {
		return err
	}
	if t.OutboundUsername == "" {
		return invalidf("outbound username is required with an outbound registrar")
	}
	if err := checkText("outbound username", t.OutboundUsername, maxUsernameLen); err != nil {
		return err
	}
	if t.OutboundPassword == "" {
		return invalidf("outbound password is required with an outbound registrar")
	}
	if len(t.OutboundPassword) > maxPasswordLen {
		return invalidf("outbound password must be at most %d bytes", maxPasswordLen)
	}
	if t.OutboundExpiry != 0 && (t.OutboundExpiry < time.Minute || t.OutboundExpiry > 24*time.Hour) {
		return invalidf("outbound expiry must be between 1 minute and 24 hours")
	}
	if t.OutboundExpiry%time.Second != 0 {
		return invalidf("outbound expiry must be whole seconds")
	}
	return nil
}

// canonicalPeer checks one peer and returns the form it is stored in.
func canonicalPeer(p string) (string, error) {
	if strings.Contains(p, "/") {
		prefix, err := netip.ParsePrefix(p)
		if err != nil {
			return "", invalidf("peer %q is not a valid CIDR prefix", p)
		}
		return prefix.Masked().String(), nil
	}
	if addr, err := netip.ParseAddr(p); err == nil {
		if addr.Zone() != "" {
			return "", invalidf("peer %q must not carry a zone", p)
		}
		return addr.Unmap().String(), nil
	}
	if !validHostname(p) {
		return "", invalidf("peer %q must be an IP address, a CIDR prefix or a host name", p)
	}
	return strings.ToLower(strings.TrimSuffix(p, ".")), nil
}

// validHostname applies RFC 1123 §2.1: dot-separated labels of letters,
// digits and hyphens, not starting or ending with a hyphen.
func validHostname(h string) bool {
	h = strings.TrimSuffix(h, ".")
	if h == "" || len(h) > 253 {
		return false
	}
	for label := range strings.SplitSeq(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if !isAlphanumeric(label[i]) && label[i] != '-' {
				return false
			}
		}
	}
	return true
}

// peerMatch returns how specific the best match of addr among peers is (the
// prefix length; a plain address counts as a full-length prefix), or -1.
func peerMatch(peers []string, addr netip.Addr) int {
	best := -1
	for _, p := range peers {
		if prefix, err := netip.ParsePrefix(p); err == nil {
			if prefix.Contains(addr) && prefix.Bits() > best {
				best = prefix.Bits()
			}
		} else if a, err := netip.ParseAddr(p); err == nil && a == addr {
			best = max(best, a.BitLen())
		}
	}
	return best
}

const trunkColumns = `id, name, peers, username, password, outbound_registrar, outbound_username,
	outbound_password, outbound_expiry_seconds, created_at, updated_at`

func scanTrunk(row interface{ Scan(...any) error }) (Trunk, error) {
	var (
		t                Trunk
		peers            string
		expiry           int64
		created, updated int64
	)
	err := row.Scan(&t.ID, &t.Name, &peers, &t.Username, &t.Password, &t.OutboundRegistrar, &t.OutboundUsername,
		&t.OutboundPassword, &expiry, &created, &updated)
	if err != nil {
		return Trunk{}, err
	}
	if err := json.Unmarshal([]byte(peers), &t.Peers); err != nil {
		return Trunk{}, fmt.Errorf("peers of trunk %q: %w", t.Name, err)
	}
	t.OutboundExpiry = time.Duration(expiry) * time.Second
	t.CreatedAt = goTime(created)
	t.UpdatedAt = goTime(updated)
	return t, nil
}

// loadDIDs fills in t.DIDs.
func loadDIDs(ctx context.Context, q querier, t *Trunk) error {
	rows, err := q.QueryContext(ctx, `SELECT did, COALESCE(conference_number, '') FROM trunk_dids
		WHERE trunk_id = ? ORDER BY did`, t.ID)
	if err != nil {
		return fmt.Errorf("dids of trunk %q: %w", t.Name, err)
	}
	defer rows.Close()
	t.DIDs = nil
	for rows.Next() {
		var d DID
		if err := rows.Scan(&d.Number, &d.Conference); err != nil {
			return fmt.Errorf("dids of trunk %q: %w", t.Name, err)
		}
		t.DIDs = append(t.DIDs, d)
	}
	return rows.Err()
}

// getTrunk reads one trunk with its DIDs; q should be a transaction so both
// come from one snapshot.
func getTrunk(ctx context.Context, q querier, where string, arg any, what string) (Trunk, error) {
	t, err := scanTrunk(q.QueryRowContext(ctx, "SELECT "+trunkColumns+" FROM trunks WHERE "+where, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return Trunk{}, fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	if err != nil {
		return Trunk{}, fmt.Errorf("read %s: %w", what, err)
	}
	if err := loadDIDs(ctx, q, &t); err != nil {
		return Trunk{}, err
	}
	return t, nil
}

// canonicalTrunk returns t with its peers in stored form and its DIDs in
// order.
func canonicalTrunk(t Trunk) Trunk {
	peers := make([]string, 0, len(t.Peers))
	for _, p := range t.Peers {
		canon, _ := canonicalPeer(p) // validated already
		peers = append(peers, canon)
	}
	t.Peers = peers
	t.DIDs = slices.Clone(t.DIDs)
	slices.SortFunc(t.DIDs, func(a, b DID) int { return strings.Compare(a.Number, b.Number) })
	return t
}

// trunkConflict turns a unique violation on trunks into ErrDuplicate.
func trunkConflict(err error, t Trunk) error {
	column, ok := uniqueViolation(err)
	if !ok {
		return err
	}
	if strings.HasSuffix(column, ".username") {
		return fmt.Errorf("trunk username %q: %w", t.Username, ErrDuplicate)
	}
	return fmt.Errorf("trunk name %q: %w", t.Name, ErrDuplicate)
}

// writeDIDs replaces the trunk's DIDs, checking that each conference they
// name exists so the caller gets a message rather than a foreign key error.
func writeDIDs(ctx context.Context, tx *sql.Tx, t Trunk) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM trunk_dids WHERE trunk_id = ?", t.ID); err != nil {
		return fmt.Errorf("dids of trunk %q: %w", t.Name, err)
	}
	for _, d := range t.DIDs {
		conf := sql.NullString{String: d.Conference, Valid: d.Conference != ""}
		if conf.Valid {
			var exists bool
			err := tx.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM conferences WHERE number = ?)",
				d.Conference).Scan(&exists)
			if err != nil {
				return fmt.Errorf("dids of trunk %q: %w", t.Name, err)
			}
			if !exists {
				return invalidf("did %s: there is no conference %s", d.Number, d.Conference)
			}
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO trunk_dids (trunk_id, did, conference_number) VALUES (?, ?, ?)",
			t.ID, d.Number, conf)
		if err != nil {
			return fmt.Errorf("did %s of trunk %q: %w", d.Number, t.Name, err)
		}
	}
	return nil
}

// CreateTrunk validates t, stores it with its DIDs and returns it as stored.
// A name or inbound username already in use gives ErrDuplicate; a DID routed
// to a conference number that does not exist gives ErrInvalid.
func (s *Store) CreateTrunk(ctx context.Context, t Trunk) (Trunk, error) {
	if err := t.Validate(); err != nil {
		return Trunk{}, err
	}
	t = canonicalTrunk(t)
	peers, err := json.Marshal(t.Peers)
	if err != nil {
		return Trunk{}, fmt.Errorf("create trunk %q: %w", t.Name, err)
	}
	now := s.clock()
	var created Trunk
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO trunks (name, peers, username, password, outbound_registrar,
			outbound_username, outbound_password, outbound_expiry_seconds, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.Name, string(peers), t.Username, t.Password, t.OutboundRegistrar, t.OutboundUsername,
			t.OutboundPassword, int64(t.OutboundExpiry/time.Second), dbTime(now), dbTime(now))
		if err != nil {
			return fmt.Errorf("create trunk: %w", trunkConflict(err, t))
		}
		if t.ID, err = res.LastInsertId(); err != nil {
			return fmt.Errorf("create trunk %q: %w", t.Name, err)
		}
		if err := writeDIDs(ctx, tx, t); err != nil {
			return err
		}
		created, err = getTrunk(ctx, tx, "id = ?", t.ID, fmt.Sprintf("trunk %d", t.ID))
		return err
	})
	if err != nil {
		return Trunk{}, err
	}
	return created, nil
}

// UpdateTrunk replaces every field and the DIDs of trunk t.ID and returns it
// as stored, or ErrNotFound.
func (s *Store) UpdateTrunk(ctx context.Context, t Trunk) (Trunk, error) {
	if err := t.Validate(); err != nil {
		return Trunk{}, err
	}
	t = canonicalTrunk(t)
	peers, err := json.Marshal(t.Peers)
	if err != nil {
		return Trunk{}, fmt.Errorf("update trunk %q: %w", t.Name, err)
	}
	now := s.clock()
	var updated Trunk
	err = s.write(ctx, func(tx *sql.Tx) error {
		what := fmt.Sprintf("trunk %d", t.ID)
		res, err := tx.ExecContext(ctx, `UPDATE trunks SET name = ?, peers = ?, username = ?, password = ?,
			outbound_registrar = ?, outbound_username = ?, outbound_password = ?, outbound_expiry_seconds = ?,
			updated_at = ? WHERE id = ?`,
			t.Name, string(peers), t.Username, t.Password, t.OutboundRegistrar, t.OutboundUsername,
			t.OutboundPassword, int64(t.OutboundExpiry/time.Second), dbTime(now), t.ID)
		if err != nil {
			return fmt.Errorf("update %s: %w", what, trunkConflict(err, t))
		}
		if err := requireOne(res, what); err != nil {
			return err
		}
		if err := writeDIDs(ctx, tx, t); err != nil {
			return err
		}
		updated, err = getTrunk(ctx, tx, "id = ?", t.ID, what)
		return err
	})
	if err != nil {
		return Trunk{}, err
	}
	return updated, nil
}

// DeleteTrunk deletes the trunk and its DIDs, or returns ErrNotFound.
func (s *Store) DeleteTrunk(ctx context.Context, id int64) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM trunks WHERE id = ?", id)
		if err != nil {
			return fmt.Errorf("delete trunk %d: %w", id, err)
		}
		return requireOne(res, fmt.Sprintf("trunk %d", id))
	})
}

// GetTrunk returns the trunk with the given id, or ErrNotFound.
func (s *Store) GetTrunk(ctx context.Context, id int64) (Trunk, error) {
	var t Trunk
	err := s.read(ctx, func(tx *sql.Tx) (err error) {
		t, err = getTrunk(ctx, tx, "id = ?", id, fmt.Sprintf("trunk %d", id))
		return err
	})
	return t, err
}

// TrunkByName returns the trunk with the given name, in any letter case, or
// ErrNotFound.
func (s *Store) TrunkByName(ctx context.Context, name string) (Trunk, error) {
	var t Trunk
	err := s.read(ctx, func(tx *sql.Tx) (err error) {
		t, err = getTrunk(ctx, tx, "name = ?", name, fmt.Sprintf("trunk %q", name))
		return err
	})
	return t, err
}

// ListTrunks returns every trunk with its DIDs, ordered by name.
func (s *Store) ListTrunks(ctx context.Context) ([]Trunk, error) {
	var ts []Trunk
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		ts, err = listTrunks(ctx, tx)
		return err
	})
	return ts, err
}

func listTrunks(ctx context.Context, tx *sql.Tx) ([]Trunk, error) {
	rows, err := tx.QueryContext(ctx, "SELECT "+trunkColumns+" FROM trunks ORDER BY name")
	if err != nil {
		return nil, fmt.Errorf("list trunks: %w", err)
	}
	var ts []Trunk
	for rows.Next() {
		t, err := scanTrunk(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list trunks: %w", err)
		}
		ts = append(ts, t)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, fmt.Errorf("list trunks: %w", err)
	}
	for i := range ts {
		if err := loadDIDs(ctx, tx, &ts[i]); err != nil {
			return nil, err
		}
	}
	return ts, nil
}

// TrunkForAddress returns the trunk whose peers include addr, preferring the
// most specific match (an address over a /24 over a /16; then the lowest
// ID), or ErrNotFound. Host-name peers are not resolved here.
func (s *Store) TrunkForAddress(ctx context.Context, addr netip.Addr) (Trunk, error) {
	addr = addr.Unmap().WithZone("")
	var found Trunk
	err := s.read(ctx, func(tx *sql.Tx) error {
		ts, err := listTrunks(ctx, tx)
		if err != nil {
			return err
		}
		best := -1
		for _, t := range ts {
			if m := peerMatch(t.Peers, addr); m > best || m == best && m >= 0 && t.ID < found.ID {
				best, found = m, t
			}
		}
		if best < 0 {
			return fmt.Errorf("trunk for address %s: %w", addr, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return Trunk{}, err
	}
	return found, nil
}

// ConferenceForDID returns the conference number the trunk routes did to,
// or "" when the caller is to be asked for it. A DID the trunk does not
// have gives ErrNotFound.
func (s *Store) ConferenceForDID(ctx context.Context, trunkID int64, did string) (string, error) {
	var conf sql.NullString
	err := s.r.QueryRowContext(ctx, "SELECT conference_number FROM trunk_dids WHERE trunk_id = ? AND did = ?",
		trunkID, did).Scan(&conf)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("did %s of trunk %d: %w", did, trunkID, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("did %s of trunk %d: %w", did, trunkID, err)
	}
	return conf.String, nil
}
