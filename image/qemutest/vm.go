// Package qemutest boots the appliance's disk image under qemu for the
// image's integration test (image_test.go): UEFI firmware from Debian's
// ovmf package, the disk on virtio, a virtio NIC on qemu's user-mode
// network with port forwards from the host's loopback address, and the
// i6300esb watchdog, whose expiry resets the machine. It uses KVM when
// KVM can run the firmware, TCG otherwise, and keeps the serial console
// line by line for assertions.
//
// Needs qemu-system-x86 and ovmf (Debian packages).
package qemutest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// OVMF is Debian's UEFI firmware for qemu.
const OVMF = "/usr/share/ovmf/OVMF.fd"

// ErrExited means the machine stopped while a line was awaited.
var ErrExited = errors.New("qemutest: qemu exited")

// Forward forwards a port of the host's 127.0.0.1 to the guest.
type Forward struct {
	Proto       string // "tcp" or "udp"
	Host, Guest int
}

// Config describes one machine.
type Config struct {
	Disk     string
	Accel    string // "kvm" or "tcg"
	Memory   int    // MiB
	CPUs     int
	Forwards []Forward
	// Console receives a copy of the console (e.g. a log file).
	Console io.Writer
}

// Line is one console line and when it came, from the start of qemu.
type Line struct {
	At   time.Duration
	Text string
}

