// Package c3p reads and writes C3P, the Centralized Conference Control
// Protocol of Office Communications Server 2007 R2 (MS-CONFBAS, MS-CONFPRO,
// MS-CONFAV), which descends from the IETF draft-levin-xcon-cccp. A C3P
// request is an XML <request> in the namespace urn:ietf:params:xml:ns:cccp
// with one command as its child; the answer is a <response> that echoes the
// command with code="success" or code="failure" and a reason. Both travel as
// application/cccp+xml in SIP: SERVICE to the Focus Factory, INVITE and INFO
// to the Focus (MS-CONFBAS 2.1).
//
// Conference data inside commands is RFC 4575 conference-info with
// Microsoft's extensions (package confinfo).
//
// The commands Confab implements, and their shapes as this package writes
// and reads them:
//
//	Focus Factory (SERVICE)
//	  getConferencingCapabilities  -> mcu-types, admission-policies, maximum-user-count
//	  getAvailableMcuTypes         -> mcu-types
//	  addConference   conference-info          -> conference-info entity = Focus URI
//	  modifyConference conferenceKeys, conference-info
//	  deleteConference conferenceKeys          -> conference-info entity
//	  getConference    conferenceKeys          -> conference-info (full)
//	  getEncryptionKey conferenceKeys          -> msci:encryption-key
//	Focus (INVITE, INFO)
//	  addUser          conferenceKeys, user    -> user with the roles granted
//	  deleteUser       userKeys
//	  modifyUserRoles  userKeys, user-roles
//	  modifyEndpointMedia mediaKeys, media (msci:media-ingress-filter, msci:media-egress-filter)
//	  modifyConferenceLock conferenceKeys, locked
//	  setLobbyAccess   userKeys, access (granted or denied)
//
// setLobbyAccess (Lync 2010 and later) has no published shape this package
// could follow; the one above is Confab's and says so.
//
// Decode takes requests from the network: it bounds their size, nesting
// and element count before decoding.
package c3p

import (
	"errors"

	"confab/focus/confinfo"
)

// Namespaces and the media type (MS-CONFBAS 2.2).
const (
	Namespace = "urn:ietf:params:xml:ns:cccp"
	// ExtNamespace is Microsoft's C3P extension namespace (prefix mscp).
	ExtNamespace = "http://schemas.microsoft.com/rtc/2005/08/cccpextensions"
	ContentType  = "application/cccp+xml"
	// Version is the C3PVersion Confab speaks and writes.
	Version = "1"
)

// Limits on documents Decode and DecodeResponse accept: a C3P command is a
// few hundred bytes; a getConference response a few kilobytes per member.
const (
	MaxRequestSize  = 64 << 10
	MaxResponseSize = 1 << 20
	maxDepth        = 16
	maxElements     = 10000
)

// Errors of Decode.
var (
	// ErrMalformed means the body is not well-formed XML, not a C3P request
	// or response, or a field does not parse.
	ErrMalformed = errors.New("c3p: malformed")
	// ErrTooLarge means the body exceeds a size, depth or element limit.
	ErrTooLarge = errors.New("c3p: too large")
	// ErrNoCommand means a request has no command or more than one.
	ErrNoCommand = errors.New("c3p: a request must carry exactly one command")
	// ErrUnknownCommand means the command is not one this package knows.
	ErrUnknownCommand = errors.New("c3p: unknown command")
)

// Command names (the element names).
const (
	CmdGetConferencingCapabilities = "getConferencingCapabilities"
	CmdGetAvailableMCUTypes        = "getAvailableMcuTypes"
	CmdAddConference               = "addConference"
	CmdModifyConference            = "modifyConference"
	CmdDeleteConference            = "deleteConference"
	CmdGetConference               = "getConference"
	CmdGetEncryptionKey            = "getEncryptionKey"
	CmdAddUser                     = "addUser"
	CmdDeleteUser                  = "deleteUser"
	CmdModifyUserRoles             = "modifyUserRoles"
	CmdModifyEndpointMedia         = "modifyEndpointMedia"
	CmdModifyConferenceLock        = "modifyConferenceLock"
	CmdSetLobbyAccess              = "setLobbyAccess"
)

