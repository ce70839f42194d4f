package sipfront

import (
	"strconv"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// Header values the Front advertises (RFC 3261 §20.5 Allow, §20.1 Accept,
// §20.37 Supported; RFC 4028 §3 option tag "timer").
const (
	allowedMethods = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, REGISTER, PRACK"
	acceptedTypes  = "application/sdp, application/dtmf-relay, application/dtmf"
	// supportedTags is what the Front's own requests support; as a UAS it
	// also does reliable provisional responses (RFC 3262, prack.go).
	supportedTags    = "timer"
	supportedTagsUAS = "timer, 100rel"
	contentTypeSDP   = "application/sdp"
)

// message is the part of *sip.Request and *sip.Response the helpers read.
type message interface {
	GetHeader(name string) sip.Header
	GetHeaders(name string) []sip.Header
	ContentType() *sip.ContentTypeHeader
	From() *sip.FromHeader
	To() *sip.ToHeader
}

// Status codes sipgo has no (or an HTTP-named) constant for.
const (
	statusUnsupportedURIScheme = 416 // RFC 3261 §21.4.15
	statusIntervalTooSmall     = 422 // RFC 4028 §6
	statusServerTimeout        = 504 // RFC 3261 §21.5.5
)

// headerValues returns the comma-separated elements of every header named
// by one of names (the long form and, where RFC 3261 §7.3.3 defines one, the
// compact form), trimmed and without empty elements.
func headerValues(m message, names ...string) []string {
	var out []string
	for _, name := range names {
		for _, h := range m.GetHeaders(name) {
			for _, v := range strings.Split(h.Value(), ",") {
				if v = strings.TrimSpace(v); v != "" {
					out = append(out, v)
				}
			}
		}
	}
	return out
}

// firstHeader returns the value of the first header named by one of names.
func firstHeader(m message, names ...string) (string, bool) {
	for _, name := range names {
		if h := m.GetHeader(name); h != nil {
			return strings.TrimSpace(h.Value()), true
		}
	}
	return "", false
}

// hasOptionTag reports whether an option-tag list header (Supported,
// Require) contains tag; option tags compare case-insensitively
// (RFC 3261 §19.2).
func hasOptionTag(m message, tag string, names ...string) bool {
	for _, v := range headerValues(m, names...) {
		if strings.EqualFold(v, tag) {
			return true
		}
	}
	return false
}

func supports(m message, tag string) bool { return hasOptionTag(m, tag, "supported", "k") }

// allows reports whether the peer listed method in Allow.
func allows(m message, method sip.RequestMethod) bool {
	return hasOptionTag(m, string(method), "allow")
}

func toTag(m message) string {
	if to := m.To(); to != nil {
		tag, _ := to.Params.Get("tag")
		return tag
	}
	return ""
}

func fromTag(m message) string {
	if from := m.From(); from != nil {
		tag, _ := from.Params.Get("tag")
		return tag
	}
	return ""
}

// mediaType returns the lower-case type/subtype of a Content-Type value,
// without parameters (RFC 3261 §20.15).
func mediaType(m message) string {
	ct := m.ContentType()
	if ct == nil {
		return ""
	}
	v, _, _ := strings.Cut(ct.Value(), ";")
	return strings.ToLower(strings.TrimSpace(v))
}

// quoteText renders s as a quoted-string for Reason and Warning headers,
// dropping control characters so the Focus's reason text cannot inject
// header lines.
func quoteText(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r < 0x20 || r == 0x7f:
			continue
		case r == '"' || r == '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		if b.Len() > 200 {
			break
		}
	}
	b.WriteByte('"')
	return b.String()
}

// reasonHeader builds an RFC 3326 Reason header.
func reasonHeader(protocol string, cause int, text string) sip.Header {
	return sip.NewHeader("Reason", protocol+";cause="+strconv.Itoa(cause)+";text="+quoteText(text))
}

// warningHeader builds an RFC 3261 §20.43 Warning header.
func warningHeader(code int, agent, text string) sip.Header {
	return sip.NewHeader("Warning", strconv.Itoa(code)+" "+agent+" "+quoteText(text))
}
