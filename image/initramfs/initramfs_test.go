package initramfs

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestWriterIsReadByCpio writes an archive and unpacks it with GNU cpio
// (Debian package cpio), an independent reader of the format.
func TestWriterIsReadByCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("needs cpio (Debian package cpio)")
	}
	var buf bytes.Buffer
	w := NewWriter(&buf, 1700000000)
	steps := []error{
		w.File("init", 0o755, []byte("#!/bin/init\n")),
		w.File("lib/modules/6.1/kernel/fs/ext4.ko", 0o644, []byte("odd-length")),
		w.Dir("dev", 0o755),
		w.Symlink("sbin/init", "/init"),
		w.File("empty", 0o600, nil),
		w.Close(),
	}
	for i, err := range steps {
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	dir := t.TempDir()
	cmd := exec.Command("cpio", "-i", "-d", "--quiet", "--no-absolute-filenames")
	cmd.Dir = dir
	cmd.Stdin = &buf
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio: %v\n%s", err, out)
	}
	files := []struct {
		name string
		data string
		mode os.FileMode
	}{
		{"init", "#!/bin/init\n", 0o755},
		{"lib/modules/6.1/kernel/fs/ext4.ko", "odd-length", 0o644},
		{"empty", "", 0o600},
	}
	for _, f := range files {
		t.Run("the file "+f.name+" comes back with its bytes and mode", func(t *testing.T) {
			p := filepath.Join(dir, f.name)
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(p)
			if string(b) != f.data || st.Mode().Perm() != f.mode {
				t.Fatalf("%s = %q mode %v, want %q mode %v", f.name, b, st.Mode().Perm(), f.data, f.mode)
			}
		})
	}
	t.Run("the symlink comes back pointing at its target", func(t *testing.T) {
		if target, err := os.Readlink(filepath.Join(dir, "sbin/init")); err != nil || target != "/init" {
			t.Fatalf("sbin/init -> %q, %v", target, err)
		}
	})
	t.Run("a directory is made for every parent", func(t *testing.T) {
		for _, d := range []string{"dev", "lib/modules/6.1/kernel/fs", "sbin"} {
			if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
				t.Fatalf("%s: %v", d, err)
			}
		}
	})
}

func TestWriterRefuses(t *testing.T) {
	tests := []struct {
		name string
		add  func(w *Writer) error
		err  error
	}{
		{"an absolute name", func(w *Writer) error { return w.File("/etc/passwd", 0o644, nil) }, ErrBadName},
		{"a name that leaves the archive", func(w *Writer) error { return w.File("../x", 0o644, nil) }, ErrBadName},
		{"an empty name", func(w *Writer) error { return w.Dir("", 0o755) }, ErrBadName},
		{"an entry after Close", func(w *Writer) error { _ = w.Close(); return w.File("x", 0o644, nil) }, ErrClosed},
	}
	for _, tt := range tests {
		t.Run("the writer refuses "+tt.name, func(t *testing.T) {
			if err := tt.add(NewWriter(&bytes.Buffer{}, 0)); !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestWriterIsDeterministic(t *testing.T) {
	build := func() []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf, 42)
		_ = w.File("a/b", 0o644, []byte("x"))
		_ = w.Close()
		return buf.Bytes()
	}
	t.Run("the same entries give the same bytes", func(t *testing.T) {
		if !bytes.Equal(build(), build()) {
			t.Fatal("two archives of the same entries differ")
		}
	})
}
