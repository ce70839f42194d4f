// Package panel drives the appliance's front panel over GPIO
// (periph.io/x/conn/v3/gpio): two LEDs and two buttons, each optional.
//
// The status LED shows how the daemon is: booting (a slow, even blink, once
// a second), ready (steady on), fault (a fast blink, five times a second:
// a health check fails), and the factory-reset confirmation (three quick
// flashes and a pause).
//
// The conference LED is on while any conference has participants. While
// mute-all is engaged it says so: on with a short dark blink every second
// while conferences run, off with a short flash every second while none do.
//
// The mute-all button toggles: a press mutes every attendee in every
// conference, the next press undoes it. While it is engaged, conferences
// that start are muted the same way, as a conference's own mute-all mutes
// those who join later: a user who pressed "mute all" expects a quiet room
// until pressing again, not only for the calls that happened to be up.
// Presenters and organizers keep their voice.
//
// The factory-reset button must be held for 10 s: the status LED then
// shows the confirmation pattern, and letting go wipes the configuration
// (the daemon's reset function: in confabd, the database and certificate
// on the data partition, then a fresh start). Letting go earlier does
// nothing. A button that is already pressed when the panel starts (stuck,
// or held through a power cycle) counts only after it has been released.
//
// Buttons are wired to ground and read with the internal pull-up (or the
// board's own, where the GPIO driver cannot set one): pressed is low. Presses are edge-triggered (gpio.BothEdges) and debounced: a
// level counts once no edge has come for the debounce time (30 ms). LEDs
// are driven high for on.
//
// Needs GPIO with edge detection: the Linux GPIO character device or sysfs
// through periph.io/x/host (confabd calls host.Init), or gpiotest pins in
// tests.
package panel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
)

// Pins are the panel's GPIO lines; a nil pin is not used.
type Pins struct {
	Status gpio.PinIO // status LED
	Active gpio.PinIO // conference-active LED
	Mute   gpio.PinIO // mute-all button
	Reset  gpio.PinIO // factory-reset button
}

// Conferences is what the panel shows and commands.
type Conferences interface {
	// Active reports whether any conference has participants.
	Active() bool
	// MuteAll mutes every attendee of every conference, and those of
	// conferences that start, when on; when off it undoes that.
	MuteAll(ctx context.Context, on bool) error
}

// Status is the daemon's state as the status LED shows it.
type Status int

// Statuses.
const (
	Booting Status = iota
	Ready
	Fault
)

