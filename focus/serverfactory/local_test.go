package serverfactory

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"confab/focus"
	"confab/mixer"
)

// fakeMCU is an MCU whose only used method is Close; the embedded nil
// interface makes any other call fail the test loudly.
type fakeMCU struct {
	focus.MCU
	id     string
	closed atomic.Int32
}

func (m *fakeMCU) Close() error {
	m.closed.Add(1)
	return nil
}

// engine makes fakeMCUs and remembers them.
type engine struct {
	mu    sync.Mutex
	made  map[string]*fakeMCU
	fail  error
	calls int
}

func (e *engine) NewConference(id string) (*fakeMCU, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.fail != nil {
		return nil, e.fail
	}
	m := &fakeMCU{id: id}
	e.made[id] = m
	return m, nil
}

func newEngine() *engine { return &engine{made: map[string]*fakeMCU{}} }

func TestLocal(t *testing.T) {
	t.Run("allocate makes an MCU for the conference id", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference)
		mcu, err := l.Allocate("ABCD1234")
		if err != nil {
			t.Fatalf("allocate: %v", err)
		}
		if got := mcu.(*fakeMCU).id; got != "ABCD1234" {
			t.Errorf("MCU made for %q, want ABCD1234", got)
		}
		if got := l.Conferences(); !slices.Equal(got, []string{"ABCD1234"}) {
			t.Errorf("conferences = %q", got)
		}
	})
	t.Run("a conference id is refused while it has an MCU, and free again once released", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference)
		if _, err := l.Allocate("ABCD1234"); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Allocate("ABCD1234"); !errors.Is(err, ErrInUse) {
			t.Errorf("second allocate = %v, want %v", err, ErrInUse)
		}
		l.Release("ABCD1234")
		if _, err := l.Allocate("ABCD1234"); err != nil {
			t.Errorf("allocate after release = %v", err)
		}
	})
	t.Run("release closes the MCU once", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference)
		l.Allocate("ABCD1234")
		l.Release("ABCD1234")
		l.Release("ABCD1234")
		if n := e.made["ABCD1234"].closed.Load(); n != 1 {
			t.Errorf("closed %d times, want 1", n)
		}
		if got := l.Conferences(); len(got) != 0 {
			t.Errorf("conferences after release = %q", got)
		}
	})
	t.Run("releasing an unknown id does nothing", func(t *testing.T) {
		l := NewLocal(newEngine().NewConference)
		l.Release("NOPE0000")
	})
	t.Run("the engine's error comes back and no MCU is kept", func(t *testing.T) {
		e := newEngine()
		e.fail = errors.New("engine stopped")
		l := NewLocal(e.NewConference)
		mcu, err := l.Allocate("ABCD1234")
		if !errors.Is(err, e.fail) {
			t.Errorf("allocate = %v, want %v", err, e.fail)
		}
		if mcu != nil {
			t.Errorf("allocate returned a non-nil MCU %#v with its error", mcu)
		}
		if got := l.Conferences(); len(got) != 0 {
			t.Errorf("conferences = %q, want none", got)
		}
	})
	t.Run("no more conferences than the limit are mixed at once", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference, WithMaxConferences(2))
		l.Allocate("AAAA0001")
		l.Allocate("AAAA0002")
		if _, err := l.Allocate("AAAA0003"); !errors.Is(err, ErrNoCapacity) {
			t.Errorf("third allocate = %v, want %v", err, ErrNoCapacity)
		}
		if e.calls != 2 {
			t.Errorf("engine asked %d times, want 2", e.calls)
		}
		l.Release("AAAA0001")
		if _, err := l.Allocate("AAAA0003"); err != nil {
			t.Errorf("allocate after a release = %v", err)
		}
	})
	t.Run("a constructor returning focus.MCU works as well", func(t *testing.T) {
		l := NewLocal(func(id string) (focus.MCU, error) { return &fakeMCU{id: id}, nil })
		if _, err := l.Allocate("ABCD1234"); err != nil {
			t.Errorf("allocate = %v", err)
		}
	})
	t.Run("close releases every MCU", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference)
		for i := range 3 {
			l.Allocate(fmt.Sprintf("AAAA000%d", i))
		}
		l.Close()
		for id, m := range e.made {
			if m.closed.Load() != 1 {
				t.Errorf("%s not closed", id)
			}
		}
	})
	t.Run("allocations and releases from many goroutines keep the books straight", func(t *testing.T) {
		e := newEngine()
		l := NewLocal(e.NewConference)
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("CONF%04d", i)
				for range 50 {
					if _, err := l.Allocate(id); err != nil {
						t.Errorf("allocate %s: %v", id, err)
						return
					}
					l.Release(id)
				}
			}()
		}
		wg.Wait()
		if got := l.Conferences(); len(got) != 0 {
			t.Errorf("conferences left = %q", got)
		}
	})
}

// The daemon hands NewLocal the mixer engine's NewConference; this only
// compiles while *mixer.Conference is a focus.MCU.
var _ = func(e *mixer.Engine) *Local { return NewLocal(e.NewConference) }

func TestLocalMove(t *testing.T) {
	var moved []string
	move := func(id mixer.ParticipantID, from, to string, opts mixer.AddOptions) error {
		moved = append(moved, fmt.Sprintf("%d %s->%s unmixed=%t", id, from, to, opts.Unmixed))
		return nil
	}
	t.Run("between two allocated conferences it asks the engine", func(t *testing.T) {
		moved = nil
		l := NewLocal(newEngine().NewConference, WithMover(move))
		_, _ = l.Allocate("attendant-1")
		_, _ = l.Allocate("ABCD1234")
		if err := l.Move(7, "attendant-1", "ABCD1234", mixer.AddOptions{Unmixed: true}); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(moved, []string{"7 attendant-1->ABCD1234 unmixed=true"}) {
			t.Fatalf("engine moves %v", moved)
		}
	})
	t.Run("to a conference it has not allocated it refuses", func(t *testing.T) {
		moved = nil
		l := NewLocal(newEngine().NewConference, WithMover(move))
		_, _ = l.Allocate("attendant-1")
		if err := l.Move(7, "attendant-1", "ABCD1234", mixer.AddOptions{}); !errors.Is(err, mixer.ErrClosed) {
			t.Fatalf("got %v", err)
		}
		if len(moved) != 0 {
			t.Fatal("the engine was asked anyway")
		}
	})
	t.Run("without a mover it cannot", func(t *testing.T) {
		l := NewLocal(newEngine().NewConference)
		if err := l.Move(7, "a", "b", mixer.AddOptions{}); !errors.Is(err, ErrNoMover) {
			t.Fatalf("got %v", err)
		}
	})
}
