package kmod

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseDepends(t *testing.T) {
	tests := []struct {
		name    string
		modinfo string
		want    []string
	}{
		{"a module with no dependencies lists none", "license=GPL\x00depends=\x00name=x\x00", nil},
		{"dependencies are split on commas and written canonically", "license=GPL\x00depends=jbd2,nvme-core,crc16\x00", []string{"jbd2", "nvme_core", "crc16"}},
		{"a section without a depends key lists none", "license=GPL\x00author=someone\x00", nil},
		{"a key that only ends in depends is not read", "softdepends=x\x00", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseDepends([]byte(tt.modinfo)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ParseDepends = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestResolve(t *testing.T) {
	tree := map[string][]string{
		"ext4":         {"jbd2", "mbcache", "crc16"},
		"jbd2":         nil,
		"mbcache":      nil,
		"crc16":        nil,
		"igb":          {"dca", "i2c_algo_bit"},
		"dca":          nil,
		"i2c_algo_bit": nil,
		"loop_a":       {"loop_b"},
		"loop_b":       {"loop_a"},
		"needs_gone":   {"gone"},
	}
	info := func(name string) (Module, error) {
		deps, ok := tree[name]
		if !ok {
			return Module{}, ErrNotFound
		}
		return Module{Name: name, Path: name + ".ko", Depends: deps}, nil
	}
	names := func(ms []Module) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return out
	}
	tests := []struct {
		name    string
		want    []string
		builtin map[string]bool
		order   []string
		err     error
	}{
		{name: "dependencies come before the module, sorted", want: []string{"ext4"},
			order: []string{"crc16", "jbd2", "mbcache", "ext4"}},
		{name: "a shared dependency is loaded once", want: []string{"ext4", "jbd2", "igb"},
			order: []string{"crc16", "jbd2", "mbcache", "ext4", "dca", "i2c_algo_bit", "igb"}},
		{name: "a dash in a wanted name matches an underscore", want: []string{"i2c-algo-bit"},
			order: []string{"i2c_algo_bit"}},
		{name: "built-in modules are skipped", want: []string{"ext4"}, builtin: map[string]bool{"crc16": true, "jbd2": true},
			order: []string{"mbcache", "ext4"}},
		{name: "a cycle is refused", want: []string{"loop_a"}, err: ErrCycle},
		{name: "a missing dependency is refused", want: []string{"needs_gone"}, err: ErrNotFound},
		{name: "a missing module is refused", want: []string{"nothing"}, err: ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.want, tt.builtin, info)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Resolve error = %v, want %v", err, tt.err)
			}
			if tt.err == nil && !reflect.DeepEqual(names(got), tt.order) {
				t.Fatalf("Resolve = %q, want %q", names(got), tt.order)
			}
		})
	}
}

// TestIndex builds two small ELF objects with a .modinfo section, as the
// kernel's modules carry, and reads their dependencies back. It needs gcc
// (Debian package gcc, which cgo needs anyway).
func TestIndex(t *testing.T) {
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("needs gcc (Debian package gcc) to build test objects")
	}
	dir := t.TempDir()
	mods := map[string]string{
		"kernel/fs/fat/vfat.ko": `depends=fat`,
		"kernel/fs/fat/fat.ko":  `depends=`,
	}
	for rel, deps := range mods {
		src := filepath.Join(dir, "m.c")
		code := "const char modinfo[] __attribute__((section(\".modinfo\"), used)) = \"license=GPL\\0" + deps + "\\0\";\n"
		if err := os.WriteFile(src, []byte(code), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, "tree", rel)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			t.Fatal(err)
		}
		if b, err := exec.Command("gcc", "-c", "-o", out, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, b)
		}
	}
	ix, err := NewIndex(filepath.Join(dir, "tree"))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a module's dependencies are read from its .modinfo section", func(t *testing.T) {
		got, err := ix.Resolve([]string{"vfat"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		want := []Module{{Name: "fat", Path: "kernel/fs/fat/fat.ko"}, {Name: "vfat", Path: "kernel/fs/fat/vfat.ko", Depends: []string{"fat"}}}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Resolve = %+v, want %+v", got, want)
		}
	})
	t.Run("an empty tree is refused", func(t *testing.T) {
		if _, err := NewIndex(t.TempDir()); err == nil {
			t.Fatal("NewIndex of an empty directory succeeded")
		}
	})
}

func TestBuiltin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "modules.builtin")
	if err := os.WriteFile(path, []byte("kernel/drivers/block/loop.ko\nkernel/fs/nls/nls-base.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Builtin(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("built-in paths become canonical names", func(t *testing.T) {
		if want := map[string]bool{"loop": true, "nls_base": true}; !reflect.DeepEqual(got, want) {
			t.Fatalf("Builtin = %v, want %v", got, want)
		}
	})
	t.Run("a tree without modules.builtin has nothing built in", func(t *testing.T) {
		got, err := Builtin(filepath.Join(t.TempDir(), "absent"))
		if err != nil || len(got) != 0 {
			t.Fatalf("Builtin = %v, %v", got, err)
		}
	})
}
