package jitter

import (
	"strconv"
	"time"
)

// Frame is one item of playout: a packet to decode, or a span to conceal or
// fill with silence.
type Frame struct {
	// Payload is the stored RTP payload of a StatusPacket item, nil otherwise.
	// It is valid until the next Push or Pop.
	Payload []byte
	// Seq is the packet's sequence number; for a StatusLost item the number of
	// the missing packet (best guess while nothing later has arrived).
	Seq uint16
	// Timestamp is the RTP timestamp where the item starts.
	Timestamp uint32
	// Ticks is how many RTP timestamp units the item covers.
	Ticks uint32
	// Marker is the packet's RTP marker bit (RFC 3551 §4.1: first packet of a
	// talkspurt).
	Marker bool
}

// Status says what Pop returned.
type Status int

const (
	// StatusPacket: Frame.Payload holds a packet to decode.
	StatusPacket Status = iota + 1
	// StatusLost: audio is missing; conceal Frame.Ticks worth. Either a packet
	// is known to be lost, or the buffer ran dry in the middle of speech, or one
	// frame is inserted to grow the delay.
	StatusLost
	// StatusSilence: no packet is expected (DTX or silence suppression between
	// talkspurts, RFC 3551 §4.1); play Frame.Ticks of silence or comfort noise.
	StatusSilence
	// StatusWait: nothing is due yet (or the buffer is still filling).
	StatusWait
)

func (s Status) String() string {
	switch s {
	case StatusPacket:
		return "packet"
	case StatusLost:
		return "lost"
	case StatusSilence:
		return "silence"
	case StatusWait:
		return "wait"
	}
	return "Status(" + strconv.Itoa(int(s)) + ")"
}

// PushResult says what Push did with a packet.
type PushResult int

const (
	// Accepted: stored in order.
	Accepted PushResult = iota + 1
	// Duplicate: this sequence number was already received; dropped.
	Duplicate
	// Late: its playout time has passed; dropped.
	Late
	// Reordered: stored, though a later sequence number arrived first.
	Reordered
	// Dropped: larger than MaxPayload, or too far ahead for the ring.
	Dropped
	// Reset: an SSRC change or a sequence or timestamp jump restarted the
	// stream with this packet; whatever was buffered is dropped.
	Reset
)

func (r PushResult) String() string {
	switch r {
	case Accepted:
		return "accepted"
	case Duplicate:
		return "duplicate"
	case Late:
		return "late"
	case Reordered:
		return "reordered"
	case Dropped:
		return "dropped"
	case Reset:
		return "reset"
	}
	return "PushResult(" + strconv.Itoa(int(r)) + ")"
}

// Stats are a Buffer's running totals and current estimates.
type Stats struct {
	Received  uint64 // packets given to Push
	Lost      uint64 // sequence numbers playout found missing (RFC 3550 §6.4.1 "cumulative number of packets lost"); one that turns up late is taken back off, one dropped unstored stays on
	Late      uint64 // packets that arrived after their playout time
	Duplicate uint64 // packets received twice
	Reordered uint64 // packets stored after a later sequence number
	Concealed uint64 // StatusLost items returned by Pop
	Dropped   uint64 // packets thrown away unplayed: too big, ring full, flushed by a resync, or left behind by a stalled reader
	Resets    uint64 // stream restarts on an SSRC change or jump
	Discarded uint64 // packets skipped on purpose to shrink the delay (sender clock fast, or target fell)
	Inserted  uint64 // items inserted on purpose to grow the delay (sender clock slow, or target rose)

	// Jitter is the RFC 3550 §6.4.1 interarrival jitter estimate J.
	Jitter time.Duration
	// TargetDelay is the playout delay the buffer steers to, within
	// [MinDelay, MaxDelay].
	TargetDelay time.Duration
	// CurrentDelay is the buffered playout depth: how long an arriving packet
	// waits before its playout time, averaged over recent packets.
	CurrentDelay time.Duration
	// Buffered is the number of packets waiting to be played.
	Buffered int
}
