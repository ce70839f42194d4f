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
	cmd := focus.Command{Member: member}
	switch command {
	case "mute":
		cmd.Kind = focus.Mute
	case "unmute":
		cmd.Kind = focus.Unmute
	case "deaf":
		cmd.Kind = focus.Deaf
	case "undeaf":
		cmd.Kind = focus.Undeaf
	case "kick":
		cmd.Kind = focus.Kick
	case "presenter":
		cmd.Kind, cmd.Role = focus.SetRole, focus.RolePresenter
	case "attendee":
		cmd.Kind, cmd.Role = focus.SetRole, focus.RoleAttendee
	case "admit":
		cmd.Kind = focus.Admit
	case "lock":
		cmd.Kind = focus.Lock
	case "unlock":
		cmd.Kind = focus.Unlock
	case "mute-all":
		cmd.Kind = focus.MuteAllAttendees
	case "unmute-all":
		cmd.Kind = focus.UnmuteAll
	case "end":
		cmd.Kind = focus.EndConference
	default:
		return fmt.Errorf("%w: %q", httpapi.ErrBadCommand, command)
	}
	onMember := cmd.Kind != focus.Lock && cmd.Kind != focus.Unlock && cmd.Kind != focus.MuteAllAttendees &&
		cmd.Kind != focus.UnmuteAll && cmd.Kind != focus.EndConference
	if onMember != (member != "") {
		return fmt.Errorf("%w: %q is not a %s command", httpapi.ErrBadCommand, command, map[bool]string{true: "conference", false: "participant"}[member != ""])
	}
	return fc.Do(ctx, focus.AdminSender("admin"), cmd)
}
