package procstat

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestProcess(t *testing.T) {
	t.Run("a stat line whose name holds parentheses and blanks is read", func(t *testing.T) {
		p, err := Reader{Root: "testdata/proc"}.Process(4242)
		if err != nil {
			t.Fatal(err)
		}
		want := Process{User: 2500 * time.Millisecond, System: 750 * time.Millisecond, RSS: 30720 << 10, PeakRSS: 40960 << 10, Threads: 9}
		if p != want {
			t.Errorf("got %+v, want %+v", p, want)
		}
		if p.CPU() != 3250*time.Millisecond {
			t.Errorf("CPU %v", p.CPU())
		}
	})
	t.Run("a process that does not exist is an error", func(t *testing.T) {
		if _, err := (Reader{Root: "testdata/proc"}).Process(1); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("error %v, want not exist", err)
		}
	})
	t.Run("a truncated stat line is a format error", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.MkdirAll(filepath.Join(dir, "7"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "7", "stat"), []byte("7 (x) S 1 2 3\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := (Reader{Root: dir}).Process(7); !errors.Is(err, ErrFormat) {
			t.Errorf("error %v, want ErrFormat", err)
		}
	})
	t.Run("this process's own CPU grows when it works", func(t *testing.T) {
		p0, err := New().Process(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		s0 := Self()
		for deadline := time.Now().Add(150 * time.Millisecond); time.Now().Before(deadline); {
		}
		p1, err := New().Process(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if p1.CPU() <= p0.CPU() || Self()-s0 < 50*time.Millisecond {
			t.Errorf("/proc CPU %v -> %v, rusage grew %v over 150 ms of spinning", p0.CPU(), p1.CPU(), Self()-s0)
		}
		if p1.RSS <= 0 {
			t.Errorf("RSS %d", p1.RSS)
		}
	})
}

func TestHost(t *testing.T) {
	t.Run("busy, idle and stolen time are summed over the CPU classes", func(t *testing.T) {
		h, err := Reader{Root: "testdata/proc"}.Host()
		if err != nil {
			t.Fatal(err)
		}
		// busy: user 1000 + nice 20 + system 300 + irq 10 + softirq 40
		want := Host{Busy: 13700 * time.Millisecond, Idle: 51 * time.Second, Steal: 50 * time.Millisecond,
			Interrupts: 500 * time.Millisecond, CPUs: 2}
		if h != want {
			t.Errorf("got %+v, want %+v", h, want)
		}
	})
}

func TestShare(t *testing.T) {
	tests := []struct {
		name      string
		cpu, wall time.Duration
		want      float64
	}{
		{"half a second of CPU in a second is 50 % of a core", 500 * time.Millisecond, time.Second, 50},
		{"two cores busy for a second are 200 %", 2 * time.Second, time.Second, 200},
		{"no elapsed time is no share", time.Second, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Share(tt.cpu, tt.wall); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}
