package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"confab/focus"
	"confab/focus/serverfactory"
	"confab/focus/store"
	"confab/hal/panel"
	"confab/hal/sockpath"
	"confab/mixer"
	"confab/mixer/prompt"
)

// The front panel over the real control plane: the conferencing database
// in a temporary directory, the audio MCU on loopback sockets, the Focus
// Factory, and calls joined as the SIP front joins them. The panel's pins
// are periph's gpiotest fakes.

type silentPrompts struct{}

func (silentPrompts) Prompt(string) *prompt.Prompt { return nil }

type hungUp struct{}

func (hungUp) Hangup(string) {}

type focusEnv struct {
	db  *store.Store
	fa  *focus.Factory
	dir string
	n   int
}

func startFocus(t *testing.T) *focusEnv {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "confab.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	low := uint16(freeRTPBlock(t))
	path, err := sockpath.New(netip.MustParseAddr("127.0.0.1"), low, low+rtpBlock-1)
	if err != nil {
		t.Fatal(err)
	}
	engine, err := mixer.NewEngine(path, netip.MustParseAddr("127.0.0.1"), mixer.Config{MediaTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx) }()
	fa := focus.NewFactory(db, serverfactory.NewLocal(engine.NewConference), silentPrompts{}, focus.WithDomain("box.test"))
	go func() {
		for ev := range engine.Events() {
			fa.HandleMCUEvent(ev)
		}
	}()
	t.Cleanup(func() {
		fa.Close()
		cancel()
		<-done
	})
	return &focusEnv{db: db, fa: fa, dir: dir}
}

func (e *focusEnv) conference(t *testing.T, number, organizer string) {
	t.Helper()
	if _, err := e.fa.CreateConference(context.Background(), store.Conference{Number: number, Name: "c" + number, Organizer: organizer}); err != nil {
		t.Fatal(err)
	}
}

// join calls into a conference; user is the authenticated SIP user ("" for
// a caller from outside). It returns the member's ID.
func (e *focusEnv) join(t *testing.T, number, name, user string) string {
	t.Helper()
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	port := sink.LocalAddr().(*net.UDPAddr).Port
	offer := fmt.Sprintf("v=0\r\no=%s 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n", name, port)
	e.n++
	m, _, err := e.fa.Join(context.Background(), number, focus.Call{CallID: fmt.Sprintf("call-%d", e.n),
		From: "sip:" + name + "@127.0.0.1", DisplayName: name, User: user, Offer: []byte(offer)}, hungUp{})
	if err != nil {
		t.Fatalf("%s joins %s: %v", name, number, err)
	}
	t.Cleanup(func() { m.Leave("test over") })
	for _, fc := range e.fa.Active() {
		for _, mi := range fc.Snapshot().Members {
			if mi.DisplayName == name {
				return mi.ID
			}
		}
	}
	t.Fatalf("%s is not in the roster", name)
	return ""
}

// muted returns who is muted, by display name, across every conference.
func (e *focusEnv) muted() map[string]bool {
	out := make(map[string]bool)
	for _, fc := range e.fa.Active() {
		for _, m := range fc.Snapshot().Members {
			out[m.DisplayName] = m.Muted
		}
	}
	return out
}

func (e *focusEnv) focusOf(t *testing.T, number string) *focus.Focus {
	t.Helper()
	for _, fc := range e.fa.Active() {
		if fc.Snapshot().Number == number {
			return fc
		}
	}
	t.Fatalf("conference %s is not running", number)
	return nil
}

// pins makes gpiotest pins for the roles and a lookup that finds them by
// the names -panel would give.
func pins() (map[string]*gpiotest.Pin, func(string) (gpio.PinIO, error)) {
	ps := map[string]*gpiotest.Pin{
		"GPIO5": {N: "GPIO5"}, "GPIO6": {N: "GPIO6"},
		"GPIO13": {N: "GPIO13", EdgesChan: make(chan gpio.Level, 16)},
		"GPIO19": {N: "GPIO19", EdgesChan: make(chan gpio.Level, 16)},
	}
	return ps, func(name string) (gpio.PinIO, error) {
		if p, ok := ps[name]; ok {
			return p, nil
		}
		return nil, fmt.Errorf("no GPIO pin %q on this board", name)
	}
}

