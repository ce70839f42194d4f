package main

import (
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"confab/bench/sipcaller"
	"confab/focus/store"
)

func TestRegistrarWithDigest(t *testing.T) {
	d := startDaemon(t)
	const password = "alice-Secret-1"
	d.mustAPI(t, "POST", "/api/v1/users", map[string]string{"username": "alice", "display_name": "Alice Desk",
		"password": password}, nil, http.StatusCreated)
	phone, err := sipcaller.New(sipcaller.WithUser("alice", "Alice Desk"))
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	registrar := "sip:" + d.sip
	register := func(t *testing.T, pw string, opts ...sipcaller.RegisterOption) (*sipcaller.Registration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return phone.Register(ctx, registrar, "alice", pw, time.Hour, opts...)
	}
	contact := "sip:alice@" + phone.Addr().String()

	for _, tc := range []struct {
		name, password string
		opts           []sipcaller.RegisterOption
		want           int // SIP status; 200 registers
	}{
		{"a REGISTER without credentials is challenged with 401", "", nil, 401},
		{"MD5 credentials register", password, []sipcaller.RegisterOption{sipcaller.WithAlgorithm("MD5")}, 200},
		{"SHA-256 credentials register", password, []sipcaller.RegisterOption{sipcaller.WithAlgorithm("SHA-256")}, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg, err := register(t, tc.password, tc.opts...)
			if got := statusOf(err); got != tc.want {
				t.Fatalf("REGISTER got %d (%v), want %d", got, err, tc.want)
			}
			if tc.want == 200 && !hasBinding(reg, contact) {
				t.Fatalf("bindings %+v lack %s", reg.Bindings, contact)
			}
		})
	}
	if t.Failed() {
		return
	}

	t.Run("the binding is in the database after a restart and still honoured", func(t *testing.T) {
		if code := d.stop(t); code != 0 {
			t.Fatalf("confabd exited %d on SIGTERM", code)
		}
		db, err := store.Open(context.Background(), filepath.Join(d.dataDir, "confab.db"))
		if err != nil {
			t.Fatal(err)
		}
		regs, err := db.ActiveRegistrations(context.Background(), "alice", time.Now())
		db.Close()
		if err != nil || len(regs) != 1 || !strings.Contains(regs[0].Contact, phone.Addr().String()) {
			t.Fatalf("registrations of alice in the database: %+v, %v", regs, err)
		}
		d.restart(t)
		// A query (no Contact) shows what the registrar holds now.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		reg, err := phone.Register(ctx, registrar, "alice", password, 0, sipcaller.WithoutContact())
		if err != nil || !hasBinding(reg, contact) || reg.Bindings[0].Expires < 50*time.Minute {
			t.Fatalf("after the restart the registrar holds %+v (%v), want %s for about an hour", reg, err, contact)
		}
		// Honoured: a call from the registered user's address must prove
		// it is alice, while a stranger dials in without a challenge.
		id := d.createConference(t, "7001", nil)
		if _, err := d.tryDial(t, "7001", "Alice", toneA); statusOf(err) != 401 {
			t.Fatalf("alice calling without credentials got %v, want a 401 challenge", err)
		}
		alice := d.dial(t, "7001", "Alice", toneA, withSIP(sipcaller.WithCredentials("alice", password)))
		stranger := d.dial(t, "7001", "Stranger", toneB)
		d.memberNamed(t, id, "Alice")
		alice.hears(t, toneB)
		stranger.hears(t, toneA)
	})

	t.Run("wrong credentials get 401 until the address is locked out with 403", func(t *testing.T) {
		for i := 1; i <= 4; i++ {
			if _, err := register(t, "guess-"+strconv.Itoa(i)); statusOf(err) != 401 {
				t.Fatalf("wrong password %d: %v, want 401", i, err)
			}
		}
		if _, err := register(t, "guess-5"); statusOf(err) != 403 {
			t.Fatalf("fifth wrong password: %v, want 403 (locked out)", err)
		}
		if _, err := register(t, password); statusOf(err) != 403 {
			t.Fatalf("the right password from a locked-out address: %v, want 403", err)
		}
	})
}

// statusOf is the SIP status of a request's outcome: 200 for success.
func statusOf(err error) int {
	if err == nil {
		return 200
	}
	return sipcaller.StatusCode(err)
}

func hasBinding(reg *sipcaller.Registration, contact string) bool {
	if reg == nil {
		return false
	}
	for _, b := range reg.Bindings {
		if strings.HasPrefix(b.Contact, contact) && b.Expires > 0 {
			return true
		}
	}
	return false
}

func TestTrunkByAddress(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)

	t.Run("before the trunk exists the DID is an unknown number", func(t *testing.T) {
		if _, err := d.tryDial(t, "5550100", "Early", toneA); statusOf(err) != 404 {
			t.Fatalf("got %v, want 404", err)
		}
	})
	var trunk struct {
		ID int64 `json:"id"`
	}
	d.mustAPI(t, "POST", "/api/v1/trunks", map[string]any{"name": "carrier", "peers": []string{"127.0.0.1"},
		"dids": []map[string]string{{"number": "5550100", "conference": "7001"}}}, &trunk, http.StatusCreated)

	t.Run("a call from the trunk's address to its DID joins the conference it routes to", func(t *testing.T) {
		direct := d.dial(t, "7001", "Direct", toneA) // a number the trunk does not map passes as dialled
		viaTrunk := d.dial(t, "5550100", "Carrier", toneB)
		d.memberNamed(t, id, "Carrier")
		viaTrunk.hears(t, toneA)
		direct.hears(t, toneB)
		viaTrunk.bye(t)
		direct.bye(t)
	})
	t.Run("a number neither mapped nor a conference is not found", func(t *testing.T) {
		if _, err := d.tryDial(t, "5559999", "Lost", toneA); statusOf(err) != 404 {
			t.Fatalf("got %v, want 404", err)
		}
	})
	t.Run("once the trunk is deleted its DID is unknown again", func(t *testing.T) {
		d.mustAPI(t, "DELETE", "/api/v1/trunks/"+strconv.FormatInt(trunk.ID, 10), nil, nil, http.StatusNoContent)
		if _, err := d.tryDial(t, "5550100", "Late", toneA); statusOf(err) != 404 {
			t.Fatalf("got %v, want 404", err)
		}
	})
}
