package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"confab/bench/sipcaller"
)

// waitState waits until name is in conference id's roster in state.
func (d *daemon) waitState(t testing.TB, id int64, name, state string) member {
	t.Helper()
	var found member
	waitFor(t, fmt.Sprintf("%s to be %s", name, state), 10*time.Second, func() bool {
		for _, m := range d.roster(t, id) {
			if m.Name == name && m.State == state {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func TestPINs(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", map[string]any{"pin": "1234", "moderator_pin": "9876"})
	alice := d.dial(t, "7001", "Alice", toneA, withCodec("PCMU"))
	bob := d.dial(t, "7001", "Bob", toneB, withCodec("G722"))
	carol := d.dial(t, "7001", "Carol", toneC, withCodec("opus"))
	for _, p := range []*party{alice, bob, carol} {
		d.waitState(t, id, p.name, "pin-entry")
	}
	alice.enterPIN(t, "1234#", false) // RFC 4733 in the RTP stream
	bob.enterPIN(t, "1234#", true)    // SIP INFO
	carol.enterPIN(t, "9876#", true)  // the moderator PIN

	t.Run("callers with the right PIN join and hear each other, in three codecs", func(t *testing.T) {
		for _, p := range []*party{alice, bob, carol} {
			d.waitState(t, id, p.name, "in-conference")
		}
		alice.hearsOnly(t, []float64{toneB, toneC}, toneA)
		bob.hearsOnly(t, []float64{toneA, toneC}, toneB)
		carol.hearsOnly(t, []float64{toneA, toneB}, toneC)
	})
	if t.Failed() {
		return
	}

	t.Run("the moderator PIN makes a presenter and the PIN an attendee", func(t *testing.T) {
		roles := map[string]string{}
		for _, m := range d.roster(t, id) {
			roles[m.Name] = m.Role
		}
		want := map[string]string{"Alice": "attendee", "Bob": "attendee", "Carol": "presenter"}
		if fmt.Sprint(roles) != fmt.Sprint(want) {
			t.Fatalf("roles %v, want %v", roles, want)
		}
	})

	t.Run("a caller still entering the PIN is not heard", func(t *testing.T) {
		dave := d.dial(t, "7001", "Dave", toneD)
		d.waitState(t, id, "Dave", "pin-entry")
		alice.doesNotHear(t, toneD, 300*time.Millisecond)
		dave.bye(t)
	})

	t.Run("a wrong PIN three times gets the bridge's BYE", func(t *testing.T) {
		eve := d.dial(t, "7001", "Eve", toneD)
		d.waitState(t, id, "Eve", "pin-entry")
		for _, pin := range []string{"1111#", "2222#", "3333#"} {
			eve.enterPIN(t, pin, true)
			time.Sleep(200 * time.Millisecond)
		}
		if reason := eve.ended(t, 15*time.Second); !strings.Contains(reason, "wrong PIN") {
			t.Fatalf("BYE reason %q, want wrong PIN", reason)
		}
		alice.stillUp(t)
		bob.stillUp(t)
		carol.stillUp(t)
	})
}

func TestLock(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7002", map[string]any{"moderator_pin": "9876"})
	alice := d.dial(t, "7002", "Alice", toneA)
	alice.enterPIN(t, "#", true) // only a moderator PIN: '#' joins as an attendee
	d.waitState(t, id, "Alice", "in-conference")
	d.mustAPI(t, "POST", fmt.Sprintf("/api/v1/conferences/%d/lock", id), nil, nil, http.StatusOK)

	t.Run("the roster says it is locked", func(t *testing.T) {
		var c conference
		d.mustAPI(t, "GET", fmt.Sprintf("/api/v1/conferences/%d", id), nil, &c, http.StatusOK)
		if !c.Locked {
			t.Fatal("locked is false after POST lock")
		}
	})
	t.Run("a new attendee is sent away", func(t *testing.T) {
		bob := d.dial(t, "7002", "Bob", toneB)
		bob.enterPIN(t, "#", true)
		if reason := bob.ended(t, 15*time.Second); !strings.Contains(reason, "locked") {
			t.Fatalf("BYE reason %q, want the lock", reason)
		}
		alice.doesNotHear(t, toneB, 0)
	})
	t.Run("a presenter with the moderator PIN still gets in", func(t *testing.T) {
		carol := d.dial(t, "7002", "Carol", toneC)
		carol.enterPIN(t, "9876#", true)
		if m := d.waitState(t, id, "Carol", "in-conference"); m.Role != "presenter" {
			t.Fatalf("Carol is %s, want presenter", m.Role)
		}
		carol.hears(t, toneA)
		alice.hears(t, toneC)
	})
	t.Run("without a PIN to ask for, a locked conference refuses at once with 403", func(t *testing.T) {
		open := d.createConference(t, "7003", nil)
		first := d.dial(t, "7003", "First", toneA)
		d.waitState(t, open, "First", "in-conference")
		d.mustAPI(t, "POST", fmt.Sprintf("/api/v1/conferences/%d/lock", open), nil, nil, http.StatusOK)
		_, err := d.tryDial(t, "7003", "Late", toneB)
		if code := sipcaller.StatusCode(err); code != 403 {
			t.Fatalf("a caller to the locked conference got %v, want 403", err)
		}
		first.bye(t)
	})
}

func TestWaitForLeader(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7004", map[string]any{"moderator_pin": "9876", "wait_for_leader": true})
	alice := d.dial(t, "7004", "Alice", toneA)
	bob := d.dial(t, "7004", "Bob", toneB)
	alice.enterPIN(t, "#", true)
	bob.enterPIN(t, "#", true)
	d.waitState(t, id, "Alice", "waiting")
	d.waitState(t, id, "Bob", "waiting")

	t.Run("attendees hear nothing of each other before the leader", func(t *testing.T) {
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		bob.doesNotHear(t, toneA, 0)
	})
	t.Run("once a presenter is in they all hear each other", func(t *testing.T) {
		carol := d.dial(t, "7004", "Carol", toneC)
		carol.enterPIN(t, "9876#", true)
		d.waitState(t, id, "Alice", "in-conference")
		alice.hearsOnly(t, []float64{toneB, toneC}, toneA)
		bob.hearsOnly(t, []float64{toneA, toneC}, toneB)
		carol.hearsOnly(t, []float64{toneA, toneB}, toneC)
	})
}

func TestEndWhenLeaderLeaves(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7005", map[string]any{"moderator_pin": "9876", "end_when_leader_leaves": true})
	carol := d.dial(t, "7005", "Carol", toneC)
	carol.enterPIN(t, "9876#", true)
	alice := d.dial(t, "7005", "Alice", toneA)
	bob := d.dial(t, "7005", "Bob", toneB)
	alice.enterPIN(t, "#", true)
	bob.enterPIN(t, "#", true)
	for _, n := range []string{"Alice", "Bob", "Carol"} {
		d.waitState(t, id, n, "in-conference")
	}
	alice.hears(t, toneC)

	t.Run("when the presenter hangs up every attendee gets a BYE", func(t *testing.T) {
		carol.bye(t)
		for _, p := range []*party{alice, bob} {
			if reason := p.ended(t, 15*time.Second); !strings.Contains(reason, "leader left") {
				t.Fatalf("%s: BYE reason %q, want leader left", p.name, reason)
			}
		}
	})
	t.Run("and the conference is no longer active", func(t *testing.T) {
		waitFor(t, "the conference to end", 5*time.Second, func() bool {
			var c conference
			d.mustAPI(t, "GET", fmt.Sprintf("/api/v1/conferences/%d", id), nil, &c, http.StatusOK)
			return !c.Active
		})
	})
}

func TestMuteAndKickThroughTheAPI(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7006", nil)
	alice := d.dial(t, "7006", "Alice", toneA)
	bob := d.dial(t, "7006", "Bob", toneB)
	carol := d.dial(t, "7006", "Carol", toneC)
	alice.hears(t, toneB)
	bobID := d.memberNamed(t, id, "Bob").ID
	participant := func(cmd string) string {
		return fmt.Sprintf("/api/v1/conferences/%d/participants/%s/%s", id, bobID, cmd)
	}

	t.Run("a muted caller is silent in the others' audio", func(t *testing.T) {
		d.mustAPI(t, "POST", participant("mute"), nil, nil, http.StatusOK)
		if !d.memberNamed(t, id, "Bob").Muted {
			t.Fatal("the roster does not show Bob muted")
		}
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		carol.doesNotHear(t, toneB, 0)
		alice.hears(t, toneC)
		bob.hears(t, toneA) // muted, not deaf
	})
	t.Run("unmuted, the caller is heard again", func(t *testing.T) {
		d.mustAPI(t, "POST", participant("unmute"), nil, nil, http.StatusOK)
		alice.hears(t, toneB)
	})
	t.Run("a kicked caller gets a BYE and leaves the roster", func(t *testing.T) {
		d.mustAPI(t, "POST", participant("kick"), nil, nil, http.StatusOK)
		if reason := bob.ended(t, 10*time.Second); !strings.Contains(reason, "kicked") {
			t.Fatalf("BYE reason %q, want kicked", reason)
		}
		for _, m := range d.roster(t, id) {
			if m.Name == "Bob" {
				t.Fatalf("Bob is still in the roster: %+v", m)
			}
		}
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		alice.hears(t, toneC)
	})
	t.Run("a participant who is not there is not found", func(t *testing.T) {
		code, _ := d.api("POST", fmt.Sprintf("/api/v1/conferences/%d/participants/999999/mute", id), nil, nil)
		if code != http.StatusNotFound {
			t.Fatalf("got %d, want 404", code)
		}
	})
}
