// Package phone is a simulated SIP phone's media side for tests and the
// load generator: it sends a tone (or any PCM) as paced RTP in a chosen
// codec, receives what the bridge sends back, decodes it and keeps it for
// analysis (Goertzel tone detection, loss and gap counting).
package phone

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/report"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"

	"confab/mixer/codec"
	"confab/mixer/codec/registry"
)

// Config describes one simulated phone.
type Config struct {
	Codec       string // SDP name: PCMU, PCMA, G722, opus
	PayloadType uint8
	DTMFType    uint8   // telephone-event PT (default 101)
	ToneHz      float64 // the tone it sends; 0 = silence
	Amplitude   float64 // 0..1 of full scale (default 0.3)
	Ptime       time.Duration
	// Loss drops this share of outgoing packets (0..1); Reorder swaps this
	// share of adjacent packets.
	Loss, Reorder float64
	Listen        netip.Addr // local address (default 127.0.0.1)
}

// Phone is one simulated endpoint.
type Phone struct {
	cfg    Config
	spec   codec.Spec
	enc    codec.Encoder
	dec    codec.Decoder
	conn   *net.UDPConn
	rtcp   *net.UDPConn // RTP port + 1 (RFC 3550 §11)
	remote netip.AddrPort

	// RTCP comes from pion/interceptor's report interceptors, as a WebRTC
	// or softphone stack would send it: SR for our stream, RR for the
	// bridge's, on a 1 s interval.
	chain      *interceptor.Chain
	local      interceptor.RTPWriter
	remoteRTP  interceptor.RTPReader
	rtcpReader interceptor.RTCPReader
	rtcpSeen   int

	mu       sync.Mutex
	received []int16 // decoded audio, in arrival order
	packets  int
	lastSeq  uint16
	gaps     int
	lastAt   time.Time
	maxGap   time.Duration
	stop     chan struct{}
	wg       sync.WaitGroup
	muteSend bool
	seq      uint16
	ts       uint32
	ssrc     uint32
	rate     int
	phase    float64
	digits   []byte
	lossRand *xorshift
	held     []byte // a packet held back to reorder
}

// New opens the phone's RTP socket.
func New(cfg Config) (*Phone, error) {
	clock := uint32(8000)
	if cfg.Codec == "opus" {
		clock = 48000
	}
	spec, ok := registry.Default().Lookup(cfg.Codec, clock)
	if !ok {
		return nil, fmt.Errorf("phone: unknown codec %q", cfg.Codec)
	}
	if cfg.PayloadType == 0 && cfg.Codec != "PCMU" {
		cfg.PayloadType = spec.Info.PayloadType
	}
	if cfg.Amplitude == 0 {
		cfg.Amplitude = 0.3
	}
	if cfg.Ptime == 0 {
		cfg.Ptime = 20 * time.Millisecond
	}
	if cfg.DTMFType == 0 {
		cfg.DTMFType = 101
	}
	if !cfg.Listen.IsValid() {
		cfg.Listen = netip.MustParseAddr("127.0.0.1")
	}
	rate := spec.Info.SampleRate
	enc, err := spec.NewEncoder(rate)
	if err != nil {
		return nil, err
	}
	dec, err := spec.NewDecoder(rate)
	if err != nil {
		return nil, err
	}
	conn, rtcpConn, err := listenPair(cfg.Listen)
	if err != nil {
		return nil, err
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	p := &Phone{cfg: cfg, spec: spec, enc: enc, dec: dec, conn: conn, rtcp: rtcpConn, rate: rate,
		ssrc: binary.BigEndian.Uint32(b[:]), stop: make(chan struct{})}
	if err := p.bindReports(); err != nil {
		conn.Close()
		rtcpConn.Close()
		return nil, err
	}
	return p, nil
}

// listenPair opens an even RTP port and the RTCP port above it.
func listenPair(ip netip.Addr) (*net.UDPConn, *net.UDPConn, error) {
	for try := 0; try < 50; try++ {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
		if err != nil {
			return nil, nil, err
		}
		port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		if port%2 != 0 || port == 65535 {
			c.Close()
			continue
		}
		r, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, port+1)))
		if err != nil {
			c.Close()
			continue
		}
		return c, r, nil
	}
	return nil, nil, errors.New("phone: no free RTP/RTCP port pair")
}

