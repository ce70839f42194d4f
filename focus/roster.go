package focus

import (
	"fmt"
	"time"

	"confab/mixer"
)

// Role is what a member may do in the conference. Attendee and presenter
// are the conference-info roles of MS-CONFBAS; the organizer is whoever
// scheduled the conference (store.Conference.Organizer) and is a presenter
// nobody but an administrator can demote.
type Role int

// Roles, in increasing privilege.
const (
	RoleAttendee Role = iota + 1
	RolePresenter
	RoleOrganizer
)

func (r Role) String() string {
	switch r {
	case RoleAttendee:
		return "attendee"
	case RolePresenter:
		return "presenter"
	case RoleOrganizer:
		return "organizer"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// ParseRole parses a role name as String writes it, for the HTTP API and C3P.
func ParseRole(s string) (Role, error) {
	for _, r := range []Role{RoleAttendee, RolePresenter, RoleOrganizer} {
		if s == r.String() {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown role %q (attendee, presenter or organizer)", ErrInvalidCommand, s)
}

// leader reports whether the role leads the conference: presenters and the
// organizer end a wait for the leader, bypass lock and size limits and may
// use every command.
func (r Role) leader() bool { return r == RolePresenter || r == RoleOrganizer }

func (r Role) valid() bool { return r >= RoleAttendee && r <= RoleOrganizer }

// MemberState is where a member is on its way into the conference.
type MemberState int

// Member states.
const (
	// StatePINEntry: hearing the PIN prompt, out of the mix.
	StatePINEntry MemberState = iota + 1
	// StateLobby: admitted by PIN (if any) but held, out of the mix, until
	// a presenter lets it in (store.AdmissionLobby).
	StateLobby
	// StateWaiting: out of the mix until a presenter or the organizer is in
	// (store.Conference.WaitForLeader).
	StateWaiting
	// StateInConference: in the mix.
	StateInConference
)

func (s MemberState) String() string {
	switch s {
	case StatePINEntry:
		return "pin-entry"
	case StateLobby:
		return "lobby"
	case StateWaiting:
		return "waiting"
	case StateInConference:
		return "in-conference"
	}
	return fmt.Sprintf("MemberState(%d)", int(s))
}

// Reasons a member leaves, as MemberLeft events and call records give them.
// The SIP front passes its own to Member.Leave (ReasonBye, a session-timer
// expiry, ...).
const (
	ReasonBye               = "bye"
	ReasonLeft              = "left" // *# from the DTMF menu
	ReasonKicked            = "kicked"
	ReasonWrongPIN          = "wrong PIN"
	ReasonMediaTimeout      = "media timeout"
	ReasonLocked            = "conference locked"
	ReasonFull              = "conference full"
	ReasonNotAdmitted       = "not admitted"
	ReasonLeaderLeft        = "leader left"
	ReasonConferenceEnded   = "conference ended"
	ReasonConferenceDeleted = "conference deleted"
	ReasonShutdown          = "shutdown"
	// ReasonEmpty ends a conference whose last member has left.
	ReasonEmpty = "everyone left"
)

// MemberInfo is one member as the roster shows it.
type MemberInfo struct {
	ID          string
	DisplayName string
	URI         string // the From URI
	User        string // the authenticated SIP user, "" if none
	CallID      string
	Role        Role
	State       MemberState
	Muted       bool
	Deaf        bool
	Talking     bool
	TalkDB      int // talk (into the mix) gain, -12..+12 dB
	ListenDB    int // listen (from the mix) gain, -12..+12 dB
	JoinedAt    time.Time
	Codec       string
	Quality     mixer.Quality // the MCU's latest report
	// DialedOut marks a call the Focus placed (C3P addUser, REFER); By is
	// who asked for it.
	DialedOut bool
	By        string
}

// ConferenceState is an active conference as GET /api/v1/conferences/{id}
// shows it.
type ConferenceState struct {
	ConferenceID int64
	FocusID      string
	URI          string // the Focus URI
	Number       string
	Name         string
	Subject      string
	Organizer    string
	Locked       bool
	// MutedAttendees is the mute-all mode: attendees are muted, and those
	// who join are muted too, until UnmuteAll.
	MutedAttendees bool
	StartedAt      time.Time
	Ended          bool
	// Seq is the Seq of the last Event this state reflects: a subscriber
	// that subscribes first and then takes a Snapshot skips the events up
	// to it.
	Seq     uint64
	Members []MemberInfo // in the order they joined
}

// member is one call in a Focus; it is the Member the SIP front holds.
// The fields up to rec are set at join and never change; those after it
// are guarded by f.mu.
type member struct {
	f        *Focus
	id       string
	pid      mixer.ParticipantID
	call     Call
	leg      Leg
	joinedAt time.Time
	start    startRecord // what StartCallRecord is given; set once under f.mu
	rec      callRecord  // has its own lock

	role             Role
	state            MemberState
	muted, deaf      bool
	talking          bool
	talkDB, listenDB int
	codec            string
	quality          mixer.Quality
	admitted         bool   // let out of the lobby
	leaving          bool   // hearing goodbye; removed and hung up when it ends
	leaveReason      string // why, while leaving
	gone             bool   // out of the roster
	pin              pinEntry
	wait             Timer // repeats the waiting prompt
	waitGen          uint64
	menuArmed        bool      // '*' pressed: the next digit is a menu key
	menuAt           time.Time // when
	dialedBy         string    // who had the Focus call it (dial-out), "" for a call that came in
	early            bool      // heard a prompt before it was let in: set at join (EarlyMedia)
}

// EarlyMedia implements focus.EarlyMedia: whether the call joined hearing
// a prompt rather than the conference.
func (m *member) EarlyMedia() bool { return m.early }

func (m *member) info() MemberInfo {
	return MemberInfo{
		ID:          m.id,
		DisplayName: m.call.DisplayName,
		URI:         m.call.From,
		User:        m.call.User,
		CallID:      m.call.CallID,
		Role:        m.role,
		State:       m.state,
		Muted:       m.muted,
		Deaf:        m.deaf,
		Talking:     m.talking,
		TalkDB:      m.talkDB,
		ListenDB:    m.listenDB,
		JoinedAt:    m.joinedAt,
		Codec:       m.codec,
		Quality:     m.quality,
		DialedOut:   m.dialedBy != "",
		By:          m.dialedBy,
	}
}

// counted reports whether the member counts towards MaxMembers: it is past
// PIN entry and not on its way out.
func (m *member) counted() bool { return !m.gone && !m.leaving && m.state != StatePINEntry }

// mixedIn reports whether the member is in the mix and staying.
func (m *member) mixedIn() bool { return !m.gone && !m.leaving && m.state == StateInConference }

// DTMF implements Member: a digit that came by SIP INFO.
func (m *member) DTMF(digit byte) {
	m.f.update(func(d *deferred) { m.f.digitLocked(m, digit, d) })
}

// Reoffer implements Member: a re-INVITE's offer goes to the MCU.
func (m *member) Reoffer(offer []byte) ([]byte, error) {
	var (
		answer []byte
		err    error
	)
	m.f.update(func(*deferred) {
		if m.gone {
			err = fmt.Errorf("%w: %s has left", ErrUnknownMember, m.id)
			return
		}
		answer, err = m.f.mcu.Update(m.pid, offer)
		if err != nil {
			err = fmt.Errorf("focus: renegotiate %s: %w", m.id, err)
			return
		}
		m.f.refreshCodecLocked(m)
	})
	return answer, err
}

// Leave implements Member: the call has ended (BYE, CANCEL, session timer).
func (m *member) Leave(reason string) {
	m.f.update(func(d *deferred) { m.f.leaveLocked(m, reason, d) })
}
