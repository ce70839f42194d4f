package main

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/bench/sipcaller"
)

// hearsSpeech waits until p receives a spoken prompt: a window of audio
// well above silence that is none of the callers' tones.
func (p *party) hearsSpeech(t *testing.T, what string) {
	t.Helper()
	n := int(window.Seconds() * float64(p.ph.Rate()))
	var rms float64
	deadline := time.Now().Add(8 * time.Second)
	for time.Now().Before(deadline) {
		pcm := p.ph.Received()
		if len(pcm) >= n {
			w := pcm[len(pcm)-n:]
			rms = phone.RMS(w)
			tonal := false
			for _, hz := range []float64{toneA, toneB, toneC, toneD} {
				if phone.ToneLevel(w, p.ph.Rate(), hz) > -10 {
					tonal = true
				}
			}
			if rms > 300 && !tonal {
				t.Logf("%s hears %s (RMS %.0f)", p.name, what, rms)
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s does not hear %s: RMS %.0f of the last window", p.name, what, rms)
}

// metric reads one unlabelled sample from /metrics.
func (d *daemon) metric(t *testing.T, name string) float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.http+"/metrics", nil)
	req.SetBasicAuth("admin", adminPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", l, err)
			}
			return f
		}
	}
	t.Fatalf("no %s in /metrics", name)
	return 0
}

// portFree reports whether the daemon has let go of its UDP port.
func portFree(port uint16) bool {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: int(port)})
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestTrunkAttendant: a trunk DID routed to no conference is answered by
// the attendant, which asks for the conference number.
func TestTrunkAttendant(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	pinID := d.createConference(t, "7002", map[string]any{"pin": "4321"})
	d.mustAPI(t, "POST", "/api/v1/trunks", map[string]any{"name": "carrier", "peers": []string{"127.0.0.1"},
		"dids": []map[string]string{{"number": "5550199", "conference": ""}}}, nil, http.StatusCreated)
	inside := d.dial(t, "7001", "Inside", toneA)
	d.waitState(t, id, "Inside", "in-conference")

	t.Run("the caller hears the question, enters 7001# and is in the conference on the same media", func(t *testing.T) {
		caller := d.dial(t, "5550199", "Carrier", toneB)
		port := caller.mediaAddr().Port()
		caller.hearsSpeech(t, "the enter-number prompt")
		inside.doesNotHear(t, toneB, 0)
		caller.enterPIN(t, "7001#", false) // RFC 4733
		d.waitState(t, id, "Carrier", "in-conference")
		caller.hears(t, toneA)
		inside.hears(t, toneB)
		if caller.mediaAddr().Port() != port {
			t.Fatal("the media port changed")
		}
		caller.bye(t)
	})

	t.Run("a conference with a PIN asks for it after the number", func(t *testing.T) {
		caller := d.dial(t, "5550199", "Pinned", toneC)
		caller.hearsSpeech(t, "the enter-number prompt")
		caller.enterPIN(t, "7002#", true) // SIP INFO
		d.waitState(t, pinID, "Pinned", "pin-entry")
		caller.ph.Reset()
		caller.hearsSpeech(t, "the PIN prompt")
		caller.enterPIN(t, "4321#", false)
		d.waitState(t, pinID, "Pinned", "in-conference")
		caller.bye(t)
	})

	t.Run("a wrong number gets the not-valid prompt and another try", func(t *testing.T) {
		caller := d.dial(t, "5550199", "Wrong", toneC)
		caller.hearsSpeech(t, "the enter-number prompt")
		caller.enterPIN(t, "9999#", false)
		time.Sleep(300 * time.Millisecond)
		caller.ph.Reset()
		caller.hearsSpeech(t, "the not-valid prompt")
		waitFor(t, "the daemon to log the refused number", 5*time.Second, func() bool {
			return strings.Contains(d.out.String(), "conference number refused")
		})
		caller.enterPIN(t, "7001#", false)
		d.waitState(t, id, "Wrong", "in-conference")
		inside.hears(t, toneC)
		caller.bye(t)
	})

	t.Run("three wrong numbers get goodbye and the bridge's BYE", func(t *testing.T) {
		caller := d.dial(t, "5550199", "Lost", toneC)
		caller.hearsSpeech(t, "the enter-number prompt")
		for _, n := range []string{"1#", "22#", "333#"} {
			caller.enterPIN(t, n, true)
			time.Sleep(200 * time.Millisecond)
		}
		if reason := caller.ended(t, 20*time.Second); !strings.Contains(reason, "no valid conference number") {
			t.Fatalf("BYE reason %q", reason)
		}
		inside.stillUp(t)
	})

	t.Run("a caller who hangs up on the attendant leaves nothing behind", func(t *testing.T) {
		caller := d.dial(t, "5550199", "Quitter", toneC)
		port := caller.mediaAddr().Port()
		caller.hearsSpeech(t, "the enter-number prompt")
		caller.enterPIN(t, "70", false)
		caller.bye(t)
		waitFor(t, "the media port to be closed", 5*time.Second, func() bool { return portFree(port) })
		waitFor(t, "only Inside's call to be left", 5*time.Second, func() bool {
			return d.metric(t, "confab_sip_calls") == 1
		})
		if n := len(d.roster(t, id)); n != 1 {
			t.Fatalf("conference 7001 has %d members, want Inside alone", n)
		}
		inside.stillUp(t)
	})
}

// TestTrunkByCredentialsReachesTheAttendant: a trunk trusted by digest
// credentials rather than by address has its DID challenged; with its
// credentials the call is the trunk's and reaches the attendant.
func TestTrunkByCredentialsReachesTheAttendant(t *testing.T) {
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	d.mustAPI(t, "POST", "/api/v1/trunks", map[string]any{"name": "provider", "username": "provider-in",
		"password": "s3cret-trunk", "dids": []map[string]string{{"number": "5550177", "conference": ""}}},
		nil, http.StatusCreated)
	if _, err := d.tryDial(t, "5550177", "Nobody", toneB); statusOf(err) != 401 {
		t.Fatalf("a call to the DID without credentials: %v, want a 401 challenge", err)
	}
	inside := d.dial(t, "7001", "Inside", toneA)
	caller := d.dial(t, "5550177", "Provider", toneB,
		withSIP(sipcaller.WithCredentials("provider-in", "s3cret-trunk")))
	caller.hearsSpeech(t, "the enter-number prompt")
	caller.enterPIN(t, "7001#", false)
	d.waitState(t, id, "Provider", "in-conference")
	inside.hears(t, toneB)
	caller.hears(t, toneA)
}
