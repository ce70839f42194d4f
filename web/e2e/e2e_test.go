// Package e2e drives the web page of a real confabd in headless Chromium:
// first-start setup with the console's token, login, a conference made
// with the form, real SIP callers joining it, the live dashboard, the mute
// button and what the other callers hear, logout; and the System page
// uploading a signed update bundle, with its progress bar, to an appliance
// init's control API served by the test (system_test.go).
//
// It needs Debian's chromium package (make test installs it) and builds
// confabd itself. CONFAB_SCREENSHOTS=DIR writes the dashboard,
// conferences, settings and system pages there as PNG (docs/ is made that way).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"confab/bench/phone"
	"confab/bench/sipcaller"
)

// Chromium is Debian's; no browser is ever downloaded.
const chromium = "/usr/bin/chromium"

// Levels of a tone in what a caller receives: a tone that is heard is far
// above heardRMS, one that is not is below silentRMS (PCMU's quantisation
// noise of silence is below 30).
const (
	toneHz    = 440.0
	heardRMS  = 1000.0
	silentRMS = 150.0
	window    = 500 * time.Millisecond
)

// daemon is a confabd started for the test.
type daemon struct {
	http, sip string
	token     string
	cmd       *exec.Cmd
	mu        sync.Mutex
	console   strings.Builder
}

func (d *daemon) log() string { d.mu.Lock(); defer d.mu.Unlock(); return d.console.String() }

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startDaemon builds and starts confabd with a fresh data directory and no
// admin, and reads the setup token from its console.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "confabd")
	build := exec.Command("go", "build", "-o", bin, "confab/cmd/confabd")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building confabd: %v\n%s", err, out)
	}
	d := &daemon{http: fmt.Sprintf("127.0.0.1:%d", freePort(t)), sip: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	rtp := 36000 + os.Getpid()%100*40
	d.cmd = exec.Command(bin, "-data", filepath.Join(dir, "data"), "-sip", d.sip, "-http", d.http,
		"-rtp-ports", fmt.Sprintf("%d-%d", rtp, rtp+39), "-public-ip", "127.0.0.1")
	d.cmd.Env = append(os.Environ(), "CONFAB_ADMIN_PASSWORD=") // setup by token, as on a new box
	out, err := d.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stderr = d.cmd.Stdout
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = d.cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = d.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = d.cmd.Process.Kill()
		}
		if t.Failed() {
			t.Logf("confabd console:\n%s", d.log())
		}
	})
	ready := make(chan struct{})
	tokenRE := regexp.MustCompile(`setup token ([A-Z0-9]+)`)
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.console.WriteString(line + "\n")
			if m := tokenRE.FindStringSubmatch(line); m != nil {
				d.token = m[1]
			}
			d.mu.Unlock()
			if !signalled && strings.HasPrefix(line, "confabd ready:") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case <-ready:
	case <-time.After(30 * time.Second):
		t.Fatalf("confabd did not start:\n%s", d.log())
	}
	if d.token == "" {
		t.Fatalf("confabd printed no setup token:\n%s", d.log())
	}
	return d
}

// caller is a SIP phone dialled into the daemon.
type caller struct {
	agent *sipcaller.Agent
	call  *sipcaller.Call
	ph    *phone.Phone
}

func dial(t *testing.T, d *daemon, number, name string, hz float64) *caller {
	t.Helper()
	a, err := sipcaller.New(sipcaller.WithUser(strings.ToLower(name), name))
	if err != nil {
		t.Fatal(err)
	}
	ph, err := phone.New(phone.Config{Codec: "PCMU", ToneHz: hz})
	if err != nil {
		t.Fatal(err)
	}
	c := &caller{agent: a, ph: ph}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		if c.call != nil {
			_ = c.call.Bye(ctx)
		}
		ph.Stop()
		_ = a.Close()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c.call, err = a.Dial(ctx, "sip:"+number+"@"+d.sip, ph.Offer())
	if err != nil {
		t.Fatalf("%s dials %s: %v", name, number, err)
	}
	remote, err := sipcaller.MediaAddr(c.call.Answer())
	if err != nil {
		t.Fatal(err)
	}
	ph.Start(remote)
	return c
}

