package focus

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"confab/focus/store"
	"confab/mixer"
)

// ConferenceStore is the conferencing database as the Focus Factory uses
// it; *store.Store satisfies it.
type ConferenceStore interface {
	CreateConference(ctx context.Context, c store.Conference) (store.Conference, error)
	UpdateConference(ctx context.Context, c store.Conference) (store.Conference, error)
	DeleteConference(ctx context.Context, id int64) error
	GetConference(ctx context.Context, id int64) (store.Conference, error)
	ConferenceByNumber(ctx context.Context, number string) (store.Conference, error)
	ConferenceByFocusID(ctx context.Context, focusID string) (store.Conference, error)
	ListConferences(ctx context.Context) ([]store.Conference, error)
	StartCallRecord(ctx context.Context, r store.CallRecord) (int64, error)
	FinishCallRecord(ctx context.Context, id int64, leftAt time.Time, reason string, q store.Quality) error
}

// Factory is the Focus Factory: it keeps conferences in the conferencing
// database and runs one Focus for each conference that has callers in it,
// started by the first join and gone when the last member leaves. It is
// the focus.Joiner the SIP front uses.
type Factory struct {
	db      ConferenceStore
	servers ServerFactory
	prompts PromptSource
	log     *slog.Logger
	clock   Clock
	domain  string

	memberSeq atomic.Uint64
	attendSeq atomic.Uint64
	events    hub

	mu     sync.Mutex
	active map[int64]*Focus          // by conference id
	byMCU  map[string]*Focus         // by MCU conference id (the Focus ID it started with)
	held   map[string]*attendantCall // calls the attendant holds, by MCU conference id (attendant.go)
	closed bool
}

var _ Joiner = (*Factory)(nil)

// FactoryOption configures NewFactory.
type FactoryOption func(*Factory)

// WithLogger sets the logger; the Factory adds component=focus. The
// default discards.
func WithLogger(l *slog.Logger) FactoryOption { return func(fa *Factory) { fa.log = l } }

// WithClock sets the clock for timestamps and timers. The default is
// SystemClock.
func WithClock(c Clock) FactoryOption { return func(fa *Factory) { fa.clock = c } }

// WithDomain sets the domain of Focus URIs: the box's host name or
// address. The default is "localhost".
func WithDomain(domain string) FactoryOption { return func(fa *Factory) { fa.domain = domain } }

// NewFactory returns a Focus Factory over the conferencing database db,
// allocating MCUs from servers and playing prompts from prompts.
func NewFactory(db ConferenceStore, servers ServerFactory, prompts PromptSource, opts ...FactoryOption) *Factory {
	fa := &Factory{
		db:      db,
		servers: servers,
		prompts: prompts,
		log:     slog.New(slog.DiscardHandler),
		clock:   SystemClock{},
		domain:  "localhost",
		active:  make(map[int64]*Focus),
		byMCU:   make(map[string]*Focus),
		held:    make(map[string]*attendantCall),
	}
	for _, o := range opts {
		o(fa)
	}
	fa.log = fa.log.With("component", "focus")
	return fa
}

func (fa *Factory) newMemberID() string { return strconv.FormatUint(fa.memberSeq.Add(1), 10) }

// CreateConference validates c and stores it as a new conference. Errors
// are the store's (store.ErrInvalid, store.ErrDuplicate), whose messages
// name the field at fault.
func (fa *Factory) CreateConference(ctx context.Context, c store.Conference) (store.Conference, error) {
	if err := c.Validate(); err != nil {
		return store.Conference{}, err
	}
	created, err := fa.db.CreateConference(ctx, c)
	if err != nil {
		return store.Conference{}, err
	}
	fa.log.Info("conference created", "id", created.ID, "number", created.Number, "focus", created.FocusID)
	return created, nil
}

