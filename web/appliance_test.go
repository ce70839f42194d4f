package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"confab/focus/httpapi"
	"confab/image/control"
	"confab/image/netconf"
	"confab/image/supervise"
	"confab/image/update"
)

// fakeAppliance is the init's control API as the page sees it.
type fakeAppliance struct {
	mu         sync.Mutex
	status     control.Status
	statusErr  error
	network    control.NetworkInfo
	installErr error
	installed  []byte
	policy     update.Policy
	saved      *netconf.Config
	rebooted   bool
}

func newFakeAppliance() *fakeAppliance {
	return &fakeAppliance{
		status: control.Status{Version: "1.0.0", Arch: "amd64", Slot: "a", Committed: true,
			Health: supervise.HealthState{Healthy: true}, Update: update.Progress{State: "idle"}},
		network: control.NetworkInfo{Config: netconf.Default(), State: netconf.State{Interface: "eth0", Source: "dhcp",
			Address: netip.MustParsePrefix("10.0.2.15/24"), Hostname: "confab-123456"}},
	}
}

func (f *fakeAppliance) Status(context.Context) (control.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.status, f.statusErr
}

func (f *fakeAppliance) Install(_ context.Context, r io.Reader, p update.Policy) (update.Installed, error) {
	b, err := io.ReadAll(r)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.installed, f.policy = b, p
	if err != nil {
		return update.Installed{}, err
	}
	if f.statusErr != nil {
		return update.Installed{}, f.statusErr
	}
	if f.installErr != nil {
		return update.Installed{}, f.installErr
	}
	f.status.Update = update.Progress{State: "installed", Version: "2.0.0", Done: int64(len(b)), Total: int64(len(b))}
	return update.Installed{Version: "2.0.0", Slot: "b", Entry: "confab-000002-b+1"}, nil
}

func (f *fakeAppliance) Reboot(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rebooted = true
	return f.statusErr
}

func (f *fakeAppliance) Network(context.Context) (control.NetworkInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.network, f.statusErr
}

func (f *fakeAppliance) SetNetwork(_ context.Context, c netconf.Config) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := c.Validate(); err != nil {
		return &control.Error{Status: 400, Message: err.Error()}
	}
	f.saved = &c
	f.network.Config = c
	return nil
}

// uploadForm is the update form as a browser posts it.
func uploadForm(t *testing.T, file string, data []byte, allowOlder bool) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	_ = mw.WriteField("allow_older", "0")
	if allowOlder {
		_ = mw.WriteField("allow_older", "1")
	}
	fw, err := mw.CreateFormFile("bundle", file)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	return mw.FormDataContentType(), buf.Bytes()
}

func post(t *testing.T, c *http.Client, u, contentType string, body []byte, headers ...string) reply {
	t.Helper()
	req, _ := http.NewRequest("POST", u, bytes.NewReader(body))
	req.Header.Set("Content-Type", contentType)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, resp.Header.Get("Location"), string(b), resp.Header}
}

func TestSystemPageOffTheImage(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"without the control API", nil},
		{"when the control API reports no appliance", []Option{WithAppliance(&fakeAppliance{statusErr: control.ErrNotAppliance})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts...)
			c := f.loggedIn(t)
			r := do(t, c, "GET", f.srv.URL+"/system", nil)
			if r.status != 200 || !strings.Contains(r.body, `id="host-managed">This confabd does not run on the Confab appliance image: the host's operating system manages software updates and the network.`) ||
				strings.Contains(r.body, `id="update-form"`) || !strings.Contains(r.body, "Configuration backup") {
				t.Fatalf("%d %s", r.status, r.body)
			}
			ct, body := uploadForm(t, "confab-2.update", []byte("CFBUPD01..."), false)
			if r := post(t, c, f.srv.URL+"/system/update", ct, body); r.status != 404 || !strings.Contains(r.body, "host&#39;s operating system") {
				t.Fatalf("upload: %d %s", r.status, r.body)
			}
			if r := do(t, c, "POST", f.srv.URL+"/system/network", url.Values{"mode": {"dhcp"}}); r.status != 404 {
				t.Fatalf("network: %d", r.status)
			}
		})
	}
}

