// Package build assembles the appliance's disk image and its update bundle
// from Debian's packages and Confab's binaries, offline apart from
// `apt-get download` of the kernel package (cached).
//
// The disk is GPT with 512-byte sectors:
//
//	1  confab-esp  FAT   systemd-boot, loader entries, each slot's kernel and initramfs
//	2  confab-a    squashfs root of slot A (the image's version)
//	3  confab-b    squashfs root of slot B (empty until the first update)
//	4  confab-perm ext4, made by the init on first boot in the rest of the disk
//
// Each slot's initramfs holds the Go init (image/cmd/confab-init) and the
// kernel modules the box needs; the root holds confabd (statically linked,
// libopus included), mke2fs from the build host's Debian with its shared
// libraries, and /etc/confab/system.json (package rootconf).
//
// Build needs: apt-get and dpkg-deb (kernel), mksquashfs (squashfs-tools),
// mkfs.vfat (dosfstools), mmd/mcopy (mtools), systemd-boot-efi, e2fsprogs,
// and for the binaries Go, gcc and libopus-dev.
package build

import (
	"compress/gzip"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"confab/image/boot"
	"confab/image/bundle"
	"confab/image/rootconf"
)

// Errors callers tell apart.
var (
	// ErrTool means a program the build needs is missing.
	ErrTool = errors.New("build: a build tool is missing")
	// ErrNotStatic means a binary for the image is dynamically linked.
	ErrNotStatic = errors.New("build: binary is not statically linked")
	// ErrTooBig means a file system does not fit its partition.
	ErrTooBig = errors.New("build: does not fit its partition")
	// errNoModule means Binaries was not given the confab module's root.
	errNoModule = errors.New("build: not inside the confab module")
)

// Modules returns the kernel modules every slot's initramfs carries, with
// their dependencies: disks (virtio, SATA, NVMe, eMMC), NICs common in small
// boxes, the file systems, and watchdogs.
func Modules() []string {
	return []string{
		"virtio_pci", "virtio_blk", "virtio_net",
		"ahci", "nvme", "sd_mod", "mmc_block", "sdhci_pci", "sdhci_acpi", "usb_storage", "xhci_pci",
		"e1000", "e1000e", "igb", "igc", "ixgbe", "i40e", "r8169",
		"crc32c_generic", "crc32c_intel", "ext4", "squashfs", "vfat", "nls_cp437", "nls_ascii", "nls_utf8", "nls_iso8859_1",
		"i6300esb", "iTCO_wdt", "sp5100_tco",
	}
}

// Config says what to build.
type Config struct {
	Version string
	// OutDir receives the image, its compressed copy and the bundle.
	OutDir string
	// CacheDir keeps the downloaded kernel package between builds.
	CacheDir string
	// Init and Confabd are the static binaries (see Binaries).
	Init, Confabd string
	// Key signs the update bundle; PublicKey (PEM) goes into the root so
	// that the box accepts bundles signed by Key.
	Key       ed25519.PrivateKey
	PublicKey []byte
	// System is the root's system configuration (rootconf.Default).
	System rootconf.Config
	// KernelPackage is a Debian kernel package such as
	// linux-image-6.1.0-56-amd64; empty picks what linux-image-amd64 depends on.
	KernelPackage string
	// KernelOptions are added to the kernel command line.
	KernelOptions string
	// SkipImage builds only the bundle (for update tests).
	SkipImage bool
	// Created stamps the bundle (default: now).
	Created time.Time
	Log     *slog.Logger
}

// Partition sizes. The image is 1 + 40 + 64 + 64 + 1 MiB = 170 MiB.
const (
	mib      = 1 << 20
	ESPSize  = 40 * mib
	SlotSize = 64 * mib
	// DiskSize is the raw image's size; flashed onto a bigger disk, the
	// init adds the data partition in the rest on first boot.
	DiskSize = mib + ESPSize + 2*SlotSize + mib
)

// KernelCmdline is the command line of every entry, before Config.KernelOptions:
// the serial console last so that it is /dev/console; quiet, because every
// line to a 115200 baud console costs boot time.
const KernelCmdline = "console=tty0 console=ttyS0,115200 quiet panic=10"

