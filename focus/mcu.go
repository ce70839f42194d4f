package focus

import (
	"confab/mixer"
	"confab/mixer/prompt"
)

// MCU is one conference's audio Conferencing Server as the Focus sees it.
// *mixer.Conference implements it; an MCU on another box or a DSP could too.
type MCU interface {
	// Add admits a participant's media: it negotiates the SDP offer and
	// returns the answer. mixer.ErrNoCommonCodec maps to SIP 488.
	Add(offer []byte, opts mixer.AddOptions) (mixer.ParticipantID, []byte, error)
	// Update renegotiates (re-INVITE: hold, resume, codec change).
	Update(id mixer.ParticipantID, offer []byte) ([]byte, error)
	// Remove takes the participant out and returns its final quality.
	Remove(id mixer.ParticipantID) (mixer.Quality, error)
	SetMuted(id mixer.ParticipantID, muted bool) error
	SetDeaf(id mixer.ParticipantID, deaf bool) error
	// SetMixed false keeps a participant out of the mix both ways (PIN entry,
	// waiting for the leader): it hears only prompts meant for it.
	SetMixed(id mixer.ParticipantID, mixed bool) error
	// SetGain sets talk and listen gain in dB steps (-12..+12).
	SetGain(id mixer.ParticipantID, talkDB, listenDB int) error
	// Play plays p to one participant, or to everyone when id is 0, and
	// returns an id reported back in mixer.EventPromptDone.
	Play(id mixer.ParticipantID, p *prompt.Prompt) (uint64, error)
	StopPrompts(id mixer.ParticipantID) error
	Quality(id mixer.ParticipantID) (mixer.Quality, error)
	// Close ends the conference's mixing; every participant is removed.
	Close() error
}

// ServerFactory is the Conferencing Server Factory: it allocates the audio
// MCU for a conference and releases it when the conference ends.
type ServerFactory interface {
	Allocate(conferenceID string) (MCU, error)
	Release(conferenceID string)
}
