package control

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"confab/image/bundle"
	"confab/image/netconf"
	"confab/image/update"
)

type fakeBox struct {
	installErr error
	installed  []byte
	rebooted   bool
	restarted  bool
	network    netconf.Config
	policy     update.Policy
}

func (f *fakeBox) Status() Status { return Status{Version: "1.0", Slot: "a", Committed: true} }
func (f *fakeBox) Log() []byte    { return []byte("confabd ready\n") }
func (f *fakeBox) Install(_ context.Context, r io.Reader, p update.Policy) (update.Installed, error) {
	f.policy = p
	b, err := io.ReadAll(r)
	if err != nil {
		return update.Installed{}, err
	}
	f.installed = b
	if f.installErr != nil {
		return update.Installed{}, f.installErr
	}
	return update.Installed{Version: "2.0", Slot: "b", Entry: "confab-000002-b"}, nil
}
func (f *fakeBox) Progress() update.Progress { return update.Progress{State: "idle"} }
func (f *fakeBox) Reboot() error             { f.rebooted = true; return nil }
func (f *fakeBox) Network() (netconf.Config, netconf.State, error) {
	return f.network, netconf.State{Source: "dhcp"}, nil
}
func (f *fakeBox) SetNetwork(c netconf.Config) error { f.network = c; return nil }
func (f *fakeBox) RestartConfabd()                   { f.restarted = true }

func do(t *testing.T, h http.Handler, method, path, body string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	return rec.Code, rec.Body.String()
}

func TestHandler(t *testing.T) {
	box := &fakeBox{}
	h := Handler(box, nil)
	t.Run("status is JSON with version and slot", func(t *testing.T) {
		code, body := do(t, h, "GET", "/status", "")
		var st Status
		if code != 200 || json.Unmarshal([]byte(body), &st) != nil || st.Version != "1.0" || st.Slot != "a" {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("the log is confabd's output", func(t *testing.T) {
		if code, body := do(t, h, "GET", "/log", ""); code != 200 || body != "confabd ready\n" {
			t.Fatalf("%d %q", code, body)
		}
	})
	t.Run("an uploaded bundle is installed from the request body", func(t *testing.T) {
		code, body := do(t, h, "POST", "/update", "BUNDLE")
		if code != 200 || string(box.installed) != "BUNDLE" || !strings.Contains(body, `"slot": "b"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	refusals := []struct {
		name   string
		err    error
		status int
		says   string
	}{
		{"an unsigned bundle", bundle.ErrSignature, 422, "not signed"},
		{"a damaged bundle", fmt.Errorf("x: %w", bundle.ErrCorrupt), 422, "damaged"},
		{"a second upload", update.ErrBusy, 409, "another update"},
		{"a bundle for another machine", fmt.Errorf("%w: version 2 is for arm64 machines and this box is amd64", update.ErrArch), 422,
			"Version 2 is for arm64 machines and this box is amd64; nothing was changed"},
		{"an older version", fmt.Errorf("%w: version 0.9 was built 2026-01-01 10:00, before", update.ErrOlder), 422, "Allow an older version"},
		{"an update during a trial", ErrOnTrial, 409, "still on trial"},
	}
	for _, tt := range refusals {
		t.Run(tt.name+" is refused with a message", func(t *testing.T) {
			box.installErr = tt.err
			defer func() { box.installErr = nil }()
			code, body := do(t, h, "POST", "/update", "x")
			if code != tt.status || !strings.Contains(body, tt.says) {
				t.Fatalf("%d %s", code, body)
			}
		})
	}
	t.Run("an older version is allowed only when asked for", func(t *testing.T) {
		if do(t, h, "POST", "/update", "x"); box.policy.AllowOlder {
			t.Fatal("a plain upload allowed an older version")
		}
		if do(t, h, "POST", "/update?allow_older=1", "x"); !box.policy.AllowOlder {
			t.Fatal("allow_older=1 did not reach the box")
		}
	})
	t.Run("valid network settings are saved", func(t *testing.T) {
		code, body := do(t, h, "PUT", "/network", `{"dhcp":true,"static":{"address":"192.168.1.9/24"}}`)
		if code != 200 || box.network.Static == nil || box.network.Static.Address.String() != "192.168.1.9/24" {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("invalid network settings are refused with the reason", func(t *testing.T) {
		code, body := do(t, h, "PUT", "/network", `{"dhcp":false}`)
		if code != 400 || !strings.Contains(body, "static address is needed") {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("reboot and restart reach the box", func(t *testing.T) {
		if code, _ := do(t, h, "POST", "/reboot", ""); code != 202 || !box.rebooted {
			t.Fatalf("reboot %d", code)
		}
		if code, _ := do(t, h, "POST", "/confabd/restart", ""); code != 202 || !box.restarted {
			t.Fatalf("restart %d", code)
		}
	})
	t.Run("changing state needs POST or PUT", func(t *testing.T) {
		if code, _ := do(t, h, "GET", "/reboot", ""); code != http.StatusMethodNotAllowed {
			t.Fatalf("GET /reboot = %d", code)
		}
	})
}

func TestProxy(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "control.sock")
	ln, err := Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: Handler(&fakeBox{}, nil)}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	front := httptest.NewServer(http.StripPrefix("", Proxy(sock, "/api/v1/system")))
	defer front.Close()
	t.Run("a request under the prefix reaches the init's API", func(t *testing.T) {
		res, err := http.Get(front.URL + "/api/v1/system/log")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != "confabd ready\n" {
			t.Fatalf("%d %q", res.StatusCode, b)
		}
	})
	t.Run("without the init the proxy says so", func(t *testing.T) {
		lone := httptest.NewServer(Proxy(filepath.Join(t.TempDir(), "none.sock"), "/api/v1/system"))
		defer lone.Close()
		res, err := http.Get(lone.URL + "/api/v1/system/status")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 503 || !strings.Contains(string(b), "not reachable") {
			t.Fatalf("%d %s", res.StatusCode, b)
		}
	})
}