func (s Status) String() string {
	switch s {
	case Booting:
		return "booting"
	case Ready:
		return "ready"
	case Fault:
		return "fault"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Defaults.
const (
	DefaultHold     = 10 * time.Second
	DefaultDebounce = 30 * time.Millisecond
	// refreshEvery is how often the LEDs are redrawn: finer than any
	// pattern's step.
	refreshEvery = 25 * time.Millisecond
	// activeEvery is how often the conferences are asked whether any is
	// active.
	activeEvery = 250 * time.Millisecond
	// pollEvery bounds a button watcher's wait for an edge, so that it
	// notices the end of Run.
	pollEvery = 200 * time.Millisecond
)

// Panel is a running front panel.
type Panel struct {
	pins     Pins
	confs    Conferences
	reset    func() error
	log      *slog.Logger
	now      func() time.Time
	hold     time.Duration
	debounce time.Duration

	mu           sync.Mutex
	status       Status
	statusSince  time.Time
	muted        bool
	mutedSince   time.Time
	active       bool
	activeSince  time.Time
	activeAsked  time.Time
	resetDown    time.Time // when the reset button went down; zero when up
	confirming   bool      // held long enough: letting go resets
	confirmSince time.Time
	resetting    bool
	lit          map[gpio.PinIO]gpio.Level
}

// Option configures New.
type Option func(*Panel)

// WithLogger sets the logger; the panel adds component=hal/panel.
func WithLogger(l *slog.Logger) Option { return func(p *Panel) { p.log = l } }

// WithClock sets the clock the LED patterns and the hold time run on
// (tests drive it by hand).
func WithClock(now func() time.Time) Option { return func(p *Panel) { p.now = now } }

// WithHold sets how long the factory-reset button must be held
// (DefaultHold).
func WithHold(d time.Duration) Option { return func(p *Panel) { p.hold = d } }

// WithDebounce sets how long a button's level must stay without an edge to
// count (DefaultDebounce).
func WithDebounce(d time.Duration) Option { return func(p *Panel) { p.debounce = d } }

// ErrNoPins means no pin was given: there is no panel.
var ErrNoPins = errors.New("panel: no pins configured")

// New sets the pins up (LEDs as outputs, off; buttons as inputs with
// pull-up and edge detection) and returns the panel, showing Booting.
// reset is called once the factory-reset button was held and let go; it
// may be nil when no reset pin is given.
func New(pins Pins, confs Conferences, reset func() error, opts ...Option) (*Panel, error) {
	p := &Panel{pins: pins, confs: confs, reset: reset, log: slog.New(slog.DiscardHandler), now: time.Now,
		hold: DefaultHold, debounce: DefaultDebounce, lit: make(map[gpio.PinIO]gpio.Level)}
	for _, o := range opts {
		o(p)
	}
	p.log = p.log.With("component", "hal/panel")
	if pins.Status == nil && pins.Active == nil && pins.Mute == nil && pins.Reset == nil {
		return nil, ErrNoPins
	}
	if pins.Mute != nil && confs == nil {
		return nil, errors.New("panel: a mute button needs the conferences")
	}
	if pins.Reset != nil && reset == nil {
		return nil, errors.New("panel: a reset button needs a reset function")
	}
	for _, led := range []gpio.PinIO{pins.Status, pins.Active} {
		if led == nil {
			continue
		}
		if err := led.Out(gpio.Low); err != nil {
			return nil, fmt.Errorf("panel: LED %s: %w", led, err)
		}
		p.lit[led] = gpio.Low
	}
	for _, b := range []gpio.PinIO{pins.Mute, pins.Reset} {
		if b == nil {
			continue
		}
		if err := b.In(gpio.PullUp, gpio.BothEdges); err != nil {
			// Some GPIO drivers (sysfs) cannot set a pull: the board
			// then needs its own pull-up resistor.
			if err2 := b.In(gpio.PullNoChange, gpio.BothEdges); err2 != nil {
				return nil, fmt.Errorf("panel: button %s: %w", b, err)
			}
			p.log.Warn("no internal pull-up on this GPIO driver: the button needs a pull-up resistor", "pin", b.String(), "err", err)
		}
	}
	p.statusSince = p.now()
	p.refresh()
	return p, nil
}

// SetStatus sets what the status LED shows.
func (p *Panel) SetStatus(s Status) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s != p.status {
		p.status, p.statusSince = s, p.now()
		p.log.Info("status", "status", s.String())
	}
}

// Status returns what the status LED shows.
func (p *Panel) Status() Status {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status
}

// Muted reports whether mute-all is engaged.
func (p *Panel) Muted() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.muted
}

// Run watches the buttons and draws the LEDs until ctx ends.
func (p *Panel) Run(ctx context.Context) {
	var wg sync.WaitGroup
	if b := p.pins.Mute; b != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.watch(ctx, b, p.mutePressed, nil) }()
	}
	if b := p.pins.Reset; b != nil {
		wg.Add(1)
		go func() { defer wg.Done(); p.watch(ctx, b, p.resetPressed, p.resetReleased) }()
	}
	t := time.NewTicker(refreshEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			p.refresh()
		}
	}
}

// watch turns a button's edges into debounced presses and releases. The
// level it starts with is the resting one: a button held at start counts
// only once let go.
func (p *Panel) watch(ctx context.Context, b gpio.PinIO, pressed, released func(context.Context)) {
	down := b.Read() == gpio.Low
	for ctx.Err() == nil {
		if !b.WaitForEdge(pollEvery) {
			continue
		}
		// Debounce: wait out the bounces, then take the level.
		for b.WaitForEdge(p.debounce) && ctx.Err() == nil {
		}
		now := b.Read() == gpio.Low
		if now == down {
			continue
		}
		down = now
		switch {
		case down && pressed != nil:
			pressed(ctx)
		case !down && released != nil:
			released(ctx)
		}
	}
}

