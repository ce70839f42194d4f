package mixer

import (
	"errors"
	"time"
)

// Errors the MCU returns to the Focus.
var (
	// ErrNoCommonCodec means the offer shares no codec with the MCU (SIP 488).
	ErrNoCommonCodec = errors.New("mixer: no common codec in the offer")
	// ErrBadSDP means the offer could not be parsed or has no usable audio stream.
	ErrBadSDP = errors.New("mixer: malformed SDP offer")
	// ErrUnknownParticipant names a participant that is not in the conference.
	ErrUnknownParticipant = errors.New("mixer: unknown participant")
	// ErrCapacity means the MCU cannot take another participant (SIP 503).
	ErrCapacity = errors.New("mixer: over capacity")
	// ErrClosed means the conference or engine has been closed.
	ErrClosed = errors.New("mixer: closed")
)

// ParticipantID names a participant inside one engine. IDs are never reused
// while the engine runs.
type ParticipantID uint64

// EventKind says what an Event reports.
type EventKind int

// Event kinds.
const (
	EventDTMF          EventKind = iota + 1 // a digit arrived (RFC 4733 or SIP INFO relayed by the Focus)
	EventTalking                            // a participant started (Talking true) or stopped talking
	EventTimeout                            // no media for the inactivity timeout: the call is dead
	EventPromptDone                         // a prompt finished (or was stopped) for Participant (0 = conference-wide)
	EventQuality                            // periodic quality report for a participant
	EventRemoteChanged                      // symmetric RTP latched the participant to a new source address
)

func (k EventKind) String() string {
	switch k {
	case EventDTMF:
		return "dtmf"
	case EventTalking:
		return "talking"
	case EventTimeout:
		return "timeout"
	case EventPromptDone:
		return "prompt-done"
	case EventQuality:
		return "quality"
	case EventRemoteChanged:
		return "remote-changed"
	}
	return "unknown"
}

// Event is one thing the MCU tells the Focus.
type Event struct {
	Kind        EventKind
	Conference  string
	Participant ParticipantID
	Digit       byte   // EventDTMF
	Talking     bool   // EventTalking
	PromptID    uint64 // EventPromptDone
	Quality     Quality
	At          time.Time
}

// Quality summarises a participant's media as the web page and call records show it.
type Quality struct {
	Codec           string
	PacketsReceived uint64
	PacketsLost     int64
	LossPercent     float64       // inbound loss over the call
	Jitter          time.Duration // RFC 3550 interarrival jitter of what we receive
	RemoteJitter    time.Duration // jitter the participant reports about our stream
	RTT             time.Duration
	Concealed       uint64 // frames concealed (PLC or FEC)
	FECRecovered    uint64 // of those, frames rebuilt from Opus in-band FEC
	Dropped         uint64 // inbound packets refused: malformed, unknown payload type, wrong source, SSRC floods
	BufferDelay     time.Duration
	MOS             float64 // estimate from the E-model (ITU-T G.107), 1..4.5
}

// Direction is the SDP media direction of a participant's stream (RFC 3264 §5.1).
type Direction int

// Directions.
const (
	SendRecv Direction = iota
	SendOnly           // the participant only sends (we only receive)
	RecvOnly           // the participant only receives
	Inactive
)

func (d Direction) String() string {
	switch d {
	case SendOnly:
		return "sendonly"
	case RecvOnly:
		return "recvonly"
	case Inactive:
		return "inactive"
	}
	return "sendrecv"
}

// AddOptions says how a participant enters the mix.
type AddOptions struct {
	Name  string // for logs and stats
	Muted bool   // starts muted (ingress blocked)
	Deaf  bool   // starts deaf (egress blocked)
	// Unmixed keeps the participant out of the mix both ways until
	// SetMixed(true): it hears only its own prompts (PIN entry, waiting room).
	Unmixed bool
}
