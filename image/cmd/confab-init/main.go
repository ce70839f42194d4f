// Command confab-init is the appliance's init: PID 1, from the initramfs.
//
// Early (early.go) it mounts /dev, /proc and /sys, loads the kernel modules
// the build put in the initramfs, finds the disk by its GPT partition names
// and switches to the read-only squashfs root of the slot it was booted as
// (confab.slot= on the kernel command line). Then (system.go) it mounts the
// EFI system partition at /boot and the data partition at /perm — making
// the data partition on first boot (disk.go) — brings the network up
// (package netconf), runs and supervises confabd (package supervise),
// feeds the hardware watchdog while confabd is healthy (package watchdog),
// commits a freshly updated slot once confabd is healthy or reboots into
// the old one (commit.go), and serves the local control API (package
// control) for the web page's System section.
//
// PID 1 must never exit: a fatal error is printed on the console and the
// box reboots after a pause, which after a failed update also returns to
// the previous slot.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// version is set by the image builder (-X main.version=...).
var version = "dev"

func main() {
	if os.Getpid() != 1 {
		fmt.Fprintf(os.Stderr, "confab-init %s: the appliance's init; it runs only as PID 1 inside the image\n", version)
		os.Exit(2)
	}
	start := time.Now()
	if err := early(); err != nil {
		fatal(err)
	}
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && len(groups) == 0 {
				return slog.Attr{} // the console has no clock worth showing before NTP
			}
			return a
		},
	})).With("component", "init")
	if err := runSystem(log, start); err != nil {
		fatal(err)
	}
	select {} // runSystem returns only on error
}

// fatal reports err on the console and reboots after a pause.
func fatal(err error) {
	fmt.Fprintf(os.Stdout, "\nconfab-init: FATAL: %v\nconfab-init: rebooting in 10 seconds\n", err)
	time.Sleep(10 * time.Second)
	reboot()
}

// reboot flushes the disks and restarts the machine.
func reboot() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	select {}
}

// cmdline reads key=value parameters from /proc/cmdline.
func cmdline() map[string]string {
	b, _ := os.ReadFile("/proc/cmdline")
	params := map[string]string{}
	for _, f := range strings.Fields(string(b)) {
		k, v, _ := strings.Cut(f, "=")
		params[k] = v
	}
	return params
}
