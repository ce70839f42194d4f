package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"confab/bench/sipcaller"
	"confab/hal"
	"confab/hal/haltest"
	"confab/mixer/codec/g711"
)

// fakeBridge is a G.711 conference bridge behind the generator's fake
// packet path: it takes what the callers send (haltest's Sent), mixes each
// conference every 20 ms and injects each caller's mix back. echo makes it
// mix callers into their own ear, as a broken bridge would; refuse makes
// every call to that conference number fail with 486; direct forwards each
// talker's packet to the others of its conference the moment it comes, a
// bridge that adds no delay at all (for conferences with one talker).
type fakeBridge struct {
	path   *haltest.Path
	echo   bool
	direct bool
	refuse string

	mu     sync.Mutex
	byPort map[uint16]string          // the caller's RTP port -> conference, from the offer
	parts  map[hal.FlowID]*fakeMember // by the caller's flow
	confs  map[string][]*fakeMember   // members by conference
	digits map[hal.FlowID]*fakeDigits
	calls  int
}

// fakeDigits is what one caller keyed in.
type fakeDigits struct {
	keyed  strings.Builder
	lastTS uint32
}

type fakeMember struct {
	flow  hal.FlowID
	in    []int16 // the last frame received
	fresh bool
	seq   uint16
	ts    uint32
	ssrc  uint32
	conf  string
}

func newFakeBridge(path *haltest.Path) *fakeBridge {
	return &fakeBridge{path: path, byPort: map[uint16]string{}, parts: map[hal.FlowID]*fakeMember{},
		confs: map[string][]*fakeMember{}, digits: map[hal.FlowID]*fakeDigits{}}
}

// run takes packets and mixes until ctx ends.
func (b *fakeBridge) run(ctx context.Context) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case p := <-b.path.Sent():
			b.take(p)
		case <-tick.C:
			b.mix()
		}
	}
}

func (b *fakeBridge) take(p hal.Packet) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m := b.parts[p.Flow]
	if m == nil {
		f, ok := b.path.Flow(p.Flow)
		if !ok {
			return
		}
		conf, ok := b.byPort[f.LocalPort]
		if !ok {
			return
		}
		m = &fakeMember{flow: p.Flow, conf: conf, ssrc: uint32(p.Flow) * 7919, in: make([]int16, 160)}
		b.parts[p.Flow] = m
		b.confs[conf] = append(b.confs[conf], m)
	}
	pkt := p.Buf[:p.N]
	switch pt := pkt[1] & 0x7f; pt {
	case 0:
		loud := false
		for i, c := range pkt[12:] {
			m.in[i] = g711.DecodeMuLaw(c)
			loud = loud || m.in[i] > 1000
		}
		m.fresh = true
		if b.direct && loud {
			for _, o := range b.confs[m.conf] {
				if o != m {
					b.send(o, pkt[12:])
				}
			}
		}
	case eventPT:
		// An end packet (RFC 4733 §2.5.1.4) goes three times with the
		// event's timestamp; count the digit once.
		if pkt[13]&0x80 != 0 {
			ts := binary.BigEndian.Uint32(pkt[4:])
			if d := b.digits[p.Flow]; d == nil || d.lastTS != ts {
				if d == nil {
					d = &fakeDigits{}
					b.digits[p.Flow] = d
				}
				d.lastTS = ts
				d.keyed.WriteByte("0123456789*#"[pkt[12]])
			}
		}
	}
}

// send injects one PCMU payload to member m.
func (b *fakeBridge) send(m *fakeMember, payload []byte) {
	out := make([]byte, 12+len(payload))
	out[0], out[1] = 0x80, 0
	binary.BigEndian.PutUint16(out[2:], m.seq)
	binary.BigEndian.PutUint32(out[4:], m.ts)
	binary.BigEndian.PutUint32(out[8:], m.ssrc)
	m.seq++
	m.ts += 160
	copy(out[12:], payload)
	_ = b.path.Inject(m.flow, false, netip.MustParseAddrPort("192.0.2.1:30000"), out)
}

func (b *fakeBridge) mix() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.direct {
		return
	}
	sum := make([]int32, 160)
	out := make([]byte, 12+160)
	for _, ms := range b.confs {
		clear(sum)
		for _, m := range ms {
			if m.fresh {
				for i, v := range m.in {
					sum[i] += int32(v)
				}
			}
		}
		for _, m := range ms {
			out[0], out[1] = 0x80, 0
			binary.BigEndian.PutUint16(out[2:], m.seq)
			binary.BigEndian.PutUint32(out[4:], m.ts)
			binary.BigEndian.PutUint32(out[8:], m.ssrc)
			m.seq++
			m.ts += 160
			for i, s := range sum {
				if !b.echo && m.fresh {
					s -= int32(m.in[i])
				}
				out[12+i] = g711.EncodeMuLaw(int16(max(min(s, 32767), -32768)))
			}
			_ = b.path.Inject(m.flow, false, netip.MustParseAddrPort("192.0.2.1:30000"), out)
		}
		for _, m := range ms {
			m.fresh = false
		}
	}
}

// Dial answers every call, remembering which conference its RTP port is in.
func (b *fakeBridge) Dial(ctx context.Context, target string, offer []byte) (Call, error) {
	conf := strings.TrimPrefix(strings.SplitN(target, "@", 2)[0], "sip:")
	if conf == b.refuse {
		return nil, &sipcaller.StatusError{Code: 486, Reason: "Busy Here"}
	}
	port := 0
	for line := range strings.Lines(string(offer)) {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "m=audio" {
			port, _ = strconv.Atoi(f[1])
		}
	}
	b.mu.Lock()
	b.byPort[uint16(port)] = conf
	b.calls++
	n := b.calls
	b.mu.Unlock()
	answer := fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n", 30000+2*n)
	return &fakeCall{answer: []byte(answer), ended: make(chan struct{})}, nil
}

func (b *fakeBridge) Close() error { return nil }

// enteredDigits returns what each caller keyed in, by flow.
func (b *fakeBridge) enteredDigits() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, d := range b.digits {
		out = append(out, d.keyed.String())
	}
	return out
}

type fakeCall struct {
	answer []byte
	once   sync.Once
	ended  chan struct{}
}

func (c *fakeCall) Answer() []byte         { return c.answer }
func (c *fakeCall) Ended() <-chan struct{} { return c.ended }
func (c *fakeCall) Hangup(context.Context) error {
	c.once.Do(func() { close(c.ended) })
	return nil
}

// runFake runs a scenario against a fake bridge.
func runFake(t *testing.T, text string, setup func(*fakeBridge)) *Result {
	t.Helper()
	path := haltest.New(haltest.WithPorts(40000, 40999), haltest.WithQueue(8192), haltest.WithLocal(netip.MustParseAddr("127.0.0.1")))
	b := newFakeBridge(path)
	if setup != nil {
		setup(b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); b.run(bctx) }()
	defer func() { stop(); wg.Wait() }()
	res, err := Run(ctx, Config{Scenario: mustParse(t, text), Bridge: "192.0.2.1:5060"}, WithPacketPath(path), WithDialer(b))
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}