// Arch is the machine the image is for: Debian's amd64 kernel and
// binaries built with GOARCH=amd64.
const Arch = "amd64"

// Result says what was built.
type Result struct {
	Image, Compressed, Bundle string
	Kernel, Initrd, Root      string
	KernelRelease             string
	ModulesLoaded             int
	// RootSize is the squashfs root's size in bytes (the files above are
	// removed when Build returns, but for the image, its copy and the bundle).
	RootSize int64
}

// Build builds the image (unless SkipImage) and the bundle.
func Build(cfg Config) (Result, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Created.IsZero() {
		cfg.Created = time.Now()
	}
	if !boot.ValidVersion(cfg.Version) {
		return Result{}, fmt.Errorf("build: version %q: use letters, digits and . + ~ _ -", cfg.Version)
	}
	cfg.System.Version, cfg.System.Arch, cfg.System.Created = cfg.Version, Arch, cfg.Created.UTC()
	if err := cfg.System.Validate(); err != nil {
		return Result{}, err
	}
	for _, bin := range []string{cfg.Init, cfg.Confabd} {
		if err := checkStatic(bin); err != nil {
			return Result{}, err
		}
	}
	work := filepath.Join(cfg.OutDir, "work-"+cfg.Version)
	if err := os.RemoveAll(work); err != nil {
		return Result{}, err
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return Result{}, err
	}
	defer os.RemoveAll(work)

	var res Result
	k, err := fetchKernel(cfg.CacheDir, cfg.KernelPackage, cfg.Log)
	if err != nil {
		return res, err
	}
	res.KernelRelease = k.Release
	res.Kernel = filepath.Join(work, bundle.FileKernel)
	if err := copyFile(k.Vmlinuz, res.Kernel, 0o644); err != nil {
		return res, err
	}
	res.Initrd = filepath.Join(work, bundle.FileInitrd)
	if res.ModulesLoaded, err = writeInitramfs(res.Initrd, cfg.Init, k); err != nil {
		return res, err
	}
	res.Root = filepath.Join(work, bundle.FileRoot)
	if err := buildRoot(res.Root, work, cfg); err != nil {
		return res, err
	}
	if st, err := os.Stat(res.Root); err != nil {
		return res, err
	} else if st.Size() > SlotSize {
		return res, fmt.Errorf("%w: the root is %d MiB, a slot %d MiB", ErrTooBig, st.Size()>>20, SlotSize>>20)
	} else {
		res.RootSize = st.Size()
	}
	options := KernelCmdline
	if cfg.KernelOptions != "" {
		options += " " + cfg.KernelOptions
	}
	res.Bundle = filepath.Join(cfg.OutDir, "confab-"+cfg.Version+".update")
	if err := writeBundle(res, cfg, options); err != nil {
		return res, err
	}
	cfg.Log.Info("bundle built", "path", res.Bundle)
	if cfg.SkipImage {
		return res, nil
	}
	esp := filepath.Join(work, "esp.img")
	if err := buildESP(esp, work, res, cfg.Version, options); err != nil {
		return res, err
	}
	res.Image = filepath.Join(cfg.OutDir, "confab-"+cfg.Version+".img")
	if err := assembleDisk(res.Image, esp, res.Root, cfg.Version); err != nil {
		return res, err
	}
	res.Compressed = res.Image + ".gz"
	if err := compress(res.Image, res.Compressed); err != nil {
		return res, err
	}
	cfg.Log.Info("image built", "path", res.Image, "compressed", res.Compressed)
	return res, nil
}

func writeBundle(res Result, cfg Config, options string) error {
	tmp := res.Bundle + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	paths := map[string]string{bundle.FileRoot: res.Root, bundle.FileKernel: res.Kernel, bundle.FileInitrd: res.Initrd}
	if err := bundle.Write(f, bundle.Manifest{Version: cfg.Version, Arch: Arch, Options: options, Created: cfg.Created}, paths, cfg.Key); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, res.Bundle)
}

func compress(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	zw.Name = filepath.Base(src)
	if _, err := io.Copy(zw, in); err != nil {
		out.Close()
		return err
	}
	if err := zw.Close(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("build: copy %s: %w", src, err)
	}
	return out.Close()
}