// VM is a running qemu.
type VM struct {
	cmd     *exec.Cmd
	started time.Time

	mu      sync.Mutex
	lines   []Line
	cursor  int
	changed chan struct{}
	exited  bool
	done    chan struct{}
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?=]*[a-zA-Z]|\x1b[()][A-Z0-9]|\x1bc`)

// Args are qemu's arguments for cfg.
func Args(cfg Config) []string {
	var fwd []string
	for _, f := range cfg.Forwards {
		fwd = append(fwd, fmt.Sprintf("hostfwd=%s:127.0.0.1:%d-:%d", f.Proto, f.Host, f.Guest))
	}
	netdev := "user,id=net0"
	if len(fwd) > 0 {
		netdev += "," + strings.Join(fwd, ",")
	}
	cpu := "max"
	if cfg.Accel == "kvm" {
		cpu = "host"
	}
	return []string{
		"-machine", "q35,accel=" + cfg.Accel, "-cpu", cpu,
		"-m", fmt.Sprint(cfg.Memory), "-smp", fmt.Sprint(cfg.CPUs),
		"-display", "none", "-no-user-config", "-nodefaults", "-serial", "stdio",
		"-bios", OVMF,
		"-drive", "file=" + cfg.Disk + ",format=raw,if=virtio,cache=writeback",
		"-netdev", netdev, "-device", "virtio-net-pci,netdev=net0",
		"-device", "i6300esb", "-action", "watchdog=reset",
	}
}

// Start boots a machine.
func Start(cfg Config) (*VM, error) {
	if cfg.Memory == 0 {
		cfg.Memory = 1024
	}
	if cfg.CPUs == 0 {
		cfg.CPUs = 2
	}
	cmd := exec.Command("qemu-system-x86_64", Args(cfg)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	vm := &VM{cmd: cmd, changed: make(chan struct{}), done: make(chan struct{})}
	vm.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("qemutest: %w", err)
	}
	go vm.read(out, cfg.Console)
	return vm, nil
}

func (vm *VM) read(r io.Reader, copyTo io.Writer) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	sc.Split(scanLines)
	for sc.Scan() {
		text := strings.TrimSpace(ansi.ReplaceAllString(strings.ReplaceAll(sc.Text(), "\r", ""), ""))
		if text == "" {
			continue
		}
		l := Line{At: time.Since(vm.started), Text: text}
		if copyTo != nil {
			fmt.Fprintf(copyTo, "%7.2f %s\n", l.At.Seconds(), text)
		}
		vm.mu.Lock()
		vm.lines = append(vm.lines, l)
		close(vm.changed)
		vm.changed = make(chan struct{})
		vm.mu.Unlock()
	}
	_ = vm.cmd.Wait()
	vm.mu.Lock()
	vm.exited = true
	close(vm.changed)
	vm.changed = make(chan struct{})
	vm.mu.Unlock()
	close(vm.done)
}

// scanLines splits on \n and on \r, since firmware redraws lines with \r.
func scanLines(data []byte, atEOF bool) (int, []byte, error) {
	for i, b := range data {
		if b == '\n' {
			return i + 1, data[:i], nil
		}
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// Expect waits for a console line after the cursor that matches re,
// moves the cursor past it and returns it with its submatches.
func (vm *VM) Expect(ctx context.Context, re *regexp.Regexp) (Line, []string, error) {
	return vm.ExpectFrom(ctx, -1, re)
}

// ExpectFrom is Expect searching from line index from (a Mark) rather than
// from the cursor, for lines whose order with others is not fixed; the
// cursor moves only forward.
func (vm *VM) ExpectFrom(ctx context.Context, from int, re *regexp.Regexp) (Line, []string, error) {
	for {
		vm.mu.Lock()
		start := vm.cursor
		if from >= 0 {
			start = from
		}
		for i := start; i < len(vm.lines); i++ {
			if m := re.FindStringSubmatch(vm.lines[i].Text); m != nil {
				vm.cursor = max(vm.cursor, i+1)
				l := vm.lines[i]
				vm.mu.Unlock()
				return l, m, nil
			}
		}
		exited, ch := vm.exited, vm.changed
		vm.mu.Unlock()
		if exited {
			return Line{}, nil, fmt.Errorf("%w waiting for %q", ErrExited, re)
		}
		select {
		case <-ctx.Done():
			return Line{}, nil, fmt.Errorf("qemutest: no console line matching %q: %w", re, ctx.Err())
		case <-ch:
		}
	}
}

// Seen reports whether any line since from (an index of Lines) matches re.
func (vm *VM) Seen(from int, re *regexp.Regexp) bool {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	for _, l := range vm.lines[min(from, len(vm.lines)):] {
		if re.MatchString(l.Text) {
			return true
		}
	}
	return false
}

// Mark returns the index of the next console line, for Seen.
func (vm *VM) Mark() int {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	return len(vm.lines)
}

// Tail returns the last n console lines, for failure messages.
func (vm *VM) Tail(n int) string {
	vm.mu.Lock()
	defer vm.mu.Unlock()
	var b strings.Builder
	for _, l := range vm.lines[max(0, len(vm.lines)-n):] {
		fmt.Fprintf(&b, "%7.2f %s\n", l.At.Seconds(), l.Text)
	}
	return b.String()
}

// Kill stops qemu at once, as pulling the power would.
func (vm *VM) Kill() {
	_ = vm.cmd.Process.Signal(syscall.SIGKILL)
	<-vm.done
}

// Started is when qemu was started.
func (vm *VM) Started() time.Time { return vm.started }

// DetectAccel returns "kvm" when KVM can run the UEFI firmware here, else
// "tcg", and why. Some nested hypervisors offer /dev/kvm but fail on the
// firmware's first FPU instruction, so the firmware is tried for real.
func DetectAccel(timeout time.Duration) (accel, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return "tcg", "no usable /dev/kvm: " + err.Error()
	}
	f.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "qemu-system-x86_64", "-machine", "q35,accel=kvm", "-cpu", "host", "-m", "256",
		"-display", "none", "-no-user-config", "-nodefaults", "-serial", "stdio", "-bios", OVMF, "-net", "none")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "tcg", err.Error()
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "tcg", err.Error()
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	sc := bufio.NewScanner(out)
	sc.Split(scanLines)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.Contains(line, "BdsDxe"):
			return "kvm", "KVM runs the UEFI firmware"
		case strings.Contains(line, "KVM internal error"), strings.Contains(line, "failed to set MSR"):
			return "tcg", "KVM cannot run the UEFI firmware here (" + strings.TrimSpace(line) + ")"
		}
	}
	return "tcg", "KVM did not bring the UEFI firmware to its boot manager within " + timeout.String()
}
