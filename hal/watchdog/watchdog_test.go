package watchdog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// fakeDriver stands in for a watchdog driver behind a plain file: it keeps
// the timeout (clamped like a real driver to its maximum) and counts
// keepalives.
type fakeDriver struct {
	max         int
	timeout     int
	keepalives  int
	failSet     error
	failKeepRun error
}

func (d *fakeDriver) setTimeout(_ int, s int) error {
	if d.failSet != nil {
		return d.failSet
	}
	d.timeout = min(s, d.max)
	return nil
}

func (d *fakeDriver) getTimeout(int) (int, error) { return d.timeout, nil }

func (d *fakeDriver) keepalive(int) error {
	if d.failKeepRun != nil {
		return d.failKeepRun
	}
	d.keepalives++
	return nil
}

func fakeDevice(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watchdog")
	if err := os.WriteFile(p, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func written(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDevice(t *testing.T) {
	t.Run("open sets the timeout and reports what the driver took", func(t *testing.T) {
		drv := &fakeDriver{max: 20, timeout: 60}
		d, err := open(fakeDevice(t), 30*time.Second, drv)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if drv.timeout != 20 || d.Timeout() != 20*time.Second {
			t.Fatalf("driver timeout %d, Timeout %v; want 20s", drv.timeout, d.Timeout())
		}
	})
	t.Run("a zero timeout keeps the driver's", func(t *testing.T) {
		drv := &fakeDriver{max: 20, timeout: 15}
		d, err := open(fakeDevice(t), 0, drv)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		if d.Timeout() != 15*time.Second {
			t.Fatalf("Timeout %v", d.Timeout())
		}
	})
	t.Run("keepalive reaches the driver and close writes the magic V", func(t *testing.T) {
		path := fakeDevice(t)
		drv := &fakeDriver{max: 60}
		d, err := open(path, 10*time.Second, drv)
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			if err := d.Keepalive(); err != nil {
				t.Fatal(err)
			}
		}
		if drv.keepalives != 3 {
			t.Fatalf("keepalives %d", drv.keepalives)
		}
		if got := written(t, path); got != "" {
			t.Fatalf("written before close: %q", got)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if got := written(t, path); got != "V" {
			t.Fatalf("written at close: %q, want the magic V", got)
		}
	})
	t.Run("a refused timeout disarms what open armed", func(t *testing.T) {
		path := fakeDevice(t)
		_, err := open(path, 10*time.Second, &fakeDriver{max: 60, failSet: syscall.EINVAL})
		if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "set timeout 10s") {
			t.Fatalf("err %v", err)
		}
		if got := written(t, path); got != "V" {
			t.Fatalf("written %q, want the magic V", got)
		}
	})
	t.Run("a missing device is ErrNoDevice", func(t *testing.T) {
		_, err := Open(filepath.Join(t.TempDir(), "watchdog"), 10*time.Second)
		if !errors.Is(err, ErrNoDevice) {
			t.Fatalf("err %v", err)
		}
	})
	t.Run("a file that is no watchdog is refused clearly", func(t *testing.T) {
		path := fakeDevice(t)
		_, err := Open(path, 10*time.Second)
		if !errors.Is(err, syscall.ENOTTY) {
			t.Fatalf("err %v, want ENOTTY", err)
		}
		if got := written(t, path); got != "V" {
			t.Fatalf("written %q", got)
		}
	})
}

type countingDog struct {
	n    atomic.Int32
	fail atomic.Bool
}

func (c *countingDog) Keepalive() error {
	if c.fail.Load() {
		return errors.New("device gone")
	}
	c.n.Add(1)
	return nil
}

func TestFeederFeedsOnlyWhileHealthy(t *testing.T) {
	dog := &countingDog{}
	var healthy atomic.Bool
	f := NewFeeder(dog, func(context.Context) bool { return healthy.Load() })
	ctx := context.Background()
	steps := []struct {
		name    string
		healthy bool
		fail    bool
		want    Counters
	}{
		{"a healthy tick feeds", true, false, Counters{Fed: 1}},
		{"an unhealthy tick does not", false, false, Counters{Fed: 1, Skipped: 1}},
		{"nor does the next", false, false, Counters{Fed: 1, Skipped: 2}},
		{"health back, it feeds again", true, false, Counters{Fed: 2, Skipped: 2}},
		{"a keepalive the device refuses is counted", true, true, Counters{Fed: 2, Skipped: 2, Failed: 1}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			healthy.Store(s.healthy)
			dog.fail.Store(s.fail)
			f.Tick(ctx)
			if got := f.Counters(); got != s.want {
				t.Fatalf("counters %+v, want %+v", got, s.want)
			}
			if int(dog.n.Load()) != int(s.want.Fed) {
				t.Fatalf("device fed %d times", dog.n.Load())
			}
		})
	}
}

func TestFeederRunStopsWithItsContext(t *testing.T) {
	dog := &countingDog{}
	f := NewFeeder(dog, func(context.Context) bool { return true })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.Run(ctx, 5*time.Millisecond); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for dog.n.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatal("not fed three times in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
