package build

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"confab/image/boot"
	"confab/image/gpt"
)

func TestLayout(t *testing.T) {
	tab := Layout("1.0")
	t.Run("the table fits the image and its partitions do not overlap", func(t *testing.T) {
		if err := tab.Validate(DiskSize / gpt.SectorSize); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the partitions carry the names the init looks for", func(t *testing.T) {
		for n, name := range []string{boot.LabelESP, boot.SlotLabel("a"), boot.SlotLabel("b")} {
			if tab.Find(name) != n+1 {
				t.Fatalf("%s is partition %d, want %d", name, tab.Find(name), n+1)
			}
		}
	})
	t.Run("the slots are the same size and the image stays under 200 MB", func(t *testing.T) {
		if tab.Partitions[1].Size() != SlotSize || tab.Partitions[2].Size() != SlotSize || DiskSize >= 200e6 {
			t.Fatalf("slots %d and %d bytes, disk %d", tab.Partitions[1].Size(), tab.Partitions[2].Size(), DiskSize)
		}
	})
	t.Run("the same version gives the same GUIDs", func(t *testing.T) {
		if Layout("1.0").Disk != tab.Disk || Layout("1.1").Disk == tab.Disk {
			t.Fatal("disk GUIDs are not derived from the version")
		}
	})
}

func TestCheckStatic(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc (Debian package gcc)")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.c")
	if err := os.WriteFile(src, []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	build := func(name string, args ...string) string {
		out := filepath.Join(dir, name)
		if b, err := exec.Command("gcc", append(args, "-o", out, src)...).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, b)
		}
		return out
	}
	t.Run("a dynamically linked binary is refused", func(t *testing.T) {
		if err := checkStatic(build("dynamic")); !errors.Is(err, ErrNotStatic) {
			t.Fatalf("checkStatic = %v", err)
		}
	})
	t.Run("a static binary is taken", func(t *testing.T) {
		if err := checkStatic(build("static", "-static")); err != nil {
			t.Fatal(err)
		}
	})
}

func TestCopyWithLibs(t *testing.T) {
	if _, err := os.Stat("/usr/sbin/mke2fs"); err != nil {
		t.Skip("needs mke2fs (Debian package e2fsprogs)")
	}
	stage := t.TempDir()
	if err := copyWithLibs("/usr/sbin/mke2fs", "e2fsprogs", stage); err != nil {
		t.Fatal(err)
	}
	t.Run("the program comes with its libraries and the dynamic loader", func(t *testing.T) {
		for _, f := range []string{"usr/sbin/mke2fs", "lib/x86_64-linux-gnu/libext2fs.so.2", "lib/x86_64-linux-gnu/libc.so.6",
			"lib64/ld-linux-x86-64.so.2"} {
			if _, err := os.Stat(filepath.Join(stage, f)); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	})
	t.Run("a missing program names its Debian package", func(t *testing.T) {
		if err := copyWithLibs("/usr/sbin/no-such-tool", "no-such-package", stage); !errors.Is(err, ErrTool) {
			t.Fatalf("copyWithLibs = %v", err)
		}
	})
}

func TestKernelPackageNames(t *testing.T) {
	tests := []struct {
		desc, name string
		ok         bool
	}{
		{"a versioned kernel image package is taken", "linux-image-6.1.0-56-amd64", true},
		{"a flavoured kernel image package is taken", "linux-image-6.1.0-56-cloud-amd64", true},
		{"the metapackage is refused", "linux-image-amd64", false},
		{"another architecture's kernel is refused", "linux-image-6.1.0-56-arm64", false},
		{"a package that is no kernel is refused", "bash", false},
	}
	for _, tt := range tests {
		t.Run(tt.desc, func(t *testing.T) {
			if got := kernelPkgRE.MatchString(tt.name); got != tt.ok {
				t.Fatalf("%s accepted = %v, want %v", tt.name, got, tt.ok)
			}
		})
	}
}