// UpdateConference validates and stores c. If the conference is active,
// the change applies to it at once (see Focus behaviour for lock, lobby and
// wait for the leader); PINs and limits apply to the next callers.
func (fa *Factory) UpdateConference(ctx context.Context, c store.Conference) (store.Conference, error) {
	if err := c.Validate(); err != nil {
		return store.Conference{}, err
	}
	updated, err := fa.db.UpdateConference(ctx, c)
	if err != nil {
		return store.Conference{}, err
	}
	fa.log.Info("conference updated", "id", updated.ID, "number", updated.Number)
	if f, ok := fa.FocusByConference(updated.ID); ok {
		f.apply(updated, false)
	}
	return updated, nil
}

// DeleteConference deletes the conference. If it is active, everyone in
// it is hung up with ReasonConferenceDeleted.
func (fa *Factory) DeleteConference(ctx context.Context, id int64) error {
	if err := fa.db.DeleteConference(ctx, id); err != nil {
		return err
	}
	fa.log.Info("conference deleted", "id", id)
	if f, ok := fa.FocusByConference(id); ok {
		f.terminate(ReasonConferenceDeleted)
	}
	return nil
}

// GetConference returns the stored conference with the given id.
func (fa *Factory) GetConference(ctx context.Context, id int64) (store.Conference, error) {
	return fa.db.GetConference(ctx, id)
}

// ListConferences returns every stored conference, ordered by number.
func (fa *Factory) ListConferences(ctx context.Context) ([]store.Conference, error) {
	return fa.db.ListConferences(ctx)
}

// Resolve finds the conference a caller dialled: a dial-in number, a Focus
// ID, or a full Focus URI. It returns ErrUnknownConference if there is
// none, ErrUnavailable if the database fails.
func (fa *Factory) Resolve(ctx context.Context, target string) (store.Conference, error) {
	focusID, user := parseTarget(target)
	var (
		c   store.Conference
		err = store.ErrNotFound
	)
	switch {
	case focusID != "":
		c, err = fa.db.ConferenceByFocusID(ctx, focusID)
	case isDigits(user):
		c, err = fa.db.ConferenceByNumber(ctx, user)
		if errors.Is(err, store.ErrNotFound) && len(user) >= 8 { // Focus IDs may be all digits
			c, err = fa.db.ConferenceByFocusID(ctx, user)
		}
	case user != "":
		c, err = fa.db.ConferenceByFocusID(ctx, user)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		return store.Conference{}, fmt.Errorf("%w: %q", ErrUnknownConference, target)
	case err != nil:
		return store.Conference{}, fmt.Errorf("%w: resolve %q: %w", ErrUnavailable, target, err)
	}
	return c, nil
}

// Join implements Joiner: it resolves target, finds or starts the
// conference's Focus and admits the call. The answer is the MCU's SDP.
//
// Refusals decided before answering come back as errors: ErrUnknownConference,
// ErrEnded (expired, or being ended), ErrLocked, ErrFull, ErrForbidden
// (closed to all but moderators), ErrUnavailable (no MCU), and the MCU's
// own (mixer.ErrNoCommonCodec, mixer.ErrBadSDP, mixer.ErrCapacity). A
// caller asked for a PIN is answered, and sent away by prompt and hang-up
// if the PIN is wrong or the conference turns out locked or full.
//
// The target AttendantTarget hands the call to the attendant, which asks
// the caller for the conference number (attendant.go).
func (fa *Factory) Join(ctx context.Context, target string, call Call, leg Leg) (Member, []byte, error) {
	if leg == nil {
		return nil, nil, errors.New("focus: join without a call leg")
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if target == AttendantTarget {
		return fa.attend(call, leg)
	}
	c, err := fa.Resolve(ctx, target)
	if err != nil {
		return nil, nil, err
	}
	if c.Expiry != nil && !fa.clock.Now().Before(*c.Expiry) {
		return nil, nil, fmt.Errorf("%w: conference %s expired at %s", ErrEnded, c.Number,
			c.Expiry.Format(time.RFC3339))
	}
	f, fresh, err := fa.reserve(c)
	if err != nil {
		return nil, nil, err
	}
	if !fresh {
		f.apply(c, true) // the database may have changed behind the Factory's back
	}
	return f.join(ctx, call, leg)
}

// reserve finds the running Focus of c or starts one, and holds it open
// for a join.
func (fa *Factory) reserve(c store.Conference) (f *Focus, fresh bool, err error) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	if fa.closed {
		return nil, false, fmt.Errorf("%w: shutting down", ErrUnavailable)
	}
	if f := fa.active[c.ID]; f != nil {
		err := f.reserve()
		if err == nil {
			return f, false, nil
		}
		if !errors.Is(err, errFocusEnded) {
			return nil, false, err
		}
		fa.dropLocked(f) // ended, but has not told us yet
	}
	mcu, err := fa.servers.Allocate(c.FocusID)
	if err != nil {
		return nil, false, fmt.Errorf("%w: no MCU for conference %s: %w", ErrUnavailable, c.Number, err)
	}
	f = newFocus(fa, c, mcu)
	f.pending = 1
	fa.active[c.ID] = f
	fa.byMCU[f.mcuID] = f
	fa.log.Info("focus started", "conference", c.Number, "focus", c.FocusID)
	return f, true, nil
}

