package watchdog

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

type fakeDog struct{ pings atomic.Int32 }

func (f *fakeDog) Ping() error { f.pings.Add(1); return nil }

func TestPolicy(t *testing.T) {
	start := time.Unix(1000, 0)
	tests := []struct {
		name    string
		at      time.Duration
		healthy bool
		want    bool
	}{
		{"during the boot grace it is fed while unhealthy", 10 * time.Second, false, true},
		{"after the grace a healthy box is fed", 200 * time.Second, true, true},
		{"after the grace an unhealthy box is not fed", 200 * time.Second, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Policy{Grace: time.Minute, Start: start, Healthy: func() bool { return tt.healthy }}
			if got := p.ShouldFeed(start.Add(tt.at)); got != tt.want {
				t.Fatalf("ShouldFeed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFeed(t *testing.T) {
	// Health answers in call order: unhealthy for the first feed attempt and
	// the first tick, healthy after.
	var calls atomic.Int32
	healthy := func() bool { return calls.Add(1) > 2 }
	now := time.Unix(1000, 0)
	p := Policy{Grace: 0, Start: now, Healthy: healthy, Now: func() time.Time { return now }}
	dog := &fakeDog{}
	tick := make(chan time.Time)
	var skips atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Feed(ctx, dog, p, tick, func(error) { skips.Add(1) })
		close(done)
	}()
	for i := 0; i < 3; i++ {
		tick <- now
	}
	cancel()
	<-done
	t.Run("an unhealthy tick feeds nothing and is reported", func(t *testing.T) {
		if skips.Load() != 2 { // the initial attempt and the first tick
			t.Fatalf("skips = %d, want 2", skips.Load())
		}
	})
	t.Run("healthy ticks feed the watchdog", func(t *testing.T) {
		if dog.pings.Load() != 2 {
			t.Fatalf("pings = %d, want 2", dog.pings.Load())
		}
	})
}

func TestOpen(t *testing.T) {
	t.Run("a missing device says there is no watchdog", func(t *testing.T) {
		if _, err := Open(filepath.Join(t.TempDir(), "watchdog"), 30*time.Second); !errors.Is(err, ErrNoWatchdog) {
			t.Fatalf("Open = %v", err)
		}
	})
}
