package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"confab/focus/store"
	"confab/mixer"
)

// healthz fetches /healthz from h and decodes it.
func healthz(t *testing.T, h http.Handler) (int, healthReport) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
	var rep healthReport
	if err := json.Unmarshal(rec.Body.Bytes(), &rep); err != nil {
		t.Fatalf("/healthz body %q: %v", rec.Body.String(), err)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	return rec.Code, rep
}

func TestHealthzFollowsTheDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "confab.db")
	db, err := store.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hc := newHealthChecker(healthCheck{"database", (&dbCheck{db: db, now: time.Now}).run})
	hc.minAge = 0
	hc.timeout = 300 * time.Millisecond

	t.Run("a writable database is healthy and the heartbeat is written", func(t *testing.T) {
		code, rep := healthz(t, hc)
		if code != 200 || !rep.Healthy || !rep.Checks["database"].OK {
			t.Fatalf("status %d, report %+v", code, rep)
		}
		v, ok, err := db.GetSetting(context.Background(), heartbeatKey)
		if err != nil || !ok {
			t.Fatalf("heartbeat %q %v %v", v, ok, err)
		}
		if at, err := time.Parse(time.RFC3339Nano, v); err != nil || time.Since(at) > time.Minute {
			t.Errorf("heartbeat %q", v)
		}
	})

	// Another program holds the database's write lock: writes wait and
	// the check gives up on them.
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	t.Run("a database that takes no write is unhealthy", func(t *testing.T) {
		code, rep := healthz(t, hc)
		if code != 503 || rep.Healthy || rep.Checks["database"].OK || rep.Checks["database"].Error == "" {
			t.Fatalf("status %d, report %+v", code, rep)
		}
		// The write is still waiting: the next check says so instead of
		// queueing another.
		code, rep = healthz(t, hc)
		if code != 503 || !strings.Contains(rep.Checks["database"].Error, "waiting") {
			t.Fatalf("status %d, report %+v", code, rep)
		}
	})
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	t.Run("once the lock is gone it is healthy again", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			code, rep := healthz(t, hc)
			if code == 200 && rep.Healthy {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d: %+v", code, rep)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("after a good write the next waits, and a failure is seen at the next write", func(t *testing.T) {
		now := time.Now()
		c := &dbCheck{db: db, now: func() time.Time { return now }, every: 10 * time.Second}
		if _, err := c.run(context.Background()); err != nil {
			t.Fatal(err)
		}
		before, _, _ := db.GetSetting(context.Background(), heartbeatKey)
		now = now.Add(5 * time.Second)
		if d, err := c.run(context.Background()); err != nil || !strings.Contains(d, "ago") {
			t.Fatalf("%q, %v", d, err)
		}
		if after, _, _ := db.GetSetting(context.Background(), heartbeatKey); after != before {
			t.Fatal("written again within 10 s")
		}
		now = now.Add(6 * time.Second)
		if d, err := c.run(context.Background()); err != nil || d != "heartbeat written" {
			t.Fatalf("%q, %v", d, err)
		}
	})
	t.Run("a closed database is unhealthy", func(t *testing.T) {
		db.Close()
		code, rep := healthz(t, hc)
		if code != 503 || !strings.Contains(rep.Checks["database"].Error, "not writable") {
			t.Fatalf("status %d, report %+v", code, rep)
		}
	})
}

func TestMixerCheck(t *testing.T) {
	now := time.Unix(1000, 0)
	var st mixer.Stats
	running := true
	m := &mixerCheck{stats: func() mixer.Stats { return st }, running: func() bool { return running },
		stall: 3 * time.Second, now: func() time.Time { return now }}
	steps := []struct {
		name        string
		advance     time.Duration
		confs       int
		frames      uint64
		running, ok bool
	}{
		{"an idle mixer is healthy", 0, 0, 0, true, true},
		{"a mixer whose frames move is healthy", time.Second, 1, 50, true, true},
		{"frames that stop for less than the stall time are tolerated", 2 * time.Second, 1, 50, true, true},
		{"frames that stop for longer fail", 2 * time.Second, 1, 50, true, false},
		{"frames that move again pass", time.Second, 1, 60, true, true},
		{"a mixer that has stopped fails", time.Second, 0, 60, false, false},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			now = now.Add(s.advance)
			st.Conferences, st.Frames, running = s.confs, s.frames, s.running
			_, err := m.run(context.Background())
			if (err == nil) != s.ok {
				t.Fatalf("err = %v, want ok=%v", err, s.ok)
			}
		})
	}
}

func TestHealthChecksRunOncePerMinAge(t *testing.T) {
	calls := 0
	now := time.Unix(1000, 0)
	hc := newHealthChecker(healthCheck{"x", func(context.Context) (string, error) {
		calls++
		return "", errors.New("broken")
	}})
	hc.now = func() time.Time { return now }
	for range 5 {
		if rep := hc.Check(context.Background()); rep.Healthy || rep.Checks["x"].Error != "broken" {
			t.Fatalf("report %+v", rep)
		}
	}
	now = now.Add(hc.minAge)
	hc.Check(context.Background())
	if calls != 2 {
		t.Fatalf("checks ran %d times, want 2", calls)
	}
}

func TestDaemonHealthz(t *testing.T) {
	d := startDaemon(t)
	// No login: the image's init and monitoring probe it as they are.
	res, err := http.Get("http://" + d.http + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rep healthReport
	if err := json.NewDecoder(res.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 200 || !rep.Healthy {
		t.Fatalf("status %d, report %+v", res.StatusCode, rep)
	}
	for _, name := range []string{"mixer", "sip", "database"} {
		if c, ok := rep.Checks[name]; !ok || !c.OK {
			t.Errorf("check %s: %+v (present %v)", name, c, ok)
		}
	}
	if !strings.Contains(rep.Checks["sip"].Detail, "answered 200") {
		t.Errorf("sip check %+v", rep.Checks["sip"])
	}
}
