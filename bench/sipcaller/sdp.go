package sipcaller

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/pion/sdp/v3"
)

// ErrNoAudio means an SDP body has no usable audio stream.
var ErrNoAudio = errors.New("sipcaller: no audio stream in the SDP")

// MediaAddr returns where the first audio stream of an SDP body wants its
// RTP: the media-level connection address, else the session-level one, and
// the m= port (RFC 4566 §5.7, §5.14).
func MediaAddr(body []byte) (netip.AddrPort, error) {
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return netip.AddrPort{}, fmt.Errorf("sipcaller: SDP: %w", err)
	}
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" || m.MediaName.Port.Value == 0 {
			continue
		}
		conn := m.ConnectionInformation
		if conn == nil {
			conn = s.ConnectionInformation
		}
		if conn == nil || conn.Address == nil {
			return netip.AddrPort{}, fmt.Errorf("%w: no c= line", ErrNoAudio)
		}
		ip, err := netip.ParseAddr(conn.Address.Address)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("sipcaller: SDP connection address %q: %w", conn.Address.Address, err)
		}
		return netip.AddrPortFrom(ip, uint16(m.MediaName.Port.Value)), nil
	}
	return netip.AddrPort{}, ErrNoAudio
}

// WithDirection returns body with its audio streams set to dir
// ("sendrecv", "sendonly", "recvonly" or "inactive") and the o= version
// counted up, as a re-offer must (RFC 3264 §8, §8.4: sendonly holds).
func WithDirection(body []byte, dir string) ([]byte, error) {
	switch dir {
	case "sendrecv", "sendonly", "recvonly", "inactive":
	default:
		return nil, fmt.Errorf("sipcaller: %q is not an SDP direction", dir)
	}
	var s sdp.SessionDescription
	if err := s.Unmarshal(body); err != nil {
		return nil, fmt.Errorf("sipcaller: SDP: %w", err)
	}
	s.Origin.SessionVersion++
	s.Attributes = withoutDirection(s.Attributes)
	for _, m := range s.MediaDescriptions {
		if m.MediaName.Media != "audio" {
			continue
		}
		m.Attributes = append(withoutDirection(m.Attributes), sdp.NewPropertyAttribute(dir))
	}
	return s.Marshal()
}

func withoutDirection(attrs []sdp.Attribute) []sdp.Attribute {
	out := attrs[:0]
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			continue
		}
		out = append(out, a)
	}
	return out
}
