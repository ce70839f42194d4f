// Package sdpneg does the SDP offer/answer of the audio MCU (RFC 3264): it
// reads a caller's offer, picks the codec the MCU prefers among those
// offered (Opus, G.722, PCMU, PCMA, then L16), RFC 4733 telephone-event,
// ptime and direction, and writes the answer. Parsing and writing use
// github.com/pion/sdp/v3.
package sdpneg

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// Errors of negotiation.
var (
	ErrMalformed     = errors.New("sdp: malformed offer")
	ErrNoAudio       = errors.New("sdp: no audio stream in the offer")
	ErrNoCommonCodec = errors.New("sdp: no common codec")
)

// Codec is one payload format of an m= line.
type Codec struct {
	PayloadType uint8
	Name        string // as written in rtpmap, e.g. "PCMU", "opus", "telephone-event"
	ClockRate   uint32
	Channels    int
	Fmtp        string
}

// Direction is the media direction attribute (RFC 3264 §5.1) from the
// offerer's point of view.
type Direction string

// Directions.
const (
	SendRecv Direction = "sendrecv"
	SendOnly Direction = "sendonly"
	RecvOnly Direction = "recvonly"
	Inactive Direction = "inactive"
)

// Offer is what the MCU needs from a caller's SDP offer.
type Offer struct {
	Remote     netip.AddrPort // where to send RTP (c= and m= port; port 0 = stream rejected/held)
	RemoteRTCP netip.AddrPort // a=rtcp (RFC 3605), else RTP port + 1
	RTCPMux    bool           // a=rtcp-mux (RFC 5761)
	Codecs     []Codec        // in the offerer's order
	Ptime      time.Duration  // 0 if absent
	Direction  Direction
	SessionID  uint64
	audioIndex int // which m= line is the audio stream
	mediaCount int
	mediaKinds []string
}

// Parse reads an SDP offer.
func Parse(b []byte) (*Offer, error) {
	var s sdp.SessionDescription
	if err := s.UnmarshalString(string(b)); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	o := &Offer{Direction: SendRecv, audioIndex: -1, SessionID: s.Origin.SessionID}
	sessionAddr := ""
	if s.ConnectionInformation != nil && s.ConnectionInformation.Address != nil {
		sessionAddr = s.ConnectionInformation.Address.Address
	}
	sessionDir := directionOf(s.Attributes)
	o.mediaCount = len(s.MediaDescriptions)
	for i, md := range s.MediaDescriptions {
		o.mediaKinds = append(o.mediaKinds, md.MediaName.Media)
		if md.MediaName.Media != "audio" || o.audioIndex >= 0 {
			continue
		}
		if !isRTPAVP(md.MediaName.Protos) {
			continue
		}
		o.audioIndex = i
		addr := sessionAddr
		if md.ConnectionInformation != nil && md.ConnectionInformation.Address != nil {
			addr = md.ConnectionInformation.Address.Address
		}
		ip, err := netip.ParseAddr(strings.TrimSpace(addr))
		if err != nil {
			return nil, fmt.Errorf("%w: connection address %q", ErrMalformed, addr)
		}
		port := md.MediaName.Port.Value
		if port < 0 || port > 65535 {
			return nil, fmt.Errorf("%w: port %d", ErrMalformed, port)
		}
		o.Remote = netip.AddrPortFrom(ip.Unmap(), uint16(port))
		o.RemoteRTCP = netip.AddrPortFrom(ip.Unmap(), uint16(port+1))
		if d := directionOf(md.Attributes); d != "" {
			o.Direction = d
		} else if sessionDir != "" {
			o.Direction = sessionDir
		}
		if ip.IsUnspecified() && o.Direction == SendRecv {
			// RFC 3264 §8.4: c=0.0.0.0 is the old way to put a call on hold.
			o.Direction = SendOnly
		}
		rtpmap := map[uint8]Codec{}
		fmtp := map[uint8]string{}
		for _, a := range md.Attributes {
			switch a.Key {
			case "rtpmap":
				if c, ok := parseRtpmap(a.Value); ok {
					rtpmap[c.PayloadType] = c
				}
			case "fmtp":
				if pt, rest, ok := strings.Cut(a.Value, " "); ok {
					if n, err := strconv.Atoi(pt); err == nil && n >= 0 && n < 128 {
						fmtp[uint8(n)] = strings.TrimSpace(rest)
					}
				}
			case "ptime":
				if ms, err := strconv.ParseFloat(strings.TrimSpace(a.Value), 64); err == nil && ms > 0 && ms <= 200 {
					o.Ptime = time.Duration(ms * float64(time.Millisecond))
				}
			case "rtcp":
				f := strings.Fields(a.Value)
				if len(f) > 0 {
					if p, err := strconv.Atoi(f[0]); err == nil && p > 0 && p < 65536 {
						rip := ip
						if len(f) >= 4 {
							if x, err := netip.ParseAddr(f[3]); err == nil {
								rip = x
							}
						}
						o.RemoteRTCP = netip.AddrPortFrom(rip.Unmap(), uint16(p))
					}
				}
			case "rtcp-mux":
				o.RTCPMux = true
			}
		}
		for _, f := range md.MediaName.Formats {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || n > 127 {
				continue
			}
			pt := uint8(n)
			c, ok := rtpmap[pt]
			if !ok {
				c, ok = staticPayloadTypes[pt]
				if !ok {
					continue
				}
			}
			c.Fmtp = fmtp[pt]
			o.Codecs = append(o.Codecs, c)
		}
	}
	if o.audioIndex < 0 {
		return nil, ErrNoAudio
	}
	return o, nil
}

// staticPayloadTypes are the RFC 3551 §6 audio types a phone may offer without rtpmap.
var staticPayloadTypes = map[uint8]Codec{
	0: {PayloadType: 0, Name: "PCMU", ClockRate: 8000, Channels: 1},
	8: {PayloadType: 8, Name: "PCMA", ClockRate: 8000, Channels: 1},
	9: {PayloadType: 9, Name: "G722", ClockRate: 8000, Channels: 1},
}

func isRTPAVP(protos []string) bool {
	p := strings.Join(protos, "/")
	return p == "RTP/AVP" || p == "RTP/AVPF"
}

func directionOf(attrs []sdp.Attribute) Direction {
	for _, a := range attrs {
		switch Direction(a.Key) {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return Direction(a.Key)
		}
	}
	return ""
}

func parseRtpmap(v string) (Codec, bool) {
	pt, rest, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok {
		return Codec{}, false
	}
	n, err := strconv.Atoi(pt)
	if err != nil || n < 0 || n > 127 {
		return Codec{}, false
	}
	parts := strings.Split(strings.TrimSpace(rest), "/")
	if len(parts) < 2 {
		return Codec{}, false
	}
	rate, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil || rate == 0 {
		return Codec{}, false
	}
	ch := 1
	if len(parts) > 2 {
		if c, err := strconv.Atoi(parts[2]); err == nil && c > 0 && c <= 8 {
			ch = c
		}
	}
	return Codec{PayloadType: uint8(n), Name: parts[0], ClockRate: uint32(rate), Channels: ch}, true
}
