package sipfront

import (
	"bytes"
	"context"
	"encoding/csv"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sippResult is what a SIPp run reports.
type sippResult struct {
	exitCode   int
	successful int
	failed     int
	elapsed    time.Duration
	output     string
	errors     string
}

// runSIPp runs the testdata/sipp/uac.xml scenario against the Front: calls
// calls at rate per second, each holding for hold.
func runSIPp(tb testing.TB, f *Front, calls, rate int, hold time.Duration, extra ...string) sippResult {
	tb.Helper()
	bin, err := exec.LookPath("sipp")
	if err != nil {
		tb.Skip("sipp not found: install the Debian package sip-tester (apt-get install sip-tester)")
	}
	scenario, err := filepath.Abs(filepath.Join("testdata", "sipp", "uac.xml"))
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	stat := filepath.Join(dir, "stat.csv")
	errFile := filepath.Join(dir, "errors.log")
	args := []string{
		"-sf", scenario, "-s", "7001",
		"-m", strconv.Itoa(calls), "-r", strconv.Itoa(rate),
		"-d", strconv.FormatInt(hold.Milliseconds(), 10),
		"-i", "127.0.0.1", "-p", strconv.Itoa(freePort(tb, "udp")), "-mp", strconv.Itoa(freePort(tb, "udp")),
		"-timeout", "120s", "-nostdin",
		"-trace_err", "-error_file", errFile,
		"-trace_stat", "-stf", stat, "-fd", "1",
	}
	args = append(append(args, extra...), f.Addr().String())
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err = cmd.Run()
	res := sippResult{elapsed: time.Since(start), output: out.String()}
	if exit, ok := err.(*exec.ExitError); ok {
		res.exitCode = exit.ExitCode()
	} else if err != nil {
		tb.Fatalf("sipp: %v", err)
	}
	if b, err := os.ReadFile(errFile); err == nil {
		res.errors = string(b)
	}
	res.successful, res.failed = sippCounts(tb, stat)
	return res
}

// sippCounts reads the cumulative successful and failed call counts from
// the last row of SIPp's statistics file.
func sippCounts(tb testing.TB, path string) (successful, failed int) {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("sipp statistics: %v", err)
	}
	r := csv.NewReader(bytes.NewReader(b))
	r.Comma = ';'
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil || len(rows) < 2 {
		tb.Fatalf("sipp statistics %q: %v", b, err)
	}
	head, last := rows[0], rows[len(rows)-1]
	col := func(name string) int {
		for i, h := range head {
			if h == name && i < len(last) {
				n, _ := strconv.Atoi(strings.TrimSpace(last[i]))
				return n
			}
		}
		tb.Fatalf("no %s column in sipp statistics", name)
		return 0
	}
	return col("SuccessfulCall(C)"), col("FailedCall(C)")
}

// freePort finds a port that is free now on loopback.
func freePort(tb testing.TB, network string) int {
	tb.Helper()
	c, err := net.ListenPacket(network, "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// TestSIPp puts five calls from SIPp, a real SIP client, through the Front
// with the echo Focus.
func TestSIPp(t *testing.T) {
	if _, err := exec.LookPath("sipp"); err != nil {
		t.Skip("sipp not found: install the Debian package sip-tester (apt-get install sip-tester)")
	}
	j := newEchoJoiner()
	f := startFront(t, j, withTimers(500*time.Millisecond, 4*time.Second))
	res := runSIPp(t, f, 5, 5, 200*time.Millisecond)
	if res.exitCode != 0 || res.successful != 5 || res.failed != 0 {
		t.Fatalf("sipp exit %d, %d successful, %d failed\n%s\nerrors:\n%s", res.exitCode, res.successful, res.failed, lastLines(res.output, 30), res.errors)
	}
	eventually(t, "every call to end", func() bool { return f.Calls() == 0 })
	members := j.allMembers()
	if len(members) != 5 {
		t.Fatalf("%d joins, want 5", len(members))
	}
	for _, m := range members {
		if _, _, leaves := m.snapshot(); len(leaves) != 1 || leaves[0] != "bye" {
			t.Fatalf("member %s left %v, want [bye]", m.call.CallID, leaves)
		}
	}
}

// BenchmarkCallSetupSIPp measures call set-up rate: SIPp places b.N calls
// (INVITE, 200, ACK, BYE, 200; no media, no hold) at CONFAB_SIPP_RATE per
// second (default 500) and the benchmark reports the calls per second the
// Front completed. Run with -benchtime=5000x.
func BenchmarkCallSetupSIPp(b *testing.B) {
	rate := 500
	if v, err := strconv.Atoi(os.Getenv("CONFAB_SIPP_RATE")); err == nil && v > 0 {
		rate = v
	}
	f := startFront(b, newEchoJoiner(), withTimers(500*time.Millisecond, 4*time.Second))
	b.ResetTimer()
	res := runSIPp(b, f, b.N, rate, 0, "-l", strconv.Itoa(4*rate))
	b.StopTimer()
	if res.exitCode != 0 || res.successful != b.N {
		b.Fatalf("sipp exit %d, %d of %d successful, %d failed\n%s\nerrors:\n%s", res.exitCode, res.successful, b.N, res.failed,
			lastLines(res.output, 30), lastLines(res.errors, 30))
	}
	b.ReportMetric(float64(res.successful)/res.elapsed.Seconds(), "calls/s")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
