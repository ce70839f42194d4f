package main

import (
	"context"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"confab/bench/phone"
	"confab/bench/sipcaller"
)

// Tones the simulated phones send: away from the bridge's own sounds (join
// and leave chimes at 660 and 880 Hz, the 1 kHz beep) and from the DTMF
// frequencies, and apart enough for a half-second Goertzel window to tell
// them apart by 60 dB.
const (
	toneA = 440.0
	toneB = 1700.0
	toneC = 2500.0
	toneD = 3100.0
)

// Audio levels, as the RMS of one tone in what a phone receives. A phone
// sends its tone at 0.3 of full scale, an RMS of about 6950; the bridge may
// scale what it mixes, but a tone that is heard stays far above heardRMS,
// and one that is not is below silentRMS (the PCMU quantisation noise of
// silence and the leakage of the other tones are below 30).
const (
	heardRMS  = 1000.0
	silentRMS = 150.0
	window    = 500 * time.Millisecond
)

// party is one simulated caller: a SIP user agent of its own and a phone's
// media side.
type party struct {
	name  string
	agent *sipcaller.Agent
	ph    *phone.Phone
	call  *sipcaller.Call
}

type dialConfig struct {
	codec   string
	target  string // user part; the number by default
	tcp     bool
	options []sipcaller.DialOption
}

type dialOption func(*dialConfig)

func withCodec(c string) dialOption { return func(dc *dialConfig) { dc.codec = c } }

func withTCP() dialOption { return func(dc *dialConfig) { dc.tcp = true } }

func withSIP(o ...sipcaller.DialOption) dialOption {
	return func(dc *dialConfig) { dc.options = append(dc.options, o...) }
}

// dial calls number on d as name, sending a tone of hz, and starts the
// media once the call is answered.
func (d *daemon) dial(t *testing.T, number, name string, hz float64, opts ...dialOption) *party {
	t.Helper()
	p, err := d.tryDial(t, number, name, hz, opts...)
	if err != nil {
		t.Fatalf("%s dialling %s: %v", name, number, err)
	}
	return p
}

