package panel

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fakeConferences records the panel's commands.
type fakeConferences struct {
	active atomic.Bool
	mu     sync.Mutex
	calls  []bool
}

func (f *fakeConferences) Active() bool { return f.active.Load() }

func (f *fakeConferences) MuteAll(_ context.Context, on bool) error {
	f.mu.Lock()
	f.calls = append(f.calls, on)
	f.mu.Unlock()
	return nil
}

func (f *fakeConferences) muteCalls() []bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bool(nil), f.calls...)
}

func led(name string) *gpiotest.Pin { return &gpiotest.Pin{N: name} }

func button(name string) *gpiotest.Pin {
	return &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 16)}
}

func level(p *gpiotest.Pin) gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

// trace samples an LED every step, n times, moving the clock and redrawing
// as the panel's own loop does: "#" for lit, "." for dark.
func trace(p *Panel, clk *fakeClock, pin *gpiotest.Pin, step time.Duration, n int) string {
	var b strings.Builder
	for range n {
		p.refresh()
		if level(pin) == gpio.High {
			b.WriteByte('#')
		} else {
			b.WriteByte('.')
		}
		clk.Advance(step)
	}
	return b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10 s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// press and release push the edges a button makes, with bounces.
func press(b *gpiotest.Pin) {
	b.EdgesChan <- gpio.Low
	b.EdgesChan <- gpio.High // a bounce
	b.EdgesChan <- gpio.Low
}

func release(b *gpiotest.Pin) {
	b.EdgesChan <- gpio.High
	b.EdgesChan <- gpio.Low // a bounce
	b.EdgesChan <- gpio.High
}

func TestPatterns(t *testing.T) {
	tests := []struct {
		name string
		p    Pattern
		want string // every 100 ms from 50 ms, for 2.4 s
	}{
		{"booting is a slow even blink", patternBooting, "#####.....#####.....####"},
		{"fault is a fast even blink", patternFault, "#.#.#.#.#.#.#.#.#.#.#.#."},
		{"the reset confirmation is three flashes and a pause", patternResetConfirm, "#.#.#.......#.#.#......."},
		{"ready is steady", patternOn, "########################"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			for i := range 24 {
				if tt.p.LevelAt(50*time.Millisecond+time.Duration(i)*100*time.Millisecond) == gpio.High {
					b.WriteByte('#')
				} else {
					b.WriteByte('.')
				}
			}
			if b.String() != tt.want {
				t.Fatalf("got  %s\nwant %s", b.String(), tt.want)
			}
		})
	}
}

func TestStatusLEDFollowsTheState(t *testing.T) {
	clk := newFakeClock()
	status := led("status")
	p, err := New(Pins{Status: status}, nil, nil, WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		status Status
		want   string // every 100 ms, for 2 s
	}{
		{"a booting daemon blinks slowly", Booting, "#####.....#####....."},
		{"a ready daemon is steady on", Ready, "####################"},
		{"a fault blinks fast", Fault, "#.#.#.#.#.#.#.#.#.#."},
		{"back to ready, steady on again", Ready, "####################"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			p.SetStatus(s.status)
			clk.Advance(50 * time.Millisecond)
			if got := trace(p, clk, status, 100*time.Millisecond, 20); got != s.want {
				t.Fatalf("got  %s\nwant %s", got, s.want)
			}
		})
	}
}

