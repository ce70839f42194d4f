package qemutest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/bench/sipcaller"
	"confab/image/build"
	"confab/image/bundle"
	"confab/image/health"
	"confab/image/rootconf"
)

const (
	adminPassword = "image-test-password"
	rtpLow        = 20000
	rtpPorts      = 8
	diskSize      = 1 << 30
)

// bootTimeout bounds one boot to ready. Under TCG on a busy two-core
// machine a boot takes a minute or more; under KVM seconds.
const bootTimeout = 6 * time.Minute

// needs skips the test, naming the Debian packages, when a tool is missing.
func needs(t *testing.T) {
	t.Helper()
	missing := map[string]string{}
	for prog, pkg := range map[string]string{"qemu-system-x86_64": "qemu-system-x86", "mksquashfs": "squashfs-tools",
		"mkfs.vfat": "dosfstools", "mcopy": "mtools", "dpkg-deb": "dpkg", "apt-get": "apt", "gcc": "gcc"} {
		if _, err := exec.LookPath(prog); err != nil {
			missing[prog] = pkg
		}
	}
	for file, pkg := range map[string]string{OVMF: "ovmf", build.SystemdBoot: "systemd-boot-efi", "/usr/sbin/mke2fs": "e2fsprogs",
		"/usr/lib/x86_64-linux-gnu/libopus.a": "libopus-dev"} {
		if _, err := os.Stat(file); err != nil {
			missing[file] = pkg
		}
	}
	if len(missing) > 0 {
		t.Skipf("needs these Debian packages (make deps installs them): %v", missing)
	}
}

func moduleRoot(t *testing.T) string {
	dir, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		t.Fatal("not inside the confab module")
	}
	return dir
}

// images builds the image of version 1 and update bundles: version 2;
// version 3, whose confabd cannot start (a port range it refuses), which
// must fail its trial boot; and version 4, as broken, whose commit timeout
// is so long that only the hardware watchdog can end its trial.
type images struct {
	disk, v2, v3bad, v4hang string
}

