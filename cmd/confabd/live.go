package main

import (
	"context"
	"fmt"

	"confab/focus"
	"confab/focus/httpapi"
)

// live adapts the Focus Factory to the HTTP API's view of active
// conferences. Every command goes to the Focus as the appliance admin, so the
// API takes the same command path, with the same checks, as DTMF and SIP.
type live struct{ f *focus.Factory }

func newLive(f *focus.Factory) live { return live{f} }

func (l live) Roster(confID int64) (httpapi.Roster, bool) {
	fc, ok := l.f.FocusByConference(confID)
	if !ok {
		return httpapi.Roster{}, false
	}
	s := fc.Snapshot()
	if s.Ended {
		return httpapi.Roster{}, false
	}
	r := httpapi.Roster{Locked: s.Locked, Participants: make([]httpapi.Participant, 0, len(s.Members))}
	for _, m := range s.Members {
		r.Participants = append(r.Participants, httpapi.Participant{
			ID: m.ID, Name: m.DisplayName, URI: m.URI, Role: m.Role.String(), State: m.State.String(),
			Muted: m.Muted, Deaf: m.Deaf, Talking: m.Talking, Codec: m.Codec, JoinedAt: m.JoinedAt,
			LossPercent: m.Quality.LossPercent, JitterMs: float64(m.Quality.Jitter.Microseconds()) / 1000, MOS: m.Quality.MOS,
		})
	}
	return r, true
}

func (l live) Command(ctx context.Context, confID int64, member, command string) error {
	fc, ok := l.f.FocusByConference(confID)
	if !ok {
		return httpapi.ErrNotActive
	}
	op, ok := apiCommands[command]
	if !ok {
		return fmt.Errorf("%w: %q", httpapi.ErrBadCommand, command)
	}
	if op.onMember != (member != "") {
		return fmt.Errorf("%w: %q is not a %s command", httpapi.ErrBadCommand, command, map[bool]string{true: "conference", false: "participant"}[member != ""])
	}
	cmd := focus.Command{Kind: op.kind, Role: op.role, Member: member}
	return fc.Do(ctx, focus.AdminSender("admin"), cmd)
}

// apiCommands maps the API's command names to Focus commands.
var apiCommands = map[string]struct {
	kind     focus.CommandKind
	role     focus.Role
	onMember bool
}{
	"mute":       {kind: focus.Mute, onMember: true},
	"unmute":     {kind: focus.Unmute, onMember: true},
	"deaf":       {kind: focus.Deaf, onMember: true},
	"undeaf":     {kind: focus.Undeaf, onMember: true},
	"kick":       {kind: focus.Kick, onMember: true},
	"presenter":  {kind: focus.SetRole, role: focus.RolePresenter, onMember: true},
	"attendee":   {kind: focus.SetRole, role: focus.RoleAttendee, onMember: true},
	"admit":      {kind: focus.Admit, onMember: true},
	"lock":       {kind: focus.Lock},
	"unlock":     {kind: focus.Unlock},
	"mute-all":   {kind: focus.MuteAllAttendees},
	"unmute-all": {kind: focus.UnmuteAll},
	"end":        {kind: focus.EndConference},
}
