package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"confab/focus"
	"confab/web"
)

// panelSender is who the front panel's commands come from: a local
// operator with an administrator's privileges, checked on the Focus's one
// command path like every other sender's.
func panelSender() focus.Sender { return focus.AdminSender("panel") }

// panelConferences is the front panel's view of the Focus Factory. The
// mute-all button mutes the attendees of every conference with the
// Focus's own mute-all (so those who join are muted too), and of every
// conference that starts while it is engaged. The next press undoes it:
// each conference it muted is unmuted, except the members who were muted
// before the press (they stay muted), and a conference whose organizer had
// already turned mute-all on is left as it was.
type panelConferences struct {
	fa  *focus.Factory
	log *slog.Logger

	mu      sync.Mutex
	engaged bool
	// before holds, for each conference the panel muted, the members
	// muted before the press.
	before map[int64]map[string]bool
}

func newPanelConferences(fa *focus.Factory, log *slog.Logger) *panelConferences {
	return &panelConferences{fa: fa, log: log.With("component", "panel"), before: make(map[int64]map[string]bool)}
}

// Active reports whether any conference has participants.
func (c *panelConferences) Active() bool {
	for _, fc := range c.fa.Active() {
		if s := fc.Snapshot(); !s.Ended && len(s.Members) > 0 {
			return true
		}
	}
	return false
}

// MuteAll engages (on) or undoes mute-all in every running conference.
func (c *panelConferences) MuteAll(ctx context.Context, on bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.engaged = on
	var errs []error
	for _, fc := range c.fa.Active() {
		errs = append(errs, c.applyLocked(ctx, fc, on))
	}
	if !on {
		clear(c.before)
	}
	return errors.Join(errs...)
}

func (c *panelConferences) applyLocked(ctx context.Context, fc *focus.Focus, on bool) error {
	s := fc.Snapshot()
	if s.Ended {
		return nil
	}
	if on {
		if s.MutedAttendees {
			return nil // its organizer muted it: not the panel's to undo
		}
		muted := make(map[string]bool)
		for _, m := range s.Members {
			if m.Muted {
				muted[m.ID] = true
			}
		}
		c.before[s.ConferenceID] = muted
		return ignoreEnded(fc.Do(ctx, panelSender(), focus.Command{Kind: focus.MuteAllAttendees}))
	}
	muted, ok := c.before[s.ConferenceID]
	if !ok {
		return nil
	}
	errs := []error{ignoreEnded(fc.Do(ctx, panelSender(), focus.Command{Kind: focus.UnmuteAll}))}
	for id := range muted {
		err := fc.Do(ctx, panelSender(), focus.Command{Kind: focus.Mute, Member: id})
		if !errors.Is(err, focus.ErrUnknownMember) { // gone since
			errs = append(errs, ignoreEnded(err))
		}
	}
	return errors.Join(errs...)
}

func ignoreEnded(err error) error {
	if errors.Is(err, focus.ErrEnded) {
		return nil
	}
	return err
}

// run mutes the conferences that start while mute-all is engaged, until
// ctx ends.
func (c *panelConferences) run(ctx context.Context) {
	events, stop := c.fa.Subscribe(64)
	defer stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				return
			}
			if ev.Kind != focus.ConferenceStarted {
				continue
			}
			c.mu.Lock()
			if c.engaged {
				if fc, ok := c.fa.FocusByConference(ev.ConferenceID); ok {
					if err := c.applyLocked(ctx, fc, true); err != nil {
						c.log.Warn("mute-all of a conference that started", "conference", ev.ConferenceID, "err", err)
					}
				}
			}
			c.mu.Unlock()
		}
	}
}

// errFactoryReset ends run when the front panel asked for a factory reset:
// main then wipes the configuration and starts confabd afresh.
var errFactoryReset = errors.New("factory reset requested from the front panel")

// factoryFiles are what a factory reset removes from the data directory:
// the conferencing database (conferences, accounts, phones, trunks, the
// page's settings, call records) with its WAL, and the HTTPS certificate.
func factoryFiles() []string {
	return []string{"confab.db", "confab.db-wal", "confab.db-shm", "confab.db-journal", web.CertFile, web.KeyFile}
}

// wipeData removes the configuration from the data directory. confabd must
// have closed the database first.
func wipeData(dir string) error {
	var errs []error
	for _, name := range factoryFiles() {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if d, err := os.Open(dir); err == nil { // make the removals durable before starting afresh
		_ = d.Sync()
		d.Close()
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("factory reset: %w", err)
	}
	return nil
}

// reexec starts confabd afresh in this process, with the same arguments
// and environment; it returns only if that fails.
func reexec() error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("restart after the factory reset: %w", err)
	}
	return fmt.Errorf("restart after the factory reset: %w", syscall.Exec(self, os.Args, os.Environ()))
}
