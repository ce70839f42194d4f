package sipfront

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/emiago/sipgo/sip"
)

// Session timers, RFC 4028.

const (
	refresherUAC = "uac"
	refresherUAS = "uas"
	// maxDelta caps delta-seconds (RFC 4028 §4 allows any 1*DIGIT; RFC
	// 3261 §25.1 bounds delta-seconds to 2**32-1).
	maxDelta = 1<<32 - 1
)

var errBadTimerHeader = errors.New("sipfront: malformed Session-Expires or Min-SE")

// sessionExpires is a parsed Session-Expires header (RFC 4028 §4):
// delta-seconds *(SEMI se-params), se-params = refresher-param / generic-param.
type sessionExpires struct {
	delta     time.Duration
	refresher string // "", "uac" or "uas"
}

func parseSessionExpires(v string) (sessionExpires, error) {
	var se sessionExpires
	parts := strings.Split(v, ";")
	d, err := parseDelta(parts[0])
	if err != nil {
		return se, err
	}
	se.delta = d
	for _, p := range parts[1:] {
		name, value, _ := strings.Cut(p, "=")
		if !strings.EqualFold(strings.TrimSpace(name), "refresher") {
			continue // generic-param
		}
		switch r := strings.ToLower(strings.TrimSpace(value)); r {
		case refresherUAC, refresherUAS:
			se.refresher = r
		default:
			return se, errBadTimerHeader
		}
	}
	return se, nil
}

// parseMinSE parses Min-SE: delta-seconds *(SEMI generic-param) (RFC 4028 §5).
func parseMinSE(v string) (time.Duration, error) {
	d, _, _ := strings.Cut(v, ";")
	return parseDelta(d)
}

func parseDelta(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > 10 {
		return 0, errBadTimerHeader
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, errBadTimerHeader
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil || n > maxDelta {
		return 0, errBadTimerHeader
	}
	return time.Duration(n) * time.Second, nil
}

// timerRequest is what an INVITE or UPDATE says about session timers.
type timerRequest struct {
	supported bool            // Supported: timer
	se        *sessionExpires // nil without Session-Expires
	minSE     time.Duration   // 0 without Min-SE
}

func timerRequestOf(req *sip.Request) (timerRequest, error) {
	r := timerRequest{supported: supports(req, "timer")}
	if v, ok := firstHeader(req, "session-expires", "x"); ok {
		se, err := parseSessionExpires(v)
		if err != nil {
			return r, err
		}
		r.se = &se
	}
	if v, ok := firstHeader(req, "min-se"); ok {
		d, err := parseMinSE(v)
		if err != nil {
			return r, err
		}
		r.minSE = d
	}
	return r, nil
}

// sessionTimer is a negotiated session timer; interval 0 means none.
type sessionTimer struct {
	interval  time.Duration
	refresher string
}

// negotiateTimer applies RFC 4028 §9 to a request: interval is the session
// interval the Front would like (0: none unless asked), minSE the smallest
// it accepts. tooSmall means the request must be answered 422 with Min-SE.
func negotiateTimer(interval, minSE time.Duration, r timerRequest) (st sessionTimer, tooSmall bool) {
	if r.se == nil {
		// The UAC supports timers but asks for none: the UAS may ask for
		// one, not below the request's Min-SE, and with refresher=uac.
		if r.supported && interval > 0 {
			return sessionTimer{interval: max(interval, r.minSE), refresher: refresherUAC}, false
		}
		return sessionTimer{}, false
	}
	se := r.se.delta
	if se < minSE {
		// 422 only makes sense to a UAC that supports timers. For one that
		// does not (a proxy inserted the header), the UAS may not raise the
		// interval and would have to refresh that often itself, so it
		// declines the timer by leaving Session-Expires out of the 2xx.
		return sessionTimer{}, r.supported
	}
	if interval > 0 && interval < se {
		// The UAS may lower the interval but not below the request's Min-SE
		// (or 90 s, our minSE).
		se = min(se, max(interval, r.minSE, minSE))
	}
	st = sessionTimer{interval: se}
	switch {
	case !r.supported:
		st.refresher = refresherUAS // RFC 4028 §9 table: a UAC without timer support cannot refresh
	case r.se.refresher != "":
		st.refresher = r.se.refresher
	default:
		st.refresher = refresherUAC
	}
	return st, false
}

// headers renders the 2xx header fields for a negotiated timer: the
// Session-Expires and, when the UAC refreshes, Require: timer (RFC 4028 §9).
func (st sessionTimer) headers() []sip.Header {
	if st.interval == 0 {
		return nil
	}
	h := []sip.Header{sip.NewHeader("Session-Expires",
		strconv.FormatInt(int64(st.interval/time.Second), 10)+";refresher="+st.refresher)}
	if st.refresher == refresherUAC {
		h = append(h, sip.NewHeader("Require", "timer"))
	}
	return h
}

// tooSmallHeaders answers a 422 (RFC 4028 §6).
func tooSmallHeaders(minSE time.Duration) []sip.Header {
	return []sip.Header{sip.NewHeader("Min-SE", strconv.FormatInt(int64(minSE/time.Second), 10))}
}

// wait returns when the Front acts on the timer after a refresh: the
// refresher refreshes at half the interval; the other side sends BYE before
// the session expires, by min(32 s, interval/3) (RFC 4028 §10).
func (st sessionTimer) wait() time.Duration {
	if st.refresher == refresherUAS {
		return st.interval / 2
	}
	return st.interval - min(32*time.Second, st.interval/3)
}
