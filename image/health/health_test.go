package health

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// fakeSIP answers each OPTIONS with the given status lines, in turn, after
// dropping the first `drop` requests (to exercise retransmission).
func fakeSIP(t *testing.T, drop int, answer func(req string) []string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 8192)
		for i := 0; ; i++ {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if i < drop {
				continue
			}
			for _, res := range answer(string(buf[:n])) {
				_, _ = pc.WriteTo([]byte(res), from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

func header(req, name string) string {
	for _, l := range strings.Split(req, "\r\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.EqualFold(k, name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func reply(code string) func(string) []string {
	return func(req string) []string {
		return []string{"SIP/2.0 " + code + "\r\nCall-ID: " + header(req, "Call-ID") + "\r\nContent-Length: 0\r\n\r\n"}
	}
}

func TestSIPOptions(t *testing.T) {
	tests := []struct {
		name   string
		drop   int
		answer func(string) []string
		err    error
	}{
		{name: "a bridge that answers 200 is healthy", answer: reply("200 OK")},
		{name: "a lost request is sent again", drop: 1, answer: reply("200 OK")},
		{name: "a provisional answer is waited past", answer: func(req string) []string {
			return append(reply("100 Trying")(req), reply("200 OK")(req)...)
		}},
		{name: "an answer to another call is ignored", answer: func(req string) []string {
			return []string{"SIP/2.0 200 OK\r\nCall-ID: someone-else\r\n\r\n"}
		}, err: ErrNoAnswer},
		{name: "a 503 is unhealthy", answer: reply("503 Service Unavailable"), err: ErrBadAnswer},
		{name: "garbage is ignored", answer: func(string) []string { return []string{"HTTP/1.1 200 OK\r\n\r\n"} }, err: ErrNoAnswer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := fakeSIP(t, tt.drop, tt.answer)
			ctx, cancel := context.WithTimeout(context.Background(), 1200*time.Millisecond)
			defer cancel()
			if err := SIPOptions(ctx, addr); !errors.Is(err, tt.err) {
				t.Fatalf("SIPOptions = %v, want %v", err, tt.err)
			}
		})
	}
	t.Run("the request is a well-formed OPTIONS", func(t *testing.T) {
		got := make(chan string, 1)
		addr := fakeSIP(t, 0, func(req string) []string {
			got <- req
			return reply("200 OK")(req)
		})
		if err := SIPOptions(context.Background(), addr); err != nil {
			t.Fatal(err)
		}
		req := <-got
		for _, h := range []string{"Via", "From", "To", "Call-ID", "CSeq", "Max-Forwards"} {
			if header(req, h) == "" {
				t.Fatalf("request lacks %s:\n%s", h, req)
			}
		}
		if !strings.HasPrefix(req, "OPTIONS sip:health@"+addr+" SIP/2.0\r\n") || !strings.Contains(header(req, "Via"), ";branch=z9hG4bK") {
			t.Fatalf("request:\n%s", req)
		}
	})
}

func TestHealthz(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		err    error
		says   string
	}{
		{"a healthy report is healthy", 200,
			`{"healthy":true,"checked_at":"2026-11-23T22:30:00Z","checks":{"mixer":{"ok":true,"detail":"ticking","ms":0.1},"sip":{"ok":true},"database":{"ok":true}}}`, nil, ""},
		{"a failing database is named", 503,
			`{"healthy":false,"checks":{"mixer":{"ok":true},"sip":{"ok":true},"database":{"ok":false,"error":"disk I/O error"}}}`, ErrBadAnswer, "database: disk I/O error"},
		{"every failing check is named", 503,
			`{"healthy":false,"checks":{"mixer":{"ok":false,"error":"no tick for 3s"},"sip":{"ok":false,"error":"no answer"}}}`, ErrBadAnswer, "mixer: no tick for 3s; sip: no answer"},
		{"a 200 that says unhealthy is unhealthy", 200, `{"healthy":false,"checks":{}}`, ErrBadAnswer, "no check named"},
		{"the login page is not a health report", 200, `<!doctype html><title>Log in</title>`, ErrBadAnswer, "without a health report"},
		{"a redirect is not a health report", 303, ``, ErrBadAnswer, "303 without"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != "/healthz" {
					http.NotFound(w, r)
					return
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			}))
			defer srv.Close()
			err := Healthz(context.Background(), srv.URL+"/healthz")
			if !errors.Is(err, tt.err) || (tt.err != nil && !strings.Contains(err.Error(), tt.says)) {
				t.Fatalf("Healthz = %v, want %v with %q", err, tt.err, tt.says)
			}
		})
	}
	t.Run("a confabd that does not answer in time is unhealthy", func(t *testing.T) {
		block := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-block }))
		defer srv.Close()
		defer close(block)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		if err := Healthz(ctx, srv.URL+"/healthz"); !errors.Is(err, ErrNoAnswer) {
			t.Fatalf("Healthz = %v, want ErrNoAnswer", err)
		}
	})
}

func FuzzParseHealthz(f *testing.F) {
	f.Add(200, []byte(`{"healthy":true,"checks":{}}`))
	f.Add(503, []byte(`{"healthy":false,"checks":{"database":{"ok":false,"error":"x"}}}`))
	f.Add(200, []byte(`{"healthy":null}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		err := parseHealthz(status, body)
		if err == nil && status != 200 {
			t.Fatalf("status %d judged healthy", status)
		}
		if err != nil && !errors.Is(err, ErrBadAnswer) {
			t.Fatalf("error %v is not ErrBadAnswer", err)
		}
	})
}

func FuzzParseResponse(f *testing.F) {
	f.Add([]byte("SIP/2.0 200 OK\r\nCall-ID: x\r\n\r\n"), "x")
	f.Add([]byte("SIP/2.0 99999999999999999999 OK\r\ni: x\r\n\r\n"), "x")
	f.Fuzz(func(t *testing.T, msg []byte, callID string) {
		code, final, ok := parseResponse(msg, callID)
		if ok && (code < 100 || code > 699 || final != (code >= 200)) {
			t.Fatalf("parseResponse = %d, %v, %v", code, final, ok)
		}
	})
}
