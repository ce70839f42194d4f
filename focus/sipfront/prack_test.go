package sipfront

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// rawCaller speaks SIP over a plain UDP socket, so that a test sees the
// responses in the order they were sent (sipgo's client transaction may
// pass a 183 up after a 200 that follows it at once) and can leave out
// what a real client would send (a PRACK).
type rawCaller struct {
	t      *testing.T
	pc     net.PacketConn
	front  *net.UDPAddr
	local  string
	callID string
	toTag  string
}

func newRawCaller(t *testing.T, f *Front, callID string) *rawCaller {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return &rawCaller{t: t, pc: pc, front: net.UDPAddrFromAddrPort(f.Addr()), local: pc.LocalAddr().String(), callID: callID}
}

// send sends a request in the call (a To tag once the dialog has one).
func (r *rawCaller) send(method, cseq string, extra []string, body []byte) {
	r.t.Helper()
	to := "<sip:7001@" + r.front.String() + ">"
	if r.toTag != "" {
		to += ";tag=" + r.toTag
	}
	branch := strings.ReplaceAll(cseq, " ", "-")
	if method == "CANCEL" {
		branch = "1-INVITE" // RFC 3261 §9.1: the INVITE's branch
	}
	msg := method + " sip:7001@" + r.front.String() + " SIP/2.0\r\n" +
		"Via: SIP/2.0/UDP " + r.local + ";branch=z9hG4bK-" + branch + "-" + r.callID + "\r\n" +
		"Max-Forwards: 70\r\nFrom: <sip:carrier@" + r.local + ">;tag=caller1\r\nTo: " + to + "\r\n" +
		"Call-ID: " + r.callID + "\r\nCSeq: " + cseq + "\r\nContact: <sip:carrier@" + r.local + ">\r\n"
	for _, h := range extra {
		msg += h + "\r\n"
	}
	if body != nil {
		msg += "Content-Type: application/sdp\r\n"
	}
	msg += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
	if _, err := r.pc.WriteTo([]byte(msg), r.front); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rawCaller) invite(extra ...string) {
	r.send("INVITE", "1 INVITE", extra, offerSDP("sendrecv"))
}

// next reads the next response, or nil after wait.
func (r *rawCaller) next(wait time.Duration) *sip.Response {
	r.t.Helper()
	buf := make([]byte, 65535)
	for {
		_ = r.pc.SetReadDeadline(time.Now().Add(wait))
		n, _, err := r.pc.ReadFrom(buf)
		if err != nil {
			return nil
		}
		msg, err := sip.ParseMessage(append([]byte(nil), buf[:n]...))
		if err != nil {
			r.t.Fatal(err)
		}
		if res, ok := msg.(*sip.Response); ok {
			if tag := toTagOf(res); tag != "" {
				r.toTag = tag
			}
			return res
		}
	}
}

// until reads responses up to and including the first with a code of at
// least min, and returns their codes and the responses.
func (r *rawCaller) until(min int) ([]int, []*sip.Response) {
	r.t.Helper()
	var codes []int
	var all []*sip.Response
	for {
		res := r.next(5 * time.Second)
		if res == nil {
			r.t.Fatalf("no response of %d or more after %v", min, codes)
		}
		codes = append(codes, res.StatusCode)
		all = append(all, res)
		if res.StatusCode >= min {
			return codes, all
		}
	}
}

func toTagOf(res *sip.Response) string {
	tag, _ := res.To().Params.Get("tag")
	return tag
}

func TestEarlyMediaWherePromptsPlayFirst(t *testing.T) {
	for _, early := range []bool{true, false} {
		name := "a caller who hears a prompt first gets 183 with the SDP answer, then the 200 with the same"
		if !early {
			name = "a caller who goes straight in gets no 183"
		}
		t.Run(name, func(t *testing.T) {
			j := newEchoJoiner()
			j.early = early
			f := startFront(t, j)
			r := newRawCaller(t, f, "early-"+strconv.FormatBool(early))
			r.invite("Supported: 100rel") // supported, not required: the 183 goes unreliably
			codes, seen := r.until(200)
			want := []int{100, 200}
			if early {
				want = []int{100, 183, 200}
			}
			if fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Fatalf("responses %v, want %v", codes, want)
			}
			if !early {
				return
			}
			progress, ok := seen[1], seen[2]
			if string(progress.Body()) != answerSDP || header(progress, "Content-Type") != "application/sdp" {
				t.Fatalf("183 body %q (%s), want the SDP answer", progress.Body(), header(progress, "Content-Type"))
			}
			if string(ok.Body()) != string(progress.Body()) {
				t.Fatal("the 200's SDP differs from the 183's")
			}
			if pt := toTagOf(progress); pt == "" || pt != toTagOf(ok) {
				t.Fatalf("183 To tag %q, 200 To tag %q: one dialog wants one tag", pt, toTagOf(ok))
			}
			if ct := progress.Contact(); ct == nil || !ct.Params.Has("isfocus") {
				t.Fatalf("183 Contact %v", ct)
			}
			if header(progress, "RSeq") != "" || header(progress, "Require") != "" {
				t.Fatal("a 183 sent reliably to a caller that did not require it")
			}
		})
	}
}

