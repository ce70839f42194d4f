package httpapi

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"confab/focus/store"
)

const testRealm = "box.example"

// newDirectoryServer serves the API with the directory over a real
// conferencing database holding conference 7001.
func newDirectoryServer(t *testing.T) (*httptest.Server, *store.Store) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "confab.db"), store.WithBcryptCost(bcrypt.MinCost))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.SetAdminPassword(ctx, "admin", "correct-horse"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateConference(ctx, store.NewConference("7001")); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(New(confs{db}, &fakeLive{}, db, WithDirectory(db, testRealm)).Handler())
	t.Cleanup(srv.Close)
	return srv, db
}

// rawCall is call that also returns the body as text, to prove what it
// does not contain.
func rawCall(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	req.SetBasicAuth("admin", "correct-horse")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestPhoneAccountsOverTheAPI(t *testing.T) {
	srv, db := newDirectoryServer(t)
	steps := []struct {
		name, method, path, body string
		want                     int
		has, hasNot              []string
	}{
		{"a phone account is created in the box's realm", "POST", "/api/v1/users",
			`{"username":"alice","display_name":"Alice Desk","password":"s3cret-pass"}`, 201,
			[]string{`"username": "alice"`, `"display_name": "Alice Desk"`, `"realm": "` + testRealm + `"`},
			[]string{"s3cret-pass", "ha1"}},
		{"the same username again is a conflict", "POST", "/api/v1/users", `{"username":"alice","password":"other-pass"}`, 409, nil, nil},
		{"a username a SIP URI cannot carry is refused with a reason", "POST", "/api/v1/users",
			`{"username":"bob@home","password":"pw-pw-pw"}`, 400, []string{"username"}, nil},
		{"an account without a password is refused", "POST", "/api/v1/users", `{"username":"carol"}`, 400, []string{"password"}, nil},
		{"an unknown field is refused", "POST", "/api/v1/users", `{"username":"dave","password":"pw-pw-pw","pin":"1"}`, 400, nil, nil},
		{"a body that is not JSON is refused", "POST", "/api/v1/users", `username=dave`, 400, nil, nil},
		{"the list shows the account without secrets", "GET", "/api/v1/users", "", 200,
			[]string{`"username": "alice"`}, []string{"s3cret-pass", "ha1"}},
		{"deleting the account answers 204", "DELETE", "/api/v1/users/alice", "", 204, nil, nil},
		{"and a second delete finds nothing", "DELETE", "/api/v1/users/alice", "", 404, nil, nil},
		{"the list is then empty", "GET", "/api/v1/users", "", 200, []string{"[]"}, nil},
	}
	for i, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := rawCall(t, srv, s.method, s.path, s.body)
			if code != s.want {
				t.Fatalf("%s %s: %d %s, want %d", s.method, s.path, code, body, s.want)
			}
			for _, h := range s.has {
				if !strings.Contains(body, h) {
					t.Errorf("body %s lacks %s", body, h)
				}
			}
			for _, h := range s.hasNot {
				if strings.Contains(strings.ToLower(body), strings.ToLower(h)) {
					t.Errorf("body %s shows %s", body, h)
				}
			}
			if i == 0 {
				// The digest hash is of the password in the box's realm,
				// which is what a phone's REGISTER is checked against.
				u, err := db.UserByName(context.Background(), "alice")
				if err != nil {
					t.Fatal(err)
				}
				sum := md5.Sum([]byte("alice:" + testRealm + ":s3cret-pass"))
				if u.HA1MD5 != hex.EncodeToString(sum[:]) {
					t.Fatalf("stored HA1 %s is not that of the password in realm %s", u.HA1MD5, testRealm)
				}
			}
		})
	}
}

func TestTrunksOverTheAPI(t *testing.T) {
	srv, db := newDirectoryServer(t)
	code, body := rawCall(t, srv, "POST", "/api/v1/trunks",
		`{"name":"carrier","peers":["192.0.2.10","198.51.100.7/24"],"dids":[{"number":"5550100","conference":"7001"}],"username":"carrier-in","password":"trunk-pass"}`)
	if code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	for _, want := range []string{`"198.51.100.0/24"`, `"number": "5550100"`, `"conference": "7001"`, `"has_password": true`} {
		if !strings.Contains(body, want) {
			t.Errorf("created trunk %s lacks %s", body, want)
		}
	}
	if strings.Contains(body, "trunk-pass") {
		t.Errorf("the trunk's password is shown: %s", body)
	}
	ts, err := db.ListTrunks(context.Background())
	if err != nil || len(ts) != 1 {
		t.Fatalf("trunks in the database: %v, %v", ts, err)
	}
	if conf, err := db.ConferenceForDID(context.Background(), ts[0].ID, "5550100"); err != nil || conf != "7001" {
		t.Fatalf("DID 5550100 routes to %q (%v), want 7001", conf, err)
	}
	id := ts[0].ID

	steps := []struct {
		name, method, path, body string
		want                     int
		has                      string
	}{
		{"a DID routed to a conference that does not exist is refused", "POST", "/api/v1/trunks",
			`{"name":"pbx","peers":["192.0.2.20"],"dids":[{"number":"5550199","conference":"9999"}]}`, 400, "9999"},
		{"a peer that is no address, prefix or host name is refused", "POST", "/api/v1/trunks",
			`{"name":"pbx","peers":["not an address"]}`, 400, "peer"},
		{"a username without a password is refused", "POST", "/api/v1/trunks", `{"name":"pbx","username":"pbx-in"}`, 400, "password"},
		{"the same name again is a conflict", "POST", "/api/v1/trunks", `{"name":"carrier","peers":["192.0.2.30"]}`, 409, ""},
		{"an unknown field is refused", "POST", "/api/v1/trunks", `{"name":"pbx","colour":"red"}`, 400, ""},
		{"the list shows the trunk and its DIDs", "GET", "/api/v1/trunks", "", 200, `"number": "5550100"`},
		{"a trunk id that is not a number is refused", "DELETE", "/api/v1/trunks/carrier", "", 400, "not a number"},
		{"deleting the trunk answers 204", "DELETE", fmt.Sprintf("/api/v1/trunks/%d", id), "", 204, ""},
		{"and a second delete finds nothing", "DELETE", fmt.Sprintf("/api/v1/trunks/%d", id), "", 404, ""},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			code, body := rawCall(t, srv, s.method, s.path, s.body)
			if code != s.want || !strings.Contains(body, s.has) {
				t.Fatalf("%s %s: %d %s, want %d with %q", s.method, s.path, code, body, s.want, s.has)
			}
		})
	}
}

func TestTheDirectoryNeedsTheAdminAndTheOption(t *testing.T) {
	srv, _ := newDirectoryServer(t)
	plain, _ := newServer(t)
	for _, tc := range []struct {
		name     string
		srv      *httptest.Server
		password string
		want     int
	}{
		{"without credentials the accounts are not listed", srv, "", 401},
		{"with a wrong password the accounts are not listed", srv, "guess", 401},
		{"an API made without WithDirectory has no accounts", plain, "correct-horse", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, out := call(t, tc.srv, "GET", "/api/v1/users", "", tc.password); code != tc.want {
				t.Fatalf("got %d %v, want %d", code, out, tc.want)
			}
		})
	}
}
