package loadgen

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"

	"confab/bench/sipcaller"
)

// ErrAnswer means the bridge's SDP answer cannot carry the call: no audio,
// or not the codec offered.
var ErrAnswer = errors.New("loadgen: unusable SDP answer")

// eventPT is the telephone-event payload type the callers offer.
const eventPT = 101

// offer is a caller's SDP offer (RFC 3264 §5): one codec and
// telephone-event (RFC 4733 §7.1.1), on the flow's RTP port.
func offer(ci *codecInfo, addr netip.AddrPort, ptime time.Duration, session int) []byte {
	ip := "IP4"
	if addr.Addr().Is6() {
		ip = "IP6"
	}
	name, clock := ci.spec.Info.Name, ci.spec.Info.ClockRate
	rtpmap := fmt.Sprintf("%s/%d", name, clock)
	if ci.spec.SDPChannels > 0 {
		rtpmap += "/" + strconv.Itoa(ci.spec.SDPChannels)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "v=0\r\no=confabload %d 1 IN %s %s\r\ns=confabload\r\nc=IN %s %s\r\nt=0 0\r\n", session, ip, addr.Addr(), ip, addr.Addr())
	fmt.Fprintf(&b, "m=audio %d RTP/AVP %d %d\r\n", addr.Port(), ci.payloadType, eventPT)
	fmt.Fprintf(&b, "a=rtpmap:%d %s\r\n", ci.payloadType, rtpmap)
	if name == "opus" {
		fmt.Fprintf(&b, "a=fmtp:%d useinbandfec=1\r\n", ci.payloadType)
	}
	fmt.Fprintf(&b, "a=rtpmap:%d telephone-event/%d\r\na=fmtp:%d 0-15\r\n", eventPT, ci.eventClock, eventPT)
	fmt.Fprintf(&b, "a=ptime:%d\r\na=sendrecv\r\n", ptime/time.Millisecond)
	return []byte(b.String())
}

// answered is what a caller takes from the bridge's answer.
type answered struct {
	remote netip.AddrPort
	pt     uint8 // the codec's payload type in the answer: what we send with
	event  uint8 // telephone-event's, 0 if the answer has none
}

// staticPT are the static payload types of RFC 3551 §6 the generator
// sends, which an answer may list without an rtpmap.
func staticPT(pt uint8) (string, uint32, bool) {
	switch pt {
	case 0:
		return "PCMU", 8000, true
	case 8:
		return "PCMA", 8000, true
	case 9:
		return "G722", 8000, true
	}
	return "", 0, false
}

// parseAnswer reads the first audio stream of an answer: where to send and
// with which payload types (RFC 3264 §6.1: the answer's numbers are what
// the answerer receives).
func parseAnswer(body []byte, ci *codecInfo) (answered, error) {
	var a answered
	remote, err := sipcaller.MediaAddr(body)
	if err != nil {
		return a, fmt.Errorf("%w: %v", ErrAnswer, err)
	}
	a.remote = remote
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return a, fmt.Errorf("%w: %v", ErrAnswer, err)
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		maps := map[uint8]string{}
		for _, at := range m.Attributes {
			if at.Key != "rtpmap" {
				continue
			}
			pt, rest, ok := strings.Cut(at.Value, " ")
			n, err := strconv.ParseUint(pt, 10, 7)
			if ok && err == nil {
				maps[uint8(n)] = rest
			}
		}
		found := false
		for _, f := range m.MediaName.Formats {
			n, err := strconv.ParseUint(f, 10, 7)
			if err != nil {
				continue
			}
			pt := uint8(n)
			name, clock := "", uint32(0)
			if rm, ok := maps[pt]; ok {
				parts := strings.Split(rm, "/")
				name = parts[0]
				if len(parts) > 1 {
					c, _ := strconv.ParseUint(parts[1], 10, 32)
					clock = uint32(c)
				}
			} else if sn, sc, ok := staticPT(pt); ok {
				name, clock = sn, sc
			}
			switch {
			case strings.EqualFold(name, ci.spec.Info.Name) && clock == ci.spec.Info.ClockRate && !found:
				a.pt, found = pt, true
			case strings.EqualFold(name, "telephone-event") && (a.event == 0 || clock == ci.eventClock):
				a.event = pt
			}
		}
		if !found {
			return a, fmt.Errorf("%w: no %s/%d in the answer", ErrAnswer, ci.spec.Info.Name, ci.spec.Info.ClockRate)
		}
		return a, nil
	}
	return a, fmt.Errorf("%w: no audio stream", ErrAnswer)
}
