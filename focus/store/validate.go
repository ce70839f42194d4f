package store

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// invalidf returns ErrInvalid wrapped with a message that names the field
// and the rule it broke.
func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// isDigits reports whether s is lo to hi ASCII digits long.
func isDigits(s string, lo, hi int) bool {
	if len(s) < lo || len(s) > hi {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isAlphanumeric(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// checkText validates free text shown to people (names, subjects): valid
// UTF-8, no control characters (they break SIP headers and logs), at most
// limit characters.
func checkText(field, s string, limit int) error {
	if !utf8.ValidString(s) {
		return invalidf("%s must be valid UTF-8", field)
	}
	if utf8.RuneCountInString(s) > limit {
		return invalidf("%s must be at most %d characters", field, limit)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return invalidf("%s must not contain control characters", field)
		}
	}
	return nil
}

// checkToken validates an identifier-like value (usernames, keys): 1 to limit
// bytes, each allowed by ok.
func checkToken(field, s string, limit int, ok func(c byte) bool, rule string) error {
	if s == "" {
		return invalidf("%s is required", field)
	}
	if len(s) > limit {
		return invalidf("%s must be at most %d characters", field, limit)
	}
	for i := 0; i < len(s); i++ {
		if !ok(s[i]) {
			return invalidf("%s may contain only %s", field, rule)
		}
	}
	return nil
}
