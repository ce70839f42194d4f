package focus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"confab/focus/store"
	"confab/mixer"
	"confab/mixer/prompt"
)

var _ ConferenceStore = (*store.Store)(nil)

// fakeClock is a Clock whose time moves only by Advance, which runs the
// timers that fall due, in order, on the caller's goroutine.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	seq    int
	timers []*fakeTimer
}

type fakeTimer struct {
	c   *fakeClock
	at  time.Time
	seq int
	fn  func()
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, fn func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seq++
	t := &fakeTimer{c: c, at: c.now.Add(d), seq: c.seq, fn: fn}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	n := len(t.c.timers)
	t.c.timers = slices.DeleteFunc(t.c.timers, func(x *fakeTimer) bool { return x == t })
	return len(t.c.timers) < n
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		for _, t := range c.timers {
			if !t.at.After(target) && (next == nil || t.at.Before(next.at) || t.at.Equal(next.at) && t.seq < next.seq) {
				next = t
			}
		}
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		c.timers = slices.DeleteFunc(c.timers, func(x *fakeTimer) bool { return x == next })
		c.now = next.at
		c.mu.Unlock()
		next.fn()
	}
}

// fakeMCU records every call and keeps each participant's media state.
type fakeMCU struct {
	id    string
	pids  *pidSource
	mu    sync.Mutex
	parts map[mixer.ParticipantID]*fakePart
	calls []string
	plays []fakePlay
	next  uint64
	// addErr, if set, fails Add.
	addErr error
	closed bool
}

type fakePart struct {
	mixed, muted, deaf bool
	talk, listen       int
}

type fakePlay struct {
	pid  mixer.ParticipantID
	name string
	id   uint64
}

type pidSource struct {
	mu   sync.Mutex
	next mixer.ParticipantID
}

func (s *pidSource) new() mixer.ParticipantID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	return s.next
}

func (m *fakeMCU) record(format string, args ...any) {
	m.calls = append(m.calls, fmt.Sprintf(format, args...))
}

func (m *fakeMCU) Add(offer []byte, opts mixer.AddOptions) (mixer.ParticipantID, []byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.addErr != nil {
		return 0, nil, m.addErr
	}
	pid := m.pids.new()
	m.parts[pid] = &fakePart{mixed: !opts.Unmixed, muted: opts.Muted, deaf: opts.Deaf}
	m.record("add %d unmixed=%t", pid, opts.Unmixed)
	return pid, append([]byte("answer to "), offer...), nil
}

func (m *fakeMCU) part(id mixer.ParticipantID) (*fakePart, error) {
	p := m.parts[id]
	if p == nil {
		return nil, mixer.ErrUnknownParticipant
	}
	return p, nil
}

func (m *fakeMCU) Update(id mixer.ParticipantID, offer []byte) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.part(id); err != nil {
		return nil, err
	}
	m.record("update %d", id)
	return append([]byte("answer to "), offer...), nil
}

func (m *fakeMCU) Remove(id mixer.ParticipantID) (mixer.Quality, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.part(id); err != nil {
		return mixer.Quality{}, err
	}
	delete(m.parts, id)
	m.record("remove %d", id)
	return mixer.Quality{Codec: "PCMU", PacketsReceived: 500, PacketsLost: 5, Jitter: 12 * time.Millisecond, MOS: 4.1}, nil
}

func (m *fakeMCU) set(id mixer.ParticipantID, what string, v any, fn func(p *fakePart)) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, err := m.part(id)
	if err != nil {
		return err
	}
	fn(p)
	m.record("%s %d %v", what, id, v)
	return nil
}

func (m *fakeMCU) SetMuted(id mixer.ParticipantID, muted bool) error {
	return m.set(id, "mute", muted, func(p *fakePart) { p.muted = muted })
}

func (m *fakeMCU) SetDeaf(id mixer.ParticipantID, deaf bool) error {
	return m.set(id, "deaf", deaf, func(p *fakePart) { p.deaf = deaf })
}

func (m *fakeMCU) SetMixed(id mixer.ParticipantID, mixed bool) error {
	return m.set(id, "mixed", mixed, func(p *fakePart) { p.mixed = mixed })
}

func (m *fakeMCU) SetGain(id mixer.ParticipantID, talkDB, listenDB int) error {
	return m.set(id, "gain", fmt.Sprintf("%d/%d", talkDB, listenDB), func(p *fakePart) {
		p.talk, p.listen = talkDB, listenDB
	})
}

func (m *fakeMCU) Play(id mixer.ParticipantID, p *prompt.Prompt) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if id != 0 {
		if _, err := m.part(id); err != nil {
			return 0, err
		}
	}
	m.next++
	m.plays = append(m.plays, fakePlay{pid: id, name: p.Name, id: m.next})
	return m.next, nil
}

