package supervise

import (
	"context"
	"sync"
	"time"
)

// Probe checks one thing and returns nil when it is healthy.
type Probe func(ctx context.Context) error

// Health runs probes on an interval and remembers the verdict.
type Health struct {
	probe    Probe
	interval time.Duration
	timeout  time.Duration
	now      func() time.Time

	mu        sync.Mutex
	ok        bool
	lastErr   error
	checkedAt time.Time
	firstOK   time.Time // of the current healthy run
	changed   chan struct{}
}

// HealthState is a snapshot of Health.
type HealthState struct {
	Healthy   bool      `json:"healthy"`
	Error     string    `json:"error,omitempty"`
	CheckedAt time.Time `json:"checked_at"`
	HealthyAt time.Time `json:"healthy_since,omitempty"`
}

// NewHealth returns a Health that runs probe every interval, each try
// bounded by timeout.
func NewHealth(probe Probe, interval, timeout time.Duration, now func() time.Time) *Health {
	if now == nil {
		now = time.Now
	}
	return &Health{probe: probe, interval: interval, timeout: timeout, now: now, changed: make(chan struct{})}
}

// Run probes until ctx ends.
func (h *Health) Run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		h.Check(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Check probes once and records the result.
func (h *Health) Check(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, h.timeout)
	err := h.probe(pctx)
	cancel()
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	h.checkedAt, h.lastErr = now, err
	if ok := err == nil; ok != h.ok {
		h.ok = ok
		if ok {
			h.firstOK = now
		}
		close(h.changed)
		h.changed = make(chan struct{})
	}
	return err
}

// State returns the last verdict. A verdict older than stale counts as
// unhealthy: a hung prober must not look healthy.
func (h *Health) State(stale time.Duration) HealthState {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HealthState{Healthy: h.ok, CheckedAt: h.checkedAt}
	if h.lastErr != nil {
		st.Error = h.lastErr.Error()
	}
	if h.ok {
		st.HealthyAt = h.firstOK
	}
	if h.checkedAt.IsZero() || h.now().Sub(h.checkedAt) > stale {
		st.Healthy = false
		if st.Error == "" {
			st.Error = "no recent health check"
		}
	}
	return st
}

// Changed returns a channel closed at the next change of verdict.
func (h *Health) Changed() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}