// toneRMS is the RMS of the tone in the last window c received.
func (c *caller) toneRMS() float64 {
	pcm := c.ph.Received()
	n := int(window.Seconds() * float64(c.ph.Rate()))
	if len(pcm) < n {
		return 0
	}
	w := pcm[len(pcm)-n:]
	level := phone.ToneLevel(w, c.ph.Rate(), toneHz)
	if math.IsInf(level, -1) {
		return 0
	}
	return phone.RMS(w) * math.Pow(10, level/20)
}

func waitFor(t *testing.T, what string, timeout time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromium); err != nil {
		t.Skip("needs Debian's chromium at " + chromium + " (apt-get install chromium; make test installs it)")
	}
	opts := append([]chromedp.ExecAllocatorOption{}, chromedp.DefaultExecAllocatorOptions[:]...)
	opts = append(opts, chromedp.ExecPath(chromium), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	// Debian's chromium speaks a newer DevTools protocol than chromedp's
	// generated types know; events it cannot decode are ones this test
	// does not use, so only other errors are logged.
	ctx, cancelCtx := chromedp.NewContext(actx, chromedp.WithErrorf(func(format string, args ...any) {
		if msg := fmt.Sprintf(format, args...); !strings.Contains(msg, "could not unmarshal event") {
			t.Logf("chromium: %s", msg)
		}
	}))
	ctx, cancelTime := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTime(); cancelCtx(); cancelAlloc() })
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Run(sctx, actions...); err != nil {
		var url, body string
		_ = chromedp.Run(ctx, chromedp.Location(&url), chromedp.Text("body", &body, chromedp.ByQuery))
		t.Fatalf("%s: %v\nat %s:\n%s", what, err, url, body)
	}
}

