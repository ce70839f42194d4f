package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippRun is one SIPp run and what it reported.
type sippRun struct {
	exit       int
	successful int
	failed     int
	elapsed    time.Duration
	output     string
	errors     string
}

// runSIPp runs SIPp (Debian package sip-tester, found by the caller with
// needCommand) with the scenario testdata/sipp/<scenario> against the
// daemon's conference service, in dir. args come first, so "-key" options
// precede "-sf" as SIPp wants. It may run on a goroutine of its own: it
// does not fail the test itself.
func runSIPp(d *daemon, dir, scenario, service string, limit time.Duration, sipPort, mediaPort int, args ...string) (sippRun, error) {
	sf, err := filepath.Abs(filepath.Join("testdata", "sipp", scenario))
	if err != nil {
		return sippRun{}, err
	}
	stat := filepath.Join(dir, "stat.csv")
	errFile := filepath.Join(dir, "errors.log")
	all := append(args,
		"-sf", sf, "-s", service,
		"-i", "127.0.0.1", "-p", strconv.Itoa(sipPort), "-mp", strconv.Itoa(mediaPort),
		"-nostdin", "-timeout", strconv.Itoa(int(limit.Seconds()))+"s", "-timeout_error",
		"-trace_err", "-error_file", errFile, "-trace_stat", "-stf", stat, "-fd", "1",
		d.sip)
	ctx, cancel := context.WithTimeout(context.Background(), limit+10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sipp", all...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	run := sippRun{elapsed: time.Since(start), output: out.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		run.exit = ee.ExitCode()
	} else if err != nil {
		return run, fmt.Errorf("sipp: %w", err)
	}
	if b, err := os.ReadFile(errFile); err == nil {
		run.errors = string(b)
	}
	run.successful, run.failed, err = sippCounts(stat)
	if err != nil {
		return run, fmt.Errorf("%w\n%s", err, lastLines(run.output, 20))
	}
	return run, nil
}

// sippCounts reads the cumulative successful and failed calls from the
// last row of SIPp's statistics file.
func sippCounts(path string) (successful, failed int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, fmt.Errorf("sipp statistics: %w", err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma, r.FieldsPerRecord = ';', -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, 0, fmt.Errorf("sipp statistics %q: %v", b, err)
	}
	head, last := rows[0], rows[len(rows)-1]
	col := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, err := strconv.Atoi(strings.TrimSpace(last[i]))
				if err == nil {
					return n
				}
			}
		}
		return -1
	}
	successful, failed = col("SuccessfulCall(C)"), col("FailedCall(C)")
	if successful < 0 || failed < 0 {
		return 0, 0, fmt.Errorf("no call counts in the sipp statistics %q", b)
	}
	return successful, failed, nil
}

// freeUDPPort is an even loopback UDP port free now, with the next one
// free too (SIPp takes media ports in pairs).
func freeUDPPort(t *testing.T) int {
	t.Helper()
	for range 50 {
		c, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		p := c.LocalAddr().(*net.UDPAddr).Port
		c.Close()
		if p%2 != 0 || p > 65000 {
			continue
		}
		if c2, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(p+1)); err == nil {
			c2.Close()
			return p
		}
	}
	t.Fatal("no free UDP port pair")
	return 0
}

