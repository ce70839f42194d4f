package main

// Integration tests of the appliance as a whole, in the manner of gokrazy's:
// TestMain builds the real confabd once, and every test starts its own
// daemon on free loopback ports with a data directory of its own, then talks
// to it only as the outside world does — SIP and RTP from simulated phones
// (bench/sipcaller, bench/phone), real SIP clients (SIPp, baresip), the JSON
// API, signals, and the database file it leaves behind.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binEnv names the confabd binary under test. TestMain builds one into a
// temporary directory unless it is already set, so a prebuilt binary can be
// tested as it is: CONFABD_BIN=./bin/confabd go test ./cmd/confabd.
const binEnv = "CONFABD_BIN"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Getenv(binEnv) == "" {
		dir, err := os.MkdirTemp("", "confabd-test-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		bin := filepath.Join(dir, "confabd")
		gobin := filepath.Join(os.Getenv("GOROOT"), "bin", "go")
		if _, err := os.Stat(gobin); err != nil {
			gobin = "go"
		}
		cmd := exec.Command(gobin, "build", "-tags", "nolibopusfile", "-o", bin, ".")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building confabd: %v\n", err)
			return 1
		}
		os.Setenv(binEnv, bin)
	}
	return m.Run()
}

const adminPassword = "integration-Secret-1"

// daemon is one running confabd.
type daemon struct {
	dataDir  string
	sip      string // host:port, UDP and TCP
	http     string // host:port
	rtpLow   int
	extra    []string
	cmd      *exec.Cmd
	exited   chan struct{}
	exitErr  error
	out      *syncBuffer
	logPath  string
	restarts int
}

// syncBuffer keeps the daemon's console output for the test to read.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDaemon starts confabd on free loopback ports with a fresh data
// directory; extra flags follow the defaults (a later flag wins). It is
// stopped with SIGKILL when the test ends if the test has not stopped it.
func startDaemon(t testing.TB, extra ...string) *daemon {
	t.Helper()
	d := &daemon{dataDir: filepath.Join(t.TempDir(), "data"), extra: extra, out: &syncBuffer{}}
	d.http = freeTCPAddr(t)
	d.sip = freeSIPAddr(t)
	d.start(t)
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("confabd output (last 60 lines):\n%s", lastLines(d.out.String(), 60))
		}
	})
	return d
}

// start runs the binary and waits for "confabd ready". The RTP range is
// a block of rtpBlock ports below the ones the appliance uses by default
// (20000-29999, which other daemons and load tests on the box may hold) and
// below the kernel's ephemeral ports. The ports are only
// known to be free when they were picked, so a daemon that exits at start
// because another program took one of them is started again on others;
// a restart keeps its SIP and HTTP ports unless they are the trouble.
func (d *daemon) start(t testing.TB) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if d.rtpLow == 0 || attempt > 0 {
			d.rtpLow = freeRTPBlock(t)
		}
		lastErr = d.startOnce()
		if lastErr == nil {
			return
		}
		msg := lastErr.Error()
		switch {
		case strings.Contains(msg, "media ports"):
		case strings.Contains(msg, "address already in use") && strings.Contains(msg, "http"):
			d.http = freeTCPAddr(t)
		case strings.Contains(msg, "address already in use"):
			d.sip = freeSIPAddr(t)
		default:
			t.Fatalf("confabd did not start: %v\n%s", lastErr, lastLines(d.out.String(), 40))
		}
		t.Logf("confabd did not start (%v); trying other ports", lastErr)
	}
	t.Fatalf("confabd did not start: %v\n%s", lastErr, lastLines(d.out.String(), 40))
}

func (d *daemon) startOnce() error {
	args := []string{"-data", d.dataDir, "-sip", d.sip, "-http", d.http,
		"-rtp-ports", fmt.Sprintf("%d-%d", d.rtpLow, d.rtpLow+rtpBlock-1), "-public-ip", "127.0.0.1", "-log-level", "info"}
	args = append(args, d.extra...)
	cmd := exec.Command(os.Getenv(binEnv), args...)
	cmd.Env = append(os.Environ(), "CONFAB_ADMIN_PASSWORD="+adminPassword)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return err
	}
	d.cmd, d.exited, d.exitErr = cmd, make(chan struct{}), nil
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(d.out, line)
			if !signalled && strings.HasPrefix(line, "confabd ready:") {
				signalled = true
				close(ready)
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		d.exitErr = cmd.Wait()
		_ = pw.Close()
		close(d.exited)
	}()
	select {
	case <-ready:
		return nil
	case <-d.exited:
		return fmt.Errorf("exited during start: %v: %s", d.exitErr, lastLines(d.out.String(), 3))
	case <-time.After(20 * time.Second):
		d.kill()
		return errors.New("no \"confabd ready\" within 20 s")
	}
}

// pid is the daemon's process id.
func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t testing.TB) int {
	t.Helper()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.kill()
		t.Fatal("confabd did not exit within 15 s of SIGTERM")
	}
	var ee *exec.ExitError
	if errors.As(d.exitErr, &ee) {
		return ee.ExitCode()
	}
	if d.exitErr != nil {
		t.Fatalf("confabd: %v", d.exitErr)
	}
	return 0
}

