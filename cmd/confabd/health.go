package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"confab/image/health"
	"confab/mixer"
)

// Health: confabd is healthy while the mixer keeps time, the SIP front
// answers and the database takes writes. GET /healthz reports each check
// (no login: the appliance's init, a load balancer or a monitoring system
// probe it), the status LED shows a fault while a check fails, and the
// watchdog (-watchdog) is fed only while all pass.
//
// The /healthz contract, kept stable for the image's init:
//
//	200 {"healthy":true,  "checked_at":"...", "checks":{"mixer":{"ok":true,"detail":"..."}, "sip":{...}, "database":{...}}}
//	503 {"healthy":false, ..., "checks":{"database":{"ok":false,"error":"..."}, ...}}

// healthCheckTimeout bounds one round of checks.
const healthCheckTimeout = 2 * time.Second

// healthMinAge is how long a report is reused: /healthz needs no login, so
// a flood of probes must not turn into a flood of database writes and SIP
// requests.
const healthMinAge = time.Second

// healthCheck is one named check; detail says what it saw when it passed.
type healthCheck struct {
	name string
	run  func(ctx context.Context) (detail string, err error)
}

// checkResult is one check's outcome in a report.
type checkResult struct {
	OK     bool    `json:"ok"`
	Detail string  `json:"detail,omitempty"`
	Error  string  `json:"error,omitempty"`
	Millis float64 `json:"ms"`
}

// healthReport is one round of checks, as /healthz serves it.
type healthReport struct {
	Healthy   bool                   `json:"healthy"`
	CheckedAt time.Time              `json:"checked_at"`
	Checks    map[string]checkResult `json:"checks"`
}

// failing names the checks that failed, for logs.
func (r healthReport) failing() string {
	var s string
	for name, c := range r.Checks {
		if !c.OK {
			if s != "" {
				s += "; "
			}
			s += name + ": " + c.Error
		}
	}
	return s
}

// healthChecker runs the checks, at most once per minAge.
type healthChecker struct {
	checks  []healthCheck
	timeout time.Duration
	minAge  time.Duration
	now     func() time.Time

	mu   sync.Mutex // held while checking: callers at the same time share one round
	last healthReport
}

func newHealthChecker(checks ...healthCheck) *healthChecker {
	return &healthChecker{checks: checks, timeout: healthCheckTimeout, minAge: healthMinAge, now: time.Now}
}

// Check returns a report no older than minAge, running the checks (in
// parallel, each bounded by the timeout) if the last one is older.
func (h *healthChecker) Check(ctx context.Context) healthReport {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.last.CheckedAt.IsZero() && h.now().Sub(h.last.CheckedAt) < h.minAge {
		return h.last
	}
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	results := make([]checkResult, len(h.checks))
	var wg sync.WaitGroup
	for i, c := range h.checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			detail, err := runBounded(ctx, c.run)
			r := checkResult{OK: err == nil, Detail: detail, Millis: float64(time.Since(start).Microseconds()) / 1000}
			if err != nil {
				r.Error = err.Error()
			}
			results[i] = r
		}()
	}
	wg.Wait()
	rep := healthReport{Healthy: true, CheckedAt: h.now(), Checks: make(map[string]checkResult, len(h.checks))}
	for i, c := range h.checks {
		rep.Checks[c.name] = results[i]
		rep.Healthy = rep.Healthy && results[i].OK
	}
	h.last = rep
	return rep
}

// runBounded runs a check and gives up on it when ctx ends, even if the
// check itself does not watch ctx (a database write waiting for a lock).
func runBounded(ctx context.Context, run func(context.Context) (string, error)) (string, error) {
	type result struct {
		detail string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		d, err := run(ctx)
		done <- result{d, err}
	}()
	select {
	case r := <-done:
		return r.detail, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("no answer within %v", healthCheckTimeout)
	}
}

