package loadgen

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func mustCodec(t testing.TB, name string) *codecInfo {
	t.Helper()
	ci, err := lookupCodec(name, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	return &ci
}

func TestOffer(t *testing.T) {
	tests := []struct {
		codec string
		want  []string
	}{
		{"PCMU", []string{"m=audio 40002 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000", "c=IN IP4 127.0.0.1", "a=ptime:20"}},
		{"G722", []string{"m=audio 40002 RTP/AVP 9 101", "a=rtpmap:9 G722/8000", "a=rtpmap:101 telephone-event/8000"}},
		{"opus", []string{"m=audio 40002 RTP/AVP 111 101", "a=rtpmap:111 opus/48000/2", "a=fmtp:111 useinbandfec=1", "a=rtpmap:101 telephone-event/48000"}},
	}
	for _, tt := range tests {
		t.Run("a "+tt.codec+" offer names the codec and telephone-event", func(t *testing.T) {
			o := string(offer(mustCodec(t, tt.codec), netip.MustParseAddrPort("127.0.0.1:40002"), 20*time.Millisecond, 3))
			for _, w := range tt.want {
				if !strings.Contains(o, w+"\r\n") {
					t.Errorf("offer lacks %q:\n%s", w, o)
				}
			}
		})
	}
}

func TestParseAnswer(t *testing.T) {
	sdp := func(media string, attrs ...string) []byte {
		return []byte("v=0\r\no=- 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n" + media + "\r\n" +
			strings.Join(attrs, "\r\n") + "\r\n")
	}
	tests := []struct {
		name   string
		codec  string
		answer []byte
		want   answered
		err    error
	}{
		{
			name:   "an answer with rtpmaps gives the address and payload types",
			codec:  "PCMU",
			answer: sdp("m=audio 20000 RTP/AVP 0 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000"),
			want:   answered{remote: netip.MustParseAddrPort("10.0.0.9:20000"), pt: 0, event: 101},
		},
		{
			name:   "a static payload type needs no rtpmap",
			codec:  "G722",
			answer: sdp("m=audio 20002 RTP/AVP 9"),
			want:   answered{remote: netip.MustParseAddrPort("10.0.0.9:20002"), pt: 9},
		},
		{
			name:   "the answer's own dynamic numbers are the ones to send with",
			codec:  "opus",
			answer: sdp("m=audio 20004 RTP/AVP 96 97 98", "a=rtpmap:96 opus/48000/2", "a=rtpmap:97 telephone-event/8000", "a=rtpmap:98 telephone-event/48000"),
			want:   answered{remote: netip.MustParseAddrPort("10.0.0.9:20004"), pt: 96, event: 98},
		},
		{
			name:   "an answer without the offered codec is refused",
			codec:  "PCMU",
			answer: sdp("m=audio 20000 RTP/AVP 8", "a=rtpmap:8 PCMA/8000"),
			err:    ErrAnswer,
		},
		{
			name:   "an answer with the audio stream refused is refused",
			codec:  "PCMU",
			answer: sdp("m=audio 0 RTP/AVP 0"),
			err:    ErrAnswer,
		},
		{
			name:   "an answer that is not SDP is refused",
			codec:  "PCMU",
			answer: []byte("hello"),
			err:    ErrAnswer,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseAnswer(tt.answer, mustCodec(t, tt.codec))
			if tt.err != nil {
				if !errors.Is(err, tt.err) {
					t.Fatalf("error %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