// Request is a C3P <request> (MS-CONFBAS 2.2.2.1).
type Request struct {
	Version string // C3PVersion, "1"
	// ID is the requestId: a non-negative integer the sender makes unique
	// among its requests; the response echoes it.
	ID string
	// From is the sender's URI, To the URI the request is addressed to (the
	// SIP To).
	From, To string
	Command  Command
}

// Command is one of the command types of this package.
type Command interface {
	// Name is the command's element name, such as "addUser".
	Name() string
}

// Keys address what a command is about (MS-CONFBAS 2.2.3): conferenceKeys
// carry the conference, userKeys a user in it, mediaKeys one medium of
// one endpoint of a user.
type Keys struct {
	ConfEntity string // the conference URI (Focus URI)
	// ConferenceID is msci:conference-id, the Focus ID, which getConference
	// and friends may give instead of ConfEntity.
	ConferenceID   string
	UserEntity     string
	EndpointEntity string
	MediaID        string
}

// GetConferencingCapabilities asks the Focus Factory what it offers.
type GetConferencingCapabilities struct{}

// GetAvailableMCUTypes asks the Focus Factory which MCU types it has.
type GetAvailableMCUTypes struct{}

// AddConference schedules a conference. Info carries what the organizer
// asks for: its description (subject, display text, msci:conference-id,
// msci:admission-policy, msci:expiry-time, maximum-user-count) and whether
// it starts locked.
type AddConference struct{ Info *confinfo.Document }

// ModifyConference changes a scheduled conference; what Info leaves out
// stays as it is.
type ModifyConference struct {
	Keys Keys
	Info *confinfo.Document
}

// DeleteConference deletes a conference; an active one ends.
type DeleteConference struct{ Keys Keys }

// GetConference asks for a conference's full state.
type GetConference struct{ Keys Keys }

// GetEncryptionKey asks for the conference's encryption key.
type GetEncryptionKey struct{ Keys Keys }

// AddUser adds a user: the sender itself joining (INVITE to the Focus),
// or, with the endpoint's JoiningMethod "dialed-out", someone the Focus is
// to call (MS-CONFBAS 2.2.3.15).
type AddUser struct {
	Keys Keys
	User confinfo.User
}

// DeleteUser removes a user from the conference.
type DeleteUser struct{ Keys Keys }

// ModifyUserRoles gives a user new roles.
type ModifyUserRoles struct {
	Keys  Keys
	Roles []string
}

// ModifyEndpointMedia changes one medium of an endpoint (MS-CONFAV): its
// IngressFilter blocks (mutes) or unblocks the endpoint's audio into the
// mix, its EgressFilter the mix to the endpoint (deaf).
type ModifyEndpointMedia struct {
	// MCUURI is mscp:mcuUri, the MCU the medium is on.
	MCUURI string
	Keys   Keys
	Media  confinfo.Media
}

// ModifyConferenceLock locks or unlocks the conference.
type ModifyConferenceLock struct {
	Keys   Keys
	Locked bool
}

// Lobby access decisions (setLobbyAccess).
const (
	AccessGranted = "granted"
	AccessDenied  = "denied"
)

// SetLobbyAccess lets a user waiting in the lobby in (AccessGranted) or
// sends them away (AccessDenied).
type SetLobbyAccess struct {
	Keys   Keys
	Access string
}

// Name implements Command.
func (GetConferencingCapabilities) Name() string { return CmdGetConferencingCapabilities }

// Name implements Command.
func (GetAvailableMCUTypes) Name() string { return CmdGetAvailableMCUTypes }

