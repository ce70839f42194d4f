package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Settings are the appliance's own key/value configuration (SIP realm,
// public address, prompts language ...). The store keeps them as strings;
// the packages that own a setting parse and validate its value.

const (
	maxSettingKeyLen   = 128
	maxSettingValueLen = 64 << 10
)

// settingKeyByte allows lower-case dotted names such as "sip.realm".
func settingKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

func validateSettingKey(key string) error {
	return checkToken("setting key", key, maxSettingKeyLen, settingKeyByte, "a-z, 0-9 and ._-")
}

// GetSetting returns the value of key and whether it is set.
func (s *Store) GetSetting(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := s.r.QueryRowContext(ctx, "SELECT value FROM settings WHERE key = ?", key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("read setting %s: %w", key, err)
	}
	return v, true, nil
}

// SetSetting sets key to value.
func (s *Store) SetSetting(ctx context.Context, key, value string) error {
	if err := validateSettingKey(key); err != nil {
		return err
	}
	if len(value) > maxSettingValueLen {
		return invalidf("setting %s must be at most %d bytes", key, maxSettingValueLen)
	}
	now := s.clock()
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, dbTime(now))
		if err != nil {
			return fmt.Errorf("set setting %s: %w", key, err)
		}
		return nil
	})
}

// DeleteSetting unsets key, or returns ErrNotFound if it was not set.
func (s *Store) DeleteSetting(ctx context.Context, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM settings WHERE key = ?", key)
		if err != nil {
			return fmt.Errorf("delete setting %s: %w", key, err)
		}
		return requireOne(res, "setting "+key)
	})
}

// Settings returns every setting.
func (s *Store) Settings(ctx context.Context) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, "SELECT key, value FROM settings")
	if err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	defer rows.Close()
	m := make(map[string]string)
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("read settings: %w", err)
		}
		m[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read settings: %w", err)
	}
	return m, nil
}