func TestReliableProgressWhenTheCallerRequires100rel(t *testing.T) {
	start := func(t *testing.T, callID string) (*echoJoiner, *Front, *rawCaller, *sip.Response) {
		j := newEchoJoiner()
		j.early = true
		f := startFront(t, j)
		r := newRawCaller(t, f, callID)
		r.invite("Require: 100rel", "Supported: 100rel")
		codes, seen := r.until(183)
		if fmt.Sprint(codes) != "[100 183]" {
			t.Fatalf("responses %v", codes)
		}
		p := seen[1]
		if header(p, "Require") != "100rel" || header(p, "RSeq") == "" || string(p.Body()) != answerSDP {
			t.Fatalf("183 Require %q RSeq %q body %q", header(p, "Require"), header(p, "RSeq"), p.Body())
		}
		return j, f, r, p
	}

	t.Run("the 200 waits for the PRACK, the 183 being repeated meanwhile", func(t *testing.T) {
		_, _, r, p := start(t, "prack-ok")
		again := r.next(500 * time.Millisecond)
		if again == nil || again.StatusCode != 183 || header(again, "RSeq") != header(p, "RSeq") {
			t.Fatalf("the unacknowledged 183 was not retransmitted: %v", again)
		}
		r.send("PRACK", "2 PRACK", []string{"RAck: " + header(p, "RSeq") + " 1 INVITE"}, nil)
		codes, seen := r.until(200)
		var got []string
		for i, c := range codes {
			got = append(got, strconv.Itoa(c)+" "+string(seen[i].CSeq().MethodName))
		}
		// The PRACK's 200 and the INVITE's 200, in either order; stray
		// 183 retransmissions may come first.
		codes2, seen2 := r.until(200)
		for i, c := range codes2 {
			got = append(got, strconv.Itoa(c)+" "+string(seen2[i].CSeq().MethodName))
		}
		joined := strings.Join(got, ", ")
		if !strings.Contains(joined, "200 PRACK") || !strings.Contains(joined, "200 INVITE") {
			t.Fatalf("after the PRACK: %s", joined)
		}
	})
	t.Run("a PRACK for another response is refused with 481 and the 200 keeps waiting", func(t *testing.T) {
		_, _, r, p := start(t, "prack-wrong")
		rseq, _ := strconv.Atoi(header(p, "RSeq"))
		r.send("PRACK", "2 PRACK", []string{"RAck: " + strconv.Itoa(rseq+1) + " 1 INVITE"}, nil)
		for {
			res := r.next(time.Second)
			if res == nil {
				t.Fatal("no answer to the wrong PRACK")
			}
			if res.CSeq().MethodName == sip.PRACK {
				if res.StatusCode != 481 {
					t.Fatalf("wrong PRACK answered %d", res.StatusCode)
				}
				break
			}
			if res.StatusCode == 200 {
				t.Fatal("the INVITE was answered 200 without its PRACK")
			}
		}
	})
	t.Run("without a PRACK the INVITE is refused with 504 after 64*T1 and the member leaves", func(t *testing.T) {
		j, f, r, _ := start(t, "prack-none")
		m := j.next(t)
		codes, _ := r.until(300)
		if last := codes[len(codes)-1]; last != 504 {
			t.Fatalf("responses %v, want 183s then 504", codes)
		}
		if got := m.waitLeave(t); got != "no PRACK" {
			t.Fatalf("Leave(%q)", got)
		}
		eventually(t, "the call to be gone", func() bool { return f.Calls() == 0 })
	})
	t.Run("a CANCEL while the PRACK is awaited ends the call", func(t *testing.T) {
		j, f, r, _ := start(t, "prack-cancel")
		m := j.next(t)
		r.toTag = "" // CANCEL matches the INVITE: its To has no tag
		r.send("CANCEL", "1 CANCEL", nil, nil)
		if got := m.waitLeave(t); got != "cancel" {
			t.Fatalf("Leave(%q)", got)
		}
		eventually(t, "the call to be gone", func() bool { return f.Calls() == 0 })
	})
}

func FuzzParseRAck(f *testing.F) {
	for _, s := range []string{"776656 1 INVITE", "1 1", "x 1 INVITE", "4294967296 1 INVITE", " 5  7  INVITE ", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, value string) {
		req := sip.NewRequest(sip.PRACK, sip.Uri{Scheme: "sip", Host: "box"})
		req.AppendHeader(sip.NewHeader("RAck", value))
		rseq, cseq, method, ok := parseRAck(req)
		if !ok {
			return
		}
		if method == "" || strings.ContainsAny(method, " \t") {
			t.Fatalf("%q: method %q", value, method)
		}
		f := strings.Fields(value)
		r, _ := strconv.ParseUint(f[0], 10, 32)
		c, _ := strconv.ParseUint(f[1], 10, 32)
		if len(f) != 3 || uint64(rseq) != r || uint64(cseq) != c || method != f[2] {
			t.Fatalf("%q read as %d %d %q", value, rseq, cseq, method)
		}
	})
}
