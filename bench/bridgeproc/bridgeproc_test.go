package bridgeproc

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// build compiles confabd once for the package's tests.
func build(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and starts confabd")
	}
	bin := filepath.Join(t.TempDir(), "confabd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := Build(ctx, "../..", bin); err != nil {
		t.Fatal(err)
	}
	return bin
}

func TestBridge(t *testing.T) {
	bin := build(t)
	t.Run("a started daemon answers SIP, takes conferences through the API and stops on SIGTERM", func(t *testing.T) {
		b, err := Start(t.Context(), bin, t.TempDir(), WithRTPPorts(33000, 33099))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Stop(5 * time.Second)
		if b.PID() <= 0 || !b.SIPAddr().IsValid() {
			t.Fatalf("pid %d, SIP %v", b.PID(), b.SIPAddr())
		}
		// The SIP port is taken by the daemon now, on TCP as on UDP.
		if l, err := net.Listen("tcp", b.SIPAddr().String()); err == nil {
			l.Close()
			t.Errorf("nothing listens on %v", b.SIPAddr())
		}
		if err := b.CreateConference(t.Context(), Conference{Number: "7001", PIN: "1234"}); err != nil {
			t.Fatal(err)
		}
		err = b.CreateConference(t.Context(), Conference{Number: "7001"})
		if !errors.Is(err, ErrAPI) || !strings.Contains(err.Error(), "7001") {
			t.Errorf("a second conference 7001: error %v, want ErrAPI naming it", err)
		}
		if err := b.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		select {
		case <-b.Exited():
		default:
			t.Error("Stop returned but the daemon has not exited")
		}
	})
	t.Run("a daemon that cannot start reports its output", func(t *testing.T) {
		dir := t.TempDir()
		_, err := Start(t.Context(), bin, dir, WithRTPPorts(33001, 33099)) // an odd low port
		if !errors.Is(err, ErrNotReady) || !strings.Contains(strings.ToLower(err.Error()), "port") {
			t.Errorf("error %v, want ErrNotReady with the daemon's complaint", err)
		}
	})
	t.Run("a daemon started nice runs every thread at that value", func(t *testing.T) {
		b, err := Start(t.Context(), bin, t.TempDir(), WithRTPPorts(33100, 33199), WithNice(5))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Stop(5 * time.Second)
		tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(b.PID()), "task"))
		if err != nil {
			t.Fatal(err)
		}
		for _, task := range tasks {
			stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(b.PID()), "task", task.Name(), "stat"))
			if err != nil {
				continue // the thread is gone
			}
			// Field 19 is the nice value; the fields after the name start at 3.
			f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+2:]))
			if f[16] != "5" {
				t.Errorf("thread %s runs at nice %s, want 5", task.Name(), f[16])
			}
		}
	})
	t.Run("a binary that does not exist is an error", func(t *testing.T) {
		if _, err := Start(t.Context(), filepath.Join(t.TempDir(), "nope"), t.TempDir()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v, want not exist", err)
		}
	})
}

func TestParseMetrics(t *testing.T) {
	text := `# HELP confab_mixer_frames_total Conference frames mixed.
# TYPE confab_mixer_frames_total counter
confab_mixer_frames_total 12345
confab_mixer_late_ticks_total 7 1700000000000
confab_mixer_tick_duration_seconds_bucket{le="0.001"} 3
confab_sip_requests_total{method="INVITE"} 9
confab_mixer_broken nonsense
`
	got, err := parseMetrics(strings.NewReader(text), "confab_mixer_")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("unlabelled samples of the prefix are read, timestamps dropped", func(t *testing.T) {
		if got["confab_mixer_frames_total"] != 12345 || got["confab_mixer_late_ticks_total"] != 7 {
			t.Errorf("got %v", got)
		}
	})
	t.Run("labelled samples, other prefixes and unreadable values are left out", func(t *testing.T) {
		if len(got) != 2 {
			t.Errorf("got %v, want two samples", got)
		}
	})
}