// Name implements Command.
func (AddConference) Name() string { return CmdAddConference }

// Name implements Command.
func (ModifyConference) Name() string { return CmdModifyConference }

// Name implements Command.
func (DeleteConference) Name() string { return CmdDeleteConference }

// Name implements Command.
func (GetConference) Name() string { return CmdGetConference }

// Name implements Command.
func (GetEncryptionKey) Name() string { return CmdGetEncryptionKey }

// Name implements Command.
func (AddUser) Name() string { return CmdAddUser }

// Name implements Command.
func (DeleteUser) Name() string { return CmdDeleteUser }

// Name implements Command.
func (ModifyUserRoles) Name() string { return CmdModifyUserRoles }

// Name implements Command.
func (ModifyEndpointMedia) Name() string { return CmdModifyEndpointMedia }

// Name implements Command.
func (ModifyConferenceLock) Name() string { return CmdModifyConferenceLock }

// Name implements Command.
func (SetLobbyAccess) Name() string { return CmdSetLobbyAccess }

// Code is a response's outcome.
type Code string

// Codes.
const (
	Success Code = "success"
	Failure Code = "failure"
)

// Failure reasons Confab gives (after UCMA's CommandFailureReasons, in
// C3P's spelling).
const (
	ReasonOther                  = "otherFailure"
	ReasonMalformed              = "requestMalformed"
	ReasonUnauthorized           = "unauthorized" // the sender did not authenticate
	ReasonForbidden              = "forbidden"    // the sender may not do this
	ReasonNotImplemented         = "commandNotImplemented"
	ReasonNotSupported           = "notSupported"
	ReasonConferenceDoesNotExist = "conferenceDoesNotExist"
	ReasonConferenceExists       = "conferenceExists"
	ReasonInvalidConferenceID    = "invalidConferenceId"
	ReasonInvalidAdmission       = "invalidAdmissionPolicy"
	ReasonInvalidExpiryTime      = "invalidExpiryTime"
	ReasonUserDoesNotExist       = "userDoesNotExist"
	ReasonInvalidRole            = "invalidRole"
	ReasonInvalidUserEntity      = "invalidUserEntity"
	ReasonMediaDoesNotExist      = "mediaDoesNotExist"
	ReasonConferenceLocked       = "conferenceLocked"
	ReasonMeetingSizeExceeded    = "maximumMeetingSizeExceeded"
	ReasonUnavailable            = "serviceUnavailable"
)

// Response is a C3P <response> (MS-CONFBAS 2.2.2.2). Only the fields of
// its command are set.
type Response struct {
	Version string
	ID      string // the request's ID
	// From is the request's To, To the request's From.
	From, To string
	Code     Code
	Reason   string // on failure
	Command  string // the command echoed
	// Keys echo the request's keys.
	Keys *Keys
	// ConferenceEntity is the conference URI: addConference's new Focus
	// URI, deleteConference's deleted one.
	ConferenceEntity string
	// Info is getConference's full state.
	Info *confinfo.Document
	// MCUTypes answer getAvailableMcuTypes.
	MCUTypes     []string
	Capabilities *Capabilities
	Key          *EncryptionKey
	// User is addUser's user with the roles granted (MS-CONFBAS 2.2.3.6).
	User *confinfo.User
}

// Capabilities answer getConferencingCapabilities.
type Capabilities struct {
	MCUTypes          []string
	AdmissionPolicies []string
	MaxUserCount      uint32 // 0: no limit
}

// EncryptionKey answers getEncryptionKey.
type EncryptionKey struct {
	ID  string
	Key []byte
}

// Answer starts the response to r: addressed back to its sender, echoing
// its id and command.
func (r *Request) Answer(code Code, reason string) *Response {
	res := &Response{Version: Version, ID: r.ID, From: r.To, To: r.From, Code: code, Reason: reason}
	if r.Command != nil {
		res.Command = r.Command.Name()
	}
	return res
}
