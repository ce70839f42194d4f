//go:build linux

package xdppath_test

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"confab/bench/phone"
	"confab/ebpf/rtpfilter"
	"confab/hal"
	"confab/hal/halselect"
	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
	"confab/mixer"
	"confab/mixer/sdpneg"
)

// bridge is the MCU on side A of a veth pair, its phones on side B.
type bridge struct {
	pair *vethtest.Pair
	path hal.PacketPath
	e    *mixer.Engine
}

// startBridge runs an engine on the packet path halselect picks on side A.
func startBridge(t *testing.T, p *vethtest.Pair, cfg halselect.Config) *bridge {
	t.Helper()
	b := &bridge{pair: p}
	cfg.Interface, cfg.Listen, cfg.LowPort, cfg.HighPort = p.A.Ifname, p.A.IPv4, low, high
	err := p.Do(&p.A, func() error {
		var err error
		b.path, err = halselect.Open(cfg, halselect.WithXDPOptions(xdppath.WithPinDir("")))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	b.e, err = mixer.NewEngine(b.path, p.A.IPv4, mixer.Config{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("engine: %v", err)
		}
	})
	return b
}

// dial makes a phone on side B and joins it: the offer is answered in A's
// namespace, where the flow's sockets bind.
func (b *bridge) dial(t *testing.T, c *mixer.Conference, cfg phone.Config) (*phone.Phone, mixer.ParticipantID) {
	t.Helper()
	cfg.Listen = b.pair.B.IPv4
	var ph *phone.Phone
	if err := b.pair.Do(&b.pair.B, func() error {
		var err error
		ph, err = phone.New(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var id mixer.ParticipantID
	var answer []byte
	if err := b.pair.Do(&b.pair.A, func() error {
		var err error
		id, answer, err = c.Add(ph.Offer(), mixer.AddOptions{})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	o, err := sdpneg.Parse(answer)
	if err != nil {
		t.Fatalf("answer: %v\n%s", err, answer)
	}
	ph.Start(o.Remote)
	t.Cleanup(ph.Stop)
	return ph, id
}

func lastSecond(ph *phone.Phone) []int16 {
	pcm := ph.Received()
	if len(pcm) > ph.Rate() {
		pcm = pcm[len(pcm)-ph.Rate():]
	}
	return pcm
}

// checkTones checks that every phone hears the others' tones and not its own.
func checkTones(t *testing.T, phones []*phone.Phone, tones []float64) {
	t.Helper()
	for i, ph := range phones {
		pcm := lastSecond(ph)
		if len(pcm) < ph.Rate()/2 {
			t.Fatalf("phone %d received only %d samples", i, len(pcm))
		}
		for j, hz := range tones {
			level := phone.ToneLevel(pcm, ph.Rate(), hz)
			if i == j && level > -30 {
				t.Errorf("phone %d hears its own %v Hz tone at %.1f dB", i, hz, level)
			}
			if i != j && level < -12 {
				t.Errorf("phone %d hears phone %d's %v Hz tone only at %.1f dB", i, j, hz, level)
			}
		}
	}
}

func TestTheMixerOverXDP(t *testing.T) {
	p := vethtest.New(t)
	b := startBridge(t, p, halselect.Config{})
	if b.path.Name() != "xdp" || !strings.Contains(b.path.Reason(), "AF_XDP") {
		t.Fatalf("driver %s: %s", b.path.Name(), b.path.Reason())
	}
	c, err := b.e.NewConference("xdp")
	if err != nil {
		t.Fatal(err)
	}
	tones := []float64{500, 900, 1400}
	var phones []*phone.Phone
	var ids []mixer.ParticipantID
	for i, codec := range []string{"PCMU", "G722", "opus"} {
		ph, id := b.dial(t, c, phone.Config{Codec: codec, ToneHz: tones[i]})
		phones, ids = append(phones, ph), append(ids, id)
	}

	// Junk from side B throughout the call: strangers, malformed
	// datagrams and unknown flows, all for the XDP program to drop.
	junk := sendJunk(t, p, c, ids)
	time.Sleep(1500 * time.Millisecond)

	t.Run("everyone hears the others and not themselves", func(t *testing.T) {
		checkTones(t, phones, tones)
	})
	for _, ph := range phones {
		ph.Stop()
	}
	junk.stop()
	time.Sleep(200 * time.Millisecond)

	xp := b.path.(*xdppath.Path)
	t.Run("the MCU received exactly what the program counted valid", func(t *testing.T) {
		for i, id := range ids {
			q, err := c.Quality(id)
			if err != nil {
				t.Fatal(err)
			}
			port, _ := c.LocalPort(id)
			st, err := xp.Filter().FlowStats(port)
			if err != nil {
				t.Fatal(err)
			}
			if q.Dropped != 0 {
				t.Errorf("participant %d: the MCU refused %d packets; the program should have", i, q.Dropped)
			}
			t.Logf("participant %d: program passed %d RTP, %d RTCP; MCU took %d", i, st.RTPPackets, st.RTCPPackets, q.PacketsReceived)
			if q.PacketsReceived == 0 || q.PacketsReceived != st.RTPPackets {
				t.Errorf("participant %d: the MCU took %d RTP packets, the program passed %d", i, q.PacketsReceived, st.RTPPackets)
			}
		}
		if s := b.e.Stats(); s.UnknownFlowPackets != 0 {
			t.Errorf("%d packets reached the MCU for no flow", s.UnknownFlowPackets)
		}
	})
	t.Run("the junk was dropped and counted by reason", func(t *testing.T) {
		vc, err := xp.Filter().Verdicts()
		if err != nil {
			t.Fatal(err)
		}
		for v, want := range junk.sent {
			t.Logf("%s: sent %d, counted %d", v, want, vc[v].Packets)
			if got := vc[v].Packets; got != want {
				t.Errorf("%s: %d, want %d", v, got, want)
			}
		}
		if vc[rtpfilter.RedirectFlow].Packets == 0 {
			t.Error("no media went through AF_XDP")
		}
	})
}

func TestTheMixerFallsBackWhenXDPIsRefused(t *testing.T) {
	p := vethtest.New(t)
	attachForeignProgram(t, p)
	b := startBridge(t, p, halselect.Config{})
	if b.path.Name() != "socket" || !strings.Contains(b.path.Reason(), "another XDP program") {
		t.Fatalf("driver %s: %s", b.path.Name(), b.path.Reason())
	}
	if s := b.e.Stats(); s.PathName != "socket" || s.PathReason != b.path.Reason() {
		t.Errorf("engine reports %s: %s", s.PathName, s.PathReason)
	}
	c, err := b.e.NewConference("fallback")
	if err != nil {
		t.Fatal(err)
	}
	tones := []float64{600, 1100}
	var phones []*phone.Phone
	for _, hz := range tones {
		ph, _ := b.dial(t, c, phone.Config{Codec: "PCMU", ToneHz: hz})
		phones = append(phones, ph)
	}
	time.Sleep(1500 * time.Millisecond)
	checkTones(t, phones, tones)
}

// junkSender sends junk to the bridge from side B and counts, by the
// verdict it should get, what it sent.
type junkSender struct {
	sent map[rtpfilter.Verdict]uint64
	done chan struct{}
	quit chan struct{}
}

func (j *junkSender) stop() {
	close(j.quit)
	<-j.done
}

func sendJunk(t *testing.T, p *vethtest.Pair, c *mixer.Conference, ids []mixer.ParticipantID) *junkSender {
	t.Helper()
	var conn *net.UDPConn
	if err := p.Do(&p.B, func() error {
		var err error
		conn, err = net.ListenUDP("udp4", &net.UDPAddr{IP: p.B.IPv4.AsSlice()})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var ports []uint16
	for _, id := range ids {
		port, err := c.LocalPort(id)
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, port)
	}
	j := &junkSender{sent: map[rtpfilter.Verdict]uint64{}, done: make(chan struct{}), quit: make(chan struct{})}
	kinds := []struct {
		v    rtpfilter.Verdict
		port func(rtp uint16) uint16
		b    []byte
	}{
		{rtpfilter.DropUnknownFlow, func(uint16) uint16 { return high - 1 }, rtp(1, 0)},
		{rtpfilter.DropVersion, func(r uint16) uint16 { return r }, []byte("GET / HTTP/1.0\r\n\r\n")},
		{rtpfilter.DropRTPLength, func(r uint16) uint16 { return r }, []byte{0x80, 0, 0, 1, 0, 0}},
		{rtpfilter.DropPayloadType, func(r uint16) uint16 { return r }, rtp(2, 73)},
		{rtpfilter.DropRTCP, func(r uint16) uint16 { return r + 1 }, rtp(3, 0)},
	}
	go func() {
		defer close(j.done)
		defer conn.Close()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-j.quit:
				return
			case <-tick.C:
			}
			k := kinds[i%len(kinds)]
			to := netip.AddrPortFrom(p.A.IPv4, k.port(ports[i%len(ports)]))
			if _, err := conn.WriteToUDPAddrPort(k.b, to); err == nil {
				j.sent[k.v]++
			}
		}
	}()
	return j
}

// attachForeignProgram puts another tool's XDP program (XDP_PASS) on side
// A's veth for the rest of the test.
func attachForeignProgram(t *testing.T, p *vethtest.Pair) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "other_tool", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	err = p.Do(&p.A, func() error {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: p.A.Index})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