func (m *fakeMCU) StopPrompts(id mixer.ParticipantID) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.part(id)
	return err
}

func (m *fakeMCU) Quality(id mixer.ParticipantID) (mixer.Quality, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := m.part(id); err != nil {
		return mixer.Quality{}, err
	}
	return mixer.Quality{Codec: "PCMU"}, nil
}

func (m *fakeMCU) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.parts = map[mixer.ParticipantID]*fakePart{}
	return nil
}

// state returns a copy of a participant's media state; ok is false once it
// has been removed.
func (m *fakeMCU) state(id mixer.ParticipantID) (p fakePart, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if q := m.parts[id]; q != nil {
		return *q, true
	}
	return fakePart{}, false
}

// prompts lists the names of the prompts played to a participant.
func (m *fakeMCU) prompts(id mixer.ParticipantID) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var names []string
	for _, p := range m.plays {
		if p.pid == id {
			names = append(names, p.name)
		}
	}
	return names
}

// lastPlay is the id of the latest prompt called name played to id.
func (m *fakeMCU) lastPlay(id mixer.ParticipantID, name string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.plays) - 1; i >= 0; i-- {
		if p := m.plays[i]; p.pid == id && p.name == name {
			return p.id
		}
	}
	return 0
}

// count counts the recorded calls that start with prefix.
func (m *fakeMCU) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		if len(c) >= len(prefix) && c[:len(prefix)] == prefix {
			n++
		}
	}
	return n
}

// fakeServers hands out fakeMCUs and, like the mixer, refuses an id that
// is still allocated.
type fakeServers struct {
	mu          sync.Mutex
	pids        pidSource
	mcus        map[string]*fakeMCU
	allocations int
	releases    int
	failWith    error // fails Allocate
	addErr      error // fails Add on the MCUs allocated from now on
}

func (s *fakeServers) Allocate(id string) (MCU, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failWith != nil {
		return nil, s.failWith
	}
	if m := s.mcus[id]; m != nil && !m.closed {
		return nil, fmt.Errorf("fake: conference %q is still allocated", id)
	}
	m := &fakeMCU{id: id, pids: &s.pids, parts: map[mixer.ParticipantID]*fakePart{}, addErr: s.addErr}
	s.mcus[id] = m
	s.allocations++
	return m, nil
}

func (s *fakeServers) Release(id string) {
	s.mu.Lock()
	m := s.mcus[id]
	s.releases++
	s.mu.Unlock()
	if m != nil {
		m.Close()
	}
}

func (s *fakeServers) counts() (allocations, releases int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.allocations, s.releases
}

func (s *fakeServers) mcu(id string) *fakeMCU {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mcus[id]
}

// fakePrompts has every prompt the Focus names, each 100 ms of silence at
// 8 kHz, except those listed in missing.
type fakePrompts struct {
	missing map[string]bool
}

func (p fakePrompts) Prompt(name string) *prompt.Prompt {
	if p.missing[name] {
		return nil
	}
	return prompt.New(name, 8000, make([]int16, 800))
}

// fakeLeg records hang-ups and, like the SIP front, answers one with
// Member.Leave, re-entering the Focus.
type fakeLeg struct {
	mu      sync.Mutex
	hangups []string
	member  Member
}

func (l *fakeLeg) Hangup(reason string) {
	l.mu.Lock()
	l.hangups = append(l.hangups, reason)
	m := l.member
	l.mu.Unlock()
	if m != nil {
		m.Leave(ReasonBye)
	}
}

func (l *fakeLeg) reasons() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hangups)
}

// harness is a Factory over a real store in a temporary directory, fake
// MCUs, fake prompts and a fake clock.
type harness struct {
	t       *testing.T
	clock   *fakeClock
	db      *store.Store
	servers *fakeServers
	prompts fakePrompts
	fa      *Factory
	calls   atomic.Int64
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "confab.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	h := &harness{
		t:       t,
		clock:   newFakeClock(),
		db:      db,
		servers: &fakeServers{mcus: map[string]*fakeMCU{}},
		prompts: fakePrompts{missing: map[string]bool{}},
	}
	h.fa = NewFactory(db, h.servers, h.prompts, WithClock(h.clock), WithDomain("box.example"))
	return h
}

// conference creates conference number with the product defaults changed
// by mod.
func (h *harness) conference(number string, mod func(c *store.Conference)) store.Conference {
	h.t.Helper()
	c := store.NewConference(number)
	c.Organizer = "sip:olga@box.example"
	if mod != nil {
		mod(&c)
	}
	c, err := h.fa.CreateConference(context.Background(), c)
	if err != nil {
		h.t.Fatalf("create conference %s: %v", number, err)
	}
	return c
}

// caller is one joined call.
type caller struct {
	h      *harness
	c      store.Conference
	m      *member
	leg    *fakeLeg
	answer []byte
}

