package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"confab/bench/sipcaller"
	"confab/focus/store"
)

func TestByeBothWays(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)
	bob := d.dial(t, "7001", "Bob", toneB)
	carol := d.dial(t, "7001", "Carol", toneC, withTCP())

	t.Run("a caller over TCP is mixed like the others", func(t *testing.T) {
		carol.hearsOnly(t, []float64{toneA, toneB}, toneC)
		alice.hears(t, toneC)
	})
	t.Run("a caller's BYE is answered 200 and takes it out of the mix", func(t *testing.T) {
		bob.bye(t)
		waitFor(t, "Bob to leave the roster", 5*time.Second, func() bool {
			for _, m := range d.roster(t, id) {
				if m.Name == "Bob" {
					return false
				}
			}
			return true
		})
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		alice.hears(t, toneC)
	})
	t.Run("ending the conference sends every caller a BYE, over UDP and TCP", func(t *testing.T) {
		d.mustAPI(t, "POST", fmt.Sprintf("/api/v1/conferences/%d/end", id), nil, nil, http.StatusOK)
		for _, p := range []*party{alice, carol} {
			if reason := p.ended(t, 10*time.Second); !strings.Contains(reason, "ended") {
				t.Fatalf("%s: BYE reason %q, want conference ended", p.name, reason)
			}
		}
	})
}

func TestHoldAndResume(t *testing.T) {
	d := startDaemon(t)
	d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)
	bob := d.dial(t, "7001", "Bob", toneB)
	alice.hears(t, toneB)
	offer := bob.ph.Offer()
	reinvite := func(t *testing.T, dir, wantAnswer string) {
		t.Helper()
		var err error
		if offer, err = sipcaller.WithDirection(offer, dir); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		answer, err := bob.call.Reinvite(ctx, offer)
		if err != nil {
			t.Fatalf("re-INVITE %s: %v", dir, err)
		}
		if !strings.Contains(string(answer), "a="+wantAnswer) {
			t.Fatalf("the answer to %s is not %s:\n%s", dir, wantAnswer, answer)
		}
	}

	t.Run("a held caller's sound (music on hold) is not heard", func(t *testing.T) {
		reinvite(t, "sendonly", "recvonly")
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		bob.stillUp(t)
	})
	t.Run("resumed, the caller is heard again", func(t *testing.T) {
		reinvite(t, "sendrecv", "sendrecv")
		alice.hears(t, toneB)
		bob.hears(t, toneA)
	})
}

func TestADeadCallIsRemovedAfterTheMediaTimeout(t *testing.T) {
	d := startDaemon(t, "-media-timeout", "2s")
	id := d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)
	bob := d.dial(t, "7001", "Bob", toneB)
	alice.hears(t, toneB)
	start := time.Now()
	bob.ph.Stop() // the phone dies: no RTP, no RTCP, but no BYE either

	t.Run("the silent caller gets a BYE for the media timeout", func(t *testing.T) {
		reason := bob.ended(t, 10*time.Second)
		if !strings.Contains(reason, "media timeout") {
			t.Fatalf("BYE reason %q, want media timeout", reason)
		}
		if took := time.Since(start); took < 1500*time.Millisecond {
			t.Fatalf("the BYE came %v after the media stopped, before the 2 s timeout", took)
		}
	})
	t.Run("and leaves the roster while the live caller stays", func(t *testing.T) {
		waitFor(t, "Bob to leave the roster", 5*time.Second, func() bool {
			r := d.roster(t, id)
			return len(r) == 1 && r[0].Name == "Alice"
		})
		alice.stillUp(t)
	})
}

