package focus

import (
	"context"
	"errors"
	"net/netip"
)

// Errors a join or a command can end in. The SIP front maps them to
// responses (404, 403, 486, 480, 488, 503); the HTTP API to status codes.
var (
	ErrUnknownConference = errors.New("focus: unknown conference")     // SIP 404
	ErrLocked            = errors.New("focus: conference is locked")   // SIP 403
	ErrFull              = errors.New("focus: conference is full")     // SIP 486
	ErrForbidden         = errors.New("focus: not allowed")            // SIP 403, HTTP 403
	ErrUnavailable       = errors.New("focus: conference unavailable") // SIP 480
	ErrUnknownMember     = errors.New("focus: unknown participant")    // HTTP 404
	ErrEnded             = errors.New("focus: conference has ended")   // SIP 480
)

// Call is what the SIP front tells the Focus about one incoming call leg.
type Call struct {
	CallID      string
	From        string // From URI
	DisplayName string
	// User is the authenticated SIP user (a registered phone), "" if none.
	User string
	// Trunk is the trunk the call came in on, "" for a direct call.
	Trunk  string
	Source netip.AddrPort
	Offer  []byte // SDP offer
}

// Leg is the SIP front's handle on a call: the Focus uses it to end the call
// (kick, wrong PIN three times, conference ended).
type Leg interface {
	Hangup(reason string)
}

// Joiner is what the SIP front needs from the Focus Factory: resolve the
// dialled target (a conference number or a Focus ID) and join the call to
// that conference's Focus. The returned Member is the call's handle on its
// Focus for the rest of the call.
type Joiner interface {
	Join(ctx context.Context, target string, call Call, leg Leg) (Member, []byte, error)
}

// EarlyMedia is a Member that can say whether its caller hears a prompt
// before it is let into the conference (the PIN question, the attendant,
// the lobby, the wait for the leader). The SIP front then sends 183
// Session Progress with the SDP answer before the 200 (RFC 3960 §2.1), so
// that a gateway opens the media path from the first word of the prompt.
type EarlyMedia interface {
	EarlyMedia() bool
}

// Member is one call's handle on its Focus.
type Member interface {
	// DTMF relays a digit that arrived by SIP INFO (RFC 4733 digits reach
	// the Focus from the MCU directly).
	DTMF(digit byte)
	// Reoffer renegotiates media (re-INVITE) and returns the answer.
	Reoffer(offer []byte) ([]byte, error)
	// Leave takes the member out (BYE, CANCEL, session timer, media timeout).
	Leave(reason string)
}
