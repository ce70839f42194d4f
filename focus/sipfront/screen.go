package sipfront

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"sync"

	"github.com/emiago/sipgo/sip"
)

// screenedPacketConn parses every datagram before sipgo reads it, so that
// garbage is counted and dropped here instead of reaching the stack. A
// request too broken to parse but with the header fields a response needs
// (typically a body shorter than its Content-Length) is answered 400, as
// RFC 3261 §18.3 asks for UDP.
type screenedPacketConn struct {
	net.PacketConn
	parser *sip.Parser
	f      *Front
}

func (c *screenedPacketConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, addr, err := c.PacketConn.ReadFrom(b)
		if err != nil || n == 0 {
			return n, addr, err
		}
		data := b[:n]
		// Keep-alives (RFC 5626 §3.5.1 CRLF, or NUL padding) go through:
		// sipgo ignores them.
		if len(bytes.Trim(data, "\r\n\x00 \t")) == 0 {
			return n, addr, nil
		}
		msg, perr := c.parser.ParseSIP(data)
		if perr == nil {
			return n, addr, nil
		}
		c.f.stats.malformed.Add(1)
		if reply := badRequestReply(msg, addr); reply != nil {
			_, _ = c.PacketConn.WriteTo(reply, addr)
		}
	}
}

// badRequestReply renders a 400 for a request that failed to parse, or nil
// when it cannot be answered (a response, or a request without the header
// fields RFC 3261 §8.2.6.2 copies into responses).
func badRequestReply(msg sip.Message, from net.Addr) []byte {
	req, ok := msg.(*sip.Request)
	if !ok || req == nil || req.IsAck() || req.Via() == nil || req.From() == nil ||
		req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return nil
	}
	req.SetSource(from.String())
	res := sip.NewResponseFromRequest(req, sip.StatusBadRequest, "Bad Request", nil)
	return []byte(res.String())
}

// screenedListener hands sipgo connections that count framing errors.
type screenedListener struct {
	net.Listener
	parser *sip.Parser
	f      *Front
}

func (l *screenedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &screenedConn{Conn: c, stream: l.parser.NewSIPStream(), f: l.f}, nil
}

// screenedConn runs a second stream parser over what sipgo reads: sipgo
// closes a TCP connection on a framing error, and this is where it is
// counted. After the first error the connection is not parsed again.
type screenedConn struct {
	net.Conn
	f *Front

	mu     sync.Mutex
	stream *sip.ParserStream
	failed bool
}

func (c *screenedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.screen(b[:n])
	}
	return n, err
}

func (c *screenedConn) screen(data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed {
		return
	}
	// CRLF keep-alives between messages (RFC 5626 §3.5.1) are not messages.
	if len(bytes.Trim(data, "\r\n")) == 0 {
		return
	}
	err := c.stream.ParseSIPStream(data, func(sip.Message) {})
	if err != nil && !errors.Is(err, sip.ErrParseSipPartial) {
		c.failed = true
		c.f.stats.malformed.Add(1)
	}
}

// rejection is a final response sent instead of handling a request.
type rejection struct {
	code    int
	reason  string
	headers []sip.Header
}

func reject(code int, reason string, headers ...sip.Header) *rejection {
	return &rejection{code: code, reason: reason, headers: headers}
}

// singleValued are the header fields a request may carry at most once
// (RFC 3261 §7.3.1 allows repetition only for comma-separated lists; RFC
// 4475 §3.3.8 and §3.3.9 test it).
var singleValued = [...]string{"From", "To", "Call-ID", "CSeq", "Max-Forwards", "Content-Length", "Content-Type"}

// checkRequest applies the checks RFC 3261 §8.2 asks of a UAS before it
// looks at the method, and those the RFC 4475 torture messages exercise that
// sipgo's parser lets through.
func checkRequest(req *sip.Request) *rejection {
	// RFC 3261 §8.1.1: the header fields every request carries; RFC 4475
	// §3.3.1 (insuf) leaves some out.
	if req.Via() == nil || req.From() == nil || req.To() == nil || req.CallID() == nil || req.CSeq() == nil {
		return reject(sip.StatusBadRequest, "Missing Required Header Field")
	}
	var counts [len(singleValued)]int
	for _, h := range req.Headers() {
		for i, name := range singleValued {
			if strings.EqualFold(h.Name(), name) || compactOf(name) == strings.ToLower(h.Name()) {
				counts[i]++
			}
		}
	}
	for i, n := range counts {
		if n > 1 {
			return reject(sip.StatusBadRequest, "Multiple "+singleValued[i]+" Values")
		}
	}
	// RFC 4475 §3.1.2.16 (badvers): a version we do not speak gets 505.
	if req.SipVersion != "SIP/2.0" {
		return reject(sip.StatusVersionNotSupported, "Version Not Supported")
	}
	// RFC 4475 §3.1.2.17 (mismatch01): the CSeq method must be the
	// request's method (RFC 3261 §8.1.1.5).
	if req.CSeq().MethodName != req.Method {
		return reject(sip.StatusBadRequest, "CSeq Method Mismatch")
	}
	// RFC 3261 §8.2.2.1, RFC 4475 §3.3.2 (unkscm): 416 for a Request-URI
	// scheme we do not handle.
	if s := strings.ToLower(req.Recipient.Scheme); s != "sip" && s != "sips" {
		return reject(statusUnsupportedURIScheme, "Unsupported URI Scheme")
	}
	// RFC 3261 §8.2.2.3: Require with an extension we lack gets 420 and an
	// Unsupported list; ACK and CANCEL are exempt.
	if !req.IsAck() && !req.IsCancel() {
		var unsupported []string
		for _, tag := range headerValues(req, "require") {
			if !strings.EqualFold(tag, supportedTags) && !strings.EqualFold(tag, tag100rel) {
				unsupported = append(unsupported, tag)
			}
		}
		if len(unsupported) > 0 {
			return reject(sip.StatusBadExtension, "Bad Extension", sip.NewHeader("Unsupported", strings.Join(unsupported, ", ")))
		}
	}
	return nil
}

// compactOf returns the RFC 3261 §7.3.3 compact form of a header name.
func compactOf(name string) string {
	switch name {
	case "From":
		return "f"
	case "To":
		return "t"
	case "Call-ID":
		return "i"
	case "Content-Length":
		return "l"
	case "Content-Type":
		return "c"
	}
	return ""
}
