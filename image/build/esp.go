package build

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"

	"confab/image/boot"
)

// SystemdBoot is the boot loader from Debian's systemd-boot-efi.
const SystemdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"

// buildESP makes the FAT image of the EFI system partition with slot A's
// kernel, initramfs and committed entry.
func buildESP(dst, work string, res Result, version, options string) error {
	for prog, pkg := range map[string]string{"mkfs.vfat": "dosfstools", "mcopy": "mtools"} {
		if err := need(prog, pkg); err != nil {
			return err
		}
	}
	if _, err := os.Stat(SystemdBoot); err != nil {
		return fmt.Errorf("%w: %s (Debian package systemd-boot-efi)", ErrTool, SystemdBoot)
	}
	stage := filepath.Join(work, "esp")
	esp := boot.ESP{Dir: stage}
	copies := map[string]string{
		SystemdBoot: "EFI/BOOT/BOOTX64.EFI",
		res.Kernel:  boot.Kernel("a")[1:],
		res.Initrd:  boot.Initrd("a")[1:],
	}
	for src, dstRel := range copies {
		if err := copyFile(src, filepath.Join(stage, dstRel), 0o644); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(stage, "confab", "b"), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(stage, "loader"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(stage, "loader", "loader.conf"), boot.LoaderConf(), 0o644); err != nil {
		return err
	}
	if err := esp.Write(boot.Entry{Generation: 1, Slot: "a", Version: version, Options: options}); err != nil {
		return err
	}
	_ = os.Remove(dst)
	if out, err := exec.Command("mkfs.vfat", "-C", "--invariant", "-n", "CONFAB-ESP", dst,
		fmt.Sprint(ESPSize/1024)).CombinedOutput(); err != nil {
		return fmt.Errorf("build: mkfs.vfat: %v\n%s", err, out)
	}
	entries, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	args := []string{"-i", dst, "-s", "-Q", "-m"}
	for _, e := range entries {
		args = append(args, filepath.Join(stage, e.Name()))
	}
	args = append(args, "::/")
	cmd := exec.Command("mcopy", args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build: mcopy: %v\n%s", err, out)
	}
	return nil
}
