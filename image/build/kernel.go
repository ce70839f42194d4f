package build

import (
	"bufio"
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// kernel is an extracted Debian kernel package.
type kernel struct {
	Package    string
	Release    string // e.g. 6.1.0-56-amd64
	Vmlinuz    string
	ModulesDir string // lib/modules/<release>
}

var kernelPkgRE = regexp.MustCompile(`^linux-image-[0-9][0-9a-z.+-]*-amd64$`)

// fetchKernel downloads (once, into cache) and extracts the kernel package.
// With pkg empty it takes the package linux-image-amd64 depends on.
func fetchKernel(cache, pkg string, log *slog.Logger) (kernel, error) {
	if pkg == "" {
		var err error
		if pkg, err = currentKernelPackage(); err != nil {
			return kernel{}, err
		}
	}
	if !kernelPkgRE.MatchString(pkg) {
		return kernel{}, fmt.Errorf("build: %q is not a Debian amd64 kernel image package", pkg)
	}
	k := kernel{Package: pkg, Release: strings.TrimPrefix(pkg, "linux-image-")}
	dir := filepath.Join(cache, pkg)
	k.Vmlinuz = filepath.Join(dir, "boot", "vmlinuz-"+k.Release)
	k.ModulesDir = filepath.Join(dir, "lib", "modules", k.Release)
	if _, err := os.Stat(filepath.Join(dir, ".extracted")); err == nil {
		return k, nil
	}
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return k, err
	}
	debs, _ := filepath.Glob(filepath.Join(cache, pkg+"_*_amd64.deb"))
	if len(debs) == 0 {
		if err := need("apt-get", "apt"); err != nil {
			return k, err
		}
		log.Info("downloading the kernel package", "package", pkg)
		cmd := exec.Command("apt-get", "download", "-q", pkg)
		cmd.Dir = cache
		if out, err := cmd.CombinedOutput(); err != nil {
			return k, fmt.Errorf("build: apt-get download %s: %v\n%s", pkg, err, out)
		}
		if debs, _ = filepath.Glob(filepath.Join(cache, pkg+"_*_amd64.deb")); len(debs) == 0 {
			return k, fmt.Errorf("build: apt-get download %s left no .deb in %s", pkg, cache)
		}
	}
	if err := need("dpkg-deb", "dpkg"); err != nil {
		return k, err
	}
	if err := os.RemoveAll(dir); err != nil {
		return k, err
	}
	if out, err := exec.Command("dpkg-deb", "-x", debs[len(debs)-1], dir).CombinedOutput(); err != nil {
		return k, fmt.Errorf("build: dpkg-deb -x %s: %v\n%s", debs[0], err, out)
	}
	if _, err := os.Stat(k.Vmlinuz); err != nil {
		return k, fmt.Errorf("build: %s has no kernel: %w", pkg, err)
	}
	return k, os.WriteFile(filepath.Join(dir, ".extracted"), nil, 0o644)
}

// currentKernelPackage asks apt which package linux-image-amd64 (Debian's
// "the current kernel" metapackage) depends on.
func currentKernelPackage() (string, error) {
	if err := need("apt-cache", "apt"); err != nil {
		return "", err
	}
	out, err := exec.Command("apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("build: apt-cache depends linux-image-amd64: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if dep, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "Depends: "); ok && kernelPkgRE.MatchString(dep) {
			return dep, nil
		}
	}
	return "", fmt.Errorf("build: linux-image-amd64 depends on no kernel image package (apt-get update?)")
}

// need checks that a program is on PATH.
func need(prog, pkg string) error {
	if _, err := exec.LookPath(prog); err != nil {
		return fmt.Errorf("%w: %s (Debian package %s)", ErrTool, prog, pkg)
	}
	return nil
}
