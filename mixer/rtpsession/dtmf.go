package rtpsession

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

var (
	// ErrTelephoneEvent is returned for a telephone-event payload shorter
	// than its four octets (RFC 4733 §2.3).
	ErrTelephoneEvent = errors.New("rtpsession: telephone-event payload too short")
	// ErrDigit is returned for a key that is not a DTMF digit.
	ErrDigit = errors.New("rtpsession: not a DTMF digit")
	// ErrDTMFDuration is returned for a key press duration or packet
	// interval that is not positive or does not fit one event.
	ErrDTMFDuration = errors.New("rtpsession: bad DTMF duration")
)

// telephoneEventLen is the size of one event payload (RFC 4733 §2.3).
const telephoneEventLen = 4

// digits maps RFC 4733 §3.2 event codes 0-15 to their keys.
const digits = "0123456789*#ABCD"

// TelephoneEvent is one RFC 4733 §2.3 payload.
type TelephoneEvent struct {
	// Event is the event code; 0-15 are the DTMF keys (§3.2).
	Event uint8
	// End marks the final packet of the event (§2.3.3).
	End bool
	// Volume is the power level in -dBm0, 0-63 (§2.3.4).
	Volume uint8
	// Duration is the event's duration so far, in timestamp units (§2.3.5).
	Duration uint16
}

// ParseTelephoneEvent decodes the first event of payload.
func ParseTelephoneEvent(payload []byte) (TelephoneEvent, error) {
	if len(payload) < telephoneEventLen {
		return TelephoneEvent{}, ErrTelephoneEvent
	}
	return TelephoneEvent{
		Event:    payload[0],
		End:      payload[1]&0x80 != 0,
		Volume:   payload[1] & 0x3f,
		Duration: binary.BigEndian.Uint16(payload[2:]),
	}, nil
}

// Append appends the event's payload to dst. The R bit is sent as zero.
func (e TelephoneEvent) Append(dst []byte) []byte {
	flags := e.Volume & 0x3f
	if e.End {
		flags |= 0x80
	}
	return binary.BigEndian.AppendUint16(append(dst, e.Event, flags), e.Duration)
}

// DigitForEvent returns the key of event code ev, if it is a DTMF key.
func DigitForEvent(ev uint8) (byte, bool) {
	if int(ev) >= len(digits) {
		return 0, false
	}
	return digits[ev], true
}

