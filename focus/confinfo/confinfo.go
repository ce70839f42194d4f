// Package confinfo reads and writes conference-info documents, the body of
// the SIP conference event package (RFC 4575): the state of a conference,
// its users, their endpoints and media, as a Focus publishes it to
// subscribers in NOTIFY requests and as C3P carries it (MS-CONFBAS).
//
// A Document is full or partial (RFC 4575 §4.6): the first NOTIFY of a
// subscription carries the full state; later ones carry only what changed,
// numbered by a version one higher each time. Diff computes the partial
// document between two full ones, and Apply merges a partial document into
// a full one the way a subscriber does, so a test (or a client) can check
// that partial notifications rebuild the full state.
//
// Unmarshal takes documents from the network: it bounds their size,
// nesting and element count before decoding (see the limits below).
package confinfo

import (
	"errors"
	"time"
)

// Namespaces and the media type (RFC 4575 §5; Microsoft's extension
// namespace of MS-CONFBAS for the elements C3P adds).
const (
	Namespace   = "urn:ietf:params:xml:ns:conference-info"
	MSNamespace = "http://schemas.microsoft.com/rtc/2005/08/confinfoextensions"
	ContentType = "application/conference-info+xml"
)

// Limits on documents Unmarshal accepts. A Focus's own documents stay far
// below them; they bound what a peer can make the decoder hold.
const (
	MaxDocumentSize = 1 << 20
	maxDepth        = 24
	maxElements     = 20000
)

// Errors of Unmarshal.
var (
	// ErrMalformed means the document is not well-formed XML or not a
	// conference-info document.
	ErrMalformed = errors.New("confinfo: malformed document")
	// ErrTooLarge means the document exceeds a size, depth or element
	// limit.
	ErrTooLarge = errors.New("confinfo: document too large")
)

// State says how an element relates to what the subscriber holds (RFC 4575
// §4.6, §5.1): the complete element, only what changed, or gone.
type State string

// States.
const (
	Full    State = "full"
	Partial State = "partial"
	Deleted State = "deleted"
)

// Document is a <conference-info> document (RFC 4575 §5.1).
type Document struct {
	// Entity is the conference URI: the Focus URI.
	Entity  string
	State   State
	Version uint32
	// Description, ConfState and Users are nil when absent (in a partial
	// document: unchanged).
	Description *Description
	ConfState   *ConferenceState
	Users       *Users
}

// Description is <conference-description> (RFC 4575 §5.3), with the
// Microsoft extensions C3P uses to schedule a conference.
type Description struct {
	DisplayText    string
	Subject        string
	FreeText       string
	ConfURIs       []URI
	ServiceURIs    []URI
	MaxUserCount   *uint32
	AvailableMedia []AvailableMedia

	// Microsoft extensions (MS-CONFBAS, msci namespace).
	ConferenceID    string     // msci:conference-id
	AdmissionPolicy string     // msci:admission-policy: closedAuthenticated, openAuthenticated, anonymous
	ExpiryTime      *time.Time // msci:expiry-time
}

// URI is an <entry> of conf-uris or service-uris (RFC 4575 §5.3.1).
type URI struct {
	URI         string
	DisplayText string
	// Purpose is participation, streaming, event, recording or web-page.
	Purpose string
}

// AvailableMedia is an <entry> of available-media (RFC 4575 §5.3.4).
type AvailableMedia struct {
	Label       string
	DisplayText string
	Type        string // audio, video, ...
	Status      string // sendrecv, sendonly, recvonly, inactive
}

// ConferenceState is <conference-state> (RFC 4575 §5.5). A nil field is
// absent.
type ConferenceState struct {
	UserCount *uint32
	Active    *bool
	Locked    *bool
}

// Users is <users> (RFC 4575 §5.6).
type Users struct {
	State State
	Users []User
}

// User is a <user> (RFC 4575 §5.6): someone in the conference, by their
// URI, with the endpoints they take part from.
type User struct {
	Entity      string
	State       State
	DisplayText string
	// Roles are the user's roles: attendee, presenter (MS-CONFBAS) or
	// organizer.
	Roles     []string
	Endpoints []Endpoint
}

// Endpoint is an <endpoint> (RFC 4575 §5.7): one device of a user in the
// conference, here one call.
type Endpoint struct {
	Entity      string
	State       State
	DisplayText string
	// Status is connected, disconnected, on-hold, muted-via-focus,
	// pending, alerting, dialing-in, dialing-out or disconnecting (RFC 4575
	// §5.7.1).
	Status string
	// JoiningMethod is dialed-in, dialed-out or focus-owner (§5.7.2).
	JoiningMethod string
	JoiningInfo   *ExecInfo
	// DisconnectionMethod is departed, booted, failed or busy (§5.7.4).
	DisconnectionMethod string
	DisconnectionInfo   *ExecInfo
	Media               []Media
	CallInfo            *SIPDialog
}

// ExecInfo is joining-info or disconnection-info (RFC 4575 §5.7.3).
type ExecInfo struct {
	When   time.Time
	Reason string
	By     string
}

// Media is a <media> of an endpoint (RFC 4575 §5.7.5), with Microsoft's
// media filters (MS-CONFAV): "block" or "unblock" on the way into the mix
// (ingress: mute) and out of it (egress: deaf).
type Media struct {
	ID            string
	State         State
	DisplayText   string
	Type          string
	Label         string
	SrcID         string
	Status        string // sendrecv, sendonly, recvonly, inactive
	IngressFilter string // msci:media-ingress-filter
	EgressFilter  string // msci:media-egress-filter
}

// SIPDialog is the <sip> of call-info (RFC 4575 §5.7.6): the endpoint's
// dialog with the Focus.
type SIPDialog struct {
	DisplayText string
	CallID      string
	FromTag     string
	ToTag       string
}

// Filter values of media-ingress-filter and media-egress-filter.
const (
	FilterBlock   = "block"
	FilterUnblock = "unblock"
)

// User returns the user with the given entity, or nil.
func (d *Document) User(entity string) *User {
	if d == nil || d.Users == nil {
		return nil
	}
	for i := range d.Users.Users {
		if d.Users.Users[i].Entity == entity {
			return &d.Users.Users[i]
		}
	}
	return nil
}

// Ptr returns a pointer to v, for the optional fields.
func Ptr[T any](v T) *T { return &v }
