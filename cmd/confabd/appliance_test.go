package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"confab/image/boot"
	"confab/image/bundle"
	"confab/image/control"
	"confab/image/netconf"
	"confab/image/update"
)

// applianceInit is the appliance init's side of the control API, in the
// test's process on a temporary directory: a real update.Installer over an
// ESP directory and two files standing in for the slots' partitions, and
// network settings saved with netconf.
type applianceInit struct {
	dir     string
	esp     boot.ESP
	slots   map[string]string
	inst    *update.Installer
	netPath string
	mu      sync.Mutex
	reboots int
}

func (b *applianceInit) Status() control.Status {
	return control.Status{Version: "1.0.0", Arch: "amd64", Slot: "a", Entry: "confab-000001-a", Committed: true,
		Update: b.inst.Progress()}
}
func (b *applianceInit) Log() []byte { return []byte("confabd ready\n") }
func (b *applianceInit) Install(ctx context.Context, r io.Reader, p update.Policy) (update.Installed, error) {
	return b.inst.Install(ctx, r, p)
}
func (b *applianceInit) Progress() update.Progress { return b.inst.Progress() }
func (b *applianceInit) Reboot() error {
	b.mu.Lock()
	b.reboots++
	b.mu.Unlock()
	return nil
}
func (b *applianceInit) Network() (netconf.Config, netconf.State, error) {
	c, err := netconf.Load(b.netPath)
	return c, netconf.State{Interface: "eth0", Source: "dhcp"}, err
}
func (b *applianceInit) SetNetwork(c netconf.Config) error { return netconf.Save(b.netPath, c) }
func (b *applianceInit) RestartConfabd()                   {}