func TestSIPpCallerIsMixed(t *testing.T) {
	needCommand(t, "sipp", "sip-tester")
	needRoot(t, "SIPp's play_pcap_audio sends RTP through a raw socket")
	d := startDaemon(t)
	id := d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)

	const hold = 4 * time.Second
	pcap := filepath.Join(t.TempDir(), "tone.pcap")
	writeRTPPcap(t, pcap, sine(8000, toneB, hold.Seconds()+1))
	type result struct {
		run sippRun
		err error
	}
	done := make(chan result, 1)
	dir, sipPort, mediaPort := t.TempDir(), freeUDPPort(t), freeUDPPort(t)
	go func() {
		run, err := runSIPp(d, dir, "uac_tone.xml", "7001", 30*time.Second, sipPort, mediaPort,
			"-key", "pcap", pcap, "-m", "1", "-d", strconv.Itoa(int(hold.Milliseconds())))
		done <- result{run, err}
	}()

	t.Run("SIPp's call is in the roster", func(t *testing.T) {
		d.memberNamed(t, id, "SIPp")
	})
	t.Run("the pcap's tone reaches the other caller", func(t *testing.T) {
		alice.hears(t, toneB)
	})
	res := <-done
	if res.err != nil {
		t.Fatal(res.err)
	}
	run := res.run
	t.Run("the bridge answered with an isfocus Contact and kept the call up until SIPp's BYE", func(t *testing.T) {
		if run.exit != 0 || run.successful != 1 || run.failed != 0 {
			t.Fatalf("sipp exit %d, %d successful, %d failed\n%s\nerrors:\n%s",
				run.exit, run.successful, run.failed, lastLines(run.output, 30), run.errors)
		}
		if run.elapsed < hold {
			t.Fatalf("the call lasted %v, less than its %v hold", run.elapsed, hold)
		}
	})
	t.Run("and SIPp's BYE took it out of the mix", func(t *testing.T) {
		alice.doesNotHear(t, toneB, 300*time.Millisecond)
		if r := d.roster(t, id); len(r) != 1 {
			t.Fatalf("roster after SIPp's BYE: %+v", r)
		}
	})
}

// TestCallSetupRate measures how many calls a second confabd sets up and
// tears down (INVITE, 200, ACK, BYE, 200; no media) with SIPp. It is a
// measurement, not a timed test: CONFAB_SETUP_RATE=1 runs it; CONFAB_SIPP_RATE
// (default 500) and CONFAB_SIPP_CALLS (default 5000) set the load.
func TestCallSetupRate(t *testing.T) {
	if os.Getenv("CONFAB_SETUP_RATE") == "" {
		t.Skip("a measurement: set CONFAB_SETUP_RATE=1 to run it")
	}
	rate, calls := envInt("CONFAB_SIPP_RATE", 500), envInt("CONFAB_SIPP_CALLS", 5000)
	// As many RTP ports as the product's default range, so that a backlog
	// of calls runs out of something else first.
	d := startDaemon(t, "-log-level", "warn", "-rtp-ports", "10000-19999")
	d.createConference(t, "7001", nil)
	rssBefore := d.rssKB(t)
	needCommand(t, "sipp", "sip-tester")
	run, err := runSIPp(d, t.TempDir(), "uac_setup.xml", "7001", time.Duration(calls/rate+60)*time.Second,
		freeUDPPort(t), freeUDPPort(t), "-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate), "-l", strconv.Itoa(4*rate), "-d", "0")
	if err != nil {
		t.Fatal(err)
	}
	if run.exit != 0 || run.successful != calls || run.failed != 0 {
		t.Fatalf("sipp exit %d, %d of %d successful, %d failed\n%s\nerrors:\n%s", run.exit, run.successful, calls,
			run.failed, lastLines(run.output, 40), lastLines(run.errors, 20))
	}
	t.Logf("call set-up: %d calls offered at %d/s, %d successful, 0 failed, in %.2f s: %.0f calls/s; confabd RSS %d -> %d kB",
		calls, rate, run.successful, run.elapsed.Seconds(), float64(run.successful)/run.elapsed.Seconds(), rssBefore, d.rssKB(t))
	t.Logf("sipp summary:\n%s", sippSummary(run.output))
}

// sippSummary keeps the lines of SIPp's final screen that count calls and
// response times.
func sippSummary(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "Call Rate") || strings.Contains(l, "Successful call") || strings.Contains(l, "Failed call") ||
			strings.Contains(l, "Response Time") || strings.Contains(l, "Call Length") || strings.Contains(l, "Elapsed Time") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	return strings.Join(lastLinesOf(keep, 12), "\n")
}

func lastLinesOf(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