func buildImages(t *testing.T, root, work string) images {
	t.Helper()
	keyDir := filepath.Join(work, "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	priv, pub := filepath.Join(keyDir, "update.key"), filepath.Join(keyDir, "update.pub")
	if err := bundle.GenerateKeyFiles(priv, pub); err != nil {
		t.Fatal(err)
	}
	key, _ := bundle.ReadPrivateKey(priv)
	pubPEM, _ := os.ReadFile(pub)
	// CONFAB_IMAGE_CONFABD_REV=HEAD builds confabd from the last commit,
	// for a checkout that others are editing.
	initBin, confabd, err := build.Binaries(root, work, "test", os.Getenv("CONFAB_IMAGE_CONFABD_REV"))
	if err != nil {
		t.Fatal(err)
	}
	system := func(version string, args ...string) rootconf.Config {
		c := rootconf.Default(version)
		// A preset admin password instead of the console's setup token,
		// and a small RTP range that qemu forwards port by port.
		c.ConfabdEnv = []string{"CONFAB_ADMIN_PASSWORD=" + adminPassword}
		c.ConfabdArgs = append(c.ConfabdArgs, "-rtp-ports", fmt.Sprintf("%d-%d", rtpLow, rtpLow+rtpPorts-1))
		c.ConfabdArgs = append(c.ConfabdArgs, args...)
		c.CommitTimeout = rootconf.Duration(4 * time.Minute)
		return c
	}
	bad := system("3.0.0-bad", "-rtp-ports", "1-2")
	bad.CommitTimeout = rootconf.Duration(45 * time.Second)
	hang := system("4.0.0-hang", "-rtp-ports", "1-2")
	hang.CommitTimeout = rootconf.Duration(30 * time.Minute)
	hang.WatchdogTimeout = rootconf.Duration(10 * time.Second)
	hang.BootGrace = rootconf.Duration(20 * time.Second)
	out := filepath.Join(work, "out")
	var im images
	for _, b := range []struct {
		version string
		sys     rootconf.Config
		image   bool
		dst     *string
	}{
		{"1.0.0-test", system("1.0.0-test"), true, &im.disk},
		{"2.0.0-test", system("2.0.0-test"), false, &im.v2},
		{"3.0.0-bad", bad, false, &im.v3bad},
		{"4.0.0-hang", hang, false, &im.v4hang},
	} {
		res, err := build.Build(build.Config{Version: b.version, OutDir: out, CacheDir: filepath.Join(root, "image", ".cache"),
			Init: initBin, Confabd: confabd, Key: key, PublicKey: pubPEM, System: b.sys, SkipImage: !b.image})
		if err != nil {
			t.Fatal(err)
		}
		if b.image {
			*b.dst = res.Image
			raw, _ := os.Stat(res.Image)
			gz, _ := os.Stat(res.Compressed)
			t.Logf("image %s: %.1f MB raw, %.1f MB compressed, squashfs root %.1f MB; kernel %s with %d modules", b.version,
				float64(raw.Size())/1e6, float64(gz.Size())/1e6, float64(res.RootSize)/1e6, res.KernelRelease, res.ModulesLoaded)
			if raw.Size() >= 200e6 {
				t.Errorf("the image is %.1f MB, over the 200 MB target", float64(raw.Size())/1e6)
			}
		} else {
			*b.dst = res.Bundle
		}
	}
	return im
}

// freePorts finds a TCP port, a UDP port and rtpPorts consecutive UDP
// ports on the host's loopback address.
func freePorts(t *testing.T) (https, sip, rtpBase int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	https = l.Addr().(*net.TCPAddr).Port
	l.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sip = u.LocalAddr().(*net.UDPAddr).Port
	u.Close()
	for base := 41000 + os.Getpid()%5000*2; base < 65000; base += rtpPorts {
		ok := true
		for p := base; p < base+rtpPorts && ok; p++ {
			c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", p))
			if err != nil {
				ok = false
				continue
			}
			c.Close()
		}
		if ok {
			return https, sip, base
		}
	}
	t.Fatal("no free UDP port range")
	return
}

// box talks to the appliance through qemu's forwards.
type box struct {
	t          *testing.T
	https, sip int
	rtpBase    int
	client     *http.Client
	// fingerprint is the certificate fingerprint the console printed.
	fingerprint string
	seenCert    string
}

func (b *box) api(method, path string, body io.Reader) (int, []byte) {
	b.t.Helper()
	req, err := http.NewRequest(method, fmt.Sprintf("https://127.0.0.1:%d%s", b.https, path), body)
	if err != nil {
		b.t.Fatal(err)
	}
	req.SetBasicAuth("admin", adminPassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	if res.TLS != nil && len(res.TLS.PeerCertificates) > 0 {
		sum := sha256.Sum256(res.TLS.PeerCertificates[0].Raw)
		var parts []string
		for _, c := range sum {
			parts = append(parts, fmt.Sprintf("%02X", c))
		}
		b.seenCert = strings.Join(parts, ":")
	}
	return res.StatusCode, data
}

type status struct {
	Version    string `json:"version"`
	Slot       string `json:"slot"`
	Committed  bool   `json:"committed"`
	Watchdog   string `json:"watchdog"`
	RolledBack string `json:"rolled_back"`
	Network    struct {
		Source   string `json:"source"`
		Hostname string `json:"hostname"`
	} `json:"network"`
}

func (b *box) status() status {
	b.t.Helper()
	code, data := b.api("GET", "/api/v1/system/status", nil)
	var st status
	if code != 200 || json.Unmarshal(data, &st) != nil {
		b.t.Fatalf("GET /api/v1/system/status: %d %s", code, data)
	}
	return st
}

func (b *box) conferenceNumbers() []string {
	b.t.Helper()
	code, data := b.api("GET", "/api/v1/conferences", nil)
	if code != 200 {
		b.t.Fatalf("GET /api/v1/conferences: %d %s", code, data)
	}
	var list []struct {
		Number string `json:"number"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		var wrapped struct {
			Conferences []struct {
				Number string `json:"number"`
			} `json:"conferences"`
		}
		if err2 := json.Unmarshal(data, &wrapped); err2 != nil {
			b.t.Fatalf("conference list %s: %v", data, err)
		}
		list = wrapped.Conferences
	}
	var out []string
	for _, c := range list {
		out = append(out, c.Number)
	}
	return out
}

func (b *box) createConference(number string) {
	b.t.Helper()
	code, data := b.api("POST", "/api/v1/conferences", strings.NewReader(`{"number":"`+number+`","name":"image test"}`))
	if code != http.StatusCreated && code != http.StatusOK {
		b.t.Fatalf("POST /api/v1/conferences %s: %d %s", number, code, data)
	}
}

func (b *box) upload(path string) {
	b.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	code, data := b.api("POST", "/api/v1/system/update", f)
	if code != 200 {
		b.t.Fatalf("POST /api/v1/system/update: %d %s", code, data)
	}
	b.t.Logf("installed: %s", bytes.TrimSpace(data))
	if code, data := b.api("POST", "/api/v1/system/reboot", nil); code != http.StatusAccepted {
		b.t.Fatalf("POST /api/v1/system/reboot: %d %s", code, data)
	}
}

// page is a browser on the web page, logged in: the System page's forms
// as they post without JavaScript.
func (b *box) page() *http.Client {
	b.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Minute, Transport: b.client.Transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.PostForm(fmt.Sprintf("https://127.0.0.1:%d/login", b.https), url.Values{"password": {adminPassword}})
	if err != nil {
		b.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("login: %d", res.StatusCode)
	}
	return c
}

// pagePost posts to the page and returns the status and the page.
func (b *box) pagePost(c *http.Client, path, contentType string, body io.Reader) (int, string) {
	b.t.Helper()
	res, err := c.Post(fmt.Sprintf("https://127.0.0.1:%d%s", b.https, path), contentType, body)
	if err != nil {
		b.t.Fatalf("POST %s: %v", path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// uploadOnPage installs a bundle with the System page's form and reboots
// with its button.
func (b *box) uploadOnPage(c *http.Client, path, version string) {
	b.t.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.t.Fatal(err)
	}
	defer f.Close()
	pr, pw := io.Pipe()
	mw := multipart.NewWriter(pw)
	go func() {
		fw, err := mw.CreateFormFile("bundle", filepath.Base(path))
		if err == nil {
			_, err = io.Copy(fw, f)
		}
		if err == nil {
			err = mw.Close()
		}
		pw.CloseWithError(err)
	}()
	code, page := b.pagePost(c, "/system/update", mw.FormDataContentType(), pr)
	if code != 200 || !strings.Contains(page, "Version "+version+" was verified and written to slot") {
		b.t.Fatalf("the System page's upload: %d\n%s", code, page)
	}
	if code, page := b.pagePost(c, "/system/reboot", "application/x-www-form-urlencoded", strings.NewReader("")); code != http.StatusAccepted {
		b.t.Fatalf("the System page's reboot: %d\n%s", code, page)
	}
}

func (b *box) forwards() []Forward {
	fw := []Forward{{"tcp", b.https, 443}, {"udp", b.sip, 5060}}
	for i := 0; i < rtpPorts; i++ {
		fw = append(fw, Forward{"udp", b.rtpBase + i, rtpLow + i})
	}
	return fw
}

var (
	readyRE       = regexp.MustCompile(`^confab ready: version (\S+), slot ([ab]),`)
	fingerprintRE = regexp.MustCompile(`certificate SHA-256 fingerprint ([0-9A-F:]{95})`)
	tokenOrPWRE   = regexp.MustCompile(`confabd ready:`)
)

// waitReady waits for the console's ready line and checks version and slot.
func waitReady(t *testing.T, vm *VM, version, slot string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	l, m, err := vm.Expect(ctx, readyRE)
	if err != nil {
		t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
	}
	if m[1] != version || m[2] != slot {
		t.Fatalf("ready as %s in slot %s, want %s in slot %s\nconsole:\n%s", m[1], m[2], version, slot, vm.Tail(40))
	}
	return l.At
}

// TestImage builds the appliance image and two update bundles, and boots
// the image under qemu: first boot to ready, the HTTPS page and its
// certificate, SIP OPTIONS, a call with mixed audio, a power cut right
// after a conference change, an update that commits, and an update whose
// confabd fails its health check and rolls back.
//
// It needs qemu-system-x86, ovmf, squashfs-tools, dosfstools, mtools,
// systemd-boot-efi, e2fsprogs, libopus-dev and apt access for the kernel
// package; it takes a few minutes under KVM and longer under TCG.
func TestImage(t *testing.T) {
	if os.Getenv("CONFAB_IMAGE_TEST") == "" {
		t.Skip("boots the appliance image under qemu several times, for minutes: run make image-test (CONFAB_IMAGE_TEST=1)")
	}
	needs(t)
	root := moduleRoot(t)
	work := t.TempDir()
	accel, why := DetectAccel(20 * time.Second)
	t.Logf("qemu accelerator: %s (%s)", accel, why)

	start := time.Now()
	im := buildImages(t, root, work)
	t.Logf("images built in %s", time.Since(start).Round(time.Second))

	disk := filepath.Join(work, "disk.img")
	if out, err := exec.Command("cp", "--sparse=always", im.disk, disk).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	if err := os.Truncate(disk, diskSize); err != nil {
		t.Fatal(err)
	}
	https, sip, rtpBase := freePorts(t)
	b := &box{t: t, https: https, sip: sip, rtpBase: rtpBase, client: &http.Client{
		Timeout:   2 * time.Minute,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, // checked against the console below
	}}
	console, err := os.Create(filepath.Join(work, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer console.Close()
	boot := func() *VM {
		vm, err := Start(Config{Disk: disk, Accel: accel, Forwards: b.forwards(), Console: console})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(vm.Kill)
		return vm
	}
	defer func() {
		if t.Failed() {
			if data, err := os.ReadFile(console.Name()); err == nil {
				keep := filepath.Join(os.TempDir(), "confab-image-test-console.log")
				_ = os.WriteFile(keep, data, 0o644)
				t.Logf("console log kept in %s", keep)
			}
		}
	}()

	vm := boot()
	if !t.Run("the first boot makes the data partition and reports ready on the console", func(t *testing.T) {
		at := waitReady(t, vm, "1.0.0-test", "a")
		t.Logf("power-on to ready: %.1f s (%s)", at.Seconds(), accel)
		if accel == "kvm" && at > 10*time.Second {
			t.Errorf("power-on to ready took %.1f s under KVM, over the 10 s target", at.Seconds())
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, m, err := vm.Expect(ctx, fingerprintRE)
		if err != nil {
			t.Fatal(err)
		}
		b.fingerprint = m[1]
		if !vm.Seen(0, regexp.MustCompile(`first boot: making the data partition`)) || !vm.Seen(0, tokenOrPWRE) {
			t.Fatalf("console:\n%s", vm.Tail(60))
		}
	}) {
		return
	}
	if !t.Run("the HTTPS page answers with the certificate the console showed", func(t *testing.T) {
		code, _ := b.api("GET", "/", nil)
		if code >= 400 {
			t.Fatalf("GET / = %d", code)
		}
		if b.seenCert != b.fingerprint {
			t.Fatalf("certificate %s, console said %s", b.seenCert, b.fingerprint)
		}
		st := b.status()
		if st.Version != "1.0.0-test" || st.Slot != "a" || !st.Committed || st.Network.Source != "dhcp" ||
			!strings.HasPrefix(st.Watchdog, "armed") {
			t.Fatalf("status %+v", st)
		}
	}) {
		return
	}
	if !t.Run("SIP OPTIONS is answered", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := health.SIPOptions(ctx, fmt.Sprintf("127.0.0.1:%d", b.sip)); err != nil {
			t.Fatal(err)
		}
	}) {
		return
	}
	if !t.Run("two callers in a conference each hear the other", func(t *testing.T) {
		b.createConference("7001")
		callTest(t, b)
	}) {
		return
	}
	if !t.Run("a conference created just before power is cut is there after the reboot", func(t *testing.T) {
		b.createConference("7002")
		vm.Kill() // the API answered: the change is committed
		vm = boot()
		waitReady(t, vm, "1.0.0-test", "a")
		got := strings.Join(b.conferenceNumbers(), ",")
		if !strings.Contains(got, "7001") || !strings.Contains(got, "7002") {
			t.Fatalf("conferences after the power cut: %s", got)
		}
	}) {
		return
	}
	if !t.Run("an update is installed in slot b with the System page, boots once and is committed", func(t *testing.T) {
		mark := vm.Mark()
		page := b.page()
		// A host name set on the page applies at the next boot.
		if code, body := b.pagePost(page, "/system/network", "application/x-www-form-urlencoded",
			strings.NewReader(url.Values{"mode": {"dhcp"}, "hostname": {"bridge-test"}}.Encode())); code != http.StatusSeeOther {
			t.Fatalf("the System page's network form: %d\n%s", code, body)
		}
		b.uploadOnPage(page, im.v2, "2.0.0-test")
		waitReady(t, vm, "2.0.0-test", "b")
		// The commit and the ready line follow the same first health check,
		// in either order.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, _, err := vm.ExpectFrom(ctx, mark, regexp.MustCompile(`slot b committed: version 2\.0\.0-test`)); err != nil {
			t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
		}
		st := b.status()
		if st.Slot != "b" || !st.Committed || st.Version != "2.0.0-test" || st.Network.Hostname != "bridge-test" {
			t.Fatalf("status %+v", st)
		}
		res, err := b.page().Get(fmt.Sprintf("https://127.0.0.1:%d/system", b.https))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), `id="sw-version">2.0.0-test`) || !strings.Contains(string(body), `badge ok">committed`) {
			t.Fatalf("the System page after the update:\n%s", body)
		}
		if got := strings.Join(b.conferenceNumbers(), ","); !strings.Contains(got, "7001") || !strings.Contains(got, "7002") {
			t.Fatalf("conferences after the update: %s", got)
		}
	}) {
		return
	}
	if !t.Run("an update whose confabd fails its health check rolls back to the committed slot", func(t *testing.T) {
		b.upload(im.v3bad)
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
		defer cancel()
		if _, _, err := vm.Expect(ctx, regexp.MustCompile(`slot a \(3\.0\.0-bad\) failed its trial`)); err != nil {
			t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
		}
		waitReady(t, vm, "2.0.0-test", "b")
		st := b.status()
		if st.Slot != "b" || st.RolledBack != "3.0.0-bad" || !st.Committed {
			t.Fatalf("status %+v", st)
		}
		res, err := b.page().Get(fmt.Sprintf("https://127.0.0.1:%d/system", b.https))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if !strings.Contains(string(body), "The update to version 3.0.0-bad failed its trial and was rolled back") {
			t.Fatalf("the System page after the rollback:\n%s", body)
		}
		if got := strings.Join(b.conferenceNumbers(), ","); !strings.Contains(got, "7001") {
			t.Fatalf("conferences after the rollback: %s", got)
		}
	}) {
		return
	}
	t.Run("when confabd stays unhealthy the watchdog is starved and resets the box", func(t *testing.T) {
		b.upload(im.v4hang)
		ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
		defer cancel()
		if _, _, err := vm.Expect(ctx, regexp.MustCompile(`slot a \(4\.0\.0-hang\) is on trial`)); err != nil {
			t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
		}
		mark := vm.Mark()
		if _, _, err := vm.Expect(ctx, regexp.MustCompile(`not healthy: watchdog not fed`)); err != nil {
			t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
		}
		// The next boot starts without the init having asked for it: the
		// i6300esb reset the machine.
		if _, _, err := vm.Expect(ctx, regexp.MustCompile(`^confab-init \S+: booting slot b \(2\.0\.0-test\)`)); err != nil {
			t.Fatalf("%v\nconsole:\n%s", err, vm.Tail(40))
		}
		if vm.Seen(mark, regexp.MustCompile(`4\.0\.0-hang\) failed its trial|stopping confabd and rebooting`)) {
			t.Fatalf("the init rebooted the box itself; the watchdog was not what reset it\nconsole:\n%s", vm.Tail(60))
		}
		waitReady(t, vm, "2.0.0-test", "b")
		if st := b.status(); st.Slot != "b" || st.RolledBack != "4.0.0-hang" {
			t.Fatalf("status %+v", st)
		}
	})
}