// built is when the test box's running system was built.
var built = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// startApplianceInit serves the control API on a socket in a temporary
// directory, trusting the public key in keyDir, and points the confabd
// the test starts next at it (CONFAB_CONTROL_SOCKET).
func startApplianceInit(t *testing.T, keyDir string) *applianceInit {
	t.Helper()
	dir := t.TempDir()
	b := &applianceInit{dir: dir, esp: boot.ESP{Dir: filepath.Join(dir, "esp")}, slots: map[string]string{},
		netPath: filepath.Join(dir, "perm", "network.json")}
	for _, s := range boot.Slots() {
		b.slots[s] = filepath.Join(dir, "slot-"+s)
		if err := os.WriteFile(b.slots[s], make([]byte, 4<<20), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.esp.Write(boot.Entry{Generation: 1, Slot: "a", Version: "1.0.0"}); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(keyDir, "update.pub"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := bundle.ParsePublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	b.inst = update.New(b.esp, "a", func(s string) (string, error) { return b.slots[s], nil }, pub,
		update.WithRunning("amd64", built))
	sock := filepath.Join(dir, "control.sock")
	ln, err := control.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: control.Handler(b, nil)}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	t.Setenv("CONFAB_CONTROL_SOCKET", sock)
	return b
}

// devKeys makes a development key pair as `make image` does.
func devKeys(t *testing.T) (dir string, key ed25519.PrivateKey) {
	t.Helper()
	dir = t.TempDir()
	if err := bundle.GenerateKeyFiles(filepath.Join(dir, "update.key"), filepath.Join(dir, "update.pub")); err != nil {
		t.Fatal(err)
	}
	key, err := bundle.ReadPrivateKey(filepath.Join(dir, "update.key"))
	if err != nil {
		t.Fatal(err)
	}
	return dir, key
}

// signedBundle writes a bundle with a root of rootSize bytes and returns it
// with the root.
func signedBundle(t *testing.T, key ed25519.PrivateKey, m bundle.Manifest, rootSize int) ([]byte, []byte) {
	t.Helper()
	dir := t.TempDir()
	root := bytes.Repeat([]byte("squashfs root "+m.Version+" "), rootSize/20)
	contents := map[string][]byte{bundle.FileRoot: root, bundle.FileKernel: []byte("kernel"), bundle.FileInitrd: []byte("initrd")}
	paths := map[string]string{}
	for name, data := range contents {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if err := bundle.Write(&buf, m, paths, key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), root
}

// TestApplianceSystemPage drives a real confabd's System page and system
// API against the init's control API with a real installer: the bundle
// is signed with freshly made development keys, verified as it streams
// through confabd, and lands in slot B with a boot entry on trial.
func TestApplianceSystemPage(t *testing.T) {
	keyDir, key := devKeys(t)
	box := startApplianceInit(t, keyDir)
	d := startDaemon(t)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + d.http
	if res, err := browser.PostForm(base+"/login", url.Values{"password": {adminPassword}}); err != nil || res.StatusCode != 303 {
		t.Fatalf("login: %v %v", res, err)
	} else {
		res.Body.Close()
	}
	upload := func(t *testing.T, data []byte, allowOlder bool) (int, string) {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		if allowOlder {
			_ = mw.WriteField("allow_older", "1")
		}
		fw, _ := mw.CreateFormFile("bundle", "confab.update")
		fw.Write(data)
		mw.Close()
		res, err := browser.Post(base+"/system/update", mw.FormDataContentType(), &body)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	get := func(t *testing.T, path string) string {
		t.Helper()
		res, err := browser.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}

	t.Run("the page shows the box", func(t *testing.T) {
		if b := get(t, "/system"); !strings.Contains(b, `id="sw-version">1.0.0`) || !strings.Contains(b, "slot A") {
			t.Fatal(b)
		}
	})
	_, otherKey, _ := ed25519.GenerateKey(nil)
	refusals := []struct {
		name string
		data func(t *testing.T) []byte
		says string
	}{
		{"a file that is not a bundle", func(*testing.T) []byte { return bytes.Repeat([]byte("PK\x03\x04zip"), 10000) },
			"This file is not a Confab update bundle; nothing was changed."},
		{"a bundle signed by another key", func(t *testing.T) []byte {
			b, _ := signedBundle(t, otherKey, bundle.Manifest{Version: "2.0.0", Arch: "amd64", Created: built.Add(time.Hour)}, 1<<20)
			return b
		}, "The update is not signed by Confab&#39;s update key for this box; nothing was changed."},
		{"a bundle for another architecture", func(t *testing.T) []byte {
			b, _ := signedBundle(t, key, bundle.Manifest{Version: "2.0.0", Arch: "arm64", Created: built.Add(time.Hour)}, 1<<20)
			return b
		}, "Version 2.0.0 is for arm64 machines and this box is amd64; nothing was changed."},
		{"a bundle built before the running system", func(t *testing.T) []byte {
			b, _ := signedBundle(t, key, bundle.Manifest{Version: "0.9.0", Arch: "amd64", Created: built.Add(-time.Hour)}, 1<<20)
			return b
		}, "tick &#34;Allow an older version&#34;"},
		{"a root bigger than the slot", func(t *testing.T) []byte {
			b, _ := signedBundle(t, key, bundle.Manifest{Version: "2.0.0", Arch: "amd64", Created: built.Add(time.Hour)}, 5<<20)
			return b
		}, "does not fit this box"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+" is refused and leaves slot B unbootable", func(t *testing.T) {
			code, page := upload(t, tt.data(t), false)
			if code != http.StatusUnprocessableEntity || !strings.Contains(page, tt.says) {
				t.Fatalf("%d, want 422 with %q:\n%s", code, tt.says, page)
			}
			if es, _ := box.esp.Entries(); len(es) != 1 || es[0].Slot != "a" {
				t.Fatalf("boot entries %+v", es)
			}
		})
	}
	t.Run("a signed bundle is verified and written to slot B on trial", func(t *testing.T) {
		data, root := signedBundle(t, key, bundle.Manifest{Version: "2.0.0", Arch: "amd64", Created: built.Add(time.Hour)}, 3<<20)
		code, page := upload(t, data, false)
		if code != 200 || !strings.Contains(page, "Version 2.0.0 was verified and written to slot B. Reboot to try it") {
			t.Fatalf("%d %s", code, page)
		}
		slot, _ := os.ReadFile(box.slots["b"])
		if !bytes.HasPrefix(slot, root) {
			t.Fatal("slot B does not hold the new root")
		}
		e, err := box.esp.Find("confab-000002-b")
		if err != nil || !e.Counting || e.TriesLeft != 1 || e.Version != "2.0.0" {
			t.Fatalf("entry %+v %v", e, err)
		}
		if b := get(t, "/system"); !strings.Contains(b, "Version 2.0.0 is written to slot B: reboot to try it.") {
			t.Fatal(b)
		}
	})
	t.Run("an older version goes in when the admin ticks the box", func(t *testing.T) {
		data, _ := signedBundle(t, key, bundle.Manifest{Version: "0.9.0", Arch: "amd64", Created: built.Add(-time.Hour)}, 1<<20)
		if code, page := upload(t, data, true); code != 200 || !strings.Contains(page, "Version 0.9.0 was verified") {
			t.Fatalf("%d %s", code, page)
		}
	})
	t.Run("scripts reach the same API under /api/v1/system with a login", func(t *testing.T) {
		var st control.Status
		d.mustAPI(t, "GET", "/api/v1/system/status", nil, &st, 200)
		if st.Version != "1.0.0" || st.Update.State != "installed" || st.Update.Version != "0.9.0" || st.Update.Done != st.Update.Total {
			t.Fatalf("status %+v", st)
		}
		res, err := http.Get(base + "/api/v1/system/status")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("without a login: %d", res.StatusCode)
		}
	})
	t.Run("network settings are stored on /perm for the next boot", func(t *testing.T) {
		res, err := browser.PostForm(base+"/system/network", url.Values{"mode": {"dhcp"}, "hostname": {"bridge-2"},
			"address": {"192.168.1.20/24"}, "gateway": {"192.168.1.1"}, "dns": {"192.168.1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 303 {
			t.Fatalf("%d", res.StatusCode)
		}
		c, err := netconf.Load(box.netPath)
		if err != nil || c.Hostname != "bridge-2" || !c.DHCP || c.Static == nil || c.Static.Gateway.String() != "192.168.1.1" {
			t.Fatalf("stored %+v %v", c, err)
		}
		var got struct {
			Config netconf.Config `json:"config"`
		}
		d.mustAPI(t, "GET", "/api/v1/system/network", nil, &got, 200)
		if got.Config.Hostname != "bridge-2" {
			t.Fatalf("API network %+v", got)
		}
		if b := get(t, "/system?done=network"); !strings.Contains(b, "apply at the next boot") || !strings.Contains(b, `value="bridge-2"`) {
			t.Fatal(b)
		}
	})
	t.Run("reboot reaches the init", func(t *testing.T) {
		res, err := browser.PostForm(base+"/system/reboot", url.Values{})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		box.mu.Lock()
		n := box.reboots
		box.mu.Unlock()
		if res.StatusCode != 202 || n != 1 {
			t.Fatalf("%d, %d reboots", res.StatusCode, n)
		}
	})
}

// TestSystemPageOffTheImage: a confabd with no control API (as on any
// Linux host) shows the System page, says who manages updates, and its
// system API answers 503 with a message.
func TestSystemPageOffTheImage(t *testing.T) {
	t.Setenv("CONFAB_CONTROL_SOCKET", filepath.Join(t.TempDir(), "absent.sock"))
	d := startDaemon(t)
	code, err := d.api("GET", "/api/v1/system/status", nil, nil)
	if code != 503 || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("%d %v", code, err)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	res, err := browser.PostForm("http://"+d.http+"/login", url.Values{"password": {adminPassword}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	res, err = browser.Get("http://" + d.http + "/system")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), "the host's operating system manages software updates and the network") {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
}