func TestMuteButtonToggles(t *testing.T) {
	clk := newFakeClock()
	mute, active := button("mute"), led("active")
	confs := &fakeConferences{}
	p, err := New(Pins{Mute: mute, Active: active}, confs, nil, WithClock(clk.Now), WithDebounce(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if mute.P != gpio.PullUp {
		t.Fatalf("button pull %v, want the pull-up (pressed is low)", mute.P)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ledTrace := func() string {
		clk.Advance(activeEvery) // let the panel ask the conferences again
		return trace(p, clk, active, 50*time.Millisecond, 20)
	}
	t.Run("with no conference the conference LED is dark", func(t *testing.T) {
		if got := ledTrace(); got != strings.Repeat(".", 20) {
			t.Fatalf("LED %s", got)
		}
	})
	confs.active.Store(true)
	t.Run("with a conference running it is lit", func(t *testing.T) {
		if got := ledTrace(); got != strings.Repeat("#", 20) {
			t.Fatalf("LED %s", got)
		}
	})
	t.Run("a press, bounces and all, mutes all once", func(t *testing.T) {
		press(mute)
		waitFor(t, "mute-all", func() bool { return len(confs.muteCalls()) == 1 })
		release(mute)
		time.Sleep(100 * time.Millisecond) // the release must not count as a press
		if got := confs.muteCalls(); len(got) != 1 || !got[0] || !p.Muted() {
			t.Fatalf("MuteAll calls %v, muted %v", got, p.Muted())
		}
	})
	t.Run("while engaged the conference LED blinks dark once a second", func(t *testing.T) {
		if got := ledTrace(); strings.Count(got, ".") != 3 {
			t.Fatalf("LED %s", got)
		}
	})
	t.Run("and with no conference flashes once a second", func(t *testing.T) {
		confs.active.Store(false)
		if got := ledTrace(); strings.Count(got, "#") != 3 {
			t.Fatalf("LED %s", got)
		}
	})
	t.Run("the next press undoes it", func(t *testing.T) {
		press(mute)
		waitFor(t, "unmute-all", func() bool { return len(confs.muteCalls()) == 2 })
		release(mute)
		if got := confs.muteCalls(); got[1] || p.Muted() {
			t.Fatalf("MuteAll calls %v, muted %v", got, p.Muted())
		}
		if got := ledTrace(); got != strings.Repeat(".", 20) {
			t.Fatalf("LED %s", got)
		}
	})
	t.Run("a press and release quicker than the debounce time is no press", func(t *testing.T) {
		mute.EdgesChan <- gpio.Low
		mute.EdgesChan <- gpio.High
		time.Sleep(200 * time.Millisecond)
		if got := confs.muteCalls(); len(got) != 2 {
			t.Fatalf("MuteAll calls %v", got)
		}
	})
}

// resetPanel runs a panel with a status LED and a reset button.
func resetPanel(t *testing.T, setup func(reset *gpiotest.Pin)) (p *Panel, clk *fakeClock, status, reset *gpiotest.Pin, resets *atomic.Int32) {
	t.Helper()
	clk = newFakeClock()
	status, reset = led("status"), button("reset")
	resets = &atomic.Int32{}
	p, err := New(Pins{Status: status, Reset: reset}, nil, func() error { resets.Add(1); return nil },
		WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	p.SetStatus(Ready)
	if setup != nil {
		setup(reset)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return p, clk, status, reset, resets
}

func (p *Panel) resetHeld() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return !p.resetDown.IsZero()
}

func TestFactoryResetButton(t *testing.T) {
	t.Run("held 10 s, it shows the confirmation and letting go resets", func(t *testing.T) {
		p, clk, status, reset, resets := resetPanel(t, nil)
		press(reset)
		waitFor(t, "the press", p.resetHeld)
		clk.Advance(9 * time.Second)
		if got := trace(p, clk, status, 100*time.Millisecond, 5); got != "#####" || resets.Load() != 0 {
			t.Fatalf("after 9 s: status LED %s, resets %d", got, resets.Load())
		}
		clk.Advance(500 * time.Millisecond)
		if got := trace(p, clk, status, 100*time.Millisecond, 24); got != "#.#.#.......#.#.#......." {
			t.Fatalf("after 10 s: status LED %s, want the confirmation pattern", got)
		}
		if resets.Load() != 0 {
			t.Fatal("reset before the button was let go")
		}
		release(reset)
		waitFor(t, "the reset", func() bool { return resets.Load() == 1 })
		time.Sleep(100 * time.Millisecond)
		if resets.Load() != 1 {
			t.Fatalf("%d resets", resets.Load())
		}
	})
	t.Run("let go before 10 s, nothing happens", func(t *testing.T) {
		p, clk, status, reset, resets := resetPanel(t, nil)
		press(reset)
		waitFor(t, "the press", p.resetHeld)
		clk.Advance(9*time.Second + 900*time.Millisecond)
		release(reset)
		waitFor(t, "the release", func() bool { return !p.resetHeld() })
		clk.Advance(5 * time.Second)
		if got := trace(p, clk, status, 100*time.Millisecond, 10); got != "##########" || resets.Load() != 0 {
			t.Fatalf("status LED %s, resets %d", got, resets.Load())
		}
	})
	t.Run("a button already down at start counts only once let go", func(t *testing.T) {
		p, clk, status, reset, resets := resetPanel(t, func(reset *gpiotest.Pin) {
			reset.Lock()
			reset.L = gpio.Low // stuck, or held through a power cycle
			reset.Unlock()
		})
		time.Sleep(50 * time.Millisecond)
		clk.Advance(20 * time.Second)
		if got := trace(p, clk, status, 100*time.Millisecond, 10); got != "##########" || p.resetHeld() {
			t.Fatalf("status LED %s, held %v", got, p.resetHeld())
		}
		release(reset)
		time.Sleep(100 * time.Millisecond)
		if resets.Load() != 0 {
			t.Fatal("a stuck button reset the box")
		}
		press(reset)
		waitFor(t, "the press", p.resetHeld)
	})
}

func TestNew(t *testing.T) {
	t.Run("no pins is no panel", func(t *testing.T) {
		if _, err := New(Pins{}, nil, nil); err != ErrNoPins {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a button without edge detection is refused clearly", func(t *testing.T) {
		b := &gpiotest.Pin{N: "GPIO13"} // no EdgesChan: gpiotest's "no edges"
		_, err := New(Pins{Mute: b}, &fakeConferences{}, nil)
		if err == nil || !strings.Contains(err.Error(), "GPIO13") {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a GPIO driver without pulls leaves the pull to the board", func(t *testing.T) {
		b := &noPull{Pin: button("GPIO13")}
		if _, err := New(Pins{Mute: b}, &fakeConferences{}, nil); err != nil {
			t.Fatal(err)
		}
		if b.P != gpio.PullNoChange {
			t.Fatalf("pull %v", b.P)
		}
	})
	t.Run("the conference LED starts dark and the status LED booting", func(t *testing.T) {
		s, a := led("status"), led("active")
		a.L = gpio.High
		if _, err := New(Pins{Status: s, Active: a}, &fakeConferences{}, nil); err != nil {
			t.Fatal(err)
		}
		if level(a) != gpio.Low || level(s) != gpio.High { // booting starts with the lit half of its blink
			t.Fatalf("conference LED %v, status LED %v", level(a), level(s))
		}
	})
}

// noPull is a pin whose driver cannot set a pull, as sysfs GPIO.
type noPull struct{ *gpiotest.Pin }

func (p *noPull) In(pull gpio.Pull, edge gpio.Edge) error {
	if pull != gpio.PullNoChange {
		return errors.New("pull not supported")
	}
	return p.Pin.In(pull, edge)
}
