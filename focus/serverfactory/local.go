// Package serverfactory is Confab's Conferencing Server Factory: it hands
// each Focus the audio MCU of its conference and takes it back when the
// conference ends. Local allocates them from this box's mixer engine; a
// factory that spreads conferences over a pool of appliances may follow
// behind the same focus.ServerFactory interface.
package serverfactory

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"confab/focus"
	"confab/mixer"
)

// Errors Allocate returns.
var (
	// ErrInUse means the conference already has an MCU: release it first.
	ErrInUse = errors.New("serverfactory: conference already has an MCU")
	// ErrNoCapacity means the box runs as many conferences as it may.
	ErrNoCapacity = errors.New("serverfactory: no capacity for another conference")
)

// Local allocates MCUs from the mixer engine of this box. It is safe for
// concurrent use.
type Local struct {
	newConf func(id string) (focus.MCU, error)
	log     *slog.Logger
	max     int
	move    MoveFunc

	mu    sync.Mutex
	confs map[string]focus.MCU
}

var _ focus.ServerFactory = (*Local)(nil)

// Option configures NewLocal.
type Option func(*Local)

// WithLogger sets the logger; Local adds component=serverfactory. The
// default discards.
func WithLogger(l *slog.Logger) Option { return func(x *Local) { x.log = l } }

// WithMaxConferences caps the conferences mixed at once; 0, the default,
// leaves it to the engine.
func WithMaxConferences(n int) Option { return func(x *Local) { x.max = n } }

// NewLocal returns a Local that makes each conference's MCU with newConf,
// called with the conference id (the Focus ID). The daemon passes the mixer
// engine's method value, engine.NewConference; any function returning a
// focus.MCU will do.
func NewLocal[C focus.MCU](newConf func(id string) (C, error), opts ...Option) *Local {
	l := &Local{
		// The wrapper keeps a failing constructor's typed nil (a nil
		// *mixer.Conference) from becoming a non-nil focus.MCU.
		newConf: func(id string) (focus.MCU, error) {
			c, err := newConf(id)
			if err != nil {
				return nil, err
			}
			return c, nil
		},
		log:   slog.New(slog.DiscardHandler),
		confs: make(map[string]focus.MCU),
	}
	for _, o := range opts {
		o(l)
	}
	l.log = l.log.With("component", "serverfactory")
	return l
}

// Allocate implements focus.ServerFactory: it starts mixing the conference.
func (l *Local) Allocate(conferenceID string) (focus.MCU, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.confs[conferenceID]; ok {
		return nil, fmt.Errorf("%w: %s", ErrInUse, conferenceID)
	}
	if l.max > 0 && len(l.confs) >= l.max {
		return nil, fmt.Errorf("%w: %d conferences", ErrNoCapacity, l.max)
	}
	mcu, err := l.newConf(conferenceID)
	if err != nil {
		return nil, fmt.Errorf("serverfactory: start conference %s: %w", conferenceID, err)
	}
	l.confs[conferenceID] = mcu
	l.log.Info("MCU allocated", "conference", conferenceID, "conferences", len(l.confs))
	return mcu, nil
}

// Release implements focus.ServerFactory: it stops mixing the conference
// (closing its MCU removes whoever is left). Releasing an id that has no
// MCU does nothing.
func (l *Local) Release(conferenceID string) {
	l.mu.Lock()
	mcu, ok := l.confs[conferenceID]
	delete(l.confs, conferenceID)
	n := len(l.confs)
	l.mu.Unlock()
	if !ok {
		return
	}
	if err := mcu.Close(); err != nil {
		l.log.Warn("close MCU", "conference", conferenceID, "err", err)
	}
	l.log.Info("MCU released", "conference", conferenceID, "conferences", n)
}

// Conferences lists the ids of the conferences that have an MCU, sorted.
func (l *Local) Conferences() []string {
	l.mu.Lock()
	ids := make([]string, 0, len(l.confs))
	for id := range l.confs {
		ids = append(ids, id)
	}
	l.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// Close releases every MCU, for shutdown.
func (l *Local) Close() {
	for _, id := range l.Conferences() {
		l.Release(id)
	}
}

// MoveFunc moves a participant between two conferences of one MCU server,
// keeping its media: mixer.Engine.Move.
type MoveFunc func(id mixer.ParticipantID, from, to string, opts mixer.AddOptions) error

// WithMover lets the factory move participants between the MCUs it has
// allocated (focus.Mover), which the conferencing attendant needs to put
// a caller through. The daemon passes engine.Move.
func WithMover(move MoveFunc) Option { return func(x *Local) { x.move = move } }

var _ focus.Mover = (*Local)(nil)

// ErrNoMover means Move was called on a factory made without WithMover.
var ErrNoMover = errors.New("serverfactory: this factory cannot move participants")

// Move implements focus.Mover: both conferences must have an MCU from this
// factory.
func (l *Local) Move(id mixer.ParticipantID, from, to string, opts mixer.AddOptions) error {
	if l.move == nil {
		return ErrNoMover
	}
	l.mu.Lock()
	_, haveFrom := l.confs[from]
	_, haveTo := l.confs[to]
	l.mu.Unlock()
	if !haveFrom || !haveTo {
		return fmt.Errorf("serverfactory: move %d from %q to %q: %w", id, from, to, mixer.ErrClosed)
	}
	return l.move(id, from, to, opts)
}
