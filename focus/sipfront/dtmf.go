package sipfront

import (
	"bytes"
	"errors"
	"strings"
)

// DTMF over SIP INFO: no RFC defines the bodies, but two are in wide use and
// every desk phone sends one of them.
const (
	// typeDTMFRelay carries "Signal=5\r\nDuration=160\r\n" (Cisco, Polycom,
	// Yealink, Asterisk).
	typeDTMFRelay = "application/dtmf-relay"
	// typeDTMF carries the digit alone, "5".
	typeDTMF = "application/dtmf"
)

// maxDTMFBody bounds the INFO bodies we look at.
const maxDTMFBody = 512

var (
	errNoDigit  = errors.New("sipfront: DTMF body has no Signal")
	errBadDigit = errors.New("sipfront: DTMF body has an unknown digit")
)

// parseDTMF returns the digit an INFO body of the given media type carries:
// one of 0-9 * # A-D.
func parseDTMF(mediaType string, body []byte) (byte, error) {
	if len(body) > maxDTMFBody {
		return 0, errBadDigit
	}
	switch mediaType {
	case typeDTMF:
		return digitOf(string(bytes.TrimSpace(body)))
	case typeDTMFRelay:
		for _, line := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '\r' || r == '\n' }) {
			key, value, ok := strings.Cut(line, "=")
			if ok && strings.EqualFold(strings.TrimSpace(key), "signal") {
				return digitOf(strings.TrimSpace(value))
			}
		}
		return 0, errNoDigit
	}
	return 0, errBadDigit
}

// digitOf maps a Signal value to a digit. Some phones send the RFC 4733
// §3.2 event code instead of the character: 10 for *, 11 for #, 12-15 for
// A-D.
func digitOf(s string) (byte, error) {
	switch len(s) {
	case 0:
		return 0, errNoDigit
	case 1:
		c := s[0]
		switch {
		case c >= '0' && c <= '9', c == '*', c == '#':
			return c, nil
		case c >= 'A' && c <= 'D':
			return c, nil
		case c >= 'a' && c <= 'd':
			return c - 'a' + 'A', nil
		}
	case 2:
		if s[0] == '1' && s[1] >= '0' && s[1] <= '5' {
			return "*#ABCD"[s[1]-'0'], nil
		}
	}
	return 0, errBadDigit
}