func TestSystemPageShowsTheBox(t *testing.T) {
	box := newFakeAppliance()
	f := newFixture(t, WithAppliance(box))
	c := f.loggedIn(t)
	page := func() string {
		t.Helper()
		r := do(t, c, "GET", f.srv.URL+"/system", nil)
		if r.status != 200 {
			t.Fatalf("%d %s", r.status, r.body)
		}
		return r.body
	}
	t.Run("the version, slot and committed state show", func(t *testing.T) {
		b := page()
		for _, want := range []string{`id="sw-version">1.0.0`, "slot A", `badge ok">committed`, "written to slot B", "10.0.2.15/24 (dhcp) on eth0",
			"apply at the next boot"} {
			if !strings.Contains(b, want) {
				t.Fatalf("no %q in\n%s", want, b)
			}
		}
	})
	t.Run("a slot on trial says until when", func(t *testing.T) {
		box.mu.Lock()
		box.status.Slot, box.status.Version, box.status.Committed = "b", "2.0.0", false
		box.status.CommitDeadline = time.Now().Add(time.Minute)
		box.mu.Unlock()
		if b := page(); !strings.Contains(b, "on trial") || !strings.Contains(b, "slot B") || !strings.Contains(b, "returns to the previous version") {
			t.Fatal(b)
		}
	})
	t.Run("a rolled-back update is named", func(t *testing.T) {
		box.mu.Lock()
		box.status.Slot, box.status.Version, box.status.Committed, box.status.RolledBack = "a", "1.0.0", true, "3.0.0-bad"
		box.mu.Unlock()
		if b := page(); !strings.Contains(b, "The update to version 3.0.0-bad failed its trial and was rolled back: the box returned to version 1.0.0") {
			t.Fatal(b)
		}
	})
	t.Run("a control API that does not answer is reported, and the rest of the page works", func(t *testing.T) {
		box.mu.Lock()
		box.statusErr = errors.New("the appliance's system service is not answering: connection refused")
		box.mu.Unlock()
		defer func() { box.mu.Lock(); box.statusErr = nil; box.mu.Unlock() }()
		if b := page(); !strings.Contains(b, "did not answer") || !strings.Contains(b, "Call records") {
			t.Fatal(b)
		}
	})
}

