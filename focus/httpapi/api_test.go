package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"confab/focus/store"
)

// confs is the real conferencing database with a Focus URI.
type confs struct{ *store.Store }

func (confs) FocusURI(c store.Conference) string {
	return "sip:org@box;gruu;opaque=app:conf:focus:id:" + c.FocusID
}

// fakeLive records commands and reports one active conference.
type fakeLive struct {
	mu       sync.Mutex
	active   int64
	commands []string
}

func (f *fakeLive) Roster(id int64) (Roster, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.active {
		return Roster{}, false
	}
	return Roster{Participants: []Participant{{ID: "1", Name: "Alice", Role: "presenter", Codec: "G722"}}}, true
}

func (f *fakeLive) Command(_ context.Context, id int64, member, cmd string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if id != f.active {
		return ErrNotActive
	}
	if cmd == "bogus" {
		return ErrBadCommand
	}
	f.commands = append(f.commands, fmt.Sprintf("%d/%s/%s", id, member, cmd))
	return nil
}

func newServer(t *testing.T) (*httptest.Server, *fakeLive) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "confab.db"), store.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAdminPassword(context.Background(), "admin", "correct-horse"); err != nil {
		t.Fatal(err)
	}
	lv := &fakeLive{}
	srv := httptest.NewServer(New(confs{db}, lv, db).Handler())
	t.Cleanup(srv.Close)
	return srv, lv
}

func call(t *testing.T, srv *httptest.Server, method, path, body, password string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if password != "" {
		req.SetBasicAuth("admin", password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestConferenceLifecycleOverTheAPI(t *testing.T) {
	srv, live := newServer(t)
	const pw = "correct-horse"
	code, c := call(t, srv, "POST", "/api/v1/conferences", `{"number":"7001","name":"Weekly","pin":"1234","moderator_pin":"9876"}`, pw)
	if code != http.StatusCreated || c["number"] != "7001" || c["pin"] != "1234" || c["announcements"] != true {
		t.Fatalf("create: %d %v", code, c)
	}
	id := int64(c["id"].(float64))
	live.active = id

	steps := []struct {
		name, method, path, body string
		want                     int
		check                    func(map[string]any) bool
	}{
		{"the same number again is a conflict", "POST", "/api/v1/conferences", `{"number":"7001"}`, 409, nil},
		{"a PIN of letters is refused with a reason", "POST", "/api/v1/conferences", `{"number":"7002","pin":"12ab"}`, 400,
			func(m map[string]any) bool { return strings.Contains(fmt.Sprint(m["error"]), "pin") }},
		{"an unknown field is refused", "POST", "/api/v1/conferences", `{"number":"7003","colour":"red"}`, 400, nil},
		{"a body that is not JSON is refused", "POST", "/api/v1/conferences", `number=7003`, 400, nil},
		{"a conference without a number is refused", "POST", "/api/v1/conferences", `{"name":"x"}`, 400, nil},
		{"the conference shows its live roster", "GET", fmt.Sprintf("/api/v1/conferences/%d", id), "", 200,
			func(m map[string]any) bool { return m["active"] == true && m["roster"] != nil }},
		{"a change keeps what it does not name", "PATCH", fmt.Sprintf("/api/v1/conferences/%d", id), `{"name":"Daily"}`, 200,
			func(m map[string]any) bool { return m["name"] == "Daily" && m["pin"] == "1234" }},
		{"muting a participant goes to the Focus", "POST", fmt.Sprintf("/api/v1/conferences/%d/participants/1/mute", id), "", 200, nil},
		{"locking goes to the Focus", "POST", fmt.Sprintf("/api/v1/conferences/%d/lock", id), "", 200, nil},
		{"an unknown command is not found", "POST", fmt.Sprintf("/api/v1/conferences/%d/bogus", id), "", 404, nil},
		{"GET never runs a command", "GET", fmt.Sprintf("/api/v1/conferences/%d/participants/1/mute", id), "", 404, nil},
		{"an unknown conference is not found", "GET", "/api/v1/conferences/999", "", 404, nil},
		{"delete removes it", "DELETE", fmt.Sprintf("/api/v1/conferences/%d", id), "", 204, nil},
		{"and it is gone", "GET", fmt.Sprintf("/api/v1/conferences/%d", id), "", 404, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, out := call(t, srv, s.method, s.path, s.body, pw)
			if code != s.want {
				t.Fatalf("%s %s: %d %v, want %d", s.method, s.path, code, out, s.want)
			}
			if s.check != nil && !s.check(out) {
				t.Fatalf("%s %s: unexpected body %v", s.method, s.path, out)
			}
		})
	}
	if want := fmt.Sprintf("[%d/1/mute %d//lock]", id, id); fmt.Sprint(live.commands) != want {
		t.Fatalf("commands reaching the Focus: %v, want %s", live.commands, want)
	}
}

func TestTheAPIRequiresTheAdminPassword(t *testing.T) {
	srv, _ := newServer(t)
	t.Run("no credentials get 401 with a challenge", func(t *testing.T) {
		code, _ := call(t, srv, "GET", "/api/v1/conferences", "", "")
		if code != 401 {
			t.Fatalf("got %d", code)
		}
	})
	t.Run("a wrong password gets 401 and creates nothing", func(t *testing.T) {
		code, _ := call(t, srv, "POST", "/api/v1/conferences", `{"number":"7001"}`, "guess")
		if code != 401 {
			t.Fatalf("got %d", code)
		}
		code, _ = call(t, srv, "GET", "/api/v1/conferences/1", "", "correct-horse")
		if code != 404 {
			t.Fatalf("a conference was created by a wrong password: %d", code)
		}
	})
	t.Run("ten failures in a minute lock the address out", func(t *testing.T) {
		for i := 0; i < 10; i++ {
			call(t, srv, "GET", "/api/v1/conferences", "", "guess")
		}
		if code, _ := call(t, srv, "GET", "/api/v1/conferences", "", "correct-horse"); code != 429 {
			t.Fatalf("after 10 failures the right password got %d, want 429", code)
		}
	})
}
