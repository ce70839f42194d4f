// Package watchdog drives a Linux hardware watchdog (/dev/watchdog; the
// kernel's Documentation/watchdog/watchdog-api.rst) and feeds it only while
// the box is healthy, so that a hung or persistently failing confabd ends
// in a hardware reset rather than a silent box.
//
// Needs the watchdog's driver: i6300esb under qemu, iTCO_wdt on Intel
// boards, sp5100_tco on AMD.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoWatchdog means there is no watchdog device.
var ErrNoWatchdog = errors.New("watchdog: no watchdog device")

// Device is an open watchdog. Once opened it must be fed: closing it
// without the magic character leaves it running (the nowayout behaviour we
// want: if the init dies, the box resets).
type Device struct {
	f *os.File
}

// Open opens the watchdog device at path and sets its timeout, which the
// driver may round; Timeout tells what it took.
func Open(path string, timeout time.Duration) (*Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoWatchdog, path)
	}
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	d := &Device{f: f}
	if err := unix.IoctlSetPointerInt(int(f.Fd()), unix.WDIOC_SETTIMEOUT, int(timeout/time.Second)); err != nil {
		f.Close()
		return nil, fmt.Errorf("watchdog: set timeout %v: %w", timeout, err)
	}
	return d, nil
}

// Timeout reads the timeout the driver runs with.
func (d *Device) Timeout() (time.Duration, error) {
	s, err := unix.IoctlGetInt(int(d.f.Fd()), unix.WDIOC_GETTIMEOUT)
	if err != nil {
		return 0, fmt.Errorf("watchdog: %w", err)
	}
	return time.Duration(s) * time.Second, nil
}

// Ping feeds the watchdog.
func (d *Device) Ping() error {
	if _, err := unix.IoctlGetInt(int(d.f.Fd()), unix.WDIOC_KEEPALIVE); err != nil {
		return fmt.Errorf("watchdog: keepalive: %w", err)
	}
	return nil
}

// Pinger is what Feed feeds: a Device, or a fake in tests.
type Pinger interface{ Ping() error }

// Policy says when to feed.
type Policy struct {
	// Interval between feeds; a quarter of the timeout leaves room for a
	// late tick.
	Interval time.Duration
	// Grace is how long after Start the watchdog is fed regardless of
	// health, so that a slow first start (first boot formats /perm) is not
	// cut short.
	Grace time.Duration
	Start time.Time
	// Healthy reports whether the box is healthy now.
	Healthy func() bool
	Now     func() time.Time
}

// ShouldFeed reports whether the watchdog is fed at now.
func (p Policy) ShouldFeed(now time.Time) bool {
	return now.Sub(p.Start) < p.Grace || p.Healthy()
}

// Feed feeds w on every tick on which the policy says so, until ctx ends.
// onSkip is told of each tick skipped (for the console).
func Feed(ctx context.Context, w Pinger, p Policy, tick <-chan time.Time, onSkip func(error)) {
	now := p.Now
	if now == nil {
		now = time.Now
	}
	feed := func() {
		if !p.ShouldFeed(now()) {
			if onSkip != nil {
				onSkip(errors.New("not healthy: watchdog not fed"))
			}
			return
		}
		if err := w.Ping(); err != nil && onSkip != nil {
			onSkip(err)
		}
	}
	feed()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			feed()
		}
	}
}