// focusEnded forgets a Focus that has ended and releases its MCU.
func (fa *Factory) focusEnded(f *Focus) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	fa.dropLocked(f)
}

func (fa *Factory) dropLocked(f *Focus) {
	if fa.active[f.id] == f {
		delete(fa.active, f.id)
	}
	if fa.byMCU[f.mcuID] == f {
		delete(fa.byMCU, f.mcuID)
		// Under fa.mu, so that a new Focus for the same conference cannot
		// allocate the MCU id before this one is released.
		fa.servers.Release(f.mcuID)
		fa.log.Info("focus ended", "focus", f.mcuID)
	}
}

// Active returns the running Foci, ordered by conference id.
func (fa *Factory) Active() []*Focus {
	fa.mu.Lock()
	out := make([]*Focus, 0, len(fa.active))
	for _, f := range fa.active {
		out = append(out, f)
	}
	fa.mu.Unlock()
	slices.SortFunc(out, func(a, b *Focus) int { return cmp.Compare(a.id, b.id) })
	return out
}

// FocusByConference returns the running Focus of the conference with the
// given database id.
func (fa *Factory) FocusByConference(id int64) (*Focus, bool) {
	fa.mu.Lock()
	defer fa.mu.Unlock()
	f, ok := fa.active[id]
	return f, ok
}

// HandleMCUEvent routes an MCU event to its Focus by Event.Conference (the
// Focus ID the MCU was allocated with). The daemon feeds it from the
// engine's event channel; it must not be called from inside an MCU method.
func (fa *Factory) HandleMCUEvent(ev mixer.Event) {
	fa.mu.Lock()
	f := fa.byMCU[ev.Conference]
	fa.mu.Unlock()
	if f == nil {
		if a := fa.attendantFor(ev.Conference); a != nil {
			a.handleEvent(ev)
			return
		}
		fa.log.Debug("event for no active conference", "kind", ev.Kind.String(), "conference", ev.Conference)
		return
	}
	f.handleEvent(ev)
}

// Subscribe returns the events of every conference from now on, buffered
// by buf, and a function that ends the subscription. Slow subscribers miss
// events rather than hold up any Focus (see Event.Seq).
func (fa *Factory) Subscribe(buf int) (<-chan Event, func()) { return fa.events.subscribe(buf) }

// DroppedEvents counts events Factory-wide subscribers missed.
func (fa *Factory) DroppedEvents() uint64 { return fa.events.dropped.Load() }

// Close ends every active conference (ReasonShutdown: everyone is hung up
// and their call records finished) and refuses joins from then on with
// ErrUnavailable.
func (fa *Factory) Close() {
	fa.mu.Lock()
	fa.closed = true
	active := make([]*Focus, 0, len(fa.active))
	for _, f := range fa.active {
		active = append(active, f)
	}
	fa.mu.Unlock()
	for _, f := range active {
		f.terminate(ReasonShutdown)
	}
	fa.closeAttendant()
}