// ServeHTTP answers GET /healthz.
func (h *healthChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	rep := h.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	status := http.StatusOK
	if !rep.Healthy {
		status = http.StatusServiceUnavailable
	}
	w.WriteHeader(status)
	if r.Method == http.MethodGet {
		_ = json.NewEncoder(w).Encode(rep)
	}
}

// mixerCheck passes while the engine runs and, with conferences to mix,
// its frame counter moves between checks (or has moved within stall).
type mixerCheck struct {
	stats   func() mixer.Stats
	running func() bool
	stall   time.Duration
	now     func() time.Time

	mu         sync.Mutex
	frames     uint64
	lastChange time.Time
}

func (m *mixerCheck) run(context.Context) (string, error) {
	if !m.running() {
		return "", errors.New("the mixer has stopped")
	}
	st := m.stats()
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if st.Conferences == 0 || st.Frames != m.frames {
		m.frames, m.lastChange = st.Frames, now
		if st.Conferences == 0 {
			return "idle: no conference to mix", nil
		}
		return fmt.Sprintf("mixing %d conferences, %d frames so far", st.Conferences, st.Frames), nil
	}
	if since := now.Sub(m.lastChange); since > m.stall {
		return "", fmt.Errorf("no frame mixed for %v with %d conferences running", since.Round(time.Millisecond), st.Conferences)
	}
	return fmt.Sprintf("mixing %d conferences, %d frames so far", st.Conferences, st.Frames), nil
}

// sipCheck sends a SIP OPTIONS over UDP to the front's own address (on
// loopback when it listens on every address) and wants 200 OK.
func sipCheck(listen string) func(context.Context) (string, error) {
	target := listen
	if ap, err := netip.ParseAddrPort(listen); err == nil && ap.Addr().IsUnspecified() {
		lo := netip.MustParseAddr("127.0.0.1")
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			lo = netip.IPv6Loopback()
		}
		target = netip.AddrPortFrom(lo, ap.Port()).String()
	}
	return func(ctx context.Context) (string, error) {
		if err := health.SIPOptions(ctx, target); err != nil {
			return "", err
		}
		return "OPTIONS to " + target + " answered 200", nil
	}
}

// settingWriter is the database as the write check needs it.
type settingWriter interface {
	SetSetting(ctx context.Context, key, value string) error
}

// heartbeatKey is the setting the database check writes.
const heartbeatKey = "health.heartbeat"

// dbCheck writes a heartbeat setting in a transaction. A write still
// waiting from an earlier check (a lock held elsewhere) fails the check
// without starting another. After a good write the next is due only
// after every: each write is synced to the flash, and probes every second
// or two would wear it for nothing.
type dbCheck struct {
	db    settingWriter
	now   func() time.Time
	every time.Duration

	mu       sync.Mutex
	pending  time.Time // start of a write that has not finished
	lastGood time.Time
}

// heartbeatEvery is how often the database check writes when all is well.
const heartbeatEvery = 10 * time.Second

func (d *dbCheck) run(ctx context.Context) (string, error) {
	d.mu.Lock()
	if !d.lastGood.IsZero() && d.now().Sub(d.lastGood) < d.every {
		ago := d.now().Sub(d.lastGood).Round(time.Millisecond)
		d.mu.Unlock()
		return fmt.Sprintf("heartbeat written %v ago", ago), nil
	}
	if !d.pending.IsZero() {
		since := d.now().Sub(d.pending)
		d.mu.Unlock()
		return "", fmt.Errorf("a database write has been waiting for %v", since.Round(time.Millisecond))
	}
	start := d.now()
	d.pending = start
	d.mu.Unlock()
	// Not bounded by ctx: a write that ends late must still clear pending.
	err := d.db.SetSetting(context.WithoutCancel(ctx), heartbeatKey, start.UTC().Format(time.RFC3339Nano))
	d.mu.Lock()
	d.pending = time.Time{}
	if err == nil {
		d.lastGood = start
	}
	d.mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("database not writable: %w", err)
	}
	return "heartbeat written", nil
}
