package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"confab/image/boot"
	"confab/image/gpt"
	"confab/image/supervise"
)

// minPerm is the smallest data partition worth making.
const minPerm = 64 << 20

// partition is a block device partition found in sysfs.
type partition struct {
	Name   string // vda2
	Disk   string // vda
	Number int
	Label  string // GPT partition name
}

func (p partition) node() string { return "/dev/" + p.Name }

// partitions lists the partitions the kernel knows, from /sys/class/block.
func partitions() []partition {
	var out []partition
	dirs, _ := filepath.Glob("/sys/class/block/*")
	for _, d := range dirs {
		ue, err := os.ReadFile(filepath.Join(d, "uevent"))
		if err != nil {
			continue
		}
		p := partition{Name: filepath.Base(d)}
		for _, l := range strings.Split(string(ue), "\n") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "PARTNAME":
				p.Label = v
			case "PARTN":
				p.Number, _ = strconv.Atoi(v)
			}
		}
		if p.Number == 0 {
			continue
		}
		// /sys/class/block/vda2 links to .../block/vda/vda2.
		if real, err := filepath.EvalSymlinks(d); err == nil {
			p.Disk = filepath.Base(filepath.Dir(real))
		}
		out = append(out, p)
	}
	return out
}

// findPartition returns the partition named label on the disk that holds
// the ESP (the first such disk if several do).
func findPartition(label string) (partition, bool) {
	parts := partitions()
	disk := ""
	for _, p := range parts {
		if p.Label == boot.LabelESP && (disk == "" || p.Disk < disk) {
			disk = p.Disk
		}
	}
	for _, p := range parts {
		if p.Label == label && p.Disk == disk {
			return p, true
		}
	}
	return partition{}, false
}

// waitPartition waits for the disk driver to show the partition.
func waitPartition(label string, timeout time.Duration) (partition, error) {
	deadline := time.Now().Add(timeout)
	for {
		if p, ok := findPartition(label); ok {
			if _, err := os.Stat(p.node()); err == nil {
				return p, nil
			}
		}
		if time.Now().After(deadline) {
			return partition{}, fmt.Errorf("no partition %q on a disk with a %q partition after %v", label, boot.LabelESP, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ensurePerm returns the data partition, making it on first boot in the
// space after the last partition: it adds it to the GPT (moving the backup
// table to the end of the disk, which is bigger than the flashed image),
// tells the kernel, and formats it with mke2fs from the root.
func ensurePerm(reaper *supervise.Reaper, out *os.File) (partition, error) {
	p, ok := findPartition(boot.LabelPerm)
	if !ok {
		esp, ok := findPartition(boot.LabelESP)
		if !ok {
			return partition{}, errors.New("no EFI system partition")
		}
		fmt.Fprintf(out, "confab-init: first boot: making the data partition on %s\n", esp.Disk)
		n, err := addPermPartition(esp.Disk)
		if err != nil {
			return partition{}, err
		}
		// A partition added with BLKPG has no PARTNAME until the next boot
		// reads the table; it is found by number.
		if p, err = waitPartitionNumber(esp.Disk, n, 5*time.Second); err != nil {
			return partition{}, err
		}
	}
	has, err := hasExt4(p.node())
	if err != nil {
		return p, err
	}
	if !has {
		// Only a partition without any ext4 superblock is formatted: a
		// file system that fails to mount is never wiped.
		fmt.Fprintf(out, "confab-init: formatting %s (ext4)\n", p.node())
		cmd := exec.Command("/usr/sbin/mke2fs", "-q", "-F", "-t", "ext4", "-L", boot.LabelPerm, "-m", "1",
			"-E", "lazy_itable_init=1,lazy_journal_init=1", p.node())
		cmd.Stdout, cmd.Stderr = out, out
		if err := reaper.Run(cmd); err != nil {
			return p, fmt.Errorf("mke2fs %s: %w", p.node(), err)
		}
	}
	return p, nil
}

// waitPartitionNumber waits for partition n of disk to appear.
func waitPartitionNumber(disk string, n int, timeout time.Duration) (partition, error) {
	deadline := time.Now().Add(timeout)
	for {
		for _, p := range partitions() {
			if p.Disk == disk && p.Number == n {
				if _, err := os.Stat(p.node()); err == nil {
					return p, nil
				}
			}
		}
		if time.Now().After(deadline) {
			return partition{}, fmt.Errorf("partition %d of %s did not appear after %v", n, disk, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addPermPartition adds the data partition to disk's table and to the
// running kernel, and returns its number.
func addPermPartition(disk string) (int, error) {
	if lbs, _ := os.ReadFile("/sys/class/block/" + disk + "/queue/logical_block_size"); strings.TrimSpace(string(lbs)) != "512" {
		return 0, fmt.Errorf("disk %s has %s-byte sectors; the image supports 512", disk, strings.TrimSpace(string(lbs)))
	}
	f, err := os.OpenFile("/dev/"+disk, os.O_RDWR, 0)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	end64, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, fmt.Errorf("size of %s: %w", disk, err)
	}
	size := uint64(end64)
	sectors := size / gpt.SectorSize
	t, err := gpt.Read(f, sectors)
	if err != nil {
		return 0, err
	}
	var end uint64
	for _, p := range t.Partitions {
		end = max(end, p.Last)
	}
	const align = (1 << 20) / gpt.SectorSize
	first := (end/align + 1) * align
	last := gpt.LastUsable(sectors)
	if last < first || (last-first+1)*gpt.SectorSize < minPerm {
		return 0, fmt.Errorf("disk %s (%d MiB) has no room for a data partition of %d MiB after the image",
			disk, size>>20, minPerm>>20)
	}
	var id gpt.GUID
	_, _ = rand.Read(id[:])
	id[7] = id[7]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	t.Partitions = append(t.Partitions, gpt.Partition{Type: gpt.TypeLinuxData, ID: id, First: first, Last: last, Name: boot.LabelPerm})
	if err := gpt.Write(f, sectors, t); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	// The other partitions are in use, so the kernel cannot reread the
	// whole table; BLKPG adds the one partition.
	part := unix.BlkpgPartition{Start: int64(first * gpt.SectorSize), Length: int64((last - first + 1) * gpt.SectorSize),
		Pno: int32(len(t.Partitions))}
	arg := unix.BlkpgIoctlArg{Op: unix.BLKPG_ADD_PARTITION, Datalen: int32(unsafe.Sizeof(part)), Data: (*byte)(unsafe.Pointer(&part))}
	if _, _, errno := unix.Syscall(unix.SYS_IOCTL, f.Fd(), unix.BLKPG, uintptr(unsafe.Pointer(&arg))); errno != 0 {
		return 0, fmt.Errorf("add partition %d to %s: %w", part.Pno, disk, errno)
	}
	return int(part.Pno), nil
}

// hasExt4 reports whether the device holds an ext2/3/4 superblock (magic
// 0xEF53 at byte 1080).
func hasExt4(dev string) (bool, error) {
	f, err := os.Open(dev)
	if err != nil {
		return false, err
	}
	defer f.Close()
	b := make([]byte, 2)
	if _, err := f.ReadAt(b, 1080); err != nil {
		return false, err
	}
	return bytes.Equal(b, []byte{0x53, 0xEF}), nil
}
