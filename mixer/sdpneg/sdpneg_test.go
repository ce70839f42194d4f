package sdpneg

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const deskPhone = "v=0\r\no=phone 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n" +
	"m=audio 4000 RTP/AVP 9 0 8 101\r\na=rtpmap:9 G722/8000\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n" +
	"a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"

func TestNegotiationPicksTheBestCommonCodec(t *testing.T) {
	cases := []struct {
		name     string
		offer    string
		want     string
		wantDTMF bool
		err      error
	}{
		{"a desk phone with G.722 gets G.722", deskPhone, "G722", true, nil},
		{"a softphone with Opus gets Opus", strings.Replace(deskPhone, "RTP/AVP 9 0 8 101", "RTP/AVP 111 0 101", 1) + "a=rtpmap:111 opus/48000/2\r\n", "opus", true, nil},
		{"static payload types need no rtpmap", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 8\r\n", "PCMA", false, nil},
		{"an offer of only GSM has no common codec", "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 3\r\n", "", false, ErrNoCommonCodec},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := Parse([]byte(c.offer))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := o.Negotiate(DefaultPreference, 20*time.Millisecond)
			if !errors.Is(err, c.err) {
				t.Fatalf("err %v, want %v", err, c.err)
			}
			if c.err != nil {
				return
			}
			if ch.Codec.Name != c.want || (ch.DTMF != nil) != c.wantDTMF {
				t.Fatalf("chose %s dtmf=%v", ch.Codec.Name, ch.DTMF != nil)
			}
		})
	}
}

func TestAnswerCarriesOurPortCodecAndDirection(t *testing.T) {
	o, err := Parse([]byte(strings.Replace(deskPhone, "a=sendrecv", "a=sendonly", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if o.Remote != netip.MustParseAddrPort("192.0.2.10:4000") || o.Direction != SendOnly {
		t.Fatalf("remote %v direction %v", o.Remote, o.Direction)
	}
	ch, _ := o.Negotiate(DefaultPreference, 20*time.Millisecond)
	b, err := o.Answer(AnswerParams{Local: netip.MustParseAddrPort("198.51.100.1:20000"), SessionID: 7, Version: 1,
		Choice: ch, Direction: Complement(o.Direction)})
	if err != nil {
		t.Fatal(err)
	}
	ans, err := Parse(b)
	if err != nil {
		t.Fatalf("our answer does not parse: %v\n%s", err, b)
	}
	if ans.Remote.Port() != 20000 || ans.Direction != RecvOnly || ans.Codecs[0].Name != "G722" || ans.Ptime != 20*time.Millisecond {
		t.Fatalf("answer %+v\n%s", ans, b)
	}
}

func TestVideoStreamsAreRejectedWithPortZero(t *testing.T) {
	offer := deskPhone + "m=video 4002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
	o, err := Parse([]byte(offer))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := o.Negotiate(DefaultPreference, 20*time.Millisecond)
	b, _ := o.Answer(AnswerParams{Local: netip.MustParseAddrPort("127.0.0.1:20000"), Choice: ch, Direction: SendRecv})
	if !strings.Contains(string(b), "m=video 0 ") {
		t.Fatalf("video not rejected:\n%s", b)
	}
}

func TestMalformedOffersAreRefused(t *testing.T) {
	cases := map[string]string{
		"garbage":                 "hello",
		"no audio":                "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n",
		"an address that is none": "v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nc=IN IP4 not-an-ip\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\n",
	}
	for name, offer := range cases {
		t.Run(name+" is refused", func(t *testing.T) {
			if _, err := Parse([]byte(offer)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestPtimeIsRoundedToWholeFrames(t *testing.T) {
	f := 20 * time.Millisecond
	for in, want := range map[time.Duration]time.Duration{0: 20 * time.Millisecond, 10 * time.Millisecond: f,
		30 * time.Millisecond: 40 * time.Millisecond, 40 * time.Millisecond: 40 * time.Millisecond, 150 * time.Millisecond: 60 * time.Millisecond} {
		if got := RoundPtime(in, f); got != want {
			t.Errorf("RoundPtime(%v) = %v, want %v", in, got, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(deskPhone))
	f.Add([]byte("v=0\r\nm=audio 0 RTP/AVP\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Parse(b)
		if err != nil {
			return
		}
		ch, err := o.Negotiate(DefaultPreference, 20*time.Millisecond)
		if err != nil {
			return
		}
		if _, err := o.Answer(AnswerParams{Local: netip.MustParseAddrPort("127.0.0.1:20000"), Choice: ch, Direction: SendRecv}); err != nil {
			t.Fatalf("answer failed for a negotiated offer: %v", err)
		}
	})
}
