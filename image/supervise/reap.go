package supervise

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Reaper starts the init's own children and reaps everyone else's: as PID 1
// the init inherits every orphaned process, and their zombies would fill
// the process table. A plain wait for any child would steal the exit status
// of a child an exec.Cmd waits for, so the reaper waits only for zombies it
// did not start (found in /proc), and starting a child excludes a reaping
// pass until the child's PID is known.
type Reaper struct {
	excl    sync.RWMutex // Start holds it shared, Reap exclusively
	mu      sync.Mutex   // guards managed
	managed map[int]bool
	proc    string // /proc
}

// NewReaper returns a Reaper reading procDir (normally "/proc").
func NewReaper(procDir string) *Reaper { return &Reaper{managed: make(map[int]bool), proc: procDir} }

// Start starts cmd as a managed child.
func (r *Reaper) Start(cmd *exec.Cmd) error {
	r.excl.RLock()
	defer r.excl.RUnlock()
	if err := cmd.Start(); err != nil {
		return err
	}
	r.mu.Lock()
	r.managed[cmd.Process.Pid] = true
	r.mu.Unlock()
	return nil
}

// Wait waits for a child started with Start.
func (r *Reaper) Wait(cmd *exec.Cmd) error {
	err := cmd.Wait()
	r.mu.Lock()
	delete(r.managed, cmd.Process.Pid)
	r.mu.Unlock()
	return err
}

// Run runs cmd to its end as a managed child.
func (r *Reaper) Run(cmd *exec.Cmd) error {
	if err := r.Start(cmd); err != nil {
		return err
	}
	return r.Wait(cmd)
}

// Reap waits for every zombie child that is not managed and returns how
// many it reaped.
func (r *Reaper) Reap() int {
	r.excl.Lock()
	defer r.excl.Unlock()
	r.mu.Lock()
	managed := make(map[int]bool, len(r.managed))
	for pid := range r.managed {
		managed[pid] = true
	}
	r.mu.Unlock()
	self := os.Getpid()
	dirs, _ := filepath.Glob(filepath.Join(r.proc, "[0-9]*"))
	n := 0
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || managed[pid] {
			continue
		}
		b, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 || f[0] != "Z" || f[1] != strconv.Itoa(self) {
			continue
		}
		var ws syscall.WaitStatus
		if got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil); err == nil && got == pid {
			n++
		}
	}
	return n
}

// Loop reaps on every SIGCHLD, and every interval in case one was
// coalesced, until ctx ends.
func (r *Reaper) Loop(ctx context.Context, interval time.Duration) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGCHLD)
	defer signal.Stop(sig)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
		case <-t.C:
		}
		r.Reap()
	}
}
