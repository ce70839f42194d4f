package sipfront

import (
	"errors"
	"net/url"
	"strings"

	"github.com/emiago/sipgo/sip"
)

// FocusTargetPrefix starts a Joiner target that names a Focus by its
// conference ID, from a Focus URI such as
// sip:alice@box;gruu;opaque=app:conf:focus:id:ID (MS-CONFBAS; RFC 4579 §2.3
// conference URI). A target without it is a dialled number.
const FocusTargetPrefix = "focus:"

// focusOpaquePrefix is the opaque URI parameter of a Focus URI.
const focusOpaquePrefix = "app:conf:focus:id:"

// mcuOpaquePrefix is the opaque URI parameter of the conference's audio
// MCU URI, where C3P clients send their media INVITE.
const mcuOpaquePrefix = "app:conf:audio-video:id:"

// maxTargetLen bounds a dialled target; conference numbers and Focus IDs
// (8 to 32 characters in OCS) are far shorter.
const maxTargetLen = 64

// errNoTarget means the Request-URI names nothing the Front can join.
var errNoTarget = errors.New("sipfront: no conference in the Request-URI")

// targetOf returns the Joiner target a Request-URI names (see the package
// documentation for the convention).
func targetOf(u *sip.Uri) (string, error) {
	if opaque, ok := u.UriParams.Get("opaque"); ok {
		id, ok := strings.CutPrefix(opaque, focusOpaquePrefix)
		if !ok { // the audio MCU's URI of the same conference (MS-CONFAV)
			id, ok = strings.CutPrefix(opaque, mcuOpaquePrefix)
		}
		if ok {
			if !validTarget(id) {
				return "", errNoTarget
			}
			return FocusTargetPrefix + id, nil
		}
	}
	return userTarget(u.User)
}

// userTarget percent-decodes a URI user part (RFC 3261 §19.1.2) and checks
// it is a plausible number or name.
func userTarget(user string) (string, error) {
	t, err := url.PathUnescape(user)
	if err != nil || !validTarget(t) {
		return "", errNoTarget
	}
	return t, nil
}

func validTarget(t string) bool {
	if t == "" || len(t) > maxTargetLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case strings.IndexByte("*#+._-", c) >= 0:
		default:
			return false
		}
	}
	return true
}
