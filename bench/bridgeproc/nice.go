package bridgeproc

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Renice sets the nice value (setpriority(2)) of every thread of process
// pid. Linux keeps the value per thread, and a new thread takes its
// creator's, so changing all present threads changes the process for good.
// A negative value needs root (CAP_SYS_NICE).
func Renice(pid, nice int) error {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return fmt.Errorf("bridgeproc: renice %d: %w", pid, err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
			return fmt.Errorf("bridgeproc: renice thread %d of %d to %d: %w", tid, pid, nice, err)
		}
	}
	return nil
}

// WithNice runs the daemon at this nice value (-20 to 19), set on all its
// threads once it is ready: on a shared machine a benchmark at a negative
// value is measured against less of the other work.
func WithNice(nice int) Option { return func(c *config) { c.nice = &nice } }
