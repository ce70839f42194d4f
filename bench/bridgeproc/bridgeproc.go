// Package bridgeproc runs a Confab daemon (confabd) for a benchmark: it
// builds the binary from the source tree, starts it on loopback with a
// fresh data directory and free ports, waits for it to say it is ready,
// creates conferences through its JSON API, and stops it with SIGTERM as
// the appliance would be stopped.
//
// The admin password is stored before the first start with the cheapest
// bcrypt cost (store.WithBcryptCost), so that creating hundreds of
// conferences through the API is not a benchmark of bcrypt; the daemon then
// finds its admin and does not make one. Everything else goes through the
// daemon's public face: flags, the ready line and the API.
package bridgeproc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"confab/focus/store"
)

// Errors a caller can tell apart.
var (
	// ErrNotReady means the daemon exited, or did not print its ready line
	// in time.
	ErrNotReady = errors.New("bridgeproc: confabd did not become ready")
	// ErrAPI means the API refused a request.
	ErrAPI = errors.New("bridgeproc: API request failed")
)

// readyLine is what confabd prints once it serves (DESIGN.md, the daemon's
// face).
const readyLine = "confabd ready"

// Option configures Start.
type Option func(*config)

type config struct {
	rtpLow, rtpHigh uint16
	logLevel        string
	env             []string
	readyTimeout    time.Duration
	nice            *int
	addr            netip.Addr
}

// WithAddress makes the daemon listen for SIP and HTTP on addr, and write
// it into SDP, instead of 127.0.0.1: the host's end of a veth pair, say,
// for callers in another network namespace. Media stays on the pure-Go
// socket path (-media-if none), as on loopback, so that runs compare.
func WithAddress(addr netip.Addr) Option { return func(c *config) { c.addr = addr } }

// WithRTPPorts sets the daemon's media port range (default 20000-31999,
// 6000 RTP/RTCP pairs).
func WithRTPPorts(low, high uint16) Option {
	return func(c *config) { c.rtpLow, c.rtpHigh = low, high }
}

// WithLogLevel sets -log-level (default warn: a daemon under load should
// not be measured writing its info log).
func WithLogLevel(level string) Option { return func(c *config) { c.logLevel = level } }

// WithEnv adds NAME=value settings to the daemon's environment, such as
// CONFAB_CPUPROFILE or GOGC.
func WithEnv(kv ...string) Option { return func(c *config) { c.env = append(c.env, kv...) } }

// Bridge is a running confabd.
type Bridge struct {
	cmd      *exec.Cmd
	dir      string
	sip      netip.AddrPort
	http     string
	password string
	client   *http.Client

	done    chan struct{} // closed when the process has exited
	waitErr error
	logMu   sync.Mutex
	log     bytes.Buffer // the daemon's output, kept for errors
}

// Build compiles confabd from the module at moduleDir into out.
func Build(ctx context.Context, moduleDir, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/confabd")
	cmd.Dir = moduleDir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("bridgeproc: go build ./cmd/confabd: %w\n%s", err, b)
	}
	return nil
}

// Start runs binary with a new data directory under dir (which the caller
// removes) and waits until it is ready.
func Start(ctx context.Context, binary, dir string, opts ...Option) (*Bridge, error) {
	cfg := config{rtpLow: 20000, rtpHigh: 31999, logLevel: "warn", readyTimeout: 30 * time.Second, addr: netip.MustParseAddr("127.0.0.1")}
	for _, o := range opts {
		o(&cfg)
	}
	b := &Bridge{dir: dir, done: make(chan struct{}), client: &http.Client{Timeout: 30 * time.Second}}
	pw := make([]byte, 18)
	_, _ = rand.Read(pw)
	b.password = base64.RawURLEncoding.EncodeToString(pw)
	data := filepath.Join(dir, "data")
	if err := os.MkdirAll(data, 0o750); err != nil {
		return nil, fmt.Errorf("bridgeproc: %w", err)
	}
	if err := seedAdmin(ctx, filepath.Join(data, "confab.db"), b.password); err != nil {
		return nil, err
	}
	sipPort, err := freePort(cfg.addr)
	if err != nil {
		return nil, err
	}
	httpPort, err := freePort(cfg.addr)
	if err != nil {
		return nil, err
	}
	b.sip = netip.AddrPortFrom(cfg.addr, sipPort)
	b.http = netip.AddrPortFrom(cfg.addr, httpPort).String()
	args := []string{"-data", data, "-sip", b.sip.String(), "-http", b.http,
		"-rtp-ports", fmt.Sprintf("%d-%d", cfg.rtpLow, cfg.rtpHigh), "-public-ip", cfg.addr.String(), "-log-level", cfg.logLevel}
	if !cfg.addr.IsLoopback() {
		args = append(args, "-media-if", "none")
	}
	b.cmd = exec.Command(binary, args...)
	b.cmd.Env = append(os.Environ(), cfg.env...)
	out, err := b.cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bridgeproc: %w", err)
	}
	b.cmd.Stderr = b.cmd.Stdout
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("bridgeproc: start %s: %w", binary, err)
	}
	ready := make(chan struct{})
	go b.readOutput(out, ready)
	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	timer := time.NewTimer(cfg.readyTimeout)
	defer timer.Stop()
	select {
	case <-ready:
		if cfg.nice != nil {
			if err := Renice(b.PID(), *cfg.nice); err != nil {
				_ = b.Stop(5 * time.Second)
				return nil, err
			}
		}
		return b, nil
	case <-b.done:
		return nil, fmt.Errorf("%w: it exited (%v): %s", ErrNotReady, b.waitErr, b.Output())
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = b.Stop(5 * time.Second)
	return nil, fmt.Errorf("%w within %v: %s", ErrNotReady, cfg.readyTimeout, b.Output())
}

