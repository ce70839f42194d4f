// Package supervise runs confabd under the appliance's init: it restarts the
// daemon when it exits, with a back-off, keeps its output in a ring for the
// System page (and copies it to the console), and tells whether the daemon
// is healthy from probes of its real interfaces. As PID 1 the init also
// reaps orphans (Reaper).
package supervise

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Command describes one start of the supervised program; Supervisor asks
// for it before each start, so arguments may change (a new address).
type Command struct {
	Path string
	Args []string
	Env  []string
	Dir  string
}

// Status is what the System page shows of the supervised program.
type Status struct {
	Running   bool      `json:"running"`
	PID       int       `json:"pid,omitempty"`
	Starts    int       `json:"starts"`
	Since     time.Time `json:"since"` // of the current state
	LastExit  string    `json:"last_exit,omitempty"`
	LastError string    `json:"last_error,omitempty"`
}

// Option configures a Supervisor.
type Option func(*Supervisor)

// WithLogger sets the logger (component=supervise).
func WithLogger(l *slog.Logger) Option { return func(s *Supervisor) { s.log = l } }

// WithOutput copies the program's output to w as well as the ring (the
// console).
func WithOutput(w io.Writer) Option { return func(s *Supervisor) { s.out = w } }

// WithBackoff sets the first and the longest pause before a restart; a run
// longer than the longest pause resets it to the first.
func WithBackoff(first, longest time.Duration) Option {
	return func(s *Supervisor) { s.backoff, s.maxBackoff = first, longest }
}

// WithStopTimeout sets how long a stopping program has after SIGTERM
// before SIGKILL (default 10 s: confabd sends BYE to every call).
func WithStopTimeout(d time.Duration) Option { return func(s *Supervisor) { s.stopTimeout = d } }

// Supervisor keeps one program running.
type Supervisor struct {
	name        string
	command     func() Command
	reaper      *Reaper
	ring        *Ring
	log         *slog.Logger
	out         io.Writer
	backoff     time.Duration
	maxBackoff  time.Duration
	stopTimeout time.Duration
	now         func() time.Time
	restart     chan struct{}

	mu     sync.Mutex
	status Status
}

// New returns a Supervisor of the program that command describes, its
// output kept in ring.
func New(name string, command func() Command, reaper *Reaper, ring *Ring, opts ...Option) *Supervisor {
	s := &Supervisor{name: name, command: command, reaper: reaper, ring: ring, log: slog.New(slog.DiscardHandler),
		out: io.Discard, backoff: time.Second, maxBackoff: 30 * time.Second, stopTimeout: 10 * time.Second,
		now: time.Now, restart: make(chan struct{}, 1)}
	for _, o := range opts {
		o(s)
	}
	s.log = s.log.With("component", "supervise", "program", name)
	s.status.Since = s.now()
	return s
}

// Status returns the program's state.
func (s *Supervisor) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Restart stops the program, which then starts again at once (with its
// Command asked anew).
func (s *Supervisor) Restart() {
	select {
	case s.restart <- struct{}{}:
	default:
	}
}

// Run keeps the program running until ctx ends, then stops it.
func (s *Supervisor) Run(ctx context.Context) {
	pause := s.backoff
	for ctx.Err() == nil {
		started := s.now()
		requested, err := s.runOnce(ctx)
		ran := s.now().Sub(started)
		if ctx.Err() != nil {
			return
		}
		if requested {
			pause = s.backoff
			continue
		}
		if ran > s.maxBackoff {
			pause = s.backoff
		}
		s.log.Warn("program ended; restarting", "err", err, "ran", ran.Round(time.Millisecond), "after", pause)
		fmt.Fprintf(s.ring, "--- %s ended (%v) after %s; restarting in %s ---\n", s.name, err, ran.Round(time.Millisecond), pause)
		select {
		case <-ctx.Done():
			return
		case <-s.restart:
		case <-time.After(pause):
		}
		pause = min(2*pause, s.maxBackoff)
	}
}

// runOnce starts the program and waits for it; requested reports a
// Restart.
func (s *Supervisor) runOnce(ctx context.Context) (requested bool, err error) {
	c := s.command()
	cmd := exec.Command(c.Path, c.Args...)
	cmd.Env, cmd.Dir = c.Env, c.Dir
	w := io.MultiWriter(s.ring, s.out)
	cmd.Stdout, cmd.Stderr = w, w
	// Its own process group, so a stop reaches anything it started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := s.reaper.Start(cmd); err != nil {
		s.set(func(st *Status) { st.LastError = err.Error() })
		return false, fmt.Errorf("start: %w", err)
	}
	s.set(func(st *Status) {
		st.Running, st.PID, st.Since, st.LastError = true, cmd.Process.Pid, s.now(), ""
		st.Starts++
	})
	done := make(chan error, 1)
	go func() { done <- s.reaper.Wait(cmd) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = s.stop(cmd, done)
	case <-s.restart:
		requested = true
		err = s.stop(cmd, done)
	}
	exit := describe(err)
	s.set(func(st *Status) { st.Running, st.PID, st.Since, st.LastExit = false, 0, s.now(), exit })
	return requested, errors.New(exit)
}

// stop sends SIGTERM, then SIGKILL after the stop timeout.
func (s *Supervisor) stop(cmd *exec.Cmd, done <-chan error) error {
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
	select {
	case err := <-done:
		return err
	case <-time.After(s.stopTimeout):
		s.log.Warn("program did not stop; killing it", "timeout", s.stopTimeout)
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		return <-done
	}
}

func (s *Supervisor) set(f func(*Status)) {
	s.mu.Lock()
	f(&s.status)
	s.mu.Unlock()
}

func describe(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + unix.SignalName(ws.Signal())
		}
		return fmt.Sprintf("exit status %d", ee.ExitCode())
	}
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
