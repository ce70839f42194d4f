package watchdog

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSoftdog runs the driver against the kernel's software watchdog. It
// loads softdog with soft_noboot=1, so that an expiry only logs, and
// refuses to touch any watchdog otherwise: this test must never reset the
// machine it runs on.
func TestSoftdog(t *testing.T) {
	const param = "/sys/module/softdog/parameters/soft_noboot"
	if _, err := os.Stat("/sys/module/softdog"); err != nil {
		if out, err := exec.Command("modprobe", "softdog", "soft_noboot=1").CombinedOutput(); err != nil {
			t.Skipf("needs the softdog module (CONFIG_SOFT_WATCHDOG) and root to load it: modprobe: %v: %s", err, strings.TrimSpace(string(out)))
		}
	}
	b, err := os.ReadFile(param)
	if err != nil || strings.TrimSpace(string(b)) != "Y" {
		t.Skipf("softdog is loaded without soft_noboot=1 (%s: %q, %v): an expiry would reboot this machine, so it is not touched", param, b, err)
	}
	dev := softdogDevice(t)
	d, err := Open(dev, 7*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if d.Timeout() != 7*time.Second {
		t.Errorf("Timeout %v, want 7s", d.Timeout())
	}
	for range 3 {
		if err := d.Keepalive(); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// After the magic close the device is free again; without it softdog
	// would keep ticking and say so in the kernel log.
	d, err = Open(dev, 0)
	if err != nil {
		t.Fatalf("reopen after the magic close: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

// softdogDevice finds the /dev/watchdogN that softdog registered.
func softdogDevice(t *testing.T) string {
	t.Helper()
	ids, _ := filepath.Glob("/sys/class/watchdog/watchdog*/identity")
	for _, id := range ids {
		b, err := os.ReadFile(id)
		if err == nil && strings.TrimSpace(string(b)) == "Software Watchdog" {
			dev := "/dev/" + filepath.Base(filepath.Dir(id))
			if _, err := os.Stat(dev); err == nil {
				return dev
			}
		}
	}
	t.Skip("softdog is loaded but its /dev/watchdogN was not found")
	return ""
}