var testPanelSpec = map[string]string{"status": "GPIO5", "active": "GPIO6", "mute": "GPIO13", "reset": "GPIO19"}

func pinLevel(p *gpiotest.Pin) gpio.Level {
	p.Lock()
	defer p.Unlock()
	return p.L
}

func eventually[S any](t *testing.T, what string, cond func() bool, state ...func() S) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			var now []any
			for _, s := range state {
				now = append(now, s())
			}
			t.Fatalf("not %s within 10 s; now %v", what, now)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pressButton presses and lets go, holding it for hold, then leaves it
// alone for a moment as a hand does (presses closer than the debounce time
// are one).
func pressButton(p *gpiotest.Pin, hold time.Duration) {
	p.EdgesChan <- gpio.Low
	time.Sleep(hold)
	p.EdgesChan <- gpio.High
	time.Sleep(100 * time.Millisecond)
}

func runPanel(t *testing.T, e *focusEnv, reset func() error, opts ...panel.Option) (*panel.Panel, map[string]*gpiotest.Pin) {
	t.Helper()
	ps, lookup := pins()
	log := slog.New(slog.DiscardHandler)
	confs := newPanelConferences(e.fa, log)
	p, st := openPanel(testPanelSpec, lookup, confs, reset, log, opts...)
	if p == nil || !st.Active || st.Driver != "gpio" {
		t.Fatalf("panel not opened: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { p.Run(ctx); done <- struct{}{} }()
	go func() { confs.run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return p, ps
}

func TestPanelMuteAllButton(t *testing.T) {
	e := startFocus(t)
	e.conference(t, "7001", "alice")
	e.conference(t, "7002", "")
	e.conference(t, "7003", "")
	e.join(t, "7001", "alice", "alice") // the organizer
	e.join(t, "7001", "bob", "")
	carol := e.join(t, "7001", "carol", "")
	e.join(t, "7002", "dave", "")
	e.join(t, "7002", "erin", "")
	// Carol was muted by the organizer before anyone touched the panel.
	if err := e.focusOf(t, "7001").Do(context.Background(), focus.AdminSender("admin"), focus.Command{Kind: focus.Mute, Member: carol}); err != nil {
		t.Fatal(err)
	}

	parent := t
	p, ps := runPanel(t, e, func() error { return nil })
	mute, active := ps["GPIO13"], ps["GPIO6"]
	t.Run("the conference LED is lit while conferences run", func(t *testing.T) {
		eventually[any](t, "lit", func() bool { return pinLevel(active) == gpio.High })
	})
	t.Run("a press mutes every attendee of every conference", func(t *testing.T) {
		pressButton(mute, 100*time.Millisecond)
		want := map[string]bool{"alice": false, "bob": true, "carol": true, "dave": true, "erin": true}
		eventually(t, fmt.Sprint("muted ", want), func() bool { return fmt.Sprint(e.muted()) == fmt.Sprint(want) }, e.muted)
		if !p.Muted() {
			t.Fatal("the panel does not say mute-all is engaged")
		}
	})
	t.Run("a conference that starts while engaged is muted too", func(t *testing.T) {
		e.join(parent, "7003", "frank", "")
		eventually[any](t, "frank muted", func() bool { return e.muted()["frank"] })
	})
	t.Run("the next press undoes it and leaves the earlier mute alone", func(t *testing.T) {
		pressButton(mute, 100*time.Millisecond)
		want := map[string]bool{"alice": false, "bob": false, "carol": true, "dave": false, "erin": false, "frank": false}
		eventually(t, fmt.Sprint("muted ", want), func() bool { return fmt.Sprint(e.muted()) == fmt.Sprint(want) }, e.muted)
		for _, n := range []string{"7001", "7002", "7003"} {
			if e.focusOf(t, n).Snapshot().MutedAttendees {
				t.Errorf("conference %s is still in mute-all", n)
			}
		}
	})
	t.Run("with every conference over the conference LED goes dark", func(t *testing.T) {
		e.fa.Close()
		eventually[any](t, "dark", func() bool { return pinLevel(active) == gpio.Low })
	})
}

func TestPanelFactoryReset(t *testing.T) {
	e := startFocus(t)
	e.conference(t, "7001", "alice")
	if err := e.db.SetAdminPassword(context.Background(), "admin", "a-Secret-password-1"); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(e.dir, "confab.db")
	for _, f := range []string{"https-cert.pem", "https-key.pem"} {
		if err := os.WriteFile(filepath.Join(e.dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(e.dir, "not-ours.txt")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	// What confabd does on the panel's request: stop using the database,
	// then wipe (main does it after run returns errFactoryReset).
	resets := make(chan error, 1)
	_, ps := runPanel(t, e, func() error {
		err := errors.Join(e.db.Close(), wipeData(e.dir))
		resets <- err
		return err
	}, panel.WithHold(300*time.Millisecond))
	reset := ps["GPIO19"]

	t.Run("a short press does nothing", func(t *testing.T) {
		pressButton(reset, 50*time.Millisecond)
		time.Sleep(400 * time.Millisecond)
		if len(resets) != 0 {
			t.Fatal("reset after a short press")
		}
	})
	t.Run("held long enough, letting go wipes the configuration", func(t *testing.T) {
		pressButton(reset, 600*time.Millisecond)
		select {
		case err := <-resets:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no reset within 10 s")
		}
		for _, f := range factoryFiles() {
			if _, err := os.Stat(filepath.Join(e.dir, f)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still there: %v", f, err)
			}
		}
		if _, err := os.Stat(other); err != nil {
			t.Errorf("a file that is not confabd's configuration was removed: %v", err)
		}
	})
	t.Run("the database opens fresh", func(t *testing.T) {
		db, err := store.Open(context.Background(), dbPath)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		confs, err := db.ListConferences(context.Background())
		has, herr := db.HasAdmin(context.Background())
		if err != nil || herr != nil || len(confs) != 0 || has {
			t.Fatalf("conferences %v (%v), admin %v (%v)", confs, err, has, herr)
		}
	})
}

func TestOpenPanel(t *testing.T) {
	_, lookup := pins()
	log := slog.New(slog.DiscardHandler)
	tests := []struct {
		name   string
		spec   map[string]string
		active bool
		reason string
	}{
		{"no -panel is no panel", nil, false, "no -panel configured"},
		{"a pin the board lacks leaves the panel out", map[string]string{"status": "GPIO5", "mute": "GPIO99"}, false,
			`not used: mute pin: no GPIO pin "GPIO99" on this board`},
		{"LEDs alone make a panel", map[string]string{"status": "GPIO5", "active": "GPIO6"}, true, "status=GPIO5, active=GPIO6"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, st := openPanel(tt.spec, lookup, nil, nil, log)
			if (p != nil) != tt.active || st.Active != tt.active || st.Reason != tt.reason || st.Capability != "panel" {
				t.Fatalf("panel %v, status %+v; want active %v, reason %q", p != nil, st, tt.active, tt.reason)
			}
			if !tt.active && !strings.Contains(st.Driver, "none") && st.Driver != "gpio" {
				t.Errorf("driver %q", st.Driver)
			}
		})
	}
}

func TestStatusLEDFollowsHealth(t *testing.T) {
	led := &gpiotest.Pin{N: "GPIO5"}
	p, err := panel.New(panel.Pins{Status: led}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var broken atomic.Bool
	hc := newHealthChecker(healthCheck{"database", func(context.Context) (string, error) {
		if broken.Load() {
			return "", errors.New("not writable")
		}
		return "ok", nil
	}})
	hc.minAge = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { showHealth(ctx, p, hc, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	eventually[any](t, "ready", func() bool { return p.Status() == panel.Ready })
	broken.Store(true)
	eventually[any](t, "a fault", func() bool { return p.Status() == panel.Fault })
	broken.Store(false)
	eventually[any](t, "ready again", func() bool { return p.Status() == panel.Ready })
}
