package sdpneg

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Supported is one codec the MCU can take, in preference order.
type Supported struct {
	Name      string // case-insensitive match against rtpmap
	ClockRate uint32
}

// DefaultPreference is the MCU's codec order: best audio first.
var DefaultPreference = []Supported{
	{"opus", 48000},
	{"G722", 8000},
	{"PCMU", 8000},
	{"PCMA", 8000},
	{"L16", 16000},
	{"L16", 8000},
}

// Choice is the result of a negotiation.
type Choice struct {
	Codec Codec
	DTMF  *Codec // telephone-event at the codec's clock rate (or 8000), nil if not offered
	// Ptime is the packet time the caller wants to receive (RFC 4566 §6),
	// rounded to what the MCU sends; the default is 20 ms.
	Ptime     time.Duration
	Direction Direction // from the offerer's point of view
}

// Negotiate picks the codec the MCU prefers among those the offer carries.
func (o *Offer) Negotiate(pref []Supported, frame time.Duration) (Choice, error) {
	var ch Choice
	found := false
	for _, p := range pref {
		for _, c := range o.Codecs {
			if strings.EqualFold(c.Name, p.Name) && c.ClockRate == p.ClockRate {
				ch.Codec, found = c, true
				break
			}
		}
		if found {
			break
		}
	}
	if !found {
		return ch, ErrNoCommonCodec
	}
	for _, c := range o.Codecs {
		if strings.EqualFold(c.Name, "telephone-event") && (c.ClockRate == ch.Codec.ClockRate || ch.DTMF == nil && c.ClockRate == 8000) {
			cc := c
			ch.DTMF = &cc
		}
	}
	ch.Ptime = RoundPtime(o.Ptime, frame)
	ch.Direction = o.Direction
	return ch, nil
}

// RoundPtime rounds a requested packet time to a whole number of mixer
// frames between one frame and 60 ms; 0 means the default of 20 ms.
func RoundPtime(p, frame time.Duration) time.Duration {
	if p == 0 {
		p = 20 * time.Millisecond
	}
	if p < frame {
		return frame
	}
	n := (p + frame/2) / frame
	if max := 60 * time.Millisecond / frame; n > max {
		n = max
	}
	return n * frame
}

// AnswerParams are the MCU's side of the answer.
type AnswerParams struct {
	Local     netip.AddrPort // our RTP address and port
	SessionID uint64
	Version   uint64
	Choice    Choice
	// Direction is the answer's direction (the complement of the offer's).
	Direction Direction
}

// Answer writes the SDP answer to o. Streams other than the chosen audio
// one are rejected with port 0, as RFC 3264 §6 requires.
func (o *Offer) Answer(p AnswerParams) ([]byte, error) {
	ipVer := "IP4"
	if p.Local.Addr().Is6() {
		ipVer = "IP6"
	}
	addr := p.Local.Addr().String()
	s := sdp.SessionDescription{
		Version: 0,
		Origin: sdp.Origin{Username: "confab", SessionID: p.SessionID, SessionVersion: p.Version,
			NetworkType: "IN", AddressType: ipVer, UnicastAddress: addr},
		SessionName:           "confab",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: ipVer, Address: &sdp.Address{Address: addr}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
	for i := 0; i < o.mediaCount; i++ {
		if i != o.audioIndex {
			s.MediaDescriptions = append(s.MediaDescriptions, &sdp.MediaDescription{
				MediaName: sdp.MediaName{Media: o.mediaKinds[i], Port: sdp.RangedPort{Value: 0}, Protos: []string{"RTP", "AVP"}, Formats: []string{"0"}},
			})
			continue
		}
		c := p.Choice.Codec
		md := &sdp.MediaDescription{
			MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(p.Local.Port())}, Protos: []string{"RTP", "AVP"},
				Formats: []string{strconv.Itoa(int(c.PayloadType))}},
		}
		rtpmap := fmt.Sprintf("%d %s/%d", c.PayloadType, c.Name, c.ClockRate)
		if c.Channels > 1 {
			rtpmap += "/" + strconv.Itoa(c.Channels)
		}
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", rtpmap))
		if strings.EqualFold(c.Name, "opus") {
			// RFC 7587 §6.1: we receive mono with in-band FEC.
			md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", fmt.Sprintf("%d useinbandfec=1;stereo=0;sprop-stereo=0", c.PayloadType)))
		}
		if d := p.Choice.DTMF; d != nil {
			md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(d.PayloadType)))
			md.Attributes = append(md.Attributes,
				sdp.NewAttribute("rtpmap", fmt.Sprintf("%d telephone-event/%d", d.PayloadType, d.ClockRate)),
				sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", d.PayloadType)))
		}
		md.Attributes = append(md.Attributes,
			sdp.NewAttribute("ptime", strconv.Itoa(int(p.Choice.Ptime/time.Millisecond))),
			sdp.NewAttribute("rtcp", strconv.Itoa(int(p.Local.Port())+1)),
			sdp.NewPropertyAttribute(string(p.Direction)))
		s.MediaDescriptions = append(s.MediaDescriptions, md)
	}
	b, err := s.Marshal()
	if err != nil {
		return nil, fmt.Errorf("sdp: writing answer: %w", err)
	}
	return b, nil
}

// Complement is the answer's direction for an offered one (RFC 3264 §6.1).
func Complement(d Direction) Direction {
	switch d {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}