func (p *Phone) bindReports() error {
	rf, err := report.NewReceiverInterceptor(report.ReceiverInterval(time.Second))
	if err != nil {
		return err
	}
	sf, err := report.NewSenderInterceptor(report.SenderInterval(time.Second))
	if err != nil {
		return err
	}
	recv, err := rf.NewInterceptor("")
	if err != nil {
		return err
	}
	send, err := sf.NewInterceptor("")
	if err != nil {
		return err
	}
	p.chain = interceptor.NewChain([]interceptor.Interceptor{recv, send})
	p.chain.BindRTCPWriter(interceptor.RTCPWriterFunc(func(pkts []rtcp.Packet, _ interceptor.Attributes) (int, error) {
		b, err := rtcp.Marshal(pkts)
		if err != nil || !p.remote.IsValid() {
			return 0, err
		}
		return p.rtcp.WriteToUDPAddrPort(b, netip.AddrPortFrom(p.remote.Addr(), p.remote.Port()+1))
	}))
	p.rtcpReader = p.chain.BindRTCPReader(interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		return len(b), a, nil
	}))
	p.local = p.chain.BindLocalStream(&interceptor.StreamInfo{SSRC: p.ssrc, ClockRate: p.spec.Info.ClockRate, PayloadType: p.cfg.PayloadType},
		interceptor.RTPWriterFunc(func(h *rtp.Header, payload []byte, _ interceptor.Attributes) (int, error) {
			b, err := (&rtp.Packet{Header: *h, Payload: payload}).Marshal()
			if err != nil {
				return 0, err
			}
			return p.transmit(b), nil
		}))
	return nil
}

// Addr is the phone's RTP address, for its SDP offer.
func (p *Phone) Addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// Rate is the PCM rate of what Received returns.
func (p *Phone) Rate() int { return p.rate }

// Offer is a minimal SDP offer for the phone's codec and telephone-event.
func (p *Phone) Offer() []byte {
	a := p.Addr()
	name, clock := p.spec.Info.Name, p.spec.Info.ClockRate
	rtpmap := fmt.Sprintf("%s/%d", name, clock)
	if name == "opus" {
		rtpmap += "/2"
	}
	return []byte(fmt.Sprintf("v=0\r\no=phone %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP %d %d\r\na=rtpmap:%d %s\r\na=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\na=ptime:%d\r\na=sendrecv\r\n",
		a.Port(), a.Addr(), a.Addr(), a.Port(), p.cfg.PayloadType, p.cfg.DTMFType, p.cfg.PayloadType, rtpmap,
		p.cfg.DTMFType, clock, p.cfg.DTMFType, p.cfg.Ptime/time.Millisecond))
}

// Start sends RTP to remote and receives until Stop.
func (p *Phone) Start(remote netip.AddrPort) {
	p.remote = remote
	p.wg.Add(3)
	go p.sendLoop()
	go p.recvLoop()
	go p.rtcpLoop()
}

func (p *Phone) rtcpLoop() {
	defer p.wg.Done()
	buf := make([]byte, 1500)
	for {
		n, _, err := p.rtcp.ReadFromUDPAddrPort(buf)
		if err != nil {
			return
		}
		if _, _, err := p.rtcpReader.Read(buf[:n], nil); err == nil {
			p.mu.Lock()
			p.rtcpSeen++
			p.mu.Unlock()
		}
	}
}

// RTCPReceived is how many RTCP compounds the bridge sent us.
func (p *Phone) RTCPReceived() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rtcpSeen
}

// Stop ends sending and receiving.
func (p *Phone) Stop() {
	select {
	case <-p.stop:
	default:
		close(p.stop)
	}
	_ = p.conn.SetReadDeadline(time.Now())
	_ = p.rtcp.Close()
	p.wg.Wait()
	_ = p.chain.Close()
	_ = p.conn.Close()
}

// SetSilent stops (or resumes) the tone.
func (p *Phone) SetSilent(silent bool) {
	p.mu.Lock()
	p.muteSend = silent
	p.mu.Unlock()
}

// SendDigit queues an RFC 4733 digit.
func (p *Phone) SendDigit(d byte) {
	p.mu.Lock()
	p.digits = append(p.digits, d)
	p.mu.Unlock()
}

func (p *Phone) sendLoop() {
	defer p.wg.Done()
	frame := p.rate * int(p.cfg.Ptime/time.Millisecond) / 1000
	pcm := make([]int16, frame)
	payload := make([]byte, 1500)
	start := time.Now()
	var k int64
	rng := newRand(p.ssrc)
	for {
		k++
		due := start.Add(time.Duration(k) * p.cfg.Ptime)
		select {
		case <-p.stop:
			return
		case <-time.After(time.Until(due)):
		}
		p.mu.Lock()
		silent := p.muteSend
		var digit byte
		if len(p.digits) > 0 {
			digit, p.digits = p.digits[0], p.digits[1:]
		}
		p.mu.Unlock()
		if digit != 0 {
			p.sendDigit(digit, uint32(frame)*uint32(p.spec.Info.ClockRate)/uint32(p.rate))
		}
		for i := range pcm {
			v := 0.0
			if !silent && p.cfg.ToneHz > 0 {
				v = p.cfg.Amplitude * 32767 * math.Sin(p.phase)
			}
			p.phase += 2 * math.Pi * p.cfg.ToneHz / float64(p.rate)
			pcm[i] = int16(v)
		}
		n, err := p.enc.Encode(pcm, payload)
		if err != nil {
			continue
		}
		h := rtp.Header{Version: 2, PayloadType: p.cfg.PayloadType, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc}
		p.seq++
		p.ts += p.spec.Info.RTPTicks(frame)
		p.lossRand = rng
		_, _ = p.local.Write(&h, payload[:n], nil)
	}
}

