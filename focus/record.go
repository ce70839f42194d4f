package focus

import (
	"context"
	"math"
	"strings"
	"sync"
	"time"
	"unicode"

	"confab/focus/store"
	"confab/mixer"
)

// recordTimeout bounds a call-record write; a record is worth a short wait,
// not a stuck Focus.
const recordTimeout = 10 * time.Second

// startRecord is what a member's call record starts with, fixed at join.
type startRecord struct {
	role, codec string
}

// recordEnd is how a member's stay ended.
type recordEnd struct {
	at      time.Time
	reason  string
	quality mixer.Quality
}

// callRecord tracks a member's call record. The record is started after
// the Focus lock is released (it is a disk write), so a member can leave
// before its record exists: the finish then waits here and is written as
// soon as the start returns.
type callRecord struct {
	mu      sync.Mutex
	started bool
	ok      bool // started without error
	id      int64
	end     *recordEnd
}

func (f *Focus) startCallRecord(ctx context.Context, m *member) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	id, err := f.fa.db.StartCallRecord(ctx, store.CallRecord{
		ConferenceID: f.id,
		Participant:  participant(m.call),
		CallID:       m.call.CallID,
		Role:         m.start.role,
		Codec:        m.start.codec,
		JoinedAt:     m.joinedAt,
	})
	if err != nil {
		f.log.Warn("start call record", "member", m.id, "call-id", m.call.CallID, "err", err)
	}
	m.rec.mu.Lock()
	m.rec.started, m.rec.ok, m.rec.id = true, err == nil, id
	end := m.rec.end
	m.rec.mu.Unlock()
	if end != nil {
		f.writeFinish(m, id, err == nil, *end)
	}
}

func (f *Focus) finishCallRecord(m *member, end recordEnd) {
	m.rec.mu.Lock()
	if !m.rec.started {
		m.rec.end = &end
		m.rec.mu.Unlock()
		return
	}
	id, ok := m.rec.id, m.rec.ok
	m.rec.mu.Unlock()
	f.writeFinish(m, id, ok, end)
}

func (f *Focus) writeFinish(m *member, id int64, ok bool, end recordEnd) {
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	at := end.at
	if at.Before(m.joinedAt) { // a clock step back must not lose the record
		at = m.joinedAt
	}
	if err := f.fa.db.FinishCallRecord(ctx, id, at, end.reason, storeQuality(end.quality)); err != nil {
		f.log.Warn("finish call record", "member", m.id, "record", id, "err", err)
	}
}

// storeQuality converts the MCU's quality into what the store keeps; a MOS
// outside 1..5 is recorded as unknown.
func storeQuality(q mixer.Quality) store.Quality {
	mos := q.MOS
	if !(mos >= 1 && mos <= 5) {
		mos = 0
	}
	return store.Quality{
		PacketsReceived: int64(min(q.PacketsReceived, math.MaxInt64)),
		PacketsLost:     q.PacketsLost,
		JitterMs:        max(float64(q.Jitter)/float64(time.Millisecond), 0),
		MOS:             mos,
	}
}

// participant names a caller for its call record: "Name <uri>", stripped of
// control characters, which a SIP header can smuggle in.
func participant(c Call) string {
	s := c.From
	if c.DisplayName != "" {
		s = c.DisplayName + " <" + c.From + ">"
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, s)
	if r := []rune(s); len(r) > 500 {
		s = string(r[:500])
	}
	return s
}
