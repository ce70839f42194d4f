// Package watchdog drives a Linux watchdog device (/dev/watchdog; the
// kernel's Documentation/watchdog/watchdog-api.rst) for confabd and feeds it
// only while a health function says the daemon is healthy, so that a hung
// or persistently failing confabd ends in a reset of the box rather than a
// silent bridge.
//
// Open arms the device (WDIOC_SETTIMEOUT, then WDIOC_GETTIMEOUT for what
// the driver took), Keepalive feeds it (WDIOC_KEEPALIVE), and Close on a
// clean shutdown writes the magic character 'V' first, which disarms it on
// drivers built without nowayout. A process that dies without Close leaves
// the watchdog armed: that is the point.
//
// Needs a watchdog driver: i6300esb under qemu, iTCO_wdt or sp5100_tco on
// PC boards, bcm2835_wdt on a Raspberry Pi, softdog anywhere (a kernel
// timer, for tests: load it with soft_noboot=1 and it only logs). On the
// appliance image the init (confab/image/watchdog) already holds
// /dev/watchdog and feeds it from confabd's health, so confabd is started
// without -watchdog there; a device opens only once.
package watchdog

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ErrNoDevice means there is no watchdog device at the path.
var ErrNoDevice = errors.New("watchdog: no device")

// ioctls is the device's ioctl interface; a fake stands in for tests.
type ioctls interface {
	setTimeout(fd int, seconds int) error
	getTimeout(fd int) (int, error)
	keepalive(fd int) error
}

type kernel struct{}

func (kernel) setTimeout(fd, s int) error {
	return unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, s)
}
func (kernel) getTimeout(fd int) (int, error) { return unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT) }
func (kernel) keepalive(fd int) error {
	_, err := unix.IoctlGetInt(fd, unix.WDIOC_KEEPALIVE)
	return err
}

// Device is an open, armed watchdog.
type Device struct {
	f       *os.File
	io      ioctls
	timeout time.Duration
}

// Open opens the watchdog at path, which arms it, and sets its timeout
// (rounded to whole seconds; 0 keeps the driver's). The driver may round
// or clamp it: Timeout tells what it runs with.
func Open(path string, timeout time.Duration) (*Device, error) {
	return open(path, timeout, kernel{})
}

func open(path string, timeout time.Duration, io ioctls) (*Device, error) {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w at %s", ErrNoDevice, path)
	}
	if err != nil {
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	d := &Device{f: f, io: io}
	fd := int(f.Fd())
	if timeout > 0 {
		s := int((timeout + time.Second/2) / time.Second)
		if s < 1 {
			s = 1
		}
		if err := io.setTimeout(fd, s); err != nil {
			_ = d.Close() // disarm what we just armed
			return nil, fmt.Errorf("watchdog: %s: set timeout %ds: %w", path, s, err)
		}
	}
	s, err := io.getTimeout(fd)
	if err != nil {
		_ = d.Close()
		return nil, fmt.Errorf("watchdog: %s: get timeout: %w", path, err)
	}
	d.timeout = time.Duration(s) * time.Second
	return d, nil
}

// Timeout is the timeout the driver runs with: unfed for this long, the
// box resets.
func (d *Device) Timeout() time.Duration { return d.timeout }

// Keepalive feeds the watchdog.
func (d *Device) Keepalive() error {
	if err := d.io.keepalive(int(d.f.Fd())); err != nil {
		return fmt.Errorf("watchdog: keepalive: %w", err)
	}
	return nil
}

// Close disarms the watchdog with the magic close (a 'V' written just
// before the close) and closes it. Drivers built with nowayout stay armed
// whatever is written.
func (d *Device) Close() error {
	_, werr := d.f.Write([]byte("V"))
	cerr := d.f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		return fmt.Errorf("watchdog: magic close: %w", err)
	}
	return nil
}

// Keepaliver is what a Feeder feeds: a Device, or a fake.
type Keepaliver interface{ Keepalive() error }

// Counters are a Feeder's running totals.
type Counters struct {
	Fed     uint64 // keepalives given
	Skipped uint64 // ticks on which the daemon was not healthy, so nothing was fed
	Failed  uint64 // keepalives the device refused
}

// Feeder feeds a watchdog on every tick on which healthy says yes.
type Feeder struct {
	dev     Keepaliver
	healthy func(context.Context) bool
	log     *slog.Logger

	fed, skipped, failed atomic.Uint64
	wasHealthy           atomic.Bool
}

// FeederOption configures a Feeder.
type FeederOption func(*Feeder)

// WithLogger sets the logger; the Feeder adds component=hal/watchdog and
// logs when health changes, not every tick.
func WithLogger(l *slog.Logger) FeederOption { return func(f *Feeder) { f.log = l } }

// NewFeeder feeds dev while healthy returns true. healthy is called once a
// tick and should answer well within the tick (it is given a context that
// ends at the next tick).
func NewFeeder(dev Keepaliver, healthy func(context.Context) bool, opts ...FeederOption) *Feeder {
	f := &Feeder{dev: dev, healthy: healthy, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(f)
	}
	f.log = f.log.With("component", "hal/watchdog")
	f.wasHealthy.Store(true)
	return f
}

// Counters returns the running totals.
func (f *Feeder) Counters() Counters {
	return Counters{Fed: f.fed.Load(), Skipped: f.skipped.Load(), Failed: f.failed.Load()}
}

// Tick checks health once and feeds the watchdog if it passes.
func (f *Feeder) Tick(ctx context.Context) {
	ok := f.healthy(ctx)
	if ok != f.wasHealthy.Swap(ok) {
		if ok {
			f.log.Info("healthy again: feeding the watchdog")
		} else {
			f.log.Error("not healthy: the watchdog is no longer fed and will reset the box unless health returns")
		}
	}
	if !ok {
		f.skipped.Add(1)
		return
	}
	if err := f.dev.Keepalive(); err != nil {
		f.failed.Add(1)
		f.log.Warn("keepalive failed", "err", err)
		return
	}
	f.fed.Add(1)
}

// Run ticks every interval (a quarter of the timeout or less leaves room
// for a late tick and a slow health check) until ctx ends, starting at once.
func (f *Feeder) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		tctx, cancel := context.WithTimeout(ctx, interval)
		f.Tick(tctx)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