// tryDial is dial that returns the error of a refused call.
func (d *daemon) tryDial(t *testing.T, number, name string, hz float64, opts ...dialOption) (*party, error) {
	t.Helper()
	cfg := dialConfig{codec: "PCMU"}
	for _, o := range opts {
		o(&cfg)
	}
	agentOpts := []sipcaller.Option{sipcaller.WithUser(strings.ToLower(name), name)}
	target := "sip:" + number + "@" + d.sip
	if cfg.tcp {
		agentOpts = append(agentOpts, sipcaller.WithTCP())
		target += ";transport=tcp"
	}
	a, err := sipcaller.New(agentOpts...)
	if err != nil {
		t.Fatal(err)
	}
	ph, err := phone.New(phone.Config{Codec: cfg.codec, ToneHz: hz})
	if err != nil {
		_ = a.Close()
		t.Fatal(err)
	}
	p := &party{name: name, agent: a, ph: ph}
	t.Cleanup(p.close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p.call, err = a.Dial(ctx, target, ph.Offer(), cfg.options...)
	if err != nil {
		return p, err
	}
	remote, err := sipcaller.MediaAddr(p.call.Answer())
	if err != nil {
		t.Fatalf("the bridge's answer to %s: %v\n%s", name, err, p.call.Answer())
	}
	ph.Start(remote)
	return p, nil
}

// close hangs up if the call is still up and frees the phone and agent.
func (p *party) close() {
	if p.call != nil {
		select {
		case <-p.call.Ended():
		default:
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			_ = p.call.Bye(ctx)
			cancel()
		}
	}
	p.ph.Stop()
	_ = p.agent.Close()
}

// toneRMS is the RMS of the hz component of the last window of audio p
// received, 0 when it has received less than that.
func (p *party) toneRMS(hz float64) float64 {
	pcm := p.ph.Received()
	n := int(window.Seconds() * float64(p.ph.Rate()))
	if len(pcm) < n {
		return 0
	}
	w := pcm[len(pcm)-n:]
	level := phone.ToneLevel(w, p.ph.Rate(), hz)
	if math.IsInf(level, -1) {
		return 0
	}
	return phone.RMS(w) * math.Pow(10, level/20)
}

// hears waits until p hears the tone hz.
func (p *party) hears(t *testing.T, hz float64) {
	t.Helper()
	var got float64
	deadline := time.Now().Add(8 * time.Second)
	for {
		if got = p.toneRMS(hz); got > heardRMS {
			t.Logf("%s hears %v Hz at %.0f RMS", p.name, hz, got)
			return
		}
		if time.Now().After(deadline) {
			packets, _, _ := p.ph.Counts()
			t.Fatalf("%s does not hear %v Hz: its level is %.0f RMS (heard above %.0f); %d packets received",
				p.name, hz, got, heardRMS, packets)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// doesNotHear checks, over a full window of fresh audio, that p does not
// hear the tone hz; the window starts settle from now so that what was in
// flight has drained.
func (p *party) doesNotHear(t *testing.T, hz float64, settle time.Duration) {
	t.Helper()
	time.Sleep(settle)
	p.ph.Reset()
	waitFor(t, p.name+" to receive a fresh window of audio", 5*time.Second, func() bool {
		return len(p.ph.Received()) >= int(window.Seconds()*float64(p.ph.Rate()))
	})
	got := p.toneRMS(hz)
	if got > silentRMS {
		t.Fatalf("%s hears %v Hz at %.0f RMS, want silence of it (below %.0f)", p.name, hz, got, silentRMS)
	}
	t.Logf("%s does not hear %v Hz (%.0f RMS)", p.name, hz, got)
}

// hearsOnly checks that p hears each tone in heard and none in notHeard.
func (p *party) hearsOnly(t *testing.T, heard []float64, notHeard ...float64) {
	t.Helper()
	for _, hz := range heard {
		p.hears(t, hz)
	}
	for _, hz := range notHeard {
		if got := p.toneRMS(hz); got > silentRMS {
			t.Fatalf("%s hears %v Hz at %.0f RMS, want it silent (below %.0f)", p.name, hz, got, silentRMS)
		}
	}
}

// enterPIN types digits ending in '#': by SIP INFO when info is set, else
// as RFC 4733 telephone-events in the RTP stream.
func (p *party) enterPIN(t *testing.T, digits string, info bool) {
	t.Helper()
	for i := 0; i < len(digits); i++ {
		if info {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			err := p.call.InfoDTMF(ctx, digits[i])
			cancel()
			if err != nil {
				t.Fatalf("%s: INFO %c: %v", p.name, digits[i], err)
			}
			continue
		}
		p.ph.SendDigit(digits[i])
		// One event is six packets in one 20 ms tick; a gap between digits
		// keeps them apart as a person's key presses are.
		time.Sleep(60 * time.Millisecond)
	}
}

// ended waits for the bridge to hang up on p and returns the BYE's reason.
func (p *party) ended(t *testing.T, limit time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	e, err := p.call.WaitEnded(ctx)
	if err != nil {
		t.Fatalf("%s: the bridge did not hang up within %v", p.name, limit)
	}
	if !e.Remote {
		t.Fatalf("%s's call ended here (%s), not by the bridge's BYE", p.name, e.Reason)
	}
	return e.Reason
}

// stillUp checks that p's call has not ended.
func (p *party) stillUp(t *testing.T) {
	t.Helper()
	select {
	case <-p.call.Ended():
		t.Fatalf("%s's call ended: %+v", p.name, p.call.Ending())
	default:
	}
}

// bye hangs p up and checks the bridge said 200.
func (p *party) bye(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.call.Bye(ctx); err != nil {
		t.Fatalf("%s: BYE: %v", p.name, err)
	}
}

// mediaAddr is where the bridge wants p's RTP.
func (p *party) mediaAddr() netip.AddrPort {
	a, _ := sipcaller.MediaAddr(p.call.Answer())
	return a
}
