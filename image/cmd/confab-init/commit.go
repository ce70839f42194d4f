package main

import (
	"context"
	"fmt"
	"time"
)

// commit decides about a slot on trial: an entry that still counts boot
// tries was installed by an update and is being booted once. When confabd
// is healthy before the commit timeout, the entry is blessed and the slot
// is the box's from now on; otherwise the box reboots, and systemd-boot,
// finding the entry without tries left, boots the previous slot.
//
// On a committed slot it looks for an update that failed its trial, to say
// so on the System page.
func (s *system) commit(ctx context.Context) {
	e, err := s.esp.Find(s.entry)
	if err != nil {
		s.log.Error("boot entry not found; treating the slot as committed", "entry", s.entry, "err", err)
		s.setCommitted()
		return
	}
	if !e.Counting {
		s.setCommitted()
		if es, err := s.esp.Entries(); err == nil {
			for _, o := range es {
				if o.Slot != s.slot && o.Bad() && o.Generation > e.Generation {
					s.mu.Lock()
					s.rolledBack = o.Version
					s.mu.Unlock()
					fmt.Printf("confab-init: the update to %s failed its trial; running %s\n", o.Version, s.cfg.Version)
				}
			}
		}
		return
	}
	timeout := time.Duration(s.cfg.CommitTimeout)
	deadline := s.booted.Add(timeout)
	s.mu.Lock()
	s.commitDeadline = deadline
	s.mu.Unlock()
	fmt.Printf("confab-init: slot %s (%s) is on trial: it is kept if confabd is healthy within %v\n", s.slot, s.cfg.Version, timeout)
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		ch := s.health.Changed()
		if s.health.State(10 * time.Second).Healthy {
			if _, err := s.esp.Bless(s.entry); err != nil {
				s.log.Error("committing the slot", "err", err)
				return
			}
			s.setCommitted()
			fmt.Printf("confab-init: slot %s committed: version %s\n", s.slot, s.cfg.Version)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		case <-timer.C:
			st := s.health.State(10 * time.Second)
			fmt.Printf("confab-init: slot %s (%s) failed its trial: confabd not healthy after %v (%s); returning to the previous slot\n",
				s.slot, s.cfg.Version, timeout, st.Error)
			s.shutdown("trial failed")
			return
		}
	}
}

func (s *system) setCommitted() {
	s.mu.Lock()
	s.committed, s.commitDeadline = true, time.Time{}
	s.mu.Unlock()
}
