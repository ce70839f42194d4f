package build

import (
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"confab/image/rootconf"
)

// hostLibDirs are where Debian's amd64 shared libraries live.
func hostLibDirs() []string {
	return []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64"}
}

// hostPrograms are taken from the build host's Debian, with their shared
// libraries (program path to its Debian package): the init formats the
// data partition with mke2fs on first boot.
func hostPrograms() map[string]string { return map[string]string{"/usr/sbin/mke2fs": "e2fsprogs"} }

// buildRoot stages the root file system and packs it with mksquashfs.
func buildRoot(dst, work string, cfg Config) error {
	if err := need("mksquashfs", "squashfs-tools"); err != nil {
		return err
	}
	stage := filepath.Join(work, "root")
	dirs := []string{"dev", "proc", "sys", "run", "tmp", "perm", "boot", "etc/confab", "usr/bin", "usr/sbin", "var"}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(stage, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(stage, "tmp"), 0o1777); err != nil {
		return err
	}
	if err := copyFile(cfg.Confabd, filepath.Join(stage, "usr/bin/confabd"), 0o755); err != nil {
		return err
	}
	for prog, pkg := range hostPrograms() {
		if err := copyWithLibs(prog, pkg, stage); err != nil {
			return err
		}
	}
	sys, err := cfg.System.Marshal()
	if err != nil {
		return err
	}
	files := map[string]string{
		rootconf.Path:            string(sys),
		"/etc/confab/update.pub": string(cfg.PublicKey),
		"/etc/os-release": fmt.Sprintf("NAME=Confab\nID=confab\nPRETTY_NAME=\"Confab %s\"\nVERSION_ID=%s\nHOME_URL=\"https://confab.invalid/\"\n",
			cfg.Version, cfg.Version),
		"/etc/passwd":        "root:x:0:0:root:/perm:/bin/false\n",
		"/etc/group":         "root:x:0:\n",
		"/etc/hosts":         "127.0.0.1\tlocalhost\n::1\tlocalhost\n",
		"/etc/nsswitch.conf": "hosts: files dns\n",
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(stage, name), []byte(data), 0o644); err != nil {
			return err
		}
	}
	// The root is read-only; the init writes these under /run.
	for link, target := range map[string]string{"/etc/resolv.conf": "/run/resolv.conf", "/etc/hostname": "/run/hostname", "/etc/mtab": "/proc/self/mounts"} {
		if err := os.Symlink(target, filepath.Join(stage, link)); err != nil {
			return err
		}
	}
	_ = os.Remove(dst)
	// -all-root and fixed times make the same inputs give the same bytes.
	cmd := exec.Command("mksquashfs", stage, dst, "-comp", "zstd", "-Xcompression-level", "19", "-b", "256K",
		"-all-root", "-noappend", "-no-xattrs", "-mkfs-time", "0", "-all-time", "0", "-quiet", "-no-progress")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build: mksquashfs: %v\n%s", err, out)
	}
	return nil
}

// copyWithLibs copies an ELF program and every shared library it needs,
// with the dynamic loader, to the same paths under stage.
func copyWithLibs(prog, pkg, stage string) error {
	if _, err := os.Stat(prog); err != nil {
		return fmt.Errorf("%w: %s (Debian package %s)", ErrTool, prog, pkg)
	}
	seen := map[string]bool{}
	var walk func(path string) error
	walk = func(path string) error {
		if seen[path] {
			return nil
		}
		seen[path] = true
		f, err := elf.Open(path)
		if err != nil {
			return fmt.Errorf("build: %s: %w", path, err)
		}
		libs, err := f.ImportedLibraries()
		interp := ""
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				b := make([]byte, p.Filesz)
				if _, err := p.ReadAt(b, 0); err == nil {
					interp = strings.TrimRight(string(b), "\x00")
				}
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("build: %s: %w", path, err)
		}
		if err := copyFile(path, filepath.Join(stage, path), 0o755); err != nil {
			return err
		}
		if interp != "" {
			if err := walk(interp); err != nil {
				return err
			}
		}
		for _, lib := range libs {
			found := ""
			for _, d := range hostLibDirs() {
				if _, err := os.Stat(filepath.Join(d, lib)); err == nil {
					found = filepath.Join(d, lib)
					break
				}
			}
			if found == "" {
				return fmt.Errorf("build: %s needs %s, which is not in %v", path, lib, hostLibDirs())
			}
			if err := walk(found); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(prog)
}

// checkStatic refuses a binary that needs a dynamic loader: the image's
// root has libraries only for the host programs above.
func checkStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("build: %s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%w: %s", ErrNotStatic, path)
		}
	}
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("build: %s is for %v, not x86-64", path, f.Machine)
	}
	return nil
}
