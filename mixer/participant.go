package mixer

import (
	"sync"
	"time"

	"confab/hal"
	"confab/mixer/codec"
	"confab/mixer/jitter"
	"confab/mixer/mix"
	"confab/mixer/resample"
	"confab/mixer/rtpsession"
	"confab/mixer/sdpneg"
)

// Per-participant memory is sized to the codec, so a thousand callers stay
// within the CPU caches as far as they can: 32 packets of jitter buffer
// (640 ms of 20 ms packets, beyond the 200 ms delay bound), payloads no
// larger than the codec can make at 60 ms.
const jitterSlots = 32

func maxPayload(codecName string) int {
	switch codecName {
	case "opus":
		return 1276 // one 120 ms Opus packet at most (RFC 6716 §3.4 R2)
	case "PCMU", "PCMA", "G722":
		return 480 // 60 ms at 8 bits a sample
	}
	return 1500
}

// fifoSamples holds decoded audio waiting to be mixed: the largest packet
// (120 ms) plus a frame.
func fifoSamples(pcmRate int, frame time.Duration) int {
	return pcmRate*120/1000 + int(int64(pcmRate)*int64(frame)/int64(time.Second))
}

// participant is one caller's media inside a conference.
//
// mu guards the receive side (session, jitter buffer), which the receive
// goroutine touches for every packet; the conference lock guards the rest,
// which only the frame worker and control calls touch.
type participant struct {
	id   ParticipantID
	conf *Conference
	name string
	flow hal.Flow

	mu   sync.Mutex
	sess *rtpsession.Session
	jb   *jitter.Buffer
	evs  []rtpsession.Event

	// Negotiated media.
	offer   *sdpneg.Offer
	choice  sdpneg.Choice
	spec    codec.Spec
	pcmRate int    // rate the codec decodes to and encodes from
	version uint64 // SDP o= version of our answers

	// Codec channels on the Go engine or the offload device (placement.go),
	// and this frame's decode work (batch.go).
	dch, ech  chanRef
	fec       bool // the decoder rebuilds lost frames from FEC (Opus)
	openedDev bool // the conference was on the device when they were opened
	segs      [maxSegs]seg
	nseg      int
	pay       []byte // this frame's payloads, copied out of the jitter buffer

	// Input: decoded samples at pcmRate, then one frame at the mixing rate.
	fifo    []int16
	fifoLen int
	inRes   *resample.Resampler // pcmRate -> mixing rate (nil when equal)
	codecIn []int16             // one frame at pcmRate
	in      []int16             // one frame at the mixing rate

	// Output: private mix at the mixing rate, then at pcmRate, accumulated
	// to the packet time, then encoded.
	outRes     *resample.Resampler
	private    []int16 // one frame at the mixing rate
	codecOut   []int16 // one packet at pcmRate
	frameInPkt int     // frames written into the current packet
	pktFrames  int     // frames per packet (ptime / frame)
	shared     *encGroup
	payload    []byte
	packet     []byte
	rtcp       []byte
	sentAny    bool

	// Mix state.
	muted, deaf, mixed   bool
	talkGain, listenGain int32
	det                  mix.Detector
	talker               bool // mixed this frame as one of the loudest
	hold                 sdpneg.Direction
	prompts              []*player
	timedOut             bool
	joined               time.Time
	underruns            uint64
	fecRecovered         uint64 // lost frames rebuilt from the next packet's FEC
}

// receive handles one datagram for this participant (receive goroutine).
func (p *participant) receive(pk *hal.Packet, now time.Time) {
	buf := pk.Buf[:pk.N]
	p.mu.Lock()
	if pk.RTCP {
		p.sess.HandleRTCP(buf, pk.From, now)
	} else {
		m, v := p.sess.HandleRTP(buf, pk.From, now)
		if v == rtpsession.Media && p.jb != nil {
			p.jb.Push(m.Seq, m.Timestamp, m.SSRC, m.Marker, m.Payload, now)
		}
	}
	p.evs = p.sess.Events(p.evs[:0])
	evs := p.evs
	conf := p.conf // Engine.Move changes it under p.mu (move.go)
	p.mu.Unlock()
	for _, ev := range evs {
		switch ev.Kind {
		case rtpsession.EventDigit:
			conf.e.emit(Event{Kind: EventDTMF, Conference: conf.id, Participant: p.id, Digit: ev.Digit, At: now})
		case rtpsession.EventRemoteChanged:
			rtp, rtcp, _ := p.sess.Remote()
			_ = conf.e.path.SetRemote(p.flow.ID, rtp)
			_ = conf.e.path.SetRemoteRTCP(p.flow.ID, rtcp)
			conf.e.emit(Event{Kind: EventRemoteChanged, Conference: conf.id, Participant: p.id, At: now})
		}
	}
}

// toMixRate brings the frame in codecIn to the mixing rate in p.in (the
// same slice when the rates match).
func (p *participant) toMixRate() {
	if p.inRes != nil {
		p.inRes.Process(p.codecIn, p.in)
	}
}

func (p *participant) samplesFor(ticks uint32) int {
	return int(uint64(ticks) * uint64(p.pcmRate) / uint64(p.spec.Info.ClockRate))
}

// sends reports whether the participant wants our audio (not on hold, not deaf).
func (p *participant) sends() bool {
	return !p.deaf && (p.hold == sdpneg.SendRecv || p.hold == sdpneg.RecvOnly)
}

// contributes reports whether the participant's audio may enter the mix.
func (p *participant) contributes() bool {
	// A caller who puts us on hold sends sendonly and, often, music on hold:
	// it must not reach the conference (Asterisk and FreeSWITCH do the same).
	return p.mixed && !p.muted && p.hold == sdpneg.SendRecv
}

// player plays one prompt.
type player struct {
	id   uint64
	src  interface{ ForRate(int) ([]int16, error) }
	pcm  []int16
	pos  int
	rate int
}

// next copies the prompt's next frame into dst (zero-padded at the end)
// and reports whether the prompt has finished.
func (pl *player) next(dst []int16) bool {
	n := copy(dst, pl.pcm[pl.pos:])
	mix.Zero(dst[n:])
	pl.pos += n
	return pl.pos >= len(pl.pcm)
}

// rerate moves the player to a new mixing rate, keeping its position in time.
func (pl *player) rerate(rate int) {
	if pl.rate == rate {
		return
	}
	pcm, err := pl.src.ForRate(rate)
	if err != nil {
		pl.pos = len(pl.pcm)
		return
	}
	pl.pos = pl.pos * rate / pl.rate
	pl.pcm, pl.rate = pcm, rate
}
