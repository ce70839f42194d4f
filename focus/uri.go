package focus

import (
	"strings"

	"confab/focus/store"
)

// focusOpaque is the prefix of the opaque URI parameter that names a
// Focus (OCS 2007 R2; tieto/sipe sipe_conf_build_uri).
const focusOpaque = "app:conf:focus:id:"

// FocusURI returns the conference's Focus URI in the OCS form
// sip:<organizer>@<domain>;gruu;opaque=app:conf:focus:id:<FocusID>, with
// the user part of the organizer (the dial-in number if there is none) and
// the Factory's domain.
func (fa *Factory) FocusURI(c store.Conference) string {
	user, _ := splitAOR(c.Organizer)
	if user == "" {
		user = c.Number
	}
	return "sip:" + escapeUser(user) + "@" + fa.domain + ";gruu;opaque=" + focusOpaque + c.FocusID
}

// escapeUser percent-encodes what RFC 3261 §25.1 does not allow unescaped
// in a user part. ';' and '?' are allowed there but escaped anyway: too
// many parsers take them for the start of parameters or headers.
func escapeUser(s string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if isAlnum(c) || strings.IndexByte("-_.!~*'()&=+$,/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseTarget splits what a caller dialled into a Focus ID (from a Focus
// URI's opaque parameter, or after FocusTargetPrefix) or a user part: a conference number, or a Focus
// ID dialled as the user. It takes a bare number, a Focus ID, or a SIP URI
// in or out of angle brackets.
func parseTarget(target string) (focusID, user string) {
	t := strings.TrimSpace(target)
	if id, ok := strings.CutPrefix(t, FocusTargetPrefix); ok { // the SIP front's form for a Focus URI
		return id, ""
	}
	if i := strings.Index(strings.ToLower(t), "opaque="+focusOpaque); i >= 0 {
		id := t[i+len("opaque="+focusOpaque):]
		if j := strings.IndexAny(id, ";>?& "); j >= 0 {
			id = id[:j]
		}
		return id, ""
	}
	user, _ = splitAOR(t)
	return "", user
}

// splitAOR returns the user and host of a SIP address in any of the forms
// people write it: "alice", "alice@example.com", "sip:alice@example.com",
// "Alice <sip:alice@example.com;transport=tcp>".
func splitAOR(s string) (user, host string) {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '<'); i >= 0 {
		s = s[i+1:]
		if j := strings.IndexByte(s, '>'); j >= 0 {
			s = s[:j]
		}
	}
	for _, scheme := range []string{"sips:", "sip:", "tel:"} {
		if len(s) >= len(scheme) && strings.EqualFold(s[:len(scheme)], scheme) {
			s = s[len(scheme):]
			break
		}
	}
	if i := strings.IndexByte(s, '?'); i >= 0 {
		s = s[:i]
	}
	user, host, found := strings.Cut(s, "@")
	if !found {
		host = ""
	}
	if i := strings.IndexByte(user, ';'); i >= 0 { // tel: and user parameters
		user = user[:i]
	}
	if i := strings.IndexAny(host, ";:"); i >= 0 { // URI parameters, port
		host = host[:i]
	}
	return user, strings.ToLower(host)
}

// sameUser reports whether the authenticated SIP user is the organizer.
// User parts compare exactly (RFC 3261 §19.1.4); hosts only when both have
// one, since the organizer is often written without.
func sameUser(user, organizer string) bool {
	u, uh := splitAOR(user)
	o, oh := splitAOR(organizer)
	if u == "" || u != o {
		return false
	}
	return uh == "" || oh == "" || uh == oh
}
