package mixer

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"confab/hal"
	"confab/hal/haltest"
	"confab/mixer/codec/opus"
	"confab/mixer/codec/registry"
)

// load is a conference fed packets directly (no sockets), ticked by hand on
// a fake clock: it measures the engine's per-frame work alone.
type load struct {
	e     *Engine
	now   time.Time
	confs []*Conference
	parts []*loadPart
	out   []hal.Packet
}

type loadPart struct {
	p       *participant
	payload [][]byte // one second of pre-encoded frames, looped
	pkt     []byte
	n       int
	seq     uint16
	frame   int
	ts      uint32
	ticks   uint32
	talking bool
	stopped bool // sends nothing (a dead call)
}

func newLoad(b testing.TB, codecName string, confs, size int, talkers float64, tune ...func(*Config)) *load {
	l := &load{now: time.Unix(1e9, 0)}
	path := haltest.New(haltest.WithPorts(20000, 60000))
	cfg := Config{MediaTimeout: -1, Workers: 1}
	for _, f := range tune {
		f(&cfg)
	}
	e, err := NewEngine(path, netip.MustParseAddr("127.0.0.1"), cfg,
		WithClock(func() time.Time { return l.now }))
	if err != nil {
		b.Fatal(err)
	}
	l.e = e
	talkEvery := 0
	if talkers > 0 {
		talkEvery = int(math.Round(1 / talkers))
	}
	for ci := 0; ci < confs; ci++ {
		c, err := e.NewConference(fmt.Sprintf("c%d", ci))
		if err != nil {
			b.Fatal(err)
		}
		l.confs = append(l.confs, c)
		for i := 0; i < size; i++ {
			// codecName may list several, given to the callers in turn.
			names := strings.Split(codecName, ",")
			name := names[i%len(names)]
			clock, pt := uint32(8000), 0
			rtpmap := "PCMU/8000"
			switch name {
			case "opus":
				clock, pt, rtpmap = 48000, 111, "opus/48000/2"
			case "G722":
				pt, rtpmap = 9, "G722/8000"
			case "L16":
				clock, pt, rtpmap = 16000, 118, "L16/16000"
			}
			spec, _ := registry.Default().Lookup(name, clock)
			offer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
				"m=audio %d RTP/AVP %d\r\na=rtpmap:%d %s\r\n", 10000+2*len(l.parts), pt, pt, rtpmap)
			id, _, err := c.Add([]byte(offer), AddOptions{})
			if err != nil {
				b.Fatal(err)
			}
			talking := talkEvery > 0 && i%talkEvery == 0
			enc, _ := spec.NewEncoder(spec.Info.SampleRate)
			if name == "opus" && !talking {
				// A silent softphone runs Opus with DTX (RFC 7587 §3.1.3):
				// it sends a packet only now and then.
				enc, _ = opus.NewEncoder(spec.Info.SampleRate, opus.WithDTX())
			}
			frame := spec.Info.SampleRate / 50
			lp := &loadPart{p: c.byID[id], pkt: make([]byte, 1500),
				ticks: spec.Info.RTPTicks(frame), talking: talking}
			pcm := make([]int16, frame)
			for k := 0; k < 50; k++ {
				if lp.talking {
					for j := range pcm {
						t := float64(k*frame + j)
						pcm[j] = int16(6000 * math.Sin(2*math.Pi*float64(300+100*i)*t/float64(spec.Info.SampleRate)))
					}
				}
				buf := make([]byte, 1500)
				n, err := enc.Encode(pcm, buf)
				if err != nil {
					b.Fatal(err)
				}
				lp.payload = append(lp.payload, buf[:n])
			}
			l.parts = append(l.parts, lp)
		}
	}
	return l
}

// frame delivers one packet from everyone and mixes one frame.
func (l *load) frame() {
	for _, lp := range l.parts {
		if lp.stopped {
			continue
		}
		b := lp.pkt
		b[0], b[1] = 0x80, byte(lp.p.choice.Codec.PayloadType)
		binary.BigEndian.PutUint16(b[2:], lp.seq)
		binary.BigEndian.PutUint32(b[4:], lp.ts)
		binary.BigEndian.PutUint32(b[8:], 0xabc)
		payload := lp.payload[int(lp.frame)%len(lp.payload)]
		lp.frame++
		if len(payload) <= opus.DTXMaxLen {
			lp.ts += lp.ticks // a DTX frame is not sent
			continue
		}
		n := copy(b[12:], payload)
		lp.seq++
		lp.ts += lp.ticks
		pk := hal.Packet{Flow: lp.p.flow.ID, From: lp.p.offer.Remote, Buf: b, N: 12 + n}
		lp.p.receive(&pk, l.now)
	}
	l.now = l.now.Add(20 * time.Millisecond)
	l.out = l.out[:0]
	for _, c := range l.confs {
		l.out = c.tick(l.now, l.out)
	}
}

func benchTick(b *testing.B, codecName string, confs, size int, talkers float64) {
	l := newLoad(b, codecName, confs, size, talkers)
	for i := 0; i < 100; i++ { // fill the jitter buffers, settle talker detection
		l.frame()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		l.frame()
	}
	n := float64(confs * size)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/participant")
	if len(l.out) < confs*size*9/10 {
		b.Fatalf("a frame sent %d packets for %d participants", len(l.out), confs*size)
	}
}

// The per-frame cost, packet handling (RTP validation, jitter buffer) included,
// sockets excluded. 10 % talkers.
func BenchmarkTickG711(b *testing.B) {
	for _, c := range []struct{ confs, size int }{{1, 10}, {1, 100}, {1, 1000}, {100, 10}} {
		b.Run(fmt.Sprintf("%dx%d", c.confs, c.size), func(b *testing.B) { benchTick(b, "PCMU", c.confs, c.size, 0.1) })
	}
}

// Opus at 48 kHz with 3 talkers: listeners share one encode, so 50 cost
// little more than 10.
func BenchmarkTickOpus48k3Talkers(b *testing.B) {
	for _, size := range []int{10, 50} {
		b.Run(fmt.Sprintf("1x%d", size), func(b *testing.B) { benchTick(b, "opus", 1, size, 3/float64(size)) })
	}
}

func TestTickDoesNotAllocate(t *testing.T) {
	for _, codecName := range []string{"PCMU", "opus"} {
		t.Run(codecName+" frames allocate nothing", func(t *testing.T) {
			l := newLoad(t, codecName, 2, 10, 0.3)
			for i := 0; i < 100; i++ {
				l.frame()
			}
			if a := testing.AllocsPerRun(200, l.frame); a != 0 {
				t.Fatalf("%.1f allocations per frame", a)
			}
		})
	}
}
