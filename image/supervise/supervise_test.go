package supervise

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting until %s", what)
}

func TestSupervisor(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("needs sh")
	}
	t.Run("a program that exits is started again with its output kept", func(t *testing.T) {
		ring := NewRing(4096)
		var n atomic.Int32
		cmd := func() Command {
			return Command{Path: "/bin/sh", Args: []string{"-c", "echo run $0; exit 3", strings.Repeat("x", int(n.Add(1)))}}
		}
		s := New("crasher", cmd, NewReaper("/proc"), ring, WithBackoff(10*time.Millisecond, 50*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		waitFor(t, "three starts", func() bool { return s.Status().Starts >= 3 })
		cancel()
		<-done
		out := string(ring.Bytes())
		for _, want := range []string{"run x\n", "run xx\n", "ended (exit status 3)"} {
			if !strings.Contains(out, want) {
				t.Fatalf("ring lacks %q:\n%s", want, out)
			}
		}
		if st := s.Status(); st.Running || st.LastExit != "exit status 3" {
			t.Fatalf("status %+v", st)
		}
	})
	t.Run("stopping sends SIGTERM and the program ends", func(t *testing.T) {
		ring := NewRing(4096)
		cmd := func() Command {
			return Command{Path: "/bin/sh", Args: []string{"-c", "trap 'echo bye; exit 0' TERM; echo up; while :; do sleep 0.05; done"}}
		}
		s := New("daemon", cmd, NewReaper("/proc"), ring)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		waitFor(t, "the program is up", func() bool { return strings.Contains(string(ring.Bytes()), "up\n") })
		if st := s.Status(); !st.Running || st.PID == 0 {
			t.Fatalf("status %+v", st)
		}
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Run did not return after cancel")
		}
		waitFor(t, "bye is written", func() bool { return strings.Contains(string(ring.Bytes()), "bye\n") })
	})
	t.Run("a program that ignores SIGTERM is killed after the stop timeout", func(t *testing.T) {
		ring := NewRing(4096)
		cmd := func() Command {
			return Command{Path: "/bin/sh", Args: []string{"-c", "trap '' TERM; echo up; while :; do sleep 0.05; done"}}
		}
		s := New("stubborn", cmd, NewReaper("/proc"), ring, WithStopTimeout(200*time.Millisecond))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { s.Run(ctx); close(done) }()
		waitFor(t, "the program is up", func() bool { return strings.Contains(string(ring.Bytes()), "up\n") })
		cancel()
		<-done
		if st := s.Status(); st.LastExit != "killed by SIGKILL" {
			t.Fatalf("last exit %q", st.LastExit)
		}
	})
	t.Run("Restart starts the program again with a fresh command", func(t *testing.T) {
		ring := NewRing(4096)
		var gen atomic.Int32
		cmd := func() Command {
			return Command{Path: "/bin/sh", Args: []string{"-c", "echo gen $0; while :; do sleep 0.05; done", string(rune('0' + gen.Add(1)))}}
		}
		s := New("daemon", cmd, NewReaper("/proc"), ring, WithBackoff(time.Hour, time.Hour))
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		go s.Run(ctx)
		waitFor(t, "the first start", func() bool { return strings.Contains(string(ring.Bytes()), "gen 1") })
		s.Restart()
		waitFor(t, "the second start, without the back-off", func() bool { return strings.Contains(string(ring.Bytes()), "gen 2") })
	})
}

func TestReaper(t *testing.T) {
	r := NewReaper("/proc")
	t.Run("a managed child's exit status is not stolen", func(t *testing.T) {
		cmd := exec.Command("/bin/sh", "-c", "exit 7")
		if err := r.Start(cmd); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // it is a zombie now
		r.Reap()
		var ee *exec.ExitError
		if err := r.Wait(cmd); !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("Wait = %v, want exit status 7", err)
		}
	})
	t.Run("an unmanaged zombie is reaped", func(t *testing.T) {
		pid, err := syscall.ForkExec("/bin/sh", []string{"sh", "-c", "exit 0"}, &syscall.ProcAttr{})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the zombie is reaped", func() bool {
			r.Reap()
			var ws syscall.WaitStatus
			_, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
			return errors.Is(err, syscall.ECHILD)
		})
	})
}

func TestHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	clock := func() time.Time { return now }
	var fail atomic.Bool
	h := NewHealth(func(context.Context) error {
		if fail.Load() {
			return errors.New("no answer")
		}
		return nil
	}, time.Second, time.Second, clock)
	t.Run("nothing is healthy before the first check", func(t *testing.T) {
		if st := h.State(time.Minute); st.Healthy || st.Error == "" {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("a passing check is healthy from its time", func(t *testing.T) {
		changed := h.Changed()
		_ = h.Check(context.Background())
		st := h.State(time.Minute)
		if !st.Healthy || !st.HealthyAt.Equal(now) {
			t.Fatalf("state %+v", st)
		}
		select {
		case <-changed:
		default:
			t.Fatal("Changed was not closed")
		}
	})
	t.Run("a stale verdict is not healthy", func(t *testing.T) {
		now = now.Add(2 * time.Minute)
		if st := h.State(time.Minute); st.Healthy {
			t.Fatalf("state %+v", st)
		}
	})
	t.Run("a failing check is unhealthy with its error", func(t *testing.T) {
		fail.Store(true)
		_ = h.Check(context.Background())
		if st := h.State(time.Minute); st.Healthy || st.Error != "no answer" {
			t.Fatalf("state %+v", st)
		}
	})
}
