package focus

import "time"

// The DTMF menu. A menu key is '*' followed by one digit within
// menuTimeout; during PIN entry digits go to the PIN instead.
//
//	keys  who          action
//	*1    everyone     mute or unmute yourself ("muted" / "unmuted")
//	*4    everyone     listen volume down (3 dB, to -12 dB; a beep)
//	*6    everyone     listen volume up (3 dB, to +12 dB; a beep)
//	*7    everyone     talk volume down (3 dB, to -12 dB; a beep)
//	*9    everyone     talk volume up (3 dB, to +12 dB; a beep)
//	*0    everyone     how many are in the conference (a spoken count, or one beep each)
//	*#    everyone     leave ("goodbye", then the call ends)
//	*2    presenters   lock or unlock the conference ("locked" / a beep)
//	*3    presenters   mute all attendees, or unmute everyone (a beep)
//	*8    presenters   hang up on whoever joined last (a beep)
//
// Presenter keys from an attendee do nothing: they go through Focus.Do like
// every other command, and its privilege check refuses them.
const (
	menuTimeout = 5 * time.Second
	gainStepDB  = 3
)

// digitLocked takes a DTMF digit from m, by RFC 4733 through the MCU or by
// SIP INFO through Member.DTMF.
func (f *Focus) digitLocked(m *member, digit byte, d *deferred) {
	if m.gone || m.leaving {
		return
	}
	if m.state == StatePINEntry {
		f.pinDigitLocked(m, digit, d)
		return
	}
	now := f.fa.clock.Now()
	if digit == '*' {
		m.menuArmed, m.menuAt = true, now
		return
	}
	if !m.menuArmed || now.Sub(m.menuAt) > menuTimeout {
		m.menuArmed = false
		return
	}
	m.menuArmed = false
	self := Sender{Member: m.id, Name: "dtmf"}
	var err error
	switch digit {
	case '1':
		kind, done := Mute, PromptMuted
		if m.muted {
			kind, done = Unmute, PromptUnmuted
		}
		if err = f.doLocked(self, Command{Kind: kind, Member: m.id}, d); err == nil {
			f.playLocked(m, done)
		}
	case '4', '6', '7', '9':
		talk, listen := m.talkDB, m.listenDB
		switch digit {
		case '4':
			listen -= gainStepDB
		case '6':
			listen += gainStepDB
		case '7':
			talk -= gainStepDB
		case '9':
			talk += gainStepDB
		}
		cmd := Command{Kind: SetGain, Member: m.id, TalkDB: clampGain(talk), ListenDB: clampGain(listen)}
		if err = f.doLocked(self, cmd, d); err == nil {
			f.playLocked(m, PromptBeep)
		}
	case '0':
		if p := countPrompt(f.fa.prompts, f.countedLocked()); p != nil {
			if _, perr := f.mcu.Play(m.pid, p); perr != nil {
				f.log.Debug("play count", "member", m.id, "err", perr)
			}
		}
	case '#':
		f.refuseLocked(m, PromptGoodbye, ReasonLeft, d)
	case '2':
		kind, done := Lock, PromptLocked
		if f.locked {
			kind, done = Unlock, PromptBeep
		}
		if err = f.doLocked(self, Command{Kind: kind}, d); err == nil {
			f.playLocked(m, done)
		}
	case '3':
		kind := MuteAllAttendees
		if f.muteAll {
			kind = UnmuteAll
		}
		if err = f.doLocked(self, Command{Kind: kind}, d); err == nil {
			f.playLocked(m, PromptBeep)
		}
	case '8':
		t := f.lastJoinedLocked(m)
		if t == nil {
			return
		}
		if err = f.doLocked(self, Command{Kind: Kick, Member: t.id}, d); err == nil {
			f.playLocked(m, PromptBeep)
		}
	}
	if err != nil {
		f.log.Debug("menu key refused", "member", m.id, "key", "*"+string(digit), "err", err)
	}
}

// lastJoinedLocked is the member *8 hangs up on: the latest to join, other
// than the one pressing it, the organizer, and callers still entering
// their PIN.
func (f *Focus) lastJoinedLocked(except *member) *member {
	for i := len(f.members) - 1; i >= 0; i-- {
		m := f.members[i]
		if m != except && m.counted() && m.role != RoleOrganizer {
			return m
		}
	}
	return nil
}

func clampGain(db int) int { return min(max(db, MinGainDB), MaxGainDB) }
