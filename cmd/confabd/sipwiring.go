package main

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"confab/focus"
	"confab/focus/sipfront"
	"confab/focus/sipfront/digest"
	"confab/focus/store"
)

// sipDirectory gives the SIP front what it needs from the conferencing
// database: digest credentials of phones and trunks, registrations that
// survive restarts, and trunks by peer address with their DID mapping.
type sipDirectory struct{ db *store.Store }

var (
	_ sipfront.Authenticator  = sipDirectory{}
	_ sipfront.Registrar      = sipDirectory{}
	_ sipfront.TrunkDirectory = sipDirectory{}
	_ sipfront.TrunkUsers     = sipDirectory{}
)

// HA1 returns the stored digest hash of a phone, or computes one for a
// trunk's inbound credentials (RFC 7616 §3.4.2).
func (d sipDirectory) HA1(ctx context.Context, username, realm string, alg digest.Algorithm) (string, bool, error) {
	u, err := d.db.UserByName(ctx, username)
	switch {
	case err == nil:
		if !strings.EqualFold(u.Realm, realm) {
			return "", false, nil
		}
		if alg == digest.SHA256 {
			return u.HA1SHA256, true, nil
		}
		return u.HA1MD5, true, nil
	case !errors.Is(err, store.ErrNotFound):
		return "", false, err
	}
	trunks, err := d.db.ListTrunks(ctx)
	if err != nil {
		return "", false, err
	}
	for _, t := range trunks {
		if t.Username != "" && t.Username == username {
			a1 := username + ":" + realm + ":" + t.Password
			if alg == digest.SHA256 {
				h := sha256.Sum256([]byte(a1))
				return hex.EncodeToString(h[:]), true, nil
			}
			h := md5.Sum([]byte(a1))
			return hex.EncodeToString(h[:]), true, nil
		}
	}
	return "", false, nil
}

// userOf takes the user part of an address of record.
func userOf(aor string) string {
	s := strings.TrimPrefix(strings.TrimPrefix(aor, "sips:"), "sip:")
	if i := strings.IndexByte(s, '@'); i >= 0 {
		return s[:i]
	}
	return s
}

func (d sipDirectory) Upsert(ctx context.Context, b sipfront.Binding) error {
	user := b.User
	if user == "" {
		user = userOf(b.AOR)
	}
	return d.db.UpsertRegistration(ctx, store.Registration{Username: user, Contact: b.Contact, Source: b.Source,
		Transport: strings.ToLower(b.Transport), ExpiresAt: b.Expires, CallID: b.CallID, CSeq: b.CSeq})
}

func (d sipDirectory) Delete(ctx context.Context, aor, contact string) error {
	err := d.db.DeleteRegistration(ctx, userOf(aor), contact)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

func (d sipDirectory) Lookup(ctx context.Context, aor string) ([]sipfront.Binding, error) {
	regs, err := d.db.ActiveRegistrations(ctx, userOf(aor), time.Now())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	out := make([]sipfront.Binding, 0, len(regs))
	for _, r := range regs {
		out = append(out, sipfront.Binding{AOR: aor, User: r.Username, Contact: r.Contact, Expires: r.ExpiresAt,
			CallID: r.CallID, CSeq: r.CSeq, Source: r.Source, Transport: strings.ToUpper(r.Transport)})
	}
	return out, nil
}

func (d sipDirectory) TrunkForAddress(addr netip.Addr) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t, err := d.db.TrunkForAddress(ctx, addr)
	if err != nil {
		return "", false
	}
	return t.Name, true
}

// TrunkForUser names the trunk whose inbound digest username this is: a
// trunk trusted by credentials rather than by address. A phone of the same
// name wins, as it does in HA1.
func (d sipDirectory) TrunkForUser(username string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := d.db.UserByName(ctx, username); !errors.Is(err, store.ErrNotFound) {
		return "", false
	}
	trunks, err := d.db.ListTrunks(ctx)
	if err != nil {
		return "", false
	}
	for _, t := range trunks {
		if t.Username != "" && t.Username == username {
			return t.Name, true
		}
	}
	return "", false
}

// CredentialDID reports whether a trunk with inbound credentials lists did.
func (d sipDirectory) CredentialDID(did string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	trunks, err := d.db.ListTrunks(ctx)
	if err != nil {
		return false
	}
	for _, t := range trunks {
		if t.Username == "" {
			continue
		}
		for _, x := range t.DIDs {
			if x.Number == did {
				return true
			}
		}
	}
	return false
}

// TargetForDID routes a DID the trunk lists to its conference or, when it
// names none ("asks the caller" on the Trunks page), to the attendant that
// asks for the conference number. A DID the trunk does not list is taken
// as dialled.
func (d sipDirectory) TargetForDID(trunk, did string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	t, err := d.db.TrunkByName(ctx, trunk)
	if err != nil {
		return "", false
	}
	conf, err := d.db.ConferenceForDID(ctx, t.ID, did)
	switch {
	case err != nil:
		return "", false
	case conf == "":
		return focus.AttendantTarget, true
	}
	return conf, true
}

// keepTrunksRegistered registers with the provider of every trunk that
// names an outbound registrar, for as long as ctx lasts. Trunks changed on
// the web page take effect at the next start.
func keepTrunksRegistered(ctx context.Context, db *store.Store, front *sipfront.Front, log *slog.Logger) {
	trunks, err := db.ListTrunks(ctx)
	if err != nil {
		log.Error("reading trunks for outbound registration", "err", err)
		return
	}
	for _, t := range trunks {
		if t.OutboundRegistrar == "" {
			continue
		}
		reg := sipfront.OutboundRegistration{Name: t.Name, Registrar: t.OutboundRegistrar,
			Username: t.OutboundUsername, Password: t.OutboundPassword, Expiry: t.OutboundExpiry}
		go func() { _ = front.KeepRegistered(ctx, reg) }()
	}
}
