package rtpsession

import (
	"net/netip"
	"testing"
	"time"

	"github.com/pion/rtp"
)

// Fixtures shared by the tests: a PCMU/Opus session with telephone-event,
// talking to a phone whose SDP says sdpAddr.
const (
	ptPCMU  = 0
	ptOpus  = 111
	ptDTMF  = 101
	ptOther = 8
	peer    = 0x11223344
	ourSSRC = 0xcafe0001
)

var (
	t0       = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	sdpAddr  = netip.MustParseAddrPort("192.168.1.20:40000")
	natAddr  = netip.MustParseAddrPort("203.0.113.7:51000")
	natAddr2 = netip.MustParseAddrPort("203.0.113.7:52000")
	strangr  = netip.MustParseAddrPort("198.51.100.66:40000")
)

func testConfig() Config {
	return Config{
		LocalSSRC:       ourSSRC,
		PayloadTypes:    map[uint8]uint32{ptPCMU: 8000, ptOpus: 48000},
		DTMFPayloadType: ptDTMF,
		DTMFClockRate:   8000,
		SendPayloadType: ptPCMU,
		Remote:          sdpAddr,
		CNAME:           "confab@test",
	}
}

func newSession(t testing.TB, mutate func(*Config)) *Session {
	t.Helper()
	cfg := testConfig()
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// pkt describes a test RTP packet; build marshals it with pion/rtp, an
// encoder independent of the code under test.
type pkt struct {
	pt      uint8
	seq     uint16
	ts      uint32
	ssrc    uint32
	marker  bool
	payload []byte
}

func (p pkt) build(t testing.TB) []byte {
	t.Helper()
	ssrc := p.ssrc
	if ssrc == 0 {
		ssrc = peer
	}
	payload := p.payload
	if payload == nil {
		payload = make([]byte, 160)
	}
	b, err := (&rtp.Packet{
		Header: rtp.Header{
			Version: 2, PayloadType: p.pt, SequenceNumber: p.seq,
			Timestamp: p.ts, SSRC: ssrc, Marker: p.marker,
		},
		Payload: payload,
	}).Marshal()
	if err != nil {
		t.Fatalf("marshal test packet: %v", err)
	}
	return b
}

// dtmfPkt is a telephone-event packet.
func dtmfPkt(t testing.TB, seq uint16, ts uint32, ev TelephoneEvent) []byte {
	t.Helper()
	return pkt{pt: ptDTMF, seq: seq, ts: ts, marker: false, payload: ev.Append(nil)}.build(t)
}

// ms is a time n milliseconds after t0.
func ms(n int) time.Time {
	return t0.Add(time.Duration(n) * time.Millisecond)
}

// digits drains the session's digit events into a string.
func drainDigits(s *Session) string {
	var out []byte
	for _, e := range s.Events(nil) {
		if e.Kind == EventDigit {
			out = append(out, e.Digit)
		}
	}
	return string(out)
}

// countKind counts events of kind in evs.
func countKind(evs []Event, kind EventKind) int {
	n := 0
	for _, e := range evs {
		if e.Kind == kind {
			n++
		}
	}
	return n
}
