package sipfront

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emiago/sipgo/sip"
)

// TestTorture sends the RFC 4475 invalid messages in testdata/torture over
// raw UDP and checks each is refused or dropped, never answered as valid,
// and that the Front still takes calls afterwards.
func TestTorture(t *testing.T) {
	tests := []struct {
		file      string
		want      int // final status, 0 for no answer
		malformed bool
	}{
		{"insuf.dat", 400, true},      // RFC 4475 §3.3.1: missing Call-ID, From, To
		{"clerr.dat", 400, true},      // §3.1.2.2: Content-Length beyond the datagram (RFC 3261 §18.3)
		{"ncl.dat", 400, true},        // §3.1.2.3: negative Content-Length
		{"scalar02.dat", 0, true},     // §3.1.2.4: CSeq beyond 2**31; no CSeq to answer with
		{"badvers.dat", 505, true},    // §3.1.2.16: SIP/7.0
		{"mismatch01.dat", 400, true}, // §3.1.2.17: CSeq method is not the request's
		{"unkscm.dat", 416, true},     // §3.3.2: unknown Request-URI scheme
		{"bext01.dat", 420, true},     // §3.3.5: Require with unknown extensions
		{"invut.dat", 415, false},     // §3.3.6: unknown Content-Type of an INVITE body
		{"multi01.dat", 400, true},    // §3.3.8: two Call-IDs, CSeqs, Tos, Froms
		{"mcl01.dat", 400, true},      // §3.3.9: two Content-Lengths
		{"badcseq.dat", 0, true},      // a CSeq number that is not a number
		{"lwsstart.dat", 0, true},     // §3.1.2.9: two spaces in the Request-Line
		{"garbage.dat", 0, true},      // not SIP at all
	}
	j := newEchoJoiner()
	f := startFront(t, j)
	front := net.UDPAddrFromAddrPort(f.Addr())

	for _, tt := range tests {
		name := tt.file + " is dropped"
		if tt.want != 0 {
			name = tt.file + " is answered " + strconv.Itoa(tt.want)
		}
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "torture", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			// A socket per message: final responses to INVITEs are
			// retransmitted until ACKed (RFC 3261 §17.2.1).
			conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			via := conn.LocalAddr().String() + ";rport"
			before := f.Stats().Malformed
			data = bytes.ReplaceAll(data, []byte("{via}"), []byte(via))
			if _, err := conn.WriteToUDP(data, front); err != nil {
				t.Fatal(err)
			}
			if got := finalStatus(t, conn, 500*time.Millisecond); got != tt.want {
				t.Fatalf("final status %d, want %d", got, tt.want)
			}
			if counted := f.Stats().Malformed > before; counted != tt.malformed {
				t.Fatalf("counted as malformed: %v, want %v", counted, tt.malformed)
			}
		})
	}
	t.Run("calls still work after the torture", func(t *testing.T) {
		c := newCaller(t, f, "UDP")
		c.call(testContext(t), "7001")
		j.next(t)
	})
}

// finalStatus reads responses until a final one or the wait ends (0).
func finalStatus(t *testing.T, conn *net.UDPConn, wait time.Duration) int {
	t.Helper()
	buf := make([]byte, 4096)
	deadline := time.Now().Add(wait)
	for {
		_ = conn.SetReadDeadline(deadline)
		n, err := conn.Read(buf)
		if err != nil {
			return 0
		}
		msg, err := sip.ParseMessage(buf[:n])
		if err != nil {
			t.Fatalf("unparsable answer %q: %v", buf[:n], err)
		}
		res, ok := msg.(*sip.Response)
		if !ok {
			t.Fatalf("a request came back: %s", msg.String())
		}
		if !res.IsProvisional() {
			return res.StatusCode
		}
	}
}

func TestTCPFramingErrorClosesConnection(t *testing.T) {
	j := newEchoJoiner()
	f := startFront(t, j)
	conn, err := net.Dial("tcp", f.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 this is a TLS hello, not SIP\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := conn.Read(make([]byte, 100)); err == nil {
		t.Fatalf("read %d bytes, want the connection closed", n)
	}
	eventually(t, "the framing error to be counted", func() bool { return f.Stats().Malformed == 1 })
	c := newCaller(t, f, "TCP")
	c.call(testContext(t), "7001")
	j.next(t)
}

func TestCheckRequest(t *testing.T) {
	base := func() *sip.Request {
		req := sip.NewRequest(sip.OPTIONS, sip.Uri{Scheme: "sip", User: "7001", Host: "box"})
		req.AppendHeader(&sip.ViaHeader{ProtocolName: "SIP", ProtocolVersion: "2.0", Transport: "UDP", Host: "h", Params: sip.NewParams()})
		req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", Host: "a"}, Params: sip.NewParams()})
		req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", Host: "b"}})
		id := sip.CallIDHeader("x")
		req.AppendHeader(&id)
		req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.OPTIONS})
		return req
	}
	tests := []struct {
		name   string
		modify func(*sip.Request)
		want   int
	}{
		{"a well-formed request passes", func(*sip.Request) {}, 0},
		{"Require: timer is supported", func(r *sip.Request) { r.AppendHeader(sip.NewHeader("Require", "timer")) }, 0},
		{"a sips Request-URI passes", func(r *sip.Request) { r.Recipient.Scheme = "sips" }, 0},
		{"a tel Request-URI is 416", func(r *sip.Request) { r.Recipient.Scheme = "tel" }, 416},
		{"a missing Call-ID is 400", func(r *sip.Request) { r.RemoveHeader("Call-ID") }, 400},
		{"two Content-Type headers are 400", func(r *sip.Request) {
			r.AppendHeader(sip.NewHeader("Content-Type", "a/b"))
			r.AppendHeader(sip.NewHeader("c", "a/b"))
		}, 400},
		{"Require on ACK is ignored", func(r *sip.Request) {
			r.Method = sip.ACK
			r.CSeq().MethodName = sip.ACK
			r.AppendHeader(sip.NewHeader("Require", "foo"))
		}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := base()
			tt.modify(req)
			rej := checkRequest(req)
			got := 0
			if rej != nil {
				got = rej.code
			}
			if got != tt.want {
				t.Fatalf("checkRequest = %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzScreen feeds arbitrary datagrams through the parser and the request
// checks: nothing may panic, and a request that passes has what a response
// needs.
func FuzzScreen(f *testing.F) {
	entries, _ := os.ReadDir(filepath.Join("testdata", "torture"))
	for _, e := range entries {
		if b, err := os.ReadFile(filepath.Join("testdata", "torture", e.Name())); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("OPTIONS sip:7001@box SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n"))
	p := sip.NewParser()
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := p.ParseSIP(data)
		if err != nil {
			_ = badRequestReply(msg, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5060})
			return
		}
		req, ok := msg.(*sip.Request)
		if !ok {
			return
		}
		if checkRequest(req) == nil {
			if req.CallID() == nil || req.CSeq() == nil || req.Via() == nil || req.CSeq().MethodName != req.Method {
				t.Fatalf("accepted %q", data)
			}
			if s := strings.ToLower(req.Recipient.Scheme); s != "sip" && s != "sips" {
				t.Fatalf("accepted scheme %q", s)
			}
		}
	})
}
