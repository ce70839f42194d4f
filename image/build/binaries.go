package build

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binaries builds the init and confabd as static x86-64 binaries into dir
// and returns their paths. root is the confab module's directory; with rev
// set, confabd is built from that git revision of it (exported with git
// archive) rather than from the working tree, so that an image is made of
// committed code.
//
// confabd uses libopus through cgo; it is linked statically against
// Debian's libopus.a (libopus-dev) and glibc, with the netgo and osusergo
// tags so that nothing asks for NSS modules at run time. The image then
// needs no shared library for it.
func Binaries(root, dir, version, rev string) (initBin, confabd string, err error) {
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return "", "", fmt.Errorf("%w: %s", errNoModule, root)
	}
	confabdRoot := root
	if rev != "" {
		tmp, err := os.MkdirTemp("", "confab-src-")
		if err != nil {
			return "", "", err
		}
		defer os.RemoveAll(tmp)
		if err := exportRev(root, rev, tmp); err != nil {
			return "", "", err
		}
		confabdRoot = tmp
	}
	initBin, confabd = filepath.Join(dir, "confab-init"), filepath.Join(dir, "confabd")
	ldVersion := "-X main.version=" + version
	builds := []struct {
		dir      string
		out, pkg string
		env      []string
		args     []string
	}{
		{root, initBin, "./image/cmd/confab-init", []string{"CGO_ENABLED=0"},
			[]string{"-trimpath", "-ldflags", "-s -w " + ldVersion}},
		{confabdRoot, confabd, "./cmd/confabd", []string{"CGO_ENABLED=1", "CGO_LDFLAGS=-lm"},
			[]string{"-trimpath", "-tags", "nolibopusfile,netgo,osusergo",
				"-ldflags", "-s -w -linkmode external -extldflags -static"}},
	}
	for _, b := range builds {
		args := append([]string{"build", "-o", b.out}, b.args...)
		args = append(args, b.pkg)
		cmd := exec.Command("go", args...)
		cmd.Dir = b.dir
		cmd.Env = append(os.Environ(), b.env...)
		cmd.Env = append(cmd.Env, "GOFLAGS=") // the tags above replace the Makefile's
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("build: go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return initBin, confabd, nil
}

// exportRev writes the tree of git revision rev of the repository at root
// into dir.
func exportRev(root, rev, dir string) error {
	cmd := exec.Command("git", "archive", "--format=tar", rev)
	cmd.Dir = root
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("build: git archive: %w", err)
	}
	tr := tar.NewReader(out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = cmd.Wait()
			return fmt.Errorf("build: git archive %s: %w", rev, err)
		}
		p := filepath.Join(dir, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dir)+string(filepath.Separator)) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(h.Mode)&0o777); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		case tar.TypeSymlink:
			err = os.Symlink(h.Linkname, p)
		}
		if err != nil {
			_ = cmd.Wait()
			return fmt.Errorf("build: export %s: %w", h.Name, err)
		}
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("build: git archive %s: %v: %s", rev, err, stderr.String())
	}
	return nil
}
