package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"confab/image/boot"
	"confab/image/kmod"
)

// early mounts the kernel's file systems, loads modules and switches to the
// slot's root.
func early() error {
	mounts := []struct{ src, dst, fstype, data string }{
		{"devtmpfs", "/dev", "devtmpfs", "mode=0755"},
		{"proc", "/proc", "proc", ""},
		{"sysfs", "/sys", "sysfs", ""},
	}
	for _, m := range mounts {
		if err := os.MkdirAll(m.dst, 0o755); err != nil {
			return err
		}
		if err := unix.Mount(m.src, m.dst, m.fstype, unix.MS_NOSUID, m.data); err != nil && !errors.Is(err, unix.EBUSY) {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	// The kernel could not open /dev/console for us before /dev existed.
	if c, err := os.OpenFile("/dev/console", os.O_RDWR, 0); err == nil {
		for fd := 0; fd < 3; fd++ {
			_ = unix.Dup2(int(c.Fd()), fd)
		}
		c.Close()
	}
	params := cmdline()
	slot := params["confab.slot"]
	if slot != "a" && slot != "b" {
		return fmt.Errorf("the kernel command line names no slot (confab.slot=a or b): %q", params["confab.slot"])
	}
	fmt.Printf("confab-init %s: booting slot %s (%s)\n", version, slot, params["confab.version"])
	if err := loadModules(kmod.ListFile); err != nil {
		return err
	}
	dev, err := waitPartition(boot.SlotLabel(slot), 10*time.Second)
	if err != nil {
		return err
	}
	if err := unix.Mount(dev.node(), "/newroot", "squashfs", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mount slot %s (%s): %w", slot, dev.node(), err)
	}
	return switchRoot("/newroot")
}

// loadModules loads the modules listed in path, in order. A driver without
// its hardware is normal; other failures are printed, not fatal: the disk
// and the network tell soon enough if something they need is missing.
func loadModules(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("module list: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" {
			continue
		}
		if err := kmod.Load(p, ""); err != nil && !errors.Is(err, kmod.ErrNoDevice) {
			fmt.Printf("confab-init: %v\n", err)
		}
	}
	return sc.Err()
}

// switchRoot makes dir the root: the mounts of /dev, /proc and /sys move
// along, then dir is moved onto / and chrooted into, as switch_root(8)
// does. The initramfs's files stay in memory; they are a few megabytes.
func switchRoot(dir string) error {
	for _, m := range []string{"/dev", "/proc", "/sys"} {
		if err := unix.Mount(m, filepath.Join(dir, m), "", unix.MS_MOVE, ""); err != nil {
			return fmt.Errorf("move %s: %w", m, err)
		}
	}
	if err := unix.Chdir(dir); err != nil {
		return err
	}
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("move root: %w", err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot: %w", err)
	}
	return unix.Chdir("/")
}