// kill ends the daemon with SIGKILL, as a power cut or the OOM killer
// would, and waits until it is gone.
func (d *daemon) kill() {
	if d.cmd == nil || d.cmd.Process == nil {
		return
	}
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Kill()
	<-d.exited
}

// restart starts the daemon again on the same ports and data after it has
// stopped.
func (d *daemon) restart(t testing.TB) {
	t.Helper()
	select {
	case <-d.exited:
	default:
		t.Fatal("restart of a daemon that is still running")
	}
	d.restarts++
	fmt.Fprintf(d.out, "---- restart %d ----\n", d.restarts)
	d.start(t)
}

// api calls the JSON API as the admin. in, when not nil, is sent as JSON;
// the response is decoded into out when out is not nil. It returns the
// status code.
func (d *daemon) api(method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://"+d.http+path, body)
	if err != nil {
		return 0, err
	}
	req.SetBasicAuth("admin", adminPassword)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return res.StatusCode, err
	}
	if out != nil && len(b) > 0 && res.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			return res.StatusCode, fmt.Errorf("%s %s: %w in %s", method, path, err, b)
		}
	}
	if res.StatusCode >= 300 {
		return res.StatusCode, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(b))
	}
	return res.StatusCode, nil
}

// mustAPI is api that fails the test on an error or an unexpected status.
func (d *daemon) mustAPI(t testing.TB, method, path string, in, out any, want int) {
	t.Helper()
	code, err := d.api(method, path, in, out)
	if code != want {
		t.Fatalf("%s %s: status %d, want %d (%v)", method, path, code, want, err)
	}
}

// conference is a conference as the API shows it.
type conference struct {
	ID     int64  `json:"id"`
	Number string `json:"number"`
	Active bool   `json:"active"`
	Locked bool   `json:"locked"`
	Roster *struct {
		Locked       bool     `json:"locked"`
		Participants []member `json:"participants"`
	} `json:"roster"`
}

type member struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	URI   string `json:"uri"`
	Role  string `json:"role"`
	State string `json:"state"`
	Muted bool   `json:"muted"`
	Codec string `json:"codec"`
}

// createConference makes a conference through the API. Announcements are
// off unless fields turn them on, so that join tones do not mix with the
// tones the tests listen for.
func (d *daemon) createConference(t testing.TB, number string, fields map[string]any) int64 {
	t.Helper()
	in := map[string]any{"number": number, "name": "conference " + number, "announcements": false}
	for k, v := range fields {
		in[k] = v
	}
	var c conference
	d.mustAPI(t, "POST", "/api/v1/conferences", in, &c, http.StatusCreated)
	return c.ID
}

// roster returns the live participants of conference id.
func (d *daemon) roster(t testing.TB, id int64) []member {
	t.Helper()
	var c conference
	d.mustAPI(t, "GET", fmt.Sprintf("/api/v1/conferences/%d", id), nil, &c, http.StatusOK)
	if c.Roster == nil {
		return nil
	}
	return c.Roster.Participants
}

// memberNamed waits until the roster of conference id has a participant
// called name and returns it.
func (d *daemon) memberNamed(t testing.TB, id int64, name string) member {
	t.Helper()
	var found member
	waitFor(t, "participant "+name+" in the roster", 10*time.Second, func() bool {
		for _, m := range d.roster(t, id) {
			if m.Name == name {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// rssKB is the daemon's resident set size from /proc/PID/status.
func (d *daemon) rssKB(t testing.TB) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", d.pid()))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			if err != nil {
				t.Fatalf("VmRSS %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("no VmRSS in /proc status")
	return 0
}

// rtpBlock is the size of a test daemon's RTP port range: 200 calls.
const rtpBlock = 400

// freeRTPBlock picks a block of rtpBlock UDP ports between 10000 and 19999
// that are all free now.
func freeRTPBlock(t testing.TB) int {
	t.Helper()
	for range 20 {
		low := 10000 + rtpBlock*rand.IntN(10000/rtpBlock)
		free := true
		for p := low; p < low+rtpBlock && free; p++ {
			c, err := net.ListenPacket("udp", ":"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			c.Close()
		}
		if free {
			return low
		}
	}
	t.Fatal("no block of free UDP ports between 10000 and 19999")
	return 0
}

// freeTCPAddr returns a loopback address with a TCP port free now.
func freeTCPAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// freeSIPAddr returns a loopback address whose port is free on both UDP
// and TCP now.
func freeSIPAddr(t testing.TB) string {
	t.Helper()
	for range 20 {
		u, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := u.LocalAddr().String()
		l, err := net.Listen("tcp", addr)
		u.Close()
		if err == nil {
			l.Close()
			return addr
		}
	}
	t.Fatal("no port free on both UDP and TCP")
	return ""
}

// waitFor polls cond every 50 ms until it holds, or fails the test after
// limit.
func waitFor(t testing.TB, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

// lastLines returns the last n lines of s, each cut to 300 bytes: the
// daemon logs what garbage it got, and a failure report should stay
// readable.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 300 {
			lines[i] = l[:300] + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// needRoot skips a test that needs root, saying why.
func needRoot(t *testing.T, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

// needCommand skips a test whose Debian package is not installed.
func needCommand(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s not found: install the Debian package %s (apt-get install %s)", name, pkg, pkg)
	}
	return p
}
