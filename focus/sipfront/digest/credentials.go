package digest

import (
	"fmt"
	"strconv"
	"strings"
)

// maxHeaderLen bounds the Authorization header value we are willing to
// parse; real credentials are a few hundred bytes.
const maxHeaderLen = 4096

// Credentials are the parameters of a Digest Authorization header
// (RFC 7616 §3.4, RFC 3261 §22.4).
type Credentials struct {
	Username  string
	Realm     string
	Nonce     string
	URI       string
	Response  string
	Algorithm Algorithm
	CNonce    string
	Opaque    string
	// QOP is "auth" or "" (RFC 2069 compatibility, RFC 3261 §22.4).
	QOP string
	// NC is the nonce count as sent (8 hex digits), "" without qop.
	NC string
	// Count is NC as a number.
	Count uint32
}

// ParseCredentials parses the value of an Authorization (or
// Proxy-Authorization) header that uses the Digest scheme.
//
// The grammar is RFC 7235 §2.1 (auth-scheme 1*SP #auth-param, each value a
// token or a quoted-string) with the Digest parameters of RFC 7616 §3.4. Each
// parameter may appear once. qop=auth-int and the -sess algorithms are not
// offered by Server and are rejected with ErrUnsupported.
func ParseCredentials(header string) (Credentials, error) {
	var c Credentials
	if len(header) > maxHeaderLen {
		return c, fmt.Errorf("%w: header too long", ErrMalformed)
	}
	rest, ok := cutScheme(header)
	if !ok {
		return c, fmt.Errorf("%w: not the Digest scheme", ErrMalformed)
	}
	params, err := parseParams(rest)
	if err != nil {
		return c, err
	}
	for name, p := range params {
		switch name {
		case "username":
			c.Username = p.value
		case "realm":
			c.Realm = p.value
		case "nonce":
			c.Nonce = p.value
		case "uri":
			c.URI = p.value
		case "response":
			c.Response = strings.ToLower(p.value)
		case "algorithm":
			c.Algorithm = Algorithm(strings.ToUpper(p.value))
		case "cnonce":
			c.CNonce = p.value
		case "opaque":
			c.Opaque = p.value
		case "qop":
			c.QOP = strings.ToLower(p.value)
		case "nc":
			c.NC = p.value
		}
	}
	for _, req := range [...]struct{ name, value string }{
		{"username", c.Username}, {"realm", params["realm"].value}, {"nonce", c.Nonce},
		{"uri", c.URI}, {"response", c.Response},
	} {
		if _, present := params[req.name]; !present || (req.value == "" && req.name != "realm") {
			return c, fmt.Errorf("%w: missing %s", ErrMalformed, req.name)
		}
	}
	// RFC 7616 §3.4: without an algorithm parameter MD5 is assumed.
	if c.Algorithm == "" {
		c.Algorithm = MD5
	}
	if !c.Algorithm.valid() {
		return c, fmt.Errorf("%w: algorithm %q", ErrUnsupported, c.Algorithm)
	}
	if len(c.Response) != c.Algorithm.hexLen() || !isHex(c.Response) {
		return c, fmt.Errorf("%w: response is not a %s digest", ErrMalformed, c.Algorithm)
	}
	switch c.QOP {
	case "":
		if c.NC != "" || c.CNonce != "" {
			return c, fmt.Errorf("%w: nc or cnonce without qop", ErrMalformed)
		}
	case "auth":
		// RFC 7616 §3.4: cnonce and nc MUST be sent when qop is.
		if c.CNonce == "" || len(c.NC) != 8 || !isHex(c.NC) {
			return c, fmt.Errorf("%w: qop=auth needs cnonce and an 8-digit nc", ErrMalformed)
		}
		n, err := strconv.ParseUint(c.NC, 16, 32)
		if err != nil || n == 0 {
			return c, fmt.Errorf("%w: nc %q", ErrMalformed, c.NC)
		}
		c.Count = uint32(n)
	default:
		return c, fmt.Errorf("%w: qop %q", ErrUnsupported, c.QOP)
	}
	return c, nil
}

// cutScheme strips a case-insensitive "Digest" auth-scheme and the space
// after it.
func cutScheme(h string) (string, bool) {
	h = strings.TrimLeft(h, " \t")
	const scheme = "digest"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	if h[len(scheme)] != ' ' && h[len(scheme)] != '\t' {
		return "", false
	}
	return h[len(scheme)+1:], true
}

type param struct {
	value  string
	quoted bool
}

// parseParams splits an auth-param list: name=token or name="quoted string",
// separated by commas with optional whitespace (RFC 7235 §2.1, RFC 7230
// §3.2.6 for quoted-string and quoted-pair). Names are case-insensitive.
func parseParams(s string) (map[string]param, error) {
	params := make(map[string]param, 10)
	i := 0
	for {
		i = skipOWS(s, i)
		for i < len(s) && s[i] == ',' { // empty list elements are allowed (RFC 7230 §7)
			i = skipOWS(s, i+1)
		}
		if i >= len(s) {
			break
		}
		start := i
		for i < len(s) && isTokenChar(s[i]) {
			i++
		}
		if i == start {
			return nil, fmt.Errorf("%w: expected a parameter name at offset %d", ErrMalformed, i)
		}
		name := strings.ToLower(s[start:i])
		i = skipOWS(s, i)
		if i >= len(s) || s[i] != '=' {
			return nil, fmt.Errorf("%w: parameter %q has no value", ErrMalformed, name)
		}
		i = skipOWS(s, i+1)
		var p param
		if i < len(s) && s[i] == '"' {
			v, n, err := unquote(s[i:])
			if err != nil {
				return nil, err
			}
			p = param{value: v, quoted: true}
			i += n
		} else {
			start := i
			for i < len(s) && isTokenChar(s[i]) {
				i++
			}
			if i == start {
				return nil, fmt.Errorf("%w: parameter %q has an empty value", ErrMalformed, name)
			}
			p = param{value: s[start:i]}
		}
		if _, dup := params[name]; dup {
			return nil, fmt.Errorf("%w: parameter %q repeated", ErrMalformed, name)
		}
		params[name] = p
		i = skipOWS(s, i)
		if i < len(s) {
			if s[i] != ',' {
				return nil, fmt.Errorf("%w: expected ',' at offset %d", ErrMalformed, i)
			}
			i++
		}
	}
	return params, nil
}

// unquote reads a quoted-string at the start of s and returns its content
// and the number of bytes consumed.
func unquote(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("%w: dangling escape in quoted string", ErrMalformed)
			}
			i++
			b.WriteByte(s[i])
		case '\r', '\n', 0:
			return "", 0, fmt.Errorf("%w: control character in quoted string", ErrMalformed)
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("%w: unterminated quoted string", ErrMalformed)
}

// quote renders s as a quoted-string, escaping '"' and '\'.
func quote(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func skipOWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

// isTokenChar reports whether c may appear in an RFC 7230 §3.2.6 token.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}