// seedAdmin stores the admin password, cheaply hashed, before the first
// start.
func seedAdmin(ctx context.Context, path, password string) error {
	db, err := store.Open(ctx, path, store.WithBcryptCost(4))
	if err != nil {
		return fmt.Errorf("bridgeproc: %w", err)
	}
	if err := db.SetAdminPassword(ctx, "admin", password); err != nil {
		db.Close()
		return fmt.Errorf("bridgeproc: %w", err)
	}
	return db.Close()
}

// readOutput keeps the daemon's output (the last 64 KiB) and signals the
// ready line.
func (b *Bridge) readOutput(r io.Reader, ready chan struct{}) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	signalled := false
	for sc.Scan() {
		line := sc.Text()
		b.logMu.Lock()
		if b.log.Len() > 64<<10 {
			rest := b.log.Bytes()[b.log.Len()-32<<10:]
			b.log = *bytes.NewBuffer(append([]byte(nil), rest...))
		}
		b.log.WriteString(line + "\n")
		b.logMu.Unlock()
		if !signalled && strings.HasPrefix(line, readyLine) {
			signalled = true
			close(ready)
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// Output is the tail of what the daemon printed.
func (b *Bridge) Output() string {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return b.log.String()
}

// freePort returns a port of addr free on both UDP and TCP, as confabd's
// SIP address must be.
func freePort(addr netip.Addr) (uint16, error) {
	for range 20 {
		u, err := net.ListenPacket("udp4", netip.AddrPortFrom(addr, 0).String())
		if err != nil {
			return 0, fmt.Errorf("bridgeproc: %w", err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		t, err := net.Listen("tcp4", netip.AddrPortFrom(addr, uint16(port)).String())
		u.Close()
		if err == nil {
			t.Close()
			return uint16(port), nil
		}
	}
	return 0, fmt.Errorf("bridgeproc: no free port on %s", addr)
}

// PID is the daemon's process id.
func (b *Bridge) PID() int { return b.cmd.Process.Pid }

// SIPAddr is where the daemon takes SIP over UDP and TCP.
func (b *Bridge) SIPAddr() netip.AddrPort { return b.sip }

// Exited is closed when the daemon has exited.
func (b *Bridge) Exited() <-chan struct{} { return b.done }

// Conference is what CreateConference asks for.
type Conference struct {
	Number        string
	PIN           string
	Announcements bool
}

// CreateConference creates a conference through the API.
func (b *Bridge) CreateConference(ctx context.Context, c Conference) error {
	body, _ := json.Marshal(map[string]any{"number": c.Number, "name": "bench " + c.Number, "pin": c.PIN,
		"announcements": c.Announcements})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.http+"/api/v1/conferences", bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("bridgeproc: %w", err)
	}
	req.SetBasicAuth("admin", b.password)
	req.Header.Set("Content-Type", "application/json")
	res, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("bridgeproc: create conference %s: %w", c.Number, err)
	}
	defer res.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusCreated {
		return fmt.Errorf("%w: create conference %s: %s: %s", ErrAPI, c.Number, res.Status, bytes.TrimSpace(msg))
	}
	return nil
}

// Stop sends SIGTERM, which ends every call with BYE and closes the
// database, and kills the daemon if it has not exited within grace.
func (b *Bridge) Stop(grace time.Duration) error {
	select {
	case <-b.done:
		return nil
	default:
	}
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-b.done:
		return nil
	case <-timer.C:
		_ = b.cmd.Process.Kill()
		<-b.done
		return fmt.Errorf("bridgeproc: confabd did not stop within %v after SIGTERM; killed", grace)
	}
}
