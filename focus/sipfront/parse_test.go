package sipfront

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

func TestNegotiateTimer(t *testing.T) {
	const interval, minSE = 1800 * time.Second, 90 * time.Second
	se := func(d time.Duration, r string) *sessionExpires { return &sessionExpires{delta: d, refresher: r} }
	tests := []struct {
		name     string
		req      timerRequest
		want     sessionTimer
		tooSmall bool
	}{
		{"a caller without timer support that asks nothing gets no timer", timerRequest{}, sessionTimer{}, false},
		{"a caller that supports timers but asks none is given ours, refreshing itself",
			timerRequest{supported: true}, sessionTimer{interval, refresherUAC}, false},
		{"our interval is raised to the caller's Min-SE",
			timerRequest{supported: true, minSE: 3600 * time.Second}, sessionTimer{3600 * time.Second, refresherUAC}, false},
		{"a requested interval shorter than ours is kept",
			timerRequest{supported: true, se: se(600*time.Second, "")}, sessionTimer{600 * time.Second, refresherUAC}, false},
		{"a requested interval longer than ours is lowered to ours",
			timerRequest{supported: true, se: se(7200*time.Second, "")}, sessionTimer{interval, refresherUAC}, false},
		{"lowering stops at the caller's Min-SE",
			timerRequest{supported: true, se: se(7200*time.Second, ""), minSE: 3000 * time.Second}, sessionTimer{3000 * time.Second, refresherUAC}, false},
		{"the caller's choice of refresher is kept",
			timerRequest{supported: true, se: se(600*time.Second, "uas")}, sessionTimer{600 * time.Second, refresherUAS}, false},
		{"a caller without timer support cannot refresh, so we do",
			timerRequest{se: se(600*time.Second, "uac")}, sessionTimer{600 * time.Second, refresherUAS}, false},
		{"an interval below our Min-SE from a supporting caller is too small",
			timerRequest{supported: true, se: se(30*time.Second, "")}, sessionTimer{}, true},
		{"an interval below our Min-SE from a caller that cannot retry is declined",
			timerRequest{se: se(30*time.Second, "")}, sessionTimer{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, tooSmall := negotiateTimer(interval, minSE, tt.req)
			if got != tt.want || tooSmall != tt.tooSmall {
				t.Fatalf("negotiateTimer = %+v, %v; want %+v, %v", got, tooSmall, tt.want, tt.tooSmall)
			}
		})
	}
}

