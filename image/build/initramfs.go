package build

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path"
	"strings"

	"confab/image/initramfs"
	"confab/image/kmod"
)

// writeInitramfs writes the gzip-compressed initramfs: /init and the
// kernel modules with their list. It returns how many modules it holds.
func writeInitramfs(dst, initBin string, k kernel) (int, error) {
	ix, err := kmod.NewIndex(k.ModulesDir)
	if err != nil {
		return 0, err
	}
	builtin, err := kmod.Builtin(k.ModulesDir + "/modules.builtin")
	if err != nil {
		return 0, err
	}
	mods, err := ix.Resolve(Modules(), builtin)
	if err != nil {
		return 0, err
	}
	var raw bytes.Buffer
	w := initramfs.NewWriter(&raw, 0)
	initData, err := os.ReadFile(initBin)
	if err != nil {
		return 0, err
	}
	if err := w.File("init", 0o755, initData); err != nil {
		return 0, err
	}
	for _, d := range []string{"dev", "proc", "sys", "newroot", "tmp"} {
		if err := w.Dir(d, 0o755); err != nil {
			return 0, err
		}
	}
	var list strings.Builder
	for _, m := range mods {
		p := path.Join("lib/modules", k.Release, m.Path)
		data, err := os.ReadFile(k.ModulesDir + "/" + m.Path)
		if err != nil {
			return 0, fmt.Errorf("build: module %s: %w", m.Name, err)
		}
		if err := w.File(p, 0o644, data); err != nil {
			return 0, err
		}
		list.WriteString("/" + p + "\n")
	}
	if err := w.File(strings.TrimPrefix(kmod.ListFile, "/"), 0o644, []byte(list.String())); err != nil {
		return 0, err
	}
	if err := w.Close(); err != nil {
		return 0, err
	}
	var z bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&z, gzip.BestCompression)
	if _, err := zw.Write(raw.Bytes()); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return len(mods), os.WriteFile(dst, z.Bytes(), 0o644)
}
