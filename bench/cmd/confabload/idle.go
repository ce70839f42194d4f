package main

import (
	"context"
	"log/slog"
	"time"

	"confab/bench/procstat"
)

// idleBusy is the most CPU, in % of one core, the rest of the machine may
// use for it to count as idle before a run.
const idleBusy = 30.0

// waitIdle waits, at most max, until the machine has been nearly idle for
// three seconds running: on a shared box a run measured while others
// compile or test says more about them than about the bridge. It returns
// whether the machine became idle.
func waitIdle(ctx context.Context, max time.Duration, log *slog.Logger) bool {
	if max <= 0 {
		return true
	}
	proc := procstat.New()
	deadline := time.Now().Add(max)
	quiet := 0
	prev, err := proc.Host()
	if err != nil {
		return false
	}
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
		h, err := proc.Host()
		if err != nil {
			return false
		}
		busy := procstat.Share(h.Busy-prev.Busy, time.Second)
		prev = h
		if busy < idleBusy {
			quiet++
			if quiet == 3 {
				return true
			}
			continue
		}
		quiet = 0
	}
	log.Warn("the machine did not become idle before the run; measuring anyway", "waited", max)
	return false
}