func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("CONFAB_SCREENSHOTS")
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var png []byte
	run(t, ctx, "screenshot "+name, chromedp.FullScreenshot(&png, 100))
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTheWebPageRunsAConference(t *testing.T) {
	ctx := browser(t)
	d := startDaemon(t)
	base := "http://" + d.http

	t.Run("a new box asks for the setup token and sets the first password", func(t *testing.T) {
		run(t, ctx, "setup",
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible("#token", chromedp.ByID),
			chromedp.SendKeys("#token", d.token, chromedp.ByID),
			chromedp.SendKeys("#password", "e2e-password", chromedp.ByID),
			chromedp.SendKeys("#confirm", "e2e-password", chromedp.ByID),
			chromedp.Click("#set-password", chromedp.ByID),
			chromedp.WaitVisible("#live", chromedp.ByID),
		)
	})

	t.Run("the admin logs out and in again", func(t *testing.T) {
		run(t, ctx, "log out and in",
			chromedp.Click("#logout", chromedp.ByID),
			chromedp.WaitVisible("#login", chromedp.ByID),
			chromedp.SendKeys("#password", "e2e-password", chromedp.ByID),
			chromedp.Click("#login", chromedp.ByID),
			chromedp.WaitVisible("#live", chromedp.ByID),
		)
	})

	t.Run("a wrong PIN is shown beside its field", func(t *testing.T) {
		var msg string
		run(t, ctx, "bad form",
			chromedp.Navigate(base+"/conferences/new"),
			chromedp.WaitVisible("#number", chromedp.ByID),
			chromedp.SendKeys("#number", "7001", chromedp.ByID),
			chromedp.SendKeys("#pin", "12", chromedp.ByID),
			chromedp.Click("#save-conference", chromedp.ByID),
			chromedp.Text(`#pin ~ .field-error`, &msg, chromedp.ByQuery),
		)
		if !strings.Contains(msg, "4-12 digits") {
			t.Fatalf("error beside the PIN: %q", msg)
		}
	})

	t.Run("a conference is created with the form", func(t *testing.T) {
		var list string
		run(t, ctx, "create",
			chromedp.Navigate(base+"/conferences/new"),
			chromedp.WaitVisible("#number", chromedp.ByID),
			chromedp.SendKeys("#number", "7001", chromedp.ByID),
			chromedp.SendKeys("#name", "Weekly team call", chromedp.ByID),
			chromedp.Click("#save-conference", chromedp.ByID),
			chromedp.WaitVisible("#new-conference", chromedp.ByID),
			chromedp.Text("table.list", &list, chromedp.ByQuery),
		)
		if !strings.Contains(list, "7001") || !strings.Contains(list, "Weekly team call") {
			t.Fatalf("conference list: %q", list)
		}
	})

	run(t, ctx, "dashboard", chromedp.Navigate(base+"/"), chromedp.WaitVisible("#live-status", chromedp.ByID))
	alice := dial(t, d, "7001", "Alice", toneHz)
	bob := dial(t, d, "7001", "Bob", 0)
	carol := dial(t, d, "7001", "Carol", 0)

	var aliceID string
	t.Run("the callers appear live and the talker's indicator lights", func(t *testing.T) {
		// No reload: the rows arrive over the page's event stream.
		run(t, ctx, "roster",
			chromedp.WaitVisible(`//tr[@data-member][contains(., "Carol")]`, chromedp.BySearch),
			chromedp.WaitVisible(`//tr[@data-member][contains(., "Alice")]//span[contains(@class, "talk on")]`, chromedp.BySearch),
			chromedp.AttributeValue(`//tr[@data-member][contains(., "Alice")]`, "data-member", &aliceID, nil, chromedp.BySearch),
		)
		var quiet int
		run(t, ctx, "quiet ones", chromedp.Evaluate(
			`[...document.querySelectorAll('tr[data-member]')].filter(r => r.textContent.includes('Bob') && r.querySelector('.talk:not(.on)')).length`, &quiet))
		if quiet != 1 {
			t.Fatal("Bob, who sends silence, is shown talking")
		}
		var callers string
		run(t, ctx, "summary", chromedp.Text("#n-callers", &callers, chromedp.ByID))
		if callers != "3" {
			t.Fatalf("the summary says %q callers, want 3", callers)
		}
	})

	t.Run("the others hear the talker before the mute", func(t *testing.T) {
		for _, c := range []*caller{bob, carol} {
			waitFor(t, "the tone at the other callers", 8*time.Second, func() bool { return c.toneRMS() > heardRMS })
		}
	})

	t.Run("call quality arrives from the MCU's reports", func(t *testing.T) {
		// The MCU reports each caller's quality every 5 s; the card
		// refreshes every 2 s.
		run(t, ctx, "quality", chromedp.WaitVisible(
			`//tr[@data-member][contains(., "Alice")]//span[contains(@class, "mos") and not(contains(@class, "unknown"))]`, chromedp.BySearch))
		screenshot(t, ctx, "dashboard")
	})

	t.Run("mute on the dashboard silences the talker for the others", func(t *testing.T) {
		run(t, ctx, "mute",
			chromedp.Click(fmt.Sprintf(`button[data-cmd="mute"][data-member="%s"]`, aliceID), chromedp.ByQuery),
			chromedp.WaitVisible(fmt.Sprintf(`tr[data-member="%s"] [data-muted="true"]`, aliceID), chromedp.ByQuery),
		)
		time.Sleep(300 * time.Millisecond) // what was in flight drains
		for _, c := range []*caller{bob, carol} {
			c.ph.Reset()
			waitFor(t, "a fresh window of audio", 5*time.Second, func() bool {
				return len(c.ph.Received()) >= int(window.Seconds()*float64(c.ph.Rate()))
			})
			if got := c.toneRMS(); got > silentRMS {
				t.Fatalf("the tone is still heard at %.0f RMS after the mute (silent below %.0f)", got, silentRMS)
			}
		}
		if got := alice.toneRMS(); got > silentRMS {
			t.Fatalf("Alice hears her own tone at %.0f RMS", got)
		}
	})

	t.Run("the conferences and settings pages show", func(t *testing.T) {
		var path string
		run(t, ctx, "conferences", chromedp.Navigate(base+"/conferences"), chromedp.WaitVisible("table.list", chromedp.ByQuery))
		screenshot(t, ctx, "conferences")
		run(t, ctx, "settings", chromedp.Navigate(base+"/settings"), chromedp.WaitVisible("#settings-form", chromedp.ByID),
			chromedp.Text("#media-path", &path, chromedp.ByID))
		if path == "" {
			t.Fatal("the settings page does not say which media path is in use")
		}
		screenshot(t, ctx, "settings")
	})

	t.Run("the admin logs out", func(t *testing.T) {
		var loc string
		run(t, ctx, "logout",
			chromedp.Click("#logout", chromedp.ByID),
			chromedp.WaitVisible("#login", chromedp.ByID),
			chromedp.Navigate(base+"/"),
			chromedp.WaitVisible("#login", chromedp.ByID),
			chromedp.Location(&loc),
		)
		if !strings.HasSuffix(loc, "/login") {
			t.Fatalf("after logout the dashboard leads to %s", loc)
		}
	})
}
