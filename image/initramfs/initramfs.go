// Package initramfs writes the appliance's initial RAM file system: a cpio
// archive in the "newc" format (the kernel's
// Documentation/driver-api/early-userspace/buffer-format.rst), which the
// kernel unpacks into its rootfs before it runs /init.
//
// Entries carry fixed owners (root) and a fixed modification time, so the
// same inputs give the same bytes.
package initramfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// ErrClosed means an entry was added after Close.
var ErrClosed = errors.New("initramfs: archive closed")

// ErrBadName means a name is absolute, empty, or leaves the archive.
var ErrBadName = errors.New("initramfs: bad entry name")

// Writer writes a newc cpio archive.
type Writer struct {
	w      io.Writer
	n      int64 // bytes written, for padding
	ino    uint32
	dirs   map[string]bool
	mtime  uint32
	closed bool
}

// NewWriter writes an archive to w; every entry gets mtime (seconds since
// the epoch) as its modification time.
func NewWriter(w io.Writer, mtime uint32) *Writer {
	return &Writer{w: w, ino: 1, dirs: map[string]bool{".": true}, mtime: mtime}
}

// Mode bits of newc's c_mode (from <sys/stat.h>).
const (
	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// Dir adds a directory (and its missing parents).
func (w *Writer) Dir(name string, perm fs.FileMode) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	return w.dir(name, perm)
}

func (w *Writer) dir(name string, perm fs.FileMode) error {
	if w.dirs[name] {
		return nil
	}
	if err := w.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	w.dirs[name] = true
	return w.entry(name, modeDir|uint32(perm.Perm()), nil)
}

// File adds a regular file with its parents.
func (w *Writer) File(name string, perm fs.FileMode, data []byte) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if err := w.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	return w.entry(name, modeRegular|uint32(perm.Perm()), data)
}

// Symlink adds a symbolic link name pointing at target.
func (w *Writer) Symlink(name, target string) error {
	name, err := clean(name)
	if err != nil {
		return err
	}
	if err := w.dir(path.Dir(name), 0o755); err != nil {
		return err
	}
	return w.entry(name, modeSymlink|0o777, []byte(target))
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.closed {
		return ErrClosed
	}
	err := w.entry("TRAILER!!!", 0, nil)
	w.closed = true
	return err
}

func clean(name string) (string, error) {
	c := path.Clean(strings.TrimPrefix(name, "./"))
	if name == "" || path.IsAbs(c) || c == "." || c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return c, nil
}

// entry writes one header, the name and the data, each padded to 4 bytes.
func (w *Writer) entry(name string, mode uint32, data []byte) error {
	if w.closed {
		return ErrClosed
	}
	ino := w.ino
	w.ino++
	nlink := 1
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	// newc: magic 070701, then 13 eight-digit hex fields.
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		ino, mode, 0, 0, nlink, w.mtime, len(data), 0, 0, 0, 0, len(name)+1, 0)
	if err := w.write([]byte(hdr + name + "\x00")); err != nil {
		return err
	}
	if err := w.pad(); err != nil {
		return err
	}
	if err := w.write(data); err != nil {
		return err
	}
	return w.pad()
}

func (w *Writer) write(b []byte) error {
	n, err := w.w.Write(b)
	w.n += int64(n)
	if err != nil {
		return fmt.Errorf("initramfs: %w", err)
	}
	return nil
}

func (w *Writer) pad() error {
	if r := w.n % 4; r != 0 {
		return w.write(make([]byte, 4-r))
	}
	return nil
}
