package main

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEarlyMediaSIPp dials with SIPp (a real SIP client, Debian package
// sip-tester) a scenario that wants 183 Session Progress with SDP before
// the 200: a conference with a PIN and a trunk DID the attendant answers
// pass it; a conference without a PIN answers at once, without a 183,
// which fails that scenario.
func TestEarlyMediaSIPp(t *testing.T) {
	needCommand(t, "sipp", "sip-tester")
	d := startDaemon(t)
	d.createConference(t, "7001", nil)
	d.createConference(t, "7002", map[string]any{"pin": "4321"})
	d.mustAPI(t, "POST", "/api/v1/trunks", map[string]any{"name": "carrier", "peers": []string{"127.0.0.1"},
		"dids": []map[string]string{{"number": "5550199", "conference": ""}}}, nil, http.StatusCreated)

	for _, tc := range []struct {
		name, service string
		early         bool
	}{
		{"a conference with a PIN sends 183 with SDP before the 200", "7002", true},
		{"the attendant sends 183 with SDP before the 200", "5550199", true},
		{"a conference that lets the caller straight in sends no 183", "7001", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run, err := runSIPp(d, t.TempDir(), "uac_early.xml", tc.service, 15*time.Second,
				freeUDPPort(t), freeUDPPort(t), "-m", "1")
			if err != nil {
				t.Fatal(err)
			}
			if tc.early && (run.successful != 1 || run.failed != 0) {
				t.Fatalf("SIPp: %d successful, %d failed\n%s\n%s", run.successful, run.failed, run.errors,
					lastLines(run.output, 20))
			}
			if !tc.early {
				if run.successful != 0 || run.failed != 1 {
					t.Fatalf("SIPp: %d successful, %d failed; want the 183 missing", run.successful, run.failed)
				}
				if !strings.Contains(run.errors, "200") {
					t.Fatalf("SIPp failed for another reason than an unexpected 200:\n%s", run.errors)
				}
			}
		})
	}
}
