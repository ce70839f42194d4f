package focus

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"time"

	"confab/focus/store"
)

// Admission timing and limits.
const (
	pinInterDigit = 5 * time.Second  // after the last digit, the entry counts as ended by '#'
	pinOverall    = 20 * time.Second // for one try, from its prompt
	pinMaxTries   = 3
	pinMaxDigits  = 16 // store PINs have at most 12
	waitRepeat    = 20 * time.Second
	// promptGrace is how long past a prompt's length the Focus waits for
	// the MCU to report its end before going on without: the mixer drops
	// events when its queue is full.
	promptGrace = 3 * time.Second
)

// pinEntry is a member's PIN collector.
type pinEntry struct {
	digits  []byte
	tries   int       // wrong entries so far
	started time.Time // of the current try
	timer   Timer
	gen     uint64 // bumped whenever timer is replaced, so a stale one does nothing
}

// needsPINLocked reports whether a caller with role must enter a PIN.
// AdmissionPIN asks everyone; otherwise the authenticated organizer goes
// straight in, and a closed conference asks only for the moderator PIN.
func (f *Focus) needsPINLocked(role Role) bool {
	c := f.conf
	switch {
	case c.Admission == store.AdmissionPIN:
		return true
	case role == RoleOrganizer:
		return false
	case c.Admission == store.AdmissionClosed:
		return c.ModeratorPIN != ""
	}
	return c.PIN != "" || c.ModeratorPIN != ""
}

