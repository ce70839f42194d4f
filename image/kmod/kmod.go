// Package kmod picks Linux kernel modules for the appliance and loads them.
//
// At build time, Resolve takes the names the appliance needs (virtio, the
// common NICs, the file systems, the watchdogs) and returns them with
// everything they depend on, in load order, by reading each module's
// .modinfo section — so the build needs neither depmod nor modprobe. At boot,
// Load inserts one module with finit_module(2); there is no modprobe on the
// appliance, so the init loads the build's list in order.
//
// Modules must be uncompressed (Debian 6.1 kernels ship them so:
// CONFIG_MODULE_COMPRESS_NONE) and the kernel must not force signatures.
package kmod

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// ListFile is where an initramfs lists the modules to load, in order, one
// absolute path a line.
const ListFile = "/etc/modules.list"

// Errors callers tell apart.
var (
	// ErrNotFound means no module of that name is in the tree.
	ErrNotFound = errors.New("kernel module not found")
	// ErrCycle means modules depend on each other in a circle.
	ErrCycle = errors.New("dependency cycle")
	// ErrNoDevice means a driver found none of its hardware.
	ErrNoDevice = errors.New("no such device")
)

// Module is one module file of a kernel's module tree.
type Module struct {
	Name    string   // canonical name: '-' written as '_'
	Path    string   // path relative to the tree (lib/modules/<release>)
	Depends []string // canonical names of the modules it needs first
}

// Canonical writes a module name as the kernel does: '-' and '_' are the
// same character in module names.
func Canonical(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Index maps canonical module names to the module files of one tree.
type Index struct {
	dir   string
	paths map[string]string // canonical name -> path relative to dir
}

// NewIndex walks dir (lib/modules/<release> of an extracted kernel package)
// and indexes its *.ko files by name.
func NewIndex(dir string) (*Index, error) {
	ix := &Index{dir: dir, paths: make(map[string]string)}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, ".ko") {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		ix.paths[Canonical(strings.TrimSuffix(d.Name(), ".ko"))] = rel
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kmod: index %s: %w", dir, err)
	}
	if len(ix.paths) == 0 {
		return nil, fmt.Errorf("kmod: %s holds no .ko files (compressed modules are not supported)", dir)
	}
	return ix, nil
}

// Info reads one module's dependencies from its .modinfo section.
func (ix *Index) Info(name string) (Module, error) {
	name = Canonical(name)
	rel, ok := ix.paths[name]
	if !ok {
		return Module{}, fmt.Errorf("kmod: %s: %w", name, ErrNotFound)
	}
	f, err := elf.Open(filepath.Join(ix.dir, rel))
	if err != nil {
		return Module{}, fmt.Errorf("kmod: %s: %w", name, err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return Module{}, fmt.Errorf("kmod: %s has no .modinfo section", rel)
	}
	data, err := sec.Data()
	if err != nil {
		return Module{}, fmt.Errorf("kmod: %s: %w", name, err)
	}
	m := Module{Name: name, Path: rel}
	m.Depends = ParseDepends(data)
	return m, nil
}

// ParseDepends returns the "depends=" list of a .modinfo section: NUL
// separated key=value strings.
func ParseDepends(modinfo []byte) []string {
	var deps []string
	for _, kv := range bytes.Split(modinfo, []byte{0}) {
		v, ok := bytes.CutPrefix(kv, []byte("depends="))
		if !ok {
			continue
		}
		for _, d := range strings.Split(string(v), ",") {
			if d = strings.TrimSpace(d); d != "" {
				deps = append(deps, Canonical(d))
			}
		}
	}
	return deps
}

// Resolve returns the named modules and all they depend on, each once, so
// that every module comes after its dependencies. Names that are built into
// the kernel (listed in builtin, e.g. from modules.builtin) are skipped.
func (ix *Index) Resolve(names []string, builtin map[string]bool) ([]Module, error) {
	return Resolve(names, builtin, ix.Info)
}

// Resolve orders names and their dependencies, as Index.Resolve does, with
// info telling each module's dependencies.
func Resolve(names []string, builtin map[string]bool, info func(name string) (Module, error)) ([]Module, error) {
	var (
		order []Module
		state = make(map[string]int) // 1 visiting, 2 done
		visit func(string, []string) error
	)
	visit = func(name string, chain []string) error {
		name = Canonical(name)
		switch state[name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("kmod: %w: %s", ErrCycle, strings.Join(append(chain, name), " -> "))
		}
		if builtin[name] {
			state[name] = 2
			return nil
		}
		state[name] = 1
		m, err := info(name)
		if err != nil {
			if len(chain) > 0 {
				return fmt.Errorf("%w (needed by %s)", err, chain[len(chain)-1])
			}
			return err
		}
		deps := append([]string(nil), m.Depends...)
		sort.Strings(deps) // deterministic order for reproducible images
		for _, d := range deps {
			if err := visit(d, append(chain, name)); err != nil {
				return err
			}
		}
		state[name] = 2
		order = append(order, m)
		return nil
	}
	for _, n := range names {
		if err := visit(n, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// Builtin reads modules.builtin (paths such as kernel/fs/ext4/ext4.ko, one
// a line) into a set of canonical names.
func Builtin(path string) (map[string]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]bool{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("kmod: %w", err)
	}
	set := make(map[string]bool)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			set[Canonical(strings.TrimSuffix(filepath.Base(line), ".ko"))] = true
		}
	}
	return set, nil
}

// Load inserts the module file at path into the running kernel. A module
// that is already loaded is not an error; a module for hardware the box
// does not have (ENODEV) is reported as ErrNoDevice so callers can ignore it.
func Load(path string, params string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("kmod: %w", err)
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), params, 0)
	switch {
	case err == nil, errors.Is(err, unix.EEXIST):
		return nil
	case errors.Is(err, unix.ENODEV), errors.Is(err, unix.ENXIO):
		return fmt.Errorf("kmod: %s: %w", filepath.Base(path), ErrNoDevice)
	default:
		return fmt.Errorf("kmod: load %s: %w", filepath.Base(path), err)
	}
}
