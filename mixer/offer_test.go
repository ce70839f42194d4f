package mixer_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/mixer"
	"confab/mixer/sdpneg"
)

func TestOfferFirst(t *testing.T) {
	b := startBridge(t, 44600, mixer.Config{})
	c, err := b.e.NewConference("dialout")
	if err != nil {
		t.Fatal(err)
	}

	t.Run("the offer lists the MCU's codecs in preference order and telephone-event", func(t *testing.T) {
		id, offer, err := c.Offer(mixer.AddOptions{Name: "probe"})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = c.Remove(id) }()
		o, err := sdpneg.Parse(offer)
		if err != nil {
			t.Fatalf("our offer does not parse: %v\n%s", err, offer)
		}
		port, _ := c.LocalPort(id)
		if o.Remote.Addr().String() != "127.0.0.1" || o.Remote.Port() != port {
			t.Errorf("offer address %v, want 127.0.0.1:%d", o.Remote, port)
		}
		var names []string
		for _, cd := range o.Codecs {
			names = append(names, cd.Name)
		}
		if got := strings.Join(names, " "); !strings.Contains(got, "PCMU PCMA") || !strings.HasSuffix(got, "telephone-event") ||
			!strings.HasPrefix(got, "opus G722") {
			t.Errorf("offered %q, want opus and G722 first, PCMU and PCMA, then telephone-event", got)
		}
	})

	t.Run("a callee who answers hears the conference and is heard", func(t *testing.T) {
		caller := newPhone(t, phone.Config{Codec: "PCMU", ToneHz: 600})
		join(t, c, caller)
		callee := newPhone(t, phone.Config{Codec: "G722", ToneHz: 1100})
		id, offer, err := c.Offer(mixer.AddOptions{Name: "callee"})
		if err != nil {
			t.Fatal(err)
		}
		o, err := sdpneg.Parse(offer)
		if err != nil {
			t.Fatal(err)
		}
		// The phone's own SDP, with one codec of the offer, serves as its answer.
		if err := c.Answer(id, callee.Offer()); err != nil {
			t.Fatalf("Answer: %v", err)
		}
		callee.Start(o.Remote)
		t.Cleanup(callee.Stop)
		time.Sleep(1500 * time.Millisecond)
		if level := phone.ToneLevel(lastSecond(callee), callee.Rate(), 600); level < -12 {
			t.Errorf("the callee hears the caller's tone at %.1f dB", level)
		}
		if level := phone.ToneLevel(lastSecond(caller), caller.Rate(), 1100); level < -12 {
			t.Errorf("the caller hears the callee's tone at %.1f dB", level)
		}
		if q, _ := c.Quality(id); q.Codec != "G722" {
			t.Errorf("callee codec %q, want G722 from the answer", q.Codec)
		}
	})

	t.Run("an answer with no offered codec is refused", func(t *testing.T) {
		id, _, err := c.Offer(mixer.AddOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _, _ = c.Remove(id) }()
		bad := "v=0\r\no=x 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 7000 RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n"
		if err := c.Answer(id, []byte(bad)); !errors.Is(err, mixer.ErrNoCommonCodec) {
			t.Errorf("Answer = %v, want %v", err, mixer.ErrNoCommonCodec)
		}
	})
}