// callTest dials conference 7001 twice through qemu's forwards: each phone
// sends its own tone and must hear the other's in the mix.
func callTest(t *testing.T, b *box) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type leg struct {
		ph   *phone.Phone
		call *sipcaller.Call
		hz   float64
	}
	var legs []leg
	for i, hz := range []float64{440, 1000} {
		agent, err := sipcaller.New(sipcaller.WithUser(fmt.Sprintf("caller%d", i), ""))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { agent.Close() })
		ph, err := phone.New(phone.Config{Codec: "PCMU", ToneHz: hz})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ph.Stop)
		call, err := agent.Dial(ctx, fmt.Sprintf("sip:7001@127.0.0.1:%d", b.sip), ph.Offer())
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
		media, err := sipcaller.MediaAddr(call.Answer())
		if err != nil {
			t.Fatal(err)
		}
		guest := int(media.Port())
		if guest < rtpLow || guest >= rtpLow+rtpPorts {
			t.Fatalf("the bridge answered with port %d, outside the forwarded %d-%d", guest, rtpLow, rtpLow+rtpPorts-1)
		}
		// The answer names the guest's address; qemu forwards the port from
		// the host's loopback address, and the bridge latches onto where
		// the phone's packets come from (symmetric RTP).
		ph.Start(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(b.rtpBase+guest-rtpLow)))
		legs = append(legs, leg{ph, call, hz})
	}
	time.Sleep(6 * time.Second)
	for i, l := range legs {
		other := legs[1-i].hz
		pcm := l.ph.Received()
		if n := len(pcm); n < l.ph.Rate()*2 {
			t.Fatalf("caller %d received %d samples in 6 s", i, n)
		}
		win := pcm[len(pcm)-l.ph.Rate()*2:] // the last two seconds
		heard, own := phone.ToneLevel(win, l.ph.Rate(), other), phone.ToneLevel(win, l.ph.Rate(), l.hz)
		t.Logf("caller %d (%.0f Hz) hears %.0f Hz at %.1f dB and its own tone at %.1f dB", i, l.hz, other, heard, own)
		if heard < -6 {
			t.Errorf("caller %d does not hear the other caller's %.0f Hz tone (%.1f dB)", i, other, heard)
		}
		if own > -20 {
			t.Errorf("caller %d hears its own tone back (%.1f dB)", i, own)
		}
	}
	for _, l := range legs {
		if err := l.call.Bye(ctx); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("BYE: %v", err)
		}
	}
}
