package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"confab/image/boot"
	"confab/image/bundle"
	"confab/image/control"
	"confab/image/netconf"
	"confab/image/supervise"
	"confab/image/update"
)

// initBox is the appliance init's side of the control API in the test's
// process: a real installer over a temporary ESP directory and two files
// standing in for the slots' partitions.
type initBox struct {
	inst  *update.Installer
	esp   boot.ESP
	slots map[string]string
}

func (b *initBox) Status() control.Status {
	return control.Status{Version: "1.0.0", Arch: "amd64", Slot: "a", Committed: true, Update: b.inst.Progress(),
		Health: supervise.HealthState{Healthy: true}}
}
func (b *initBox) Log() []byte { return nil }
func (b *initBox) Install(ctx context.Context, r io.Reader, p update.Policy) (update.Installed, error) {
	return b.inst.Install(ctx, r, p)
}
func (b *initBox) Progress() update.Progress { return b.inst.Progress() }
func (b *initBox) Reboot() error             { return nil }
func (b *initBox) Network() (netconf.Config, netconf.State, error) {
	return netconf.Default(), netconf.State{Interface: "eth0", Source: "dhcp", Hostname: "confab-5a1b2c",
		Address: netip.MustParsePrefix("192.168.1.20/24"), Gateway: netip.MustParseAddr("192.168.1.1")}, nil
}
func (b *initBox) SetNetwork(netconf.Config) error { return nil }
func (b *initBox) RestartConfabd()                 {}

// startInit serves the control API on a temporary socket for the confabd
// started next, and returns a signed bundle of about 8 MB for it.
func startInit(t *testing.T) (*initBox, string) {
	t.Helper()
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "update.key"), filepath.Join(dir, "update.pub")
	if err := bundle.GenerateKeyFiles(priv, pub); err != nil {
		t.Fatal(err)
	}
	key, _ := bundle.ReadPrivateKey(priv)
	pemData, _ := os.ReadFile(pub)
	pk, err := bundle.ParsePublicKey(pemData)
	if err != nil {
		t.Fatal(err)
	}
	b := &initBox{esp: boot.ESP{Dir: filepath.Join(dir, "esp")}, slots: map[string]string{}}
	for _, s := range boot.Slots() {
		b.slots[s] = filepath.Join(dir, "slot-"+s)
		if err := os.WriteFile(b.slots[s], make([]byte, 16<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.esp.Write(boot.Entry{Generation: 1, Slot: "a", Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	b.inst = update.New(b.esp, "a", func(s string) (string, error) { return b.slots[s], nil }, pk,
		update.WithRunning("amd64", time.Now().Add(-time.Hour)))
	sock := filepath.Join(dir, "control.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: control.Handler(b, nil)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	t.Setenv("CONFAB_CONTROL_SOCKET", sock)

	paths := map[string]string{}
	for name, size := range map[string]int{bundle.FileRoot: 8 << 20, bundle.FileKernel: 4096, bundle.FileInitrd: 4096} {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], bytes.Repeat([]byte(name[:1]), size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bundlePath := filepath.Join(dir, "confab-2.0.0.update")
	f, err := os.Create(bundlePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := bundle.Write(f, bundle.Manifest{Version: "2.0.0", Arch: "amd64", Created: time.Now()}, paths, key); err != nil {
		t.Fatal(err)
	}
	f.Close()
	return b, bundlePath
}

func TestTheSystemPageInstallsAnUpdate(t *testing.T) {
	ctx := browser(t)
	box, bundlePath := startInit(t)
	d := startDaemon(t)
	base := "http://" + d.http
	run(t, ctx, "setup",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", d.token, chromedp.ByID),
		chromedp.SendKeys("#password", "e2e-password", chromedp.ByID),
		chromedp.SendKeys("#confirm", "e2e-password", chromedp.ByID),
		chromedp.Click("#set-password", chromedp.ByID),
		chromedp.WaitVisible("#live", chromedp.ByID),
	)
	// watch records every percentage the progress bar shows.
	const watch = `window.seen = []; new MutationObserver(() => window.seen.push(document.getElementById('update-percent').textContent))
		.observe(document.getElementById('update-percent'), {childList: true, characterData: true, subtree: true}); true`

	t.Run("a file that is not a bundle is refused beside the form", func(t *testing.T) {
		junk := filepath.Join(t.TempDir(), "notes.update")
		if err := os.WriteFile(junk, bytes.Repeat([]byte("not an update "), 1000), 0o644); err != nil {
			t.Fatal(err)
		}
		var msg, class string
		var ok bool
		run(t, ctx, "upload junk",
			chromedp.Navigate(base+"/system"),
			chromedp.WaitVisible("#update-form", chromedp.ByID),
			chromedp.SetUploadFiles("#update-file", []string{junk}, chromedp.ByID),
			chromedp.Click("#update-submit", chromedp.ByID),
			chromedp.WaitVisible(`//p[@id="update-result"][contains(., "nothing was changed")]`, chromedp.BySearch),
			chromedp.Text("#update-result", &msg, chromedp.ByID),
			chromedp.AttributeValue("#update-result", "class", &class, &ok, chromedp.ByID),
		)
		if !strings.Contains(msg, "This file is not a Confab update bundle") || class != "field-error" {
			t.Fatalf("result %q (class %q)", msg, class)
		}
	})

	t.Run("a signed bundle goes up with the progress bar to 100 % and is written to slot B", func(t *testing.T) {
		var msg, percent, reboot string
		var value float64
		var seen []string
		// An office line, not loopback: 8 MB/s up, so that the upload
		// takes about a second and the bar moves on the way.
		run(t, ctx, "throttle", network.Enable(), network.EmulateNetworkConditions(false, 0, -1, 8e6))
		run(t, ctx, "upload",
			chromedp.Navigate(base+"/system"),
			chromedp.WaitVisible("#update-form", chromedp.ByID),
			chromedp.Evaluate(watch, nil),
			chromedp.SetUploadFiles("#update-file", []string{bundlePath}, chromedp.ByID),
			chromedp.Click("#update-submit", chromedp.ByID),
			chromedp.WaitVisible(`//p[@id="update-result"][contains(., "written to slot B")]`, chromedp.BySearch),
			chromedp.Text("#update-result", &msg, chromedp.ByID),
			chromedp.Text("#update-percent", &percent, chromedp.ByID),
			chromedp.Evaluate(`document.getElementById('update-progress').value`, &value),
			chromedp.Evaluate(`window.seen`, &seen),
			chromedp.Text("#reboot-text", &reboot, chromedp.ByID),
		)
		t.Logf("the progress bar showed %v", seen)
		between := 0
		for _, p := range seen {
			if p != "0 %" && p != "100 %" {
				between++
			}
		}
		if value != 100 || percent != "100 %" || between == 0 {
			t.Fatalf("progress bar at %v (%q), showed %v: no step between 0 and 100 %%", value, percent, seen)
		}
		if !strings.Contains(msg, "Version 2.0.0 was verified and written to slot B. Reboot to try it") ||
			!strings.Contains(reboot, "reboot to try it") {
			t.Fatalf("result %q, reboot %q", msg, reboot)
		}
		if e, err := box.esp.Find("confab-000002-b"); err != nil || !e.Counting || e.TriesLeft != 1 {
			t.Fatalf("boot entry %+v %v", e, err)
		}
		slot, _ := os.ReadFile(box.slots["b"])
		if !bytes.HasPrefix(slot, bytes.Repeat([]byte("r"), 8<<20)) {
			t.Fatal("slot B does not hold the new root")
		}
		screenshot(t, ctx, "system")
	})
}
