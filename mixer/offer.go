package mixer

import (
	"fmt"
	"strconv"
	"strings"
)

// Offer-first media, for calls the conference places (dial-out: C3P addUser
// with a dialed-out endpoint, RFC 4579 REFER). The MCU writes the SDP offer
// and takes the callee's answer (RFC 3264 §5), where Add answers a caller's
// offer.

// Offer adds a participant whose media the MCU offers first: it opens a
// media port and returns the SDP offer with every codec the MCU can take,
// in its order of preference, and RFC 4733 telephone-event. Until Answer
// gives the callee's answer the participant neither sends nor is heard.
// The offer carries the engine's public address, which must be set.
func (c *Conference) Offer(opts AddOptions) (ParticipantID, []byte, error) {
	codecs := c.offerCodecs()
	if len(codecs) == 0 {
		return 0, nil, fmt.Errorf("%w: the MCU has no codec to offer", ErrNoCommonCodec)
	}
	// The participant starts from our own offer with no remote address:
	// it is on hold (RFC 3264 §8.4) until the answer brings one.
	id, _, err := c.Add(offerSDP("0.0.0.0", 0, 1, codecs), opts)
	if err != nil {
		return 0, nil, err
	}
	port, err := c.LocalPort(id)
	if err != nil {
		return 0, nil, err
	}
	return id, offerSDP(c.e.public.String(), port, uint64(id)+1000, codecs), nil
}

// Answer applies the callee's SDP answer to the participant Offer added.
// An answer without a codec of the offer gives ErrNoCommonCodec and leaves
// the participant as it was, for the caller to Remove.
func (c *Conference) Answer(id ParticipantID, answer []byte) error {
	// An answer reads like an offer: the answerer's address, its codecs
	// (those it took from the offer, with the offer's payload types) and
	// its direction. Update applies it the same way.
	_, err := c.Update(id, answer)
	return err
}

// offerCode is one payload format of an MCU offer.
type offerCode struct {
	pt   int
	name string
	rate uint32
	ch   int
	fmtp string
}

// offerCodecs lists what the MCU offers: the configured preference order,
// restricted to the codecs it has, with the static payload types of RFC
// 3551 §6 where there is one and dynamic ones from 96 otherwise, then
// telephone-event at 8 kHz (and at 48 kHz when Opus is offered).
func (c *Conference) offerCodecs() []offerCode {
	var out []offerCode
	dyn := 96
	opus := false
	for _, s := range c.e.cfg.Preference {
		if _, ok := c.e.codecs.Lookup(s.Name, s.ClockRate); !ok {
			continue
		}
		oc := offerCode{name: s.Name, rate: s.ClockRate, ch: 1}
		switch {
		case strings.EqualFold(s.Name, "PCMU") && s.ClockRate == 8000:
			oc.pt = 0
		case strings.EqualFold(s.Name, "PCMA") && s.ClockRate == 8000:
			oc.pt = 8
		case strings.EqualFold(s.Name, "G722") && s.ClockRate == 8000:
			oc.pt = 9
		default:
			oc.pt = dyn
			dyn++
		}
		if strings.EqualFold(s.Name, "opus") {
			// RFC 7587 §7: opus/48000/2 in rtpmap whatever is sent; we
			// receive mono with in-band FEC.
			oc.ch = 2
			oc.fmtp = "useinbandfec=1;stereo=0;sprop-stereo=0"
			opus = true
		}
		out = append(out, oc)
	}
	if len(out) == 0 {
		return nil
	}
	out = append(out, offerCode{pt: 101, name: "telephone-event", rate: 8000, ch: 1, fmtp: "0-16"})
	if opus {
		out = append(out, offerCode{pt: 102, name: "telephone-event", rate: 48000, ch: 1, fmtp: "0-16"})
	}
	return out
}

// offerSDP writes an audio offer (RFC 4566, RFC 3264 §5).
func offerSDP(addr string, port uint16, session uint64, codecs []offerCode) []byte {
	ipv := "IP4"
	if strings.Contains(addr, ":") {
		ipv = "IP6"
	}
	var b strings.Builder
	sid := strconv.FormatUint(session, 10)
	b.WriteString("v=0\r\no=confab " + sid + " 1 IN " + ipv + " " + addr + "\r\ns=confab\r\n")
	b.WriteString("c=IN " + ipv + " " + addr + "\r\nt=0 0\r\nm=audio " + strconv.Itoa(int(port)) + " RTP/AVP")
	for _, oc := range codecs {
		b.WriteString(" " + strconv.Itoa(oc.pt))
	}
	b.WriteString("\r\n")
	for _, oc := range codecs {
		b.WriteString("a=rtpmap:" + strconv.Itoa(oc.pt) + " " + oc.name + "/" + strconv.FormatUint(uint64(oc.rate), 10))
		if oc.ch > 1 {
			b.WriteString("/" + strconv.Itoa(oc.ch))
		}
		b.WriteString("\r\n")
		if oc.fmtp != "" {
			b.WriteString("a=fmtp:" + strconv.Itoa(oc.pt) + " " + oc.fmtp + "\r\n")
		}
	}
	b.WriteString("a=ptime:20\r\n")
	if port != 0 {
		b.WriteString("a=rtcp:" + strconv.Itoa(int(port)+1) + "\r\n")
	}
	b.WriteString("a=sendrecv\r\n")
	return []byte(b.String())
}
