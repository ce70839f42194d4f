package main

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestEarlyMediaSIPp dials with SIPp (a real SIP client, Debian package
// sip-tester) a scenario that wants 183 Session Progress with SDP before
// the 200: a conference with a PIN and a trunk DID the attendant answers
// pass it; a conference without a PIN answers at once, without a 183,
// which fails that scenario. Another scenario requires 100rel and PRACKs
// the 183 (RFC 3262).
func TestEarlyMediaSIPp(t *testing.T) {
	needCommand(t, "sipp", "sip-tester")
	d := startDaemon(t)
	d.createConference(t, "7001", nil)
	d.createConference(t, "7002", map[string]any{"pin": "4321"})
	d.mustAPI(t, "POST", "/api/v1/trunks", map[string]any{"name": "carrier", "peers": []string{"127.0.0.1"},
		"dids": []map[string]string{{"number": "5550199", "conference": ""}}}, nil, http.StatusCreated)

	for _, tc := range []struct {
		name, service, scenario string
		early                   bool
	}{
		{"a conference with a PIN sends 183 with SDP before the 200", "7002", "uac_early.xml", true},
		{"the attendant sends 183 with SDP before the 200", "5550199", "uac_early.xml", true},
		{"a conference that lets the caller straight in sends no 183", "7001", "uac_early.xml", false},
		{"a caller that requires 100rel gets the 183 reliably and the 200 after its PRACK", "7002",
			"uac_early_100rel.xml", true},
		{"the attendant, to a caller that requires 100rel", "5550199", "uac_early_100rel.xml", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			run, err := runSIPp(d, dir, tc.scenario, tc.service, 15*time.Second,
				freeUDPPort(t), freeUDPPort(t), "-m", "1", "-trace_msg", "-message_file", dir+"/msg.log")
			if b, err := os.ReadFile(dir + "/msg.log"); err == nil {
				defer func() {
					if t.Failed() {
						t.Logf("SIPp's messages:\n%s", lastLines(string(b), 80))
					}
				}()
			}
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

// TestEarlyMediaCarriesThePrompt calls a conference with a PIN from a raw
// SIP socket and a raw RTP socket, so that the order of what arrives is
// seen as it is: the 183 comes before the 200 with the same SDP, and the
// RTP that the 183's SDP announces carries the spoken PIN prompt. Whether
// the first RTP packet beats the 200 depends on the scheduler (the 200
// follows the 183 at once), so it is logged, not asserted.
func TestEarlyMediaCarriesThePrompt(t *testing.T) {
	d := startDaemon(t)
	d.createConference(t, "7002", map[string]any{"pin": "4321"})
	sipConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sipConn.Close()
	rtpConn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer rtpConn.Close()
	bridge, err := net.ResolveUDPAddr("udp", d.sip)
	if err != nil {
		t.Fatal(err)
	}

	type packet struct {
		at   time.Time
		from netip.AddrPort
		loud bool
	}
	packets := make(chan packet, 1000)
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := rtpConn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			loud := false
			if n > 12 && buf[1]&0x7f == 0 { // PCMU: silence is 0xff/0x7f, speech far from it
				for _, b := range buf[12:n] {
					if b&0x7f < 0x60 {
						loud = true
						break
					}
				}
			}
			select {
			case packets <- packet{at: time.Now(), from: from, loud: loud}:
			default:
			}
		}
	}()

	local := sipConn.LocalAddr().String()
	rtpPort := rtpConn.LocalAddr().(*net.UDPAddr).Port
	sdp := fmt.Sprintf("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n", rtpPort)
	head := func(method, cseq, toTag string) string {
		to := "<sip:7002@" + d.sip + ">"
		if toTag != "" {
			to += ";tag=" + toTag
		}
		return method + " sip:7002@" + d.sip + " SIP/2.0\r\nVia: SIP/2.0/UDP " + local + ";branch=z9hG4bK" + method + cseq +
			"\r\nMax-Forwards: 70\r\nFrom: <sip:raw@" + local + ">;tag=raw1\r\nTo: " + to +
			"\r\nCall-ID: early-raw@test\r\nCSeq: " + cseq + "\r\nContact: <sip:raw@" + local + ">\r\n"
	}
	invite := head("INVITE", "1 INVITE", "") + "Content-Type: application/sdp\r\nContent-Length: " +
		strconv.Itoa(len(sdp)) + "\r\n\r\n" + sdp
	start := time.Now()
	if _, err := sipConn.WriteToUDP([]byte(invite), bridge); err != nil {
		t.Fatal(err)
	}
	type response struct {
		at   time.Time
		code int
		body string
		tag  string
	}
	var got []response
	buf := make([]byte, 65535)
	for len(got) == 0 || got[len(got)-1].code < 200 {
		_ = sipConn.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := sipConn.Read(buf)
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		msg := string(buf[:n])
		if !strings.HasPrefix(msg, "SIP/2.0 ") {
			continue
		}
		code, _ := strconv.Atoi(msg[8:11])
		r := response{at: time.Now(), code: code}
		if i := strings.Index(msg, "\r\n\r\n"); i >= 0 {
			r.body = msg[i+4:]
		}
		for _, l := range strings.Split(msg, "\r\n") {
			if strings.HasPrefix(strings.ToLower(l), "to:") {
				_, r.tag, _ = strings.Cut(l, ";tag=")
			}
		}
		got = append(got, r)
	}
	var codes []int
	for _, r := range got {
		codes = append(codes, r.code)
	}
	if fmt.Sprint(codes) != "[100 183 200]" {
		t.Fatalf("responses %v, want [100 183 200]", codes)
	}
	progress, ok := got[1], got[2]
	if progress.body != ok.body || !strings.Contains(progress.body, "m=audio ") {
		t.Fatalf("183 SDP %q, 200 SDP %q", progress.body, ok.body)
	}
	ack := head("ACK", "1 ACK", ok.tag) + "Content-Length: 0\r\n\r\n"
	if _, err := sipConn.WriteToUDP([]byte(ack), bridge); err != nil {
		t.Fatal(err)
	}
	var announced int
	for _, l := range strings.Split(progress.body, "\r\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "m=audio" {
			announced, _ = strconv.Atoi(f[1])
		}
	}

	var first *packet
	deadline := time.After(5 * time.Second)
	for {
		select {
		case p := <-packets:
			if first == nil {
				first = &p
				t.Logf("first RTP %v after the INVITE; 183 at %v, 200 at %v (before the 200: %t)",
					p.at.Sub(start), progress.at.Sub(start), ok.at.Sub(start), p.at.Before(ok.at))
			}
			if int(p.from.Port()) != announced {
				t.Fatalf("RTP from port %d, the 183 announced %d", p.from.Port(), announced)
			}
			if p.loud {
				t.Logf("the PIN prompt is heard %v after the INVITE", p.at.Sub(start))
				bye := head("BYE", "2 BYE", ok.tag) + "Content-Length: 0\r\n\r\n"
				_, _ = sipConn.WriteToUDP([]byte(bye), bridge)
				return
			}
		case <-deadline:
			t.Fatalf("no prompt audio on the port the 183 announced (first packet %+v)", first)
		}
	}
}