// transmit is the simulated network: it loses and reorders packets as
// configured. Called from the send loop only.
func (p *Phone) transmit(pkt []byte) int {
	if p.lossRand.float() < p.cfg.Loss {
		return len(pkt)
	}
	if p.held == nil && p.lossRand.float() < p.cfg.Reorder {
		p.held = append([]byte(nil), pkt...)
		return len(pkt)
	}
	_, _ = p.conn.WriteToUDPAddrPort(pkt, p.remote)
	if p.held != nil {
		_, _ = p.conn.WriteToUDPAddrPort(p.held, p.remote)
		p.held = nil
	}
	return len(pkt)
}

// sendDigit sends an RFC 4733 event: three updates and three end packets.
func (p *Phone) sendDigit(d byte, step uint32) {
	ev := map[byte]byte{'*': 10, '#': 11, 'A': 12, 'B': 13, 'C': 14, 'D': 15}[d]
	if d >= '0' && d <= '9' {
		ev = d - '0'
	}
	for i := 0; i < 6; i++ {
		dur := uint16(step) * uint16(min(i+1, 4))
		flags := byte(10) // volume 10
		if i >= 3 {
			flags |= 0x80
		}
		body := []byte{ev, flags, byte(dur >> 8), byte(dur)}
		pkt := p.packet(p.cfg.DTMFType, i == 0, body)
		p.seq++
		_, _ = p.conn.WriteToUDPAddrPort(pkt, p.remote)
	}
}

func (p *Phone) packet(pt uint8, marker bool, payload []byte) []byte {
	h := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: p.seq, Timestamp: p.ts, SSRC: p.ssrc, Marker: marker}, Payload: payload}
	b, _ := h.Marshal()
	return b
}

func (p *Phone) recvLoop() {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	pcm := make([]int16, 8192)
	var pkt rtp.Packet
	for {
		n, _, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return
			}
			select {
			case <-p.stop:
				return
			default:
				continue
			}
		}
		if n < 12 || buf[1]&0x7f >= 72 && buf[1]&0x7f <= 79 {
			continue // RTCP
		}
		if err := pkt.Unmarshal(buf[:n]); err != nil {
			continue
		}
		if p.remoteRTP == nil {
			p.remoteRTP = p.chain.BindRemoteStream(&interceptor.StreamInfo{SSRC: pkt.SSRC, ClockRate: p.spec.Info.ClockRate},
				interceptor.RTPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) { return len(b), a, nil }))
		}
		_, _, _ = p.remoteRTP.Read(buf[:n], nil)
		got, err := p.dec.Decode(pkt.Payload, pcm)
		if err != nil {
			continue
		}
		now := time.Now()
		p.mu.Lock()
		if p.packets > 0 {
			if d := pkt.SequenceNumber - p.lastSeq; d != 1 {
				p.gaps++
			}
			if g := now.Sub(p.lastAt); g > p.maxGap {
				p.maxGap = g
			}
		}
		p.lastSeq, p.lastAt = pkt.SequenceNumber, now
		p.packets++
		p.received = append(p.received, pcm[:got]...)
		p.mu.Unlock()
	}
}

// Received returns a copy of the audio received since the last Reset.
func (p *Phone) Received() []int16 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int16(nil), p.received...)
}

// Reset forgets what was received.
func (p *Phone) Reset() {
	p.mu.Lock()
	p.received, p.packets, p.gaps, p.maxGap = nil, 0, 0, 0
	p.mu.Unlock()
}

// Counts returns packets received, sequence gaps and the longest silence between packets.
func (p *Phone) Counts() (packets, gaps int, maxGap time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.packets, p.gaps, p.maxGap
}

// ToneLevel is the Goertzel power of freq in pcm relative to the signal's
// total power, in dB (0 dB = the whole signal is that tone).
func ToneLevel(pcm []int16, rate int, freq float64) float64 {
	if len(pcm) == 0 {
		return math.Inf(-1)
	}
	k := 2 * math.Cos(2*math.Pi*freq/float64(rate))
	var s1, s2, total float64
	for _, v := range pcm {
		x := float64(v)
		s := x + k*s1 - s2
		s2, s1 = s1, s
		total += x * x
	}
	power := s1*s1 + s2*s2 - k*s1*s2
	n := float64(len(pcm))
	tone := 2 * power / (n * n) // amplitude^2 / 2 ... mean power of a sine = A^2/2
	mean := total / n
	if mean == 0 {
		return math.Inf(-1)
	}
	return 10 * math.Log10(tone/mean)
}

// RMS is the root mean square of pcm.
func RMS(pcm []int16) float64 {
	if len(pcm) == 0 {
		return 0
	}
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

type xorshift struct{ s uint64 }

func newRand(seed uint32) *xorshift { return &xorshift{s: uint64(seed)*2654435761 + 1} }

func (x *xorshift) float() float64 {
	x.s ^= x.s << 13
	x.s ^= x.s >> 7
	x.s ^= x.s << 17
	return float64(x.s>>11) / float64(1<<53)
}