// EventForDigit returns the event code of a DTMF key ('0'-'9', '*', '#',
// 'A'-'D', lower case accepted).
func EventForDigit(digit byte) (uint8, error) {
	if digit >= 'a' && digit <= 'd' {
		digit -= 'a' - 'A'
	}
	for i := range len(digits) {
		if digits[i] == digit {
			return uint8(i), nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrDigit, digit)
}

// staleEvent is how far back a timestamp may lie and still be taken for a
// late copy of an earlier event rather than a new one. It keeps a delayed
// end packet from being reported twice, yet a sender whose timestamps jump
// backwards (a B2BUA swapping legs under one SSRC) still gets its digits
// through.
const staleEvent = 2 * time.Second

// dtmfReceiver recognises the start of each event in a telephone-event
// stream (RFC 4733 §2.5.2). All packets of one event carry its start
// timestamp; a later timestamp starts a new event.
type dtmfReceiver struct {
	active   bool
	ssrc     uint32
	ts       uint32
	event    uint8
	ended    bool
	duration uint16
}

// observe reports whether ev, sent by ssrc with timestamp ts, starts a new
// event.
func (d *dtmfReceiver) observe(ssrc, ts uint32, ev TelephoneEvent, rate uint32) bool {
	if d.active && ssrc == d.ssrc {
		delta := int64(int32(ts - d.ts))
		switch {
		case delta == 0:
			// Continuation or a repeated final packet (§2.5.1.4).
			d.ended = d.ended || ev.End
			d.duration = max(d.duration, ev.Duration)
			return false
		case delta < 0 && -delta <= durationToTicks(staleEvent, rate):
			return false
		case delta > 0 && !d.ended && ev.Event == d.event && ts == d.ts+uint32(d.duration):
			// The next segment of one long event (§2.5.1.3), not a new press.
			d.ts, d.duration, d.ended = ts, ev.Duration, ev.End
			return false
		}
	}
	*d = dtmfReceiver{active: true, ssrc: ssrc, ts: ts, event: ev.Event, ended: ev.End, duration: ev.Duration}
	return true
}

// handleTelephoneEvent consumes one telephone-event payload of the packet in
// s.hdr and queues a digit when it starts a new key press.
func (s *Session) handleTelephoneEvent(payload []byte, now time.Time) dropReason {
	ev, err := ParseTelephoneEvent(payload)
	if err != nil {
		return dropTruncated
	}
	// Events sent in the media stream share its sequence numbers
	// (RFC 4733 §2.1); count them, or they would show up as lost.
	if s.gate.active && s.hdr.SSRC == s.gate.ssrc && !s.recv.update(s.hdr.SequenceNumber) {
		return dropSeqJump
	}
	if !s.dtmf.observe(s.hdr.SSRC, s.hdr.Timestamp, ev, s.dtmfRate) {
		return accepted
	}
	if digit, ok := DigitForEvent(ev.Event); ok {
		s.events.push(Event{
			Kind:     EventDigit,
			Digit:    digit,
			Duration: ticksToDuration(uint64(ev.Duration), s.dtmfRate),
		})
	}
	return accepted
}

const (
	// dtmfVolume is the power level sent, -10 dBm0, a common key press level.
	dtmfVolume = 10
	// finalCopies is how many times the final packet goes out (§2.5.1.4).
	finalCopies = 3
)

// DTMFPacket is one packet of a key press as a DTMFGenerator produces it.
type DTMFPacket struct {
	Event TelephoneEvent
	// Marker is set on the first packet of the event (RFC 4733 §2.5.1.1).
	Marker bool
	// Retransmit marks the repeats of the final packet (§2.5.1.4).
	Retransmit bool
}

// DTMFGenerator produces the telephone-event packets of one key press
// (RFC 4733 §2.5.1): one every interval with a growing duration, the last
// with the End bit, then that last packet twice more. Feed it to
// Session.WriteDTMF to send it in a session's stream, or call Next to build
// the payloads by hand. A generator serves one key press and one session.
type DTMFGenerator struct {
	event uint8
	rate  uint32
	total uint32 // event duration, timestamp units
	step  uint32 // timestamp units per packet
	sent  uint32 // duration reported so far
	ends  int    // final packets produced

	ts uint32 // event timestamp, set by Session.WriteDTMF
}

// NewDTMFGenerator returns a generator for digit held for duration, with a
// packet every interval, at clockRate. The duration must fit one event,
// 65535 timestamp units (RFC 4733 §2.5.1.3 segments are not generated).
func NewDTMFGenerator(digit byte, duration, interval time.Duration, clockRate uint32) (DTMFGenerator, error) {
	ev, err := EventForDigit(digit)
	if err != nil {
		return DTMFGenerator{}, err
	}
	if clockRate == 0 {
		return DTMFGenerator{}, fmt.Errorf("%w: clock rate 0", ErrDTMFDuration)
	}
	total, step := durationToTicks(duration, clockRate), durationToTicks(interval, clockRate)
	if total <= 0 || total > 0xffff || step <= 0 {
		return DTMFGenerator{}, fmt.Errorf("%w: %v every %v at %d Hz", ErrDTMFDuration, duration, interval, clockRate)
	}
	return DTMFGenerator{event: ev, rate: clockRate, total: uint32(total), step: uint32(step)}, nil
}

// Next returns the next packet of the key press, or false when all were
// produced.
func (g *DTMFGenerator) Next() (DTMFPacket, bool) {
	if g.ends >= finalCopies {
		return DTMFPacket{}, false
	}
	ev := TelephoneEvent{Event: g.event, Volume: dtmfVolume}
	if g.sent < g.total {
		first := g.sent == 0
		g.sent = min(g.sent+g.step, g.total)
		ev.Duration = uint16(g.sent)
		if g.sent == g.total {
			ev.End = true
			g.ends = 1
		}
		return DTMFPacket{Event: ev, Marker: first}, true
	}
	g.ends++
	ev.Duration, ev.End = uint16(g.total), true
	return DTMFPacket{Event: ev, Retransmit: true}, true
}

// Done reports whether every packet was produced.
func (g *DTMFGenerator) Done() bool {
	return g.ends >= finalCopies
}
