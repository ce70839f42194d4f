package main

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/store"
	"confab/mixer"
	"confab/web"
)

// The tests run confabctl against the real API and web page over a real
// conferencing database, with a fake Focus Factory for the live parts.

type confs struct{ *store.Store }

func (confs) FocusURI(c store.Conference) string {
	return "sip:7@box;gruu;opaque=app:conf:focus:id:" + c.FocusID
}

// live has conference 1 in progress until it gets "end".
type live struct {
	commands []string
	ended    bool
}

func (l *live) Roster(id int64) (httpapi.Roster, bool) {
	if id != 1 || l.ended {
		return httpapi.Roster{}, false
	}
	return httpapi.Roster{Participants: []httpapi.Participant{{ID: "4", Name: "Alice", Role: "presenter", State: "in-conference",
		Codec: "G722", Talking: true, MOS: 4.3}}}, true
}

func (l *live) Command(_ context.Context, id int64, member, cmd string) error {
	if id != 1 {
		return httpapi.ErrNotActive
	}
	l.commands = append(l.commands, member+"/"+cmd)
	l.ended = l.ended || cmd == "end"
	return nil
}

type events struct{}

func (events) Subscribe(int) (<-chan focus.Event, func()) { return make(chan focus.Event), func() {} }

type engine struct{}

func (engine) Stats() mixer.Stats   { return mixer.Stats{} }
func (engine) Config() mixer.Config { return mixer.Config{} }

func newBox(t *testing.T) (*httptest.Server, *store.Store, string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "confab.db"), store.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAdminPassword(ctx, "admin", "box-password"); err != nil {
		t.Fatal(err)
	}
	_, token, err := db.CreateAPIToken(ctx, "confabctl test")
	if err != nil {
		t.Fatal(err)
	}
	lv := &live{}
	api := httpapi.New(confs{db}, lv, db, httpapi.WithDirectory(db, "box"),
		httpapi.WithLogger(slog.New(slog.DiscardHandler)))
	page, err := web.New(web.Deps{Conferences: confs{db}, Live: lv, Events: events{}, Accounts: db, Directory: db, Records: db,
		Engine: engine{}, API: api, Logs: web.NewLogRing(1), Metrics: http.NotFoundHandler(),
		Runtime: web.Runtime{StartedAt: time.Now(), InUse: web.DefaultSettings()}})
	if err != nil {
		t.Fatal(err)
	}
	httpapi.WithSessions(page)(api)
	srv := httptest.NewServer(page.Handler())
	t.Cleanup(srv.Close)
	return srv, db, token
}

func TestConfabctl(t *testing.T) {
	srv, db, token := newBox(t)
	dir := t.TempDir()
	backup := filepath.Join(dir, "box.json")
	env := func(k string) string {
		return map[string]string{"CONFAB_URL": srv.URL, "CONFAB_TOKEN": token}[k]
	}
	steps := []struct {
		name string
		args []string
		says string // in the output
		fail string // in the error; "" for success
	}{
		{"a conference is created", []string{"conference", "create", "--number", "7001", "--name", "Weekly", "--pin", "1234"}, "created conference 1: number 7001", ""},
		{"a bad PIN is refused with the API's reason", []string{"conference", "create", "--number", "7002", "--pin", "12"}, "", "pin must be 4-12 digits"},
		{"the list shows it", []string{"conference", "list"}, "7001    Weekly  1234", ""},
		{"the roster shows the live callers", []string{"conference", "roster", "1"}, "Alice  presenter", ""},
		{"--json prints the API's answer", []string{"--json", "conference", "show", "1"}, `"number": "7001"`, ""},
		{"an update changes only what it names", []string{"conference", "update", "1", "--name", "Daily"}, "updated conference 1", ""},
		{"a participant is muted", []string{"participant", "mute", "1", "4"}, "", ""},
		{"the conference is locked", []string{"conference", "lock", "1"}, "", ""},
		{"a phone is added", []string{"phone", "add", "201", "--password", "phone-secret", "--name", "Front desk"}, "added phone 201", ""},
		{"phones are listed", []string{"phone", "list"}, "201       Front desk", ""},
		{"a trunk is added with a DID", []string{"trunk", "add", "carrier", "--peer", "192.0.2.0/24", "--did", "+15551230000=7001"}, "added trunk 1", ""},
		{"trunks are listed", []string{"trunk", "list"}, "+15551230000→7001", ""},
		{"a backup is written to a file", []string{"backup", backup}, "backup written to", ""},
		{"the phone is deleted", []string{"phone", "delete", "201"}, "deleted phone 201", ""},
		{"no backup is restored during a conference", []string{"restore", backup}, "", "conferences are in progress"},
		{"the conference is ended", []string{"conference", "end", "1"}, "", ""},
		{"the backup is restored", []string{"restore", backup}, `"restored":true`, ""},
		{"the restored phone is back", []string{"phone", "list"}, "201", ""},
		{"an unknown conference is an error", []string{"conference", "show", "99"}, "", "HTTP 404"},
		{"an unknown command prints the usage", []string{"dance"}, "", "usage: confabctl"},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(s.args, &out, env)
			switch {
			case s.fail == "" && err != nil:
				t.Fatalf("confabctl %v: %v", s.args, err)
			case s.fail != "" && (err == nil || !strings.Contains(err.Error(), s.fail)):
				t.Fatalf("confabctl %v: error %v, want one containing %q", s.args, err, s.fail)
			case !strings.Contains(out.String(), s.says):
				t.Fatalf("confabctl %v printed:\n%s\nwant it to contain %q", s.args, out.String(), s.says)
			}
		})
	}
	t.Run("the backup file is a Confab backup", func(t *testing.T) {
		b, err := os.ReadFile(backup)
		var parsed store.Backup
		if err != nil || json.Unmarshal(b, &parsed) != nil || parsed.Format != store.BackupFormat {
			t.Fatalf("backup file: %v", err)
		}
	})
	t.Run("the admin password works instead of a token", func(t *testing.T) {
		var out bytes.Buffer
		pwEnv := func(k string) string {
			return map[string]string{"CONFAB_URL": srv.URL, "CONFAB_ADMIN_PASSWORD": "box-password"}[k]
		}
		if err := run([]string{"conference", "list"}, &out, pwEnv); err != nil || !strings.Contains(out.String(), "7001") {
			t.Fatalf("%v\n%s", err, out.String())
		}
	})
	t.Run("no credentials say how to give them", func(t *testing.T) {
		err := run([]string{"conference", "list"}, &bytes.Buffer{}, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "--token") {
			t.Fatalf("error %v", err)
		}
	})
	if c, _ := db.GetConference(context.Background(), 1); c.Name != "Daily" || c.PIN != "1234" {
		t.Fatalf("after update: %+v", c)
	}
}
