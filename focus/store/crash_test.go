package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The crash test runs this test binary again as a child that writes to the
// database and says on stdout what it has committed, and kills it with
// SIGKILL partway: what the child reported must be there afterwards.
const (
	crashPathEnv  = "CONFAB_STORE_CRASH_DB"
	crashRoundEnv = "CONFAB_STORE_CRASH_ROUND"
	crashReady    = "ready"
)

// crashNumber is the conference number the child writes i-th in round.
func crashNumber(round, i int) string { return fmt.Sprintf("%d%06d", round+1, i) }

// crashOpenNumber is the conference the child joins and never leaves.
func crashOpenNumber(round int) string { return fmt.Sprintf("99%d", round) }

// TestHelperProcess is the child of TestCrashDurability.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashPathEnv)
	if path == "" {
		t.Skip("helper for TestCrashDurability; runs only as its child process")
	}
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	round, err := strconv.Atoi(os.Getenv(crashRoundEnv))
	if err != nil {
		fail(err)
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		fail(err)
	}
	c, err := s.CreateConference(ctx, NewConference(crashOpenNumber(round)))
	if err != nil {
		fail(err)
	}
	if _, err := s.StartCallRecord(ctx, CallRecord{ConferenceID: c.ID, CallID: "crash", JoinedAt: time.Now()}); err != nil {
		fail(err)
	}
	// os.Stdout is unbuffered: once Println returns, the line is in the
	// pipe and the parent reads it even after the kill.
	fmt.Println(crashReady)
	// Stop on our own should the parent be gone without killing us.
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		n := crashNumber(round, i)
		if _, err := s.CreateConference(ctx, NewConference(n)); err != nil {
			fail(err)
		}
		fmt.Println(n)
		if i%10 == 0 {
			if err := s.SetSetting(ctx, "crash.last", n); err != nil {
				fail(err)
			}
		}
	}
	os.Exit(3)
}

// crashChild is one run of the helper.
type crashChild struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer

	mu    sync.Mutex
	lines []string
	seen  chan struct{} // signalled on every line
	eof   chan struct{} // closed when stdout ends
}

func startCrashChild(t *testing.T, path string, round int) *crashChild {
	t.Helper()
	c := &crashChild{seen: make(chan struct{}, 1), eof: make(chan struct{})}
	c.cmd = exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	c.cmd.Env = append(os.Environ(), crashPathEnv+"="+path, crashRoundEnv+"="+strconv.Itoa(round))
	c.cmd.Stderr = &c.stderr
	out, err := c.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(c.eof)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			c.mu.Lock()
			c.lines = append(c.lines, sc.Text())
			c.mu.Unlock()
			select {
			case c.seen <- struct{}{}:
			default:
			}
		}
	}()
	return c
}

// waitFor waits until the child has printed n lines, or fails the test.
func (c *crashChild) waitFor(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(2 * time.Minute)
	for {
		c.mu.Lock()
		got := len(c.lines)
		c.mu.Unlock()
		if got >= n {
			return
		}
		select {
		case <-c.seen:
		case <-c.eof:
			c.cmd.Wait()
			t.Fatalf("child ended after %d lines: %s", got, c.stderr.String())
		case <-timeout:
			t.Fatalf("child printed %d lines in 2 minutes: %s", got, c.stderr.String())
		}
	}
}

// kill sends SIGKILL, reads the rest of stdout and returns every line.
func (c *crashChild) kill(t *testing.T) []string {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-c.eof
	err := c.cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("child wait: %v", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended by %v, not by SIGKILL: %s", err, c.stderr.String())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines
}

func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("kills child processes; skipped with -short")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "confab.db")
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill times drawn with seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var committed []string // every number any child reported

	for round := range 5 {
		t.Run(fmt.Sprintf("round %d keeps every commit the killed writer reported", round), func(t *testing.T) {
			child := startCrashChild(t, path, round)
			child.waitFor(t, 1) // ready: it is in its write loop
			// Kill at a random moment: most of the loop is spent inside a
			// transaction or its fsync.
			time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
			lines := child.kill(t)
			if lines[0] != crashReady {
				t.Fatalf("first line %q, want %q", lines[0], crashReady)
			}
			reported := lines[1:]
			for i, n := range reported {
				if n != crashNumber(round, i) {
					t.Fatalf("line %d is %q, want %q", i+1, n, crashNumber(round, i))
				}
			}
			committed = append(committed, reported...)
			t.Logf("child reported %d commits before SIGKILL", len(reported))

			s, err := Open(ctx, path)
			if err != nil {
				t.Fatalf("reopen after SIGKILL: %v", err)
			}
			defer s.Close()
			integrityCheck(t, s)
			for _, n := range committed {
				if _, err := s.ConferenceByNumber(ctx, n); err != nil {
					t.Fatalf("reported commit %s lost: %v", n, err)
				}
			}
			// The child may have committed one more than it could report,
			// but nothing it never wrote.
			if _, err := s.ConferenceByNumber(ctx, crashNumber(round, len(reported)+1)); !errors.Is(err, ErrNotFound) {
				t.Fatalf("conference %s exists, but the child cannot have written it", crashNumber(round, len(reported)+1))
			}
			rs, err := s.ListCallRecords(ctx, 0, 0)
			wantErr(t, err, nil, "")
			if len(rs) != round+1 {
				t.Fatalf("%d call records, want one per round (%d)", len(rs), round+1)
			}
			for _, r := range rs {
				if r.LeftAt.IsZero() || r.Reason != ReasonDaemonRestart {
					t.Fatalf("call record %d still open or closed wrongly: %+v", r.ID, r)
				}
			}
		})
		if t.Failed() {
			return
		}
	}
}