func TestSessionTimerWait(t *testing.T) {
	tests := []struct {
		name string
		st   sessionTimer
		want time.Duration
	}{
		{"the refresher refreshes at half the interval", sessionTimer{1800 * time.Second, refresherUAS}, 900 * time.Second},
		{"the other side ends a long session 32 s early", sessionTimer{1800 * time.Second, refresherUAC}, 1768 * time.Second},
		{"the other side ends a short session a third early", sessionTimer{90 * time.Second, refresherUAC}, 60 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.st.wait(); got != tt.want {
				t.Fatalf("wait = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseSessionExpires(t *testing.T) {
	tests := []struct {
		in      string
		want    sessionExpires
		wantErr bool
	}{
		{in: "1800", want: sessionExpires{delta: 1800 * time.Second}},
		{in: "4000;refresher=uac", want: sessionExpires{delta: 4000 * time.Second, refresher: "uac"}},
		{in: " 90 ; Refresher = UAS ;x=y", want: sessionExpires{delta: 90 * time.Second, refresher: "uas"}},
		{in: "", wantErr: true},
		{in: "-5", wantErr: true},
		{in: "1800;refresher=both", wantErr: true},
		{in: "99999999999", wantErr: true},
	}
	for _, tt := range tests {
		t.Run("Session-Expires "+tt.in, func(t *testing.T) {
			got, err := parseSessionExpires(tt.in)
			if (err != nil) != tt.wantErr || (!tt.wantErr && got != tt.want) {
				t.Fatalf("parseSessionExpires(%q) = %+v, %v", tt.in, got, err)
			}
		})
	}
}

func FuzzSessionTimerHeaders(f *testing.F) {
	for _, s := range []string{"1800", "90;refresher=uac", "4294967295", "1;refresher=", ";;;", "12a"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, seHeader, minSEHeader string) {
		se, err := parseSessionExpires(seHeader)
		if err == nil && (se.delta < 0 || se.delta > maxDelta*time.Second ||
			(se.refresher != "" && se.refresher != refresherUAC && se.refresher != refresherUAS)) {
			t.Fatalf("parseSessionExpires(%q) = %+v", seHeader, se)
		}
		min, err2 := parseMinSE(minSEHeader)
		if err2 == nil && min < 0 {
			t.Fatalf("parseMinSE(%q) = %v", minSEHeader, min)
		}
		if err != nil || err2 != nil {
			return
		}
		st, tooSmall := negotiateTimer(30*time.Minute, 90*time.Second, timerRequest{supported: true, se: &se, minSE: min})
		if !tooSmall && st.interval != 0 && st.interval > se.delta {
			t.Fatalf("raised the interval %v to %v", se.delta, st.interval)
		}
	})
}

func TestParseDTMF(t *testing.T) {
	tests := []struct {
		name    string
		ctype   string
		body    string
		want    byte
		wantErr error
	}{
		{"dtmf-relay with CRLF lines", typeDTMFRelay, "Signal=5\r\nDuration=160\r\n", '5', nil},
		{"dtmf-relay with LF lines and spaces", typeDTMFRelay, "signal = *\nduration = 100\n", '*', nil},
		{"dtmf-relay with Duration first", typeDTMFRelay, "Duration=160\r\nSignal=#\r\n", '#', nil},
		{"dtmf-relay with a lower-case letter", typeDTMFRelay, "Signal=d\r\n", 'D', nil},
		{"dtmf-relay with event code 11", typeDTMFRelay, "Signal=11\r\n", '#', nil},
		{"plain dtmf", typeDTMF, " 7 \r\n", '7', nil},
		{"plain dtmf with event code 15", typeDTMF, "15", 'D', nil},
		{"dtmf-relay without Signal", typeDTMFRelay, "Duration=160\r\n", 0, errNoDigit},
		{"dtmf-relay with an empty Signal", typeDTMFRelay, "Signal=\r\n", 0, errNoDigit},
		{"dtmf-relay with event code 16", typeDTMFRelay, "Signal=16\r\n", 0, errBadDigit},
		{"plain dtmf with two digits", typeDTMF, "12 3", 0, errBadDigit},
		{"another type", "text/plain", "5", 0, errBadDigit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDTMF(tt.ctype, []byte(tt.body))
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("parseDTMF = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseDTMF(f *testing.F) {
	f.Add(typeDTMFRelay, []byte("Signal=5\r\nDuration=160\r\n"))
	f.Add(typeDTMF, []byte("10"))
	f.Add(typeDTMFRelay, []byte("Signal==\n=\r\r"))
	f.Fuzz(func(t *testing.T, ctype string, body []byte) {
		d, err := parseDTMF(ctype, body)
		if err == nil && !strings.ContainsRune("0123456789*#ABCD", rune(d)) {
			t.Fatalf("parseDTMF(%q, %q) = %q", ctype, body, d)
		}
	})
}

func TestTargetOf(t *testing.T) {
	tests := []struct {
		uri     string
		want    string
		wantErr bool
	}{
		{uri: "sip:7001@box", want: "7001"},
		{uri: "sip:%2B4930123456@box;user=phone", want: "+4930123456"},
		{uri: "sip:alice@box;gruu;opaque=app:conf:focus:id:3ICYEOLHDKOE3ZP5", want: "focus:3ICYEOLHDKOE3ZP5"},
		{uri: "sip:alice@box;opaque=app:conf:chat:id:XYZ", want: "alice"},
		{uri: "sip:box", wantErr: true},
		{uri: "sip:70%2001@box", wantErr: true},
		{uri: "sip:alice@box;opaque=app:conf:focus:id:", wantErr: true},
		{uri: "sip:" + strings.Repeat("9", 65) + "@box", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.uri, func(t *testing.T) {
			var u sip.Uri
			if err := sip.ParseUri(tt.uri, &u); err != nil {
				t.Fatalf("ParseUri: %v", err)
			}
			got, err := targetOf(&u)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("targetOf = %q, %v; want %q (error %v)", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzTarget(f *testing.F) {
	f.Add("sip:7001@box")
	f.Add("sip:a@b;gruu;opaque=app:conf:focus:id:ABC")
	f.Add("sip:%zz@box")
	f.Fuzz(func(t *testing.T, s string) {
		var u sip.Uri
		if sip.ParseUri(s, &u) != nil {
			return
		}
		got, err := targetOf(&u)
		if err != nil {
			return
		}
		if !validTarget(strings.TrimPrefix(got, FocusTargetPrefix)) {
			t.Fatalf("targetOf(%q) = %q", s, got)
		}
	})
}

func TestLockout(t *testing.T) {
	a := netip.MustParseAddr("192.0.2.7")
	tests := []struct {
		name   string
		steps  func(l *lockout, clk *fakeClock) bool // returns whether a is locked at the end
		locked bool
	}{
		{"five failures within a minute lock the source", func(l *lockout, clk *fakeClock) bool {
			for range 5 {
				l.fail(a)
				clk.advance(5 * time.Second)
			}
			return l.locked(a)
		}, true},
		{"failures spread over more than the window do not", func(l *lockout, clk *fakeClock) bool {
			for range 10 {
				l.fail(a)
				clk.advance(20 * time.Second)
			}
			return l.locked(a)
		}, false},
		{"the lock ends after its time", func(l *lockout, clk *fakeClock) bool {
			for range 5 {
				l.fail(a)
			}
			clk.advance(10*time.Minute + time.Second)
			return l.locked(a)
		}, false},
		{"a success clears earlier failures", func(l *lockout, clk *fakeClock) bool {
			for range 4 {
				l.fail(a)
			}
			l.succeed(a)
			l.fail(a)
			return l.locked(a)
		}, false},
		{"an IPv4-mapped address is the same source", func(l *lockout, clk *fakeClock) bool {
			for range 5 {
				l.fail(netip.AddrFrom16(a.As16()))
			}
			return l.locked(a)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			l := newLockout(5, time.Minute, 10*time.Minute, clk.now)
			if got := tt.steps(l, clk); got != tt.locked {
				t.Fatalf("locked = %v, want %v", got, tt.locked)
			}
		})
	}
}

func TestLockoutTableIsBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	l := newLockout(5, time.Minute, 10*time.Minute, clk.now)
	locked := netip.MustParseAddr("198.51.100.1")
	for range 5 {
		l.fail(locked)
	}
	for i := range 3 * maxTrackedSources {
		l.fail(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}))
	}
	if n := len(l.sources); n > maxTrackedSources {
		t.Fatalf("%d sources tracked, want at most %d", n, maxTrackedSources)
	}
	if !l.locked(locked) {
		t.Fatal("the locked source was forgotten")
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestNewValidatesOptions(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want error
	}{
		{"defaults are valid", nil, nil},
		{"requiring auth without an Authenticator is refused", []Option{WithRequireAuth(true)}, ErrBadOption},
		{"a session interval below Min-SE is refused", []Option{WithSessionTimer(60 * time.Second)}, ErrBadOption},
		{"a domain with a quote is refused", []Option{WithDomain(`con"fab`)}, ErrBadOption},
		{"a user agent with CR LF is refused", []Option{WithUserAgent("x\r\nVia: evil")}, ErrBadOption},
		{"a lockout of zero failures is refused", []Option{WithLockout(0, time.Minute, time.Minute)}, ErrBadOption},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(newEchoJoiner(), tt.opts...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("a nil joiner is refused", func(t *testing.T) {
		if _, err := New(nil); !errors.Is(err, ErrNoJoiner) {
			t.Fatalf("New(nil) = %v", err)
		}
	})
}