func TestSIGTERMHangsUpAndWritesCallRecords(t *testing.T) {
	d := startDaemon(t)
	d.createConference(t, "7001", nil)
	d.createConference(t, "7002", nil)
	parties := []*party{
		d.dial(t, "7001", "Alice", toneA),
		d.dial(t, "7001", "Bob", toneB),
		d.dial(t, "7002", "Carol", toneC, withTCP()),
	}
	parties[0].hears(t, toneB)

	code := d.stop(t)
	t.Run("every caller gets a BYE", func(t *testing.T) {
		for _, p := range parties {
			if reason := p.ended(t, 5*time.Second); !strings.Contains(reason, "shutdown") {
				t.Fatalf("%s: BYE reason %q, want shutdown", p.name, reason)
			}
		}
	})
	t.Run("confabd exits 0", func(t *testing.T) {
		if code != 0 {
			t.Fatalf("exit code %d", code)
		}
	})
	t.Run("every call has a finished call record", func(t *testing.T) {
		recs := callRecords(t, d)
		if len(recs) != len(parties) {
			t.Fatalf("%d call records, want %d: %+v", len(recs), len(parties), recs)
		}
		for _, r := range recs {
			if r.LeftAt.IsZero() || r.Reason == store.ReasonDaemonRestart || r.Reason == "" {
				t.Fatalf("record %+v was not finished by confabd", r)
			}
			if r.Quality.PacketsReceived == 0 {
				t.Errorf("record of %s counts no packets received", r.Participant)
			}
		}
	})
}

// callRecords opens the stopped daemon's database and lists its call
// records.
func callRecords(t *testing.T, d *daemon) []store.CallRecord {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(d.dataDir, "confab.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	recs, err := db.ListCallRecords(context.Background(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestKill9LosesNothingAcknowledged(t *testing.T) {
	d := startDaemon(t)
	d.createConference(t, "7000", nil)
	alice := d.dial(t, "7000", "Alice", toneA)
	bob := d.dial(t, "7000", "Bob", toneB)
	alice.hears(t, toneB) // two calls up, so two call records open

	// Two API clients create conferences until the daemon dies under them.
	var (
		mu       sync.Mutex
		acked    []string
		wg       sync.WaitGroup
		first    = make(chan struct{})
		firstOne sync.Once
	)
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				number := fmt.Sprintf("8%d%04d", w, i)
				code, _ := d.api("POST", "/api/v1/conferences", map[string]any{"number": number}, nil)
				switch code {
				case http.StatusCreated:
					mu.Lock()
					acked = append(acked, number)
					mu.Unlock()
					firstOne.Do(func() { close(first) })
				case 0: // no answer: the daemon is gone
					return
				}
			}
		}()
	}
	select {
	case <-first:
	case <-time.After(10 * time.Second):
		t.Fatal("no conference was created within 10 s")
	}
	// A random moment while creations are under way: before, during or
	// after a write, its commit or its answer.
	time.Sleep(time.Duration(rand.IntN(700)) * time.Millisecond)
	d.kill()
	wg.Wait()
	// The calls died with the daemon; nobody is left to say BYE to.
	_ = alice.agent.Close()
	_ = bob.agent.Close()
	t.Logf("SIGKILL after %d acknowledged conference creations", len(acked))

	d.restart(t)
	t.Run("every conference whose creation was acknowledged is there", func(t *testing.T) {
		var list []conference
		d.mustAPI(t, "GET", "/api/v1/conferences", nil, &list, http.StatusOK)
		have := make(map[string]bool, len(list))
		for _, c := range list {
			have[c.Number] = true
		}
		for _, n := range acked {
			if !have[n] {
				t.Errorf("conference %s was acknowledged with 201 but is gone after the restart", n)
			}
		}
	})
	t.Run("the calls open at the kill are closed as a daemon restart", func(t *testing.T) {
		if code := d.stop(t); code != 0 {
			t.Fatalf("exit code %d", code)
		}
		recs := callRecords(t, d)
		if len(recs) != 2 {
			t.Fatalf("%d call records, want 2: %+v", len(recs), recs)
		}
		for _, r := range recs {
			if r.Reason != store.ReasonDaemonRestart || r.LeftAt.IsZero() {
				t.Fatalf("record of %s: left %v for %q, want closed for %q", r.Participant, r.LeftAt, r.Reason, store.ReasonDaemonRestart)
			}
		}
	})
}