func TestUpdateUpload(t *testing.T) {
	box := newFakeAppliance()
	f := newFixture(t, WithAppliance(box))
	c := f.loggedIn(t)
	bundle := bytes.Repeat([]byte("confab update bytes "), 50000) // 1 MB
	t.Run("without JavaScript the form post installs and the page says reboot", func(t *testing.T) {
		ct, body := uploadForm(t, "confab-2.0.0.update", bundle, false)
		r := post(t, c, f.srv.URL+"/system/update", ct, body)
		if r.status != 200 || !strings.Contains(r.body, "Version 2.0.0 was verified and written to slot B. Reboot to try it") ||
			!strings.Contains(r.body, "Version 2.0.0 is written to slot B: reboot to try it.") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if !bytes.Equal(box.installed, bundle) || box.policy.AllowOlder {
			t.Fatalf("the box got %d bytes (want %d), policy %+v", len(box.installed), len(bundle), box.policy)
		}
	})
	t.Run("the script's upload gets JSON", func(t *testing.T) {
		ct, body := uploadForm(t, "confab-2.0.0.update", bundle, true)
		r := post(t, c, f.srv.URL+"/system/update", ct, body, "Accept", "application/json")
		var res map[string]string
		if r.status != 200 || json.Unmarshal([]byte(r.body), &res) != nil || !strings.Contains(res["message"], "written to slot B") {
			t.Fatalf("%d %s", r.status, r.body)
		}
		if !box.policy.AllowOlder {
			t.Fatal("the ticked box did not allow an older version")
		}
	})
	refusals := []struct {
		name   string
		err    error
		file   string
		status int
		says   string
	}{
		{"a file that is not a bundle", &control.Error{Status: 422, Message: "this file is not a Confab update bundle; nothing was changed"},
			"notes.txt", 422, "This file is not a Confab update bundle; nothing was changed."},
		{"a bundle with a bad signature", &control.Error{Status: 422, Message: "the update is not signed by Confab's update key for this box; nothing was changed"},
			"x.update", 422, "not signed by Confab&#39;s update key"},
		{"a bundle for another machine", &control.Error{Status: 422, Message: "Version 2 is for arm64 machines and this box is amd64; nothing was changed"},
			"x.update", 422, "is for arm64 machines"},
		{"an older version", &control.Error{Status: 422, Message: "Version 0.9 was built 2026-01-01 10:00, before the running system. To go back to it deliberately, tick \"Allow an older version\""},
			"x.update", 422, "Allow an older version"},
		{"no file chosen", nil, "", 400, "Choose the update file"},
		{"a control API that went away", errors.New("the appliance's system service is not answering: EOF"), "x.update", 502, "not answering"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+" is refused beside the form", func(t *testing.T) {
			box.mu.Lock()
			box.installErr = tt.err
			box.mu.Unlock()
			defer func() { box.mu.Lock(); box.installErr = nil; box.mu.Unlock() }()
			ct, body := uploadForm(t, tt.file, []byte("PK\x03\x04 zip"), false)
			r := post(t, c, f.srv.URL+"/system/update", ct, body)
			if r.status != tt.status || !regexp.MustCompile(`id="update-result" role="status" class="field-error">[^<]*`+regexp.QuoteMeta(tt.says)).MatchString(r.body) {
				t.Fatalf("%d, want %d with %q:\n%s", r.status, tt.status, tt.says, r.body)
			}
			rj := post(t, c, f.srv.URL+"/system/update", ct, body, "Accept", "application/json")
			var res map[string]string
			if rj.status != tt.status || json.Unmarshal([]byte(rj.body), &res) != nil || res["error"] == "" || res["message"] != "" {
				t.Fatalf("JSON: %d %s", rj.status, rj.body)
			}
		})
	}
	t.Run("an upload declared larger than the limit is refused before it is read", func(t *testing.T) {
		s, err := New(f.deps(), WithAppliance(box))
		if err != nil {
			t.Fatal(err)
		}
		ct, body := uploadForm(t, "big.update", []byte("x"), false)
		req := httptest.NewRequest("POST", "/system/update", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Accept", "application/json")
		req.ContentLength = maxUpload + 1
		rec := httptest.NewRecorder()
		s.updateUpload(rec, req)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "larger than 256 MiB") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("an upload that turns out larger than the limit is cut off", func(t *testing.T) {
		s, err := New(f.deps(), WithAppliance(box))
		if err != nil {
			t.Fatal(err)
		}
		var head bytes.Buffer
		mw := multipart.NewWriter(&head)
		_, _ = mw.CreateFormFile("bundle", "big.update")
		endless := io.MultiReader(&head, io.LimitReader(zeros{}, maxUpload+10))
		req := httptest.NewRequest("POST", "/system/update", endless)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		req.Header.Set("Accept", "application/json")
		req.ContentLength = -1
		rec := httptest.NewRecorder()
		s.updateUpload(rec, req)
		if rec.Code != 413 || !strings.Contains(rec.Body.String(), "larger than 256 MiB") {
			t.Fatalf("%d %s", rec.Code, rec.Body)
		}
	})
	t.Run("reboot reaches the box", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/system/reboot", url.Values{})
		if r.status != 202 || !box.rebooted || !strings.Contains(r.body, "The box is restarting") {
			t.Fatalf("%d %v %s", r.status, box.rebooted, r.body)
		}
	})
	t.Run("uploads and reboots need a login", func(t *testing.T) {
		anon := f.browser(t)
		ct, body := uploadForm(t, "x.update", []byte("x"), false)
		if r := post(t, anon, f.srv.URL+"/system/update", ct, body); r.status != 303 || r.location != "/login" {
			t.Fatalf("%d %s", r.status, r.location)
		}
	})
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// deps are the fixture's dependencies, for a second Server over them
// whose handlers a test calls directly.
func (f *fixture) deps() Deps {
	return Deps{Conferences: confs{f.db}, Live: f.live, Events: f.events, Accounts: f.db, Directory: f.db, Records: f.db,
		Engine: fakeEngine{}, API: httpapi.New(confs{f.db}, f.live, f.db), Logs: f.logs, Metrics: http.NotFoundHandler(),
		Runtime: Runtime{Version: "test"}}
}

func TestNetworkForm(t *testing.T) {
	box := newFakeAppliance()
	f := newFixture(t, WithAppliance(box))
	c := f.loggedIn(t)
	form := func(mode, host, addr, gw, dns string) url.Values {
		return url.Values{"mode": {mode}, "hostname": {host}, "address": {addr}, "gateway": {gw}, "dns": {dns}}
	}
	bad := []struct {
		name, field, says string
		form              url.Values
	}{
		{"an address that is no address", "address", "is not an IPv4 address with its prefix", form("static", "", "192.168.1.300/24", "", "")},
		{"an address without its prefix", "address", "Add the network&#39;s prefix length, such as 192.168.1.20/24", form("static", "", "192.168.1.20", "", "")},
		{"static without an address", "address", "With DHCP off, a static address is needed", form("static", "", "", "", "")},
		{"a gateway outside the network", "gateway", "must be another address in 192.168.1.0/24", form("static", "", "192.168.1.20/24", "10.0.0.1", "")},
		{"a gateway that is no address", "gateway", "is not an IP address", form("static", "", "192.168.1.20/24", "gw.example", "")},
		{"a DNS server that is no address", "dns", "&#34;1.1.1&#34; is not an IP address", form("dhcp", "", "192.168.1.20/24", "", "9.9.9.9, 1.1.1")},
		{"an IPv6 DNS server", "dns", "is not an IPv4 address", form("dhcp", "", "192.168.1.20/24", "", "2001:db8::1")},
		{"a host name with a space", "hostname", "may hold only letters, digits and inner hyphens", form("dhcp", "front desk", "", "", "")},
		{"a gateway without an address", "address", "needs a static address", form("dhcp", "", "", "192.168.1.1", "")},
		{"no mode", "mode", "Choose DHCP or a static address", form("", "", "", "", "")},
	}
	for _, tt := range bad {
		t.Run(tt.name+" is refused beside its field", func(t *testing.T) {
			r := do(t, c, "POST", f.srv.URL+"/system/network", tt.form)
			invalid := `[^>]*aria-invalid="true">`
			if tt.field == "mode" { // radio buttons
				invalid = `[^>]*>`
			}
			field := regexp.MustCompile(`(?s)(id|name)="` + tt.field + `"` + invalid + `.*?<span class="field-error" role="alert">([^<]*)</span>`)
			m := field.FindStringSubmatch(r.body)
			if r.status != 400 || m == nil || !strings.Contains(m[2], tt.says) {
				t.Fatalf("%d, field %s: %q, want %q\n%s", r.status, tt.field, m, tt.says, r.body)
			}
			if box.saved != nil {
				t.Fatalf("invalid settings were stored: %+v", box.saved)
			}
			if !strings.Contains(r.body, fmt.Sprintf(`value="%s"`, tt.form.Get("address"))) {
				t.Fatal("the form did not keep what was typed")
			}
		})
	}
	t.Run("valid static settings are stored and apply at the next boot", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/system/network", form("static", "bridge-2", "192.168.1.20/24", "192.168.1.1", "192.168.1.1, 9.9.9.9"))
		if r.status != 303 || r.location != "/system?done=network" {
			t.Fatalf("%d %s %s", r.status, r.location, r.body)
		}
		s := box.saved
		if s == nil || s.DHCP || s.Hostname != "bridge-2" || s.Static.Address.String() != "192.168.1.20/24" ||
			s.Static.Gateway.String() != "192.168.1.1" || len(s.Static.DNS) != 2 || s.Static.DNS[1].String() != "9.9.9.9" {
			t.Fatalf("stored %+v", s)
		}
		p := do(t, c, "GET", f.srv.URL+"/system?done=network", nil)
		if !strings.Contains(p.body, "The network settings apply at the next boot.") || !strings.Contains(p.body, `value="bridge-2"`) ||
			!strings.Contains(p.body, `value="static" checked`) {
			t.Fatal(p.body)
		}
	})
	t.Run("DHCP with no fallback is stored", func(t *testing.T) {
		r := do(t, c, "POST", f.srv.URL+"/system/network", form("dhcp", "", "", "", ""))
		if r.status != 303 || box.saved == nil || !box.saved.DHCP || box.saved.Static != nil || box.saved.Hostname != "" {
			t.Fatalf("%d %+v", r.status, box.saved)
		}
	})
}

// FuzzNetworkForm feeds arbitrary form values to the network form: it
// must never panic, and whatever it accepts must be settings the control
// API accepts too.
func FuzzNetworkForm(f *testing.F) {
	f.Add("static", "bridge-2", "192.168.1.20/24", "192.168.1.1", "9.9.9.9, 1.1.1.1")
	f.Add("dhcp", "", "", "", "")
	f.Add("dhcp", "a-b", "10.0.0.1/8", "10.255.255.254", "10.0.0.2;10.0.0.3")
	f.Add("static", "x", "::1/128", "::2", "fe80::1%eth0")
	f.Add("static", "", "192.168.1.255/24", "", "")
	f.Fuzz(func(t *testing.T, mode, host, addr, gw, dns string) {
		form := url.Values{"mode": {mode}, "hostname": {host}, "address": {addr}, "gateway": {gw}, "dns": {dns}}
		r := httptest.NewRequest("POST", "/system/network", strings.NewReader(form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		cfg, _, fields := readNetworkForm(r, netconf.Default())
		if len(fields) == 0 {
			if err := cfg.Validate(); err != nil {
				t.Fatalf("the form accepted %v, which the control API refuses: %v", form, err)
			}
		}
	})
}
