// Package health probes confabd: a SIP OPTIONS request over UDP (RFC 3261
// §11) must get 200 OK, the way phones reach it, and confabd's /healthz
// over HTTPS must report itself healthy: the mixer keeping time, the SIP
// front answering and the database taking writes. The init feeds the
// watchdog and commits an updated slot only while both pass.
package health

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Errors callers tell apart.
var (
	// ErrNoAnswer means the probe got no answer in time.
	ErrNoAnswer = errors.New("health: no answer")
	// ErrBadAnswer means the answer was not a success.
	ErrBadAnswer = errors.New("health: bad answer")
)

// SIPOptions sends OPTIONS to addr (IP:port) over UDP and waits for a
// final response to it, retransmitting as RFC 3261 §17.1.2.2 does (500 ms,
// doubling). It succeeds on 200.
func SIPOptions(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return fmt.Errorf("health: sip %s: %w", addr, err)
	}
	defer conn.Close()
	local := conn.LocalAddr().(*net.UDPAddr)
	callID, branch := token(), "z9hG4bK"+token()
	req := fmt.Sprintf("OPTIONS sip:health@%s SIP/2.0\r\n"+
		"Via: SIP/2.0/UDP %s;branch=%s;rport\r\n"+
		"Max-Forwards: 70\r\n"+
		"From: <sip:health@%s>;tag=%s\r\n"+
		"To: <sip:health@%s>\r\n"+
		"Call-ID: %s\r\n"+
		"CSeq: 1 OPTIONS\r\n"+
		"Accept: application/sdp\r\n"+
		"User-Agent: confab-init\r\n"+
		"Content-Length: 0\r\n\r\n",
		addr, local.String(), branch, local.IP, token(), addr, callID)
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(5 * time.Second)
	}
	buf := make([]byte, 8192)
	for wait := 500 * time.Millisecond; time.Now().Before(deadline); wait *= 2 {
		if _, err := conn.Write([]byte(req)); err != nil {
			return fmt.Errorf("health: sip %s: %w", addr, err)
		}
		until := time.Now().Add(wait)
		if until.After(deadline) {
			until = deadline
		}
		_ = conn.SetReadDeadline(until)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				break // retransmit, or give up at the deadline
			}
			code, final, ok := parseResponse(buf[:n], callID)
			if !ok || !final {
				continue
			}
			if code != 200 {
				return fmt.Errorf("%w: sip %s answered %d", ErrBadAnswer, addr, code)
			}
			return nil
		}
	}
	return fmt.Errorf("%w: sip %s", ErrNoAnswer, addr)
}

// parseResponse reads a SIP response's status code and whether it belongs
// to our Call-ID and is final (≥ 200).
func parseResponse(msg []byte, callID string) (code int, final, ok bool) {
	head, _, _ := strings.Cut(string(msg), "\r\n\r\n")
	lines := strings.Split(head, "\r\n")
	f := strings.SplitN(lines[0], " ", 3)
	if len(f) < 2 || f[0] != "SIP/2.0" {
		return 0, false, false
	}
	code, err := strconv.Atoi(f[1])
	if err != nil || code < 100 || code > 699 {
		return 0, false, false
	}
	for _, l := range lines[1:] {
		k, v, _ := strings.Cut(l, ":")
		k = strings.ToLower(strings.TrimSpace(k))
		if (k == "call-id" || k == "i") && strings.TrimSpace(v) == callID {
			return code, code >= 200, true
		}
	}
	return 0, false, false
}

func token() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// maxHealthz bounds the /healthz answer read.
const maxHealthz = 64 << 10

// Healthz fetches confabd's /healthz at url and succeeds on 200 with
// "healthy": true. A 503 (or any other answer) fails with ErrBadAnswer
// naming the checks that failed, e.g. "database: disk I/O error". The
// box's own certificate is self-signed, so a probe of the loopback address
// does not verify it: it checks that the server works, not who it is.
func Healthz(ctx context.Context, url string) error {
	client := &http.Client{
		Transport:     &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	res, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %s", ErrNoAnswer, url)
		}
		return fmt.Errorf("health: %s: %w", url, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxHealthz))
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrNoAnswer, url, err)
	}
	return parseHealthz(res.StatusCode, body)
}

// parseHealthz judges a /healthz answer.
func parseHealthz(status int, body []byte) error {
	var rep struct {
		Healthy *bool `json:"healthy"`
		Checks  map[string]struct {
			OK    bool   `json:"ok"`
			Error string `json:"error"`
		} `json:"checks"`
	}
	if err := json.Unmarshal(body, &rep); err != nil || rep.Healthy == nil {
		return fmt.Errorf("%w: /healthz answered %d without a health report", ErrBadAnswer, status)
	}
	if status == http.StatusOK && *rep.Healthy {
		return nil
	}
	var failing []string
	for name, c := range rep.Checks {
		if !c.OK {
			failing = append(failing, name+": "+c.Error)
		}
	}
	slices.Sort(failing)
	if len(failing) == 0 {
		failing = []string{"no check named"}
	}
	return fmt.Errorf("%w: /healthz answered %d: %s", ErrBadAnswer, status, strings.Join(failing, "; "))
}

// All runs probes in order and returns the first failure.
func All(probes ...func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		for _, p := range probes {
			if err := p(ctx); err != nil {
				return err
			}
		}
		return nil
	}
}