// mutePressed toggles mute-all.
func (p *Panel) mutePressed(ctx context.Context) {
	p.mu.Lock()
	p.muted = !p.muted
	on := p.muted
	p.mutedSince = p.now()
	p.mu.Unlock()
	p.log.Info("mute-all button", "engaged", on)
	if err := p.confs.MuteAll(ctx, on); err != nil {
		p.log.Warn("mute-all", "engaged", on, "err", err)
	}
	p.refresh()
}

func (p *Panel) resetPressed(context.Context) {
	p.mu.Lock()
	p.resetDown = p.now()
	p.mu.Unlock()
	p.log.Info("factory-reset button pressed: hold to reset", "hold", p.hold)
}

func (p *Panel) resetReleased(context.Context) {
	p.mu.Lock()
	confirmed := p.confirming && !p.resetting
	p.resetDown, p.confirming = time.Time{}, false
	if confirmed {
		p.resetting = true
	}
	p.mu.Unlock()
	if !confirmed {
		p.log.Info("factory-reset button let go early: nothing done")
		p.refresh()
		return
	}
	p.log.Warn("factory reset: wiping the configuration")
	if err := p.reset(); err != nil {
		p.log.Error("factory reset failed", "err", err)
		p.mu.Lock()
		p.resetting = false
		p.status, p.statusSince = Fault, p.now()
		p.mu.Unlock()
	}
	p.refresh()
}

// refresh draws the LEDs for now. Time-driven changes (the reset button
// held long enough) happen here too, so that one clock drives them all.
func (p *Panel) refresh() {
	now := p.now()
	askActive := false
	p.mu.Lock()
	if p.confs != nil && p.pins.Active != nil && (p.activeAsked.IsZero() || now.Sub(p.activeAsked) >= activeEvery) {
		p.activeAsked = now
		askActive = true
	}
	p.mu.Unlock()
	if askActive {
		a := p.confs.Active()
		p.mu.Lock()
		if a != p.active {
			p.active, p.activeSince = a, now
		}
		p.mu.Unlock()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.resetDown.IsZero() && !p.confirming && now.Sub(p.resetDown) >= p.hold {
		p.confirming, p.confirmSince = true, now
		p.log.Warn("factory-reset button held: let go to wipe the configuration")
	}
	if p.pins.Status != nil {
		pat, since := p.statusPatternLocked()
		p.setLocked(p.pins.Status, pat.LevelAt(now.Sub(since)))
	}
	if p.pins.Active != nil {
		pat, since := p.activePatternLocked()
		p.setLocked(p.pins.Active, pat.LevelAt(now.Sub(since)))
	}
}

func (p *Panel) statusPatternLocked() (Pattern, time.Time) {
	switch {
	case p.confirming || p.resetting:
		return patternResetConfirm, p.confirmSince
	case p.status == Ready:
		return patternOn, p.statusSince
	case p.status == Fault:
		return patternFault, p.statusSince
	}
	return patternBooting, p.statusSince
}

func (p *Panel) activePatternLocked() (Pattern, time.Time) {
	since := p.activeSince
	if p.mutedSince.After(since) {
		since = p.mutedSince
	}
	switch {
	case p.muted && p.active:
		return patternActiveMuted, since
	case p.muted:
		return patternIdleMuted, since
	case p.active:
		return patternOn, since
	}
	return patternOff, since
}

// setLocked drives an LED, touching the pin only when its level changes.
func (p *Panel) setLocked(led gpio.PinIO, l gpio.Level) {
	if old, ok := p.lit[led]; ok && old == l {
		return
	}
	if err := led.Out(l); err != nil {
		p.log.Warn("LED", "pin", led.String(), "err", err)
		return
	}
	p.lit[led] = l
}