// call makes a Call from name, authenticated as user ("" for none).
func (h *harness) call(name, user string) Call {
	n := h.calls.Add(1)
	return Call{
		CallID:      fmt.Sprintf("call-%d@test", n),
		From:        "sip:" + name + "@phones.example",
		DisplayName: name,
		User:        user,
		Offer:       []byte("offer " + name),
	}
}

func (h *harness) join(c store.Conference, cl Call) (*caller, error) {
	leg := &fakeLeg{}
	m, answer, err := h.fa.Join(context.Background(), c.Number, cl, leg)
	if err != nil {
		return nil, err
	}
	mm := m.(*member)
	leg.mu.Lock()
	leg.member = m
	leg.mu.Unlock()
	return &caller{h: h, c: c, m: mm, leg: leg, answer: answer}, nil
}

func (h *harness) mustJoin(c store.Conference, name, user string) *caller {
	h.t.Helper()
	cl, err := h.join(c, h.call(name, user))
	if err != nil {
		h.t.Fatalf("join %s to %s: %v", name, c.Number, err)
	}
	return cl
}

func (h *harness) focus(c store.Conference) *Focus {
	h.t.Helper()
	f, ok := h.fa.FocusByConference(c.ID)
	if !ok {
		h.t.Fatalf("conference %s is not active", c.Number)
	}
	return f
}

func (h *harness) mcu(c store.Conference) *fakeMCU {
	h.t.Helper()
	m := h.servers.mcu(c.FocusID)
	if m == nil {
		h.t.Fatalf("no MCU was allocated for %s", c.Number)
	}
	return m
}

// press sends digits as RFC 4733 events from the MCU.
func (cl *caller) press(digits string) {
	for i := 0; i < len(digits); i++ {
		cl.h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventDTMF, Conference: cl.c.FocusID,
			Participant: cl.m.pid, Digit: digits[i]})
	}
}

// info is the caller's roster entry; ok is false once it has left.
func (cl *caller) info() (MemberInfo, bool) {
	f, ok := cl.h.fa.FocusByConference(cl.c.ID)
	if !ok {
		return MemberInfo{}, false
	}
	for _, m := range f.Snapshot().Members {
		if m.ID == cl.m.id {
			return m, true
		}
	}
	return MemberInfo{}, false
}

func (cl *caller) state() MemberState {
	m, _ := cl.info()
	return m.State
}

func (cl *caller) mixed() bool {
	p, _ := cl.h.servers.mcu(cl.c.FocusID).state(cl.m.pid)
	return p.mixed
}

func (cl *caller) prompts() []string { return cl.h.servers.mcu(cl.c.FocusID).prompts(cl.m.pid) }

// promptDone reports the end of the latest prompt called name played to
// the caller, as the MCU would.
func (cl *caller) promptDone(name string) {
	id := cl.h.servers.mcu(cl.c.FocusID).lastPlay(cl.m.pid, name)
	if id == 0 {
		cl.h.t.Fatalf("no %q prompt was played to %s", name, cl.m.id)
	}
	cl.h.fa.HandleMCUEvent(mixer.Event{Kind: mixer.EventPromptDone, Conference: cl.c.FocusID,
		Participant: cl.m.pid, PromptID: id})
}

func (cl *caller) do(cmd Command) error {
	f, ok := cl.h.fa.FocusByConference(cl.c.ID)
	if !ok {
		return errors.New("conference is not active")
	}
	return f.Do(context.Background(), MemberSender(cl.m.id), cmd)
}

// records returns the conference's call records, oldest first.
func (h *harness) records(c store.Conference) []store.CallRecord {
	h.t.Helper()
	rs, err := h.db.ListCallRecords(context.Background(), c.ID, 0)
	if err != nil {
		h.t.Fatalf("list call records: %v", err)
	}
	slices.Reverse(rs)
	return rs
}

var _ Mover = (*fakeServers)(nil)

// Move moves a participant between two fake MCUs, as mixer.Engine.Move
// does: same id, new options.
func (s *fakeServers) Move(id mixer.ParticipantID, from, to string, opts mixer.AddOptions) error {
	s.mu.Lock()
	src, dst := s.mcus[from], s.mcus[to]
	s.mu.Unlock()
	if src == nil || dst == nil {
		return mixer.ErrClosed
	}
	src.mu.Lock()
	p := src.parts[id]
	delete(src.parts, id)
	if p != nil {
		src.record("moved out %d", id)
	}
	src.mu.Unlock()
	if p == nil {
		return mixer.ErrUnknownParticipant
	}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	if dst.closed {
		return mixer.ErrClosed
	}
	dst.parts[id] = &fakePart{mixed: !opts.Unmixed, muted: opts.Muted, deaf: opts.Deaf}
	dst.record("moved in %d unmixed=%t", id, opts.Unmixed)
	return nil
}

func (m *fakeMCU) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}
