// Package procstat reads what Linux's /proc says about a process's CPU time
// and memory, and about the machine's CPU as a whole, so that the load
// generator can report a bridge's cost without instrumenting the bridge:
// any process's PID will do.
//
// CPU times in /proc are in USER_HZ ticks, which Linux fixes at 100 per
// second on every architecture it exports to user space (proc(5),
// sysconf(_SC_CLK_TCK)); so their resolution is 10 ms, fine over windows of
// seconds. Linux only.
package procstat

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// userHZ is the tick of /proc CPU times (proc(5)).
const userHZ = 100

// ErrFormat means a /proc file did not read as proc(5) describes it.
var ErrFormat = errors.New("procstat: unexpected /proc format")

// Process is one reading of a process.
type Process struct {
	User, System time.Duration // CPU time of all its threads so far
	RSS          int64         // resident set size, bytes
	PeakRSS      int64         // the largest RSS so far (VmHWM), bytes
	Threads      int
}

// CPU is User plus System.
func (p Process) CPU() time.Duration { return p.User + p.System }

// Reader reads /proc; Root is its mount point ("/proc" unless a test
// points it elsewhere).
type Reader struct {
	Root string
}

// New returns a Reader of /proc.
func New() Reader { return Reader{Root: "/proc"} }

// Process reads /proc/PID/stat and /proc/PID/status.
func (r Reader) Process(pid int) (Process, error) {
	var p Process
	dir := filepath.Join(r.Root, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return p, fmt.Errorf("procstat: %w", err)
	}
	// The command name, field 2, is in parentheses and may hold blanks and
	// parentheses itself: the fields after it start after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 > len(b) {
		return p, fmt.Errorf("%w: %s/stat", ErrFormat, dir)
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 18 { // fields 3.. ; utime is field 14, stime 15, num_threads 20
		return p, fmt.Errorf("%w: %s/stat has %d fields", ErrFormat, dir, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	th, err3 := strconv.Atoi(f[17])
	if err := errors.Join(err1, err2, err3); err != nil {
		return p, fmt.Errorf("%w: %s/stat: %v", ErrFormat, dir, err)
	}
	p.User, p.System, p.Threads = ticks(ut), ticks(st), th
	status, err := os.Open(filepath.Join(dir, "status"))
	if err != nil {
		return p, fmt.Errorf("procstat: %w", err)
	}
	defer status.Close()
	sc := bufio.NewScanner(status)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmRSS":
			p.RSS = kib(v)
		case "VmHWM":
			p.PeakRSS = kib(v)
		}
	}
	return p, sc.Err()
}

// kib reads a status value such as "  123456 kB" as bytes.
func kib(v string) int64 {
	n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
	return n << 10
}

func ticks(n int64) time.Duration { return time.Duration(n) * time.Second / userHZ }

// Host is one reading of the machine's CPU time, summed over all CPUs.
type Host struct {
	Busy, Idle time.Duration // idle includes iowait
	// Steal is time a virtual machine's CPUs were ready to run but the
	// hypervisor ran something else (proc(5)).
	Steal time.Duration
	// Interrupts is the hardware and software interrupt time within Busy.
	// With IRQ time accounting no process is charged for it; much of it is
	// the network stack's receive work.
	Interrupts time.Duration
	CPUs       int
}

// Host reads the aggregate line and counts the per-CPU lines of /proc/stat.
func (r Reader) Host() (Host, error) {
	var h Host
	b, err := os.ReadFile(filepath.Join(r.Root, "stat"))
	if err != nil {
		return h, fmt.Errorf("procstat: %w", err)
	}
	found := false
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) == 0 || !strings.HasPrefix(f[0], "cpu") {
			continue
		}
		if f[0] != "cpu" {
			h.CPUs++
			continue
		}
		if len(f) < 6 {
			return h, fmt.Errorf("%w: /proc/stat cpu line", ErrFormat)
		}
		found = true
		// user nice system idle iowait irq softirq steal (guest time is
		// already inside user and nice).
		for i, v := range f[1:min(len(f), 9)] {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return h, fmt.Errorf("%w: /proc/stat: %v", ErrFormat, err)
			}
			switch i {
			case 3, 4:
				h.Idle += ticks(n)
			case 7:
				h.Steal += ticks(n)
			case 5, 6:
				h.Interrupts += ticks(n)
				h.Busy += ticks(n)
			default:
				h.Busy += ticks(n)
			}
		}
	}
	if !found {
		return h, fmt.Errorf("%w: /proc/stat has no cpu line", ErrFormat)
	}
	return h, nil
}

// Self is this process's CPU time, from getrusage(2), which is exact
// rather than in ticks.
func Self() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// Share is the CPU a process used between two readings as a percentage of
// one core (100 = one core busy all the time).
func Share(cpu, wall time.Duration) float64 {
	if wall <= 0 {
		return 0
	}
	return 100 * cpu.Seconds() / wall.Seconds()
}