// pinRoleLocked checks an entered PIN and returns the role it gives a
// caller that has role so far. When the conference has only a moderator
// PIN, an empty entry ('#' alone, or silence) joins as an attendee.
func (f *Focus) pinRoleLocked(entered string, role Role) (Role, bool) {
	c := f.conf
	equal := func(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
	switch {
	case c.ModeratorPIN != "" && equal(entered, c.ModeratorPIN):
		return max(role, RolePresenter), true
	case c.Admission == store.AdmissionClosed:
		return 0, false
	case c.PIN != "":
		return role, equal(entered, c.PIN)
	}
	return role, entered == ""
}

// refusalLocked says why a caller with role may not come in now, or nil.
// Leaders bypass lock, closed admission and the size limit.
func (f *Focus) refusalLocked(role Role) error {
	if role.leader() {
		return nil
	}
	if f.locked {
		return fmt.Errorf("%w: conference %s", ErrLocked, f.conf.Number)
	}
	if f.conf.Admission == store.AdmissionClosed {
		return fmt.Errorf("%w: conference %s admits only its moderators", ErrForbidden, f.conf.Number)
	}
	if n := f.conf.MaxMembers; n > 0 && f.countedLocked() >= n {
		return fmt.Errorf("%w: conference %s has %d members", ErrFull, f.conf.Number, n)
	}
	return nil
}

func (f *Focus) countedLocked() int {
	n := 0
	for _, m := range f.members {
		if m.counted() {
			n++
		}
	}
	return n
}

func (f *Focus) startPINLocked(m *member) {
	f.playLocked(m, PromptEnterPIN)
	m.pin.started = f.fa.clock.Now()
	f.armPINLocked(m, pinOverall)
}

func (f *Focus) armPINLocked(m *member, wait time.Duration) {
	if m.pin.timer != nil {
		m.pin.timer.Stop()
	}
	m.pin.gen++
	gen := m.pin.gen
	m.pin.timer = f.fa.clock.AfterFunc(wait, func() {
		f.update(func(d *deferred) {
			if m.gone || m.leaving || m.state != StatePINEntry || m.pin.gen != gen {
				return
			}
			f.submitPINLocked(m, d)
		})
	})
}

func (f *Focus) pinDigitLocked(m *member, digit byte, d *deferred) {
	switch {
	case digit == '#':
		f.submitPINLocked(m, d)
	case digit == '*': // start over
		m.pin.digits = m.pin.digits[:0]
	case digit >= '0' && digit <= '9':
		m.pin.digits = append(m.pin.digits, digit)
		if len(m.pin.digits) > pinMaxDigits {
			f.submitPINLocked(m, d)
			return
		}
		left := m.pin.started.Add(pinOverall).Sub(f.fa.clock.Now())
		f.armPINLocked(m, max(min(pinInterDigit, left), 0))
	}
}

func (f *Focus) submitPINLocked(m *member, d *deferred) {
	entered := string(m.pin.digits)
	m.pin.digits = m.pin.digits[:0]
	role, ok := f.pinRoleLocked(entered, m.role)
	if !ok {
		m.pin.tries++
		f.log.Info("wrong PIN", "member", m.id, "try", m.pin.tries)
		if m.pin.tries >= pinMaxTries {
			f.refuseLocked(m, PromptGoodbye, ReasonWrongPIN, d)
			return
		}
		f.stopPromptsLocked(m)
		f.playThenLocked(m, PromptWrongPIN, d, func(*deferred) {
			// Someone typing ahead does not need to be asked again.
			if !m.gone && !m.leaving && m.state == StatePINEntry && len(m.pin.digits) == 0 {
				f.playLocked(m, PromptEnterPIN)
			}
		})
		m.pin.started = f.fa.clock.Now()
		f.armPINLocked(m, pinOverall)
		return
	}
	f.stopTimersLocked(m)
	f.stopPromptsLocked(m)
	m.role = role
	if err := f.refusalLocked(role); err != nil {
		name, reason := PromptGoodbye, ReasonNotAdmitted
		switch {
		case errors.Is(err, ErrLocked):
			name, reason = PromptLocked, ReasonLocked
		case errors.Is(err, ErrFull):
			reason = ReasonFull
		}
		f.log.Info("refused after PIN", "member", m.id, "err", err)
		f.refuseLocked(m, name, reason, d)
		return
	}
	f.placeLocked(m, MemberUpdated, d)
}

// placeLocked puts an admitted member where it belongs: the lobby, the
// waiting room or the mix, and publishes kind (MemberJoined or
// MemberUpdated) for it.
func (f *Focus) placeLocked(m *member, kind EventKind, d *deferred) {
	switch {
	case !m.role.leader() && f.conf.Admission == store.AdmissionLobby && !m.admitted && m.call.User == "":
		// OCS admission policy: the lobby holds callers who have not
		// authenticated; a registered phone goes straight in.
		m.state = StateLobby
		f.emitLocked(kind, m, "")
		f.startWaitingLocked(m)
	case !m.role.leader() && f.conf.WaitForLeader && !f.leaderPresentLocked():
		m.state = StateWaiting
		f.emitLocked(kind, m, "")
		f.startWaitingLocked(m)
	default:
		f.enterLocked(m, kind)
	}
}

// admitLocked lets a member out of the lobby.
func (f *Focus) admitLocked(m *member, d *deferred) {
	m.admitted = true
	f.stopWaitingLocked(m)
	f.placeLocked(m, MemberUpdated, d)
}

// enterLocked mixes a member in. A leader coming in brings those waiting
// for it in with it.
func (f *Focus) enterLocked(m *member, kind EventKind) {
	f.stopWaitingLocked(m)
	m.state = StateInConference
	f.mixInLocked(m)
	f.emitLocked(kind, m, "")
	if m.role.leader() {
		f.releaseWaitingLocked()
	}
	f.announceJoinLocked(m)
}

// mixInLocked puts a member in the mix, muted if mute-all is on and it is
// an attendee.
func (f *Focus) mixInLocked(m *member) {
	if err := f.mcu.SetMixed(m.pid, true); err != nil {
		f.log.Warn("mix in", "member", m.id, "err", err)
	}
	if f.muteAll && m.role == RoleAttendee && !m.muted {
		if err := f.mcu.SetMuted(m.pid, true); err != nil {
			f.log.Warn("mute on entry", "member", m.id, "err", err)
		} else {
			m.muted = true
		}
	}
}

// releaseWaitingLocked mixes in everyone waiting for the leader, quietly:
// the leader's join tone tells them.
func (f *Focus) releaseWaitingLocked() {
	for _, m := range f.members {
		if m.state != StateWaiting || m.leaving || m.gone {
			continue
		}
		f.stopWaitingLocked(m)
		m.state = StateInConference
		f.mixInLocked(m)
		f.emitLocked(MemberUpdated, m, "")
	}
}

func (f *Focus) leaderPresentLocked() bool {
	for _, m := range f.members {
		if m.role.leader() && m.mixedIn() {
			return true
		}
	}
	return false
}

// leaderGoneLocked runs when the last leader in the mix has left: with
// EndWhenLeaderLeaves the attendees hear goodbye and are hung up; with
// WaitForLeader they go back to wait.
func (f *Focus) leaderGoneLocked(d *deferred) {
	switch {
	case f.conf.EndWhenLeaderLeaves:
		for _, m := range slices.Clone(f.members) {
			if !m.role.leader() && m.state != StatePINEntry {
				f.refuseLocked(m, PromptGoodbye, ReasonLeaderLeft, d)
			}
		}
	case f.conf.WaitForLeader:
		for _, m := range f.members {
			if m.role.leader() || !m.mixedIn() {
				continue
			}
			if err := f.mcu.SetMixed(m.pid, false); err != nil {
				f.log.Warn("mix out", "member", m.id, "err", err)
			}
			m.state = StateWaiting
			f.emitLocked(MemberUpdated, m, "")
			f.startWaitingLocked(m)
		}
	}
}

// startWaitingLocked plays the waiting prompt now and every waitRepeat
// while the member stays in the lobby or waiting room.
func (f *Focus) startWaitingLocked(m *member) {
	f.playLocked(m, PromptWaitingForLeader)
	if m.wait != nil {
		m.wait.Stop()
	}
	m.waitGen++
	gen := m.waitGen
	m.wait = f.fa.clock.AfterFunc(waitRepeat, func() {
		f.update(func(*deferred) {
			if m.gone || m.leaving || m.waitGen != gen || (m.state != StateWaiting && m.state != StateLobby) {
				return
			}
			f.startWaitingLocked(m)
		})
	})
}

func (f *Focus) stopWaitingLocked(m *member) {
	if m.wait == nil {
		return
	}
	m.wait.Stop()
	m.wait = nil
	m.waitGen++
	f.stopPromptsLocked(m)
}

func (f *Focus) stopTimersLocked(m *member) {
	if m.wait != nil {
		m.wait.Stop()
		m.wait = nil
		m.waitGen++
	}
	if m.pin.timer != nil {
		m.pin.timer.Stop()
		m.pin.gen++
	}
}

// refuseLocked sends a member away: it leaves the mix, hears the prompt
// called name, and is then removed and hung up with reason.
func (f *Focus) refuseLocked(m *member, name, reason string, d *deferred) {
	if m.gone || m.leaving {
		return
	}
	m.leaving = true
	m.leaveReason = reason
	f.stopTimersLocked(m)
	f.stopPromptsLocked(m)
	if m.state == StateInConference {
		if err := f.mcu.SetMixed(m.pid, false); err != nil {
			f.log.Warn("mix out", "member", m.id, "err", err)
		}
	}
	f.playThenLocked(m, name, d, func(d *deferred) { f.dropLocked(m, reason, d) })
}

func (f *Focus) announceJoinLocked(m *member) {
	if !f.conf.Announcements {
		return
	}
	alone := true
	for _, o := range f.members {
		if o != m && o.mixedIn() {
			alone = false
			f.playLocked(o, PromptJoinTone)
		}
	}
	if alone {
		f.playLocked(m, PromptFirstParticipant)
	}
}

func (f *Focus) announceLeaveLocked() {
	if !f.conf.Announcements {
		return
	}
	for _, o := range f.members {
		if o.mixedIn() {
			f.playLocked(o, PromptLeaveTone)
		}
	}
}

// playLocked plays the prompt called name to m, if there is one.
func (f *Focus) playLocked(m *member, name string) {
	p := f.fa.prompts.Prompt(name)
	if p == nil {
		return
	}
	if _, err := f.mcu.Play(m.pid, p); err != nil {
		f.log.Debug("play prompt", "member", m.id, "prompt", name, "err", err)
	}
}

// playThenLocked plays the prompt called name to m and runs then when it
// has ended: on the MCU's PromptDone, or after its length and some grace if
// that never comes; at once if there is no such prompt.
func (f *Focus) playThenLocked(m *member, name string, d *deferred, then func(d *deferred)) {
	p := f.fa.prompts.Prompt(name)
	if p == nil {
		then(d)
		return
	}
	id, err := f.mcu.Play(m.pid, p)
	if err != nil {
		f.log.Debug("play prompt", "member", m.id, "prompt", name, "err", err)
		then(d)
		return
	}
	key := promptKey{m.pid, id}
	wait := time.Duration(p.DurationMillis())*time.Millisecond + promptGrace
	timer := f.fa.clock.AfterFunc(wait, func() {
		f.update(func(d *deferred) { f.promptDoneLocked(key, d) })
	})
	f.onDone[key] = promptWait{then: then, timer: timer}
}

func (f *Focus) promptDoneLocked(key promptKey, d *deferred) {
	w, ok := f.onDone[key]
	if !ok {
		return
	}
	delete(f.onDone, key)
	w.timer.Stop()
	w.then(d)
}

func (f *Focus) stopPromptsLocked(m *member) {
	if err := f.mcu.StopPrompts(m.pid); err != nil {
		f.log.Debug("stop prompts", "member", m.id, "err", err)
	}
}
