// Package mixer is Confab's audio Conferencing Server (MCU): it terminates
// each participant's RTP, buffers and decodes it, mixes every conference
// once per frame and sends each participant everyone but itself.
//
// The path of a packet: the HAL packet path (hal.PacketPath) delivers
// batches of datagrams to one receive goroutine, which validates them
// (mixer/rtpsession) and pushes them into the participant's jitter buffer
// (mixer/jitter). A few frame workers, each owning a share of the
// conferences, wake on a monotonic frame clock, pull one frame per
// participant (decode, conceal, resample: mixer/codec, mixer/resample), mix
// (mixer/mix) and encode: talkers get a private "everyone but me" encode,
// everyone else shares one encode per (codec, rate, packet time), so the
// cost grows with talkers, not listeners. The packets of a frame leave in
// one batched write.
//
// The Focus holds a *Conference through the focus.MCU interface and is
// told of DTMF, talking and timeouts by the Engine's event channel.
package mixer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"confab/hal"
	"confab/mixer/codec"
	"confab/mixer/codec/registry"
	"confab/mixer/offload"
	"confab/mixer/sdpneg"
)

// Config is the engine's tuning. The zero value of each field means its default.
type Config struct {
	// Frame is the mixing interval: 10, 20 (default) or 40 ms.
	Frame time.Duration
	// MaxRate caps the internal mixing rate: 8000, 16000 or 48000 (default).
	MaxRate int
	// MaxTalkers is how many of the loudest talkers are mixed (default 4).
	MaxTalkers int
	// TalkThreshold is the mean absolute amplitude above which a frame is
	// speech (default 160, as Asterisk's dsp_talking_threshold).
	TalkThreshold int32
	// TalkHangover is how long quiet lasts before a talker stops (default 400 ms).
	TalkHangover time.Duration
	// Latch turns on symmetric RTP: send to where a participant's packets come from (default on).
	NoLatch bool
	// NoBypass keeps two-party conferences in the mix even where the packet
	// path could forward between the two below the MCU (bypass.go).
	NoBypass bool
	// MediaTimeout ends a call with no media for this long (default 30 s; <0 disables).
	MediaTimeout time.Duration
	// MaxParticipants caps the engine (default 10000); more returns ErrCapacity.
	MaxParticipants int
	// Workers is the number of frame workers (default GOMAXPROCS).
	Workers int
	// Jitter buffer bounds (defaults 20 ms and 200 ms).
	JitterMin, JitterMax time.Duration
	// Preference is the codec order for negotiation (default Opus, G.722, PCMU, PCMA, L16).
	Preference []sdpneg.Supported
	// OpusBitrate (default 32000) and OpusComplexity (default 5).
	OpusBitrate, OpusComplexity int
	// Offload hands codec and mix work to a device (a DSP); a nil part is
	// done by the pure-Go engine of package mixer/offload, which also takes
	// over, frame-exact, when the device faults (placement.go).
	Offload hal.Offload
}

func (c *Config) setDefaults() {
	if c.Frame == 0 {
		c.Frame = 20 * time.Millisecond
	}
	if c.MaxRate == 0 {
		c.MaxRate = 48000
	}
	if c.MaxTalkers == 0 {
		c.MaxTalkers = 4
	}
	if c.TalkThreshold == 0 {
		c.TalkThreshold = 160
	}
	if c.TalkHangover == 0 {
		c.TalkHangover = 400 * time.Millisecond
	}
	if c.MediaTimeout == 0 {
		c.MediaTimeout = 30 * time.Second
	}
	if c.MaxParticipants == 0 {
		c.MaxParticipants = 10000
	}
	if c.Workers == 0 {
		c.Workers = runtime.GOMAXPROCS(0)
	}
	if c.JitterMin == 0 {
		c.JitterMin = 20 * time.Millisecond
	}
	if c.JitterMax == 0 {
		c.JitterMax = 200 * time.Millisecond
	}
	if c.Preference == nil {
		c.Preference = sdpneg.DefaultPreference
	}
	if c.OpusBitrate == 0 {
		c.OpusBitrate = 32000
	}
	if c.OpusComplexity == 0 {
		c.OpusComplexity = 5
	}
}

// Validate reports a configuration the engine cannot run.
func (c Config) Validate() error {
	switch c.Frame {
	case 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond:
	default:
		return fmt.Errorf("mixer: frame %v: must be 10, 20 or 40 ms", c.Frame)
	}
	switch c.MaxRate {
	case 8000, 16000, 48000:
	default:
		return fmt.Errorf("mixer: max rate %d: must be 8000, 16000 or 48000", c.MaxRate)
	}
	if c.MaxTalkers < 1 || c.MaxTalkers > 64 {
		return fmt.Errorf("mixer: max talkers %d: must be 1..64", c.MaxTalkers)
	}
	if c.JitterMin <= 0 || c.JitterMax < c.JitterMin {
		return fmt.Errorf("mixer: jitter bounds %v..%v", c.JitterMin, c.JitterMax)
	}
	return nil
}

// Option configures an Engine.
type Option func(*Engine)

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(e *Engine) { e.now = now } }

// WithEventBuffer sets the capacity of the event channel (default 4096).
func WithEventBuffer(n int) Option { return func(e *Engine) { e.events = make(chan Event, n) } }

// Engine is the audio MCU of one appliance: it owns the packet path, the
// receive loop and the frame workers, and hosts many conferences.
type Engine struct {
	cfg    Config
	path   hal.PacketPath
	public netip.Addr
	codecs *codec.Table
	log    *slog.Logger
	now    func() time.Time
	events chan Event

	mu      sync.Mutex
	confs   map[string]*Conference
	workers []*worker
	nextID  uint64

	// flows maps a packet path flow to its participant. The receive loop
	// reads it for every batch; it changes only on join and leave.
	flowMu sync.RWMutex
	flows  map[hal.FlowID]*participant

	count atomic.Int64 // participants

	stats engineCounters
	goEng *offload.Engine // the pure-Go codec and mix engine
	off   offloadCounters // placement.go
	// tickObserver, when set, hears how long each worker tick took.
	tickObserver atomic.Pointer[func(time.Duration)]
}

// SetTickObserver has f called with the duration of every frame worker
// tick (all the conferences of one worker, one frame), e.g. to fill a
// histogram. f runs on the frame path: it must be quick and not allocate.
func (e *Engine) SetTickObserver(f func(time.Duration)) {
	e.tickObserver.Store(&f)
}

type engineCounters struct {
	frames, lateFrames, skippedFrames atomic.Uint64
	droppedEvents, unknownFlow        atomic.Uint64
	txErrors                          atomic.Uint64
	tickNanos                         atomic.Uint64 // total time spent mixing
}

// Stats are the engine's running totals.
type Stats struct {
	Conferences, Participants int
	Frames                    uint64        // conference frames mixed
	LateFrames                uint64        // worker ticks that ran more than one frame late (caught up)
	SkippedFrames             uint64        // frames given up because a worker was too far behind
	DroppedEvents             uint64        // events lost because nobody read the channel
	UnknownFlowPackets        uint64        // packets for flows no participant owns
	TxErrors                  uint64        // packets the path could not send
	MixTime                   time.Duration // CPU-ish wall time inside frame work
	Path                      hal.Counters
	PathName, PathReason      string
	Offload                   OffloadStats
}

// NewEngine makes an engine on a packet path; public is the address written
// into SDP answers.
func NewEngine(path hal.PacketPath, public netip.Addr, cfg Config, opts ...Option) (*Engine, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	e := &Engine{
		cfg:    cfg,
		path:   path,
		public: public,
		codecs: registry.Default(),
		log:    slog.Default(),
		now:    time.Now,
		confs:  make(map[string]*Conference),
		flows:  make(map[hal.FlowID]*participant),
	}
	for _, o := range opts {
		o(e)
	}
	e.goEng = offload.New(offload.WithCodecs(e.codecs),
		offload.WithMaxChannels(max(offload.DefaultMaxChannels, 2*cfg.MaxParticipants+1024)))
	if e.events == nil {
		e.events = make(chan Event, 4096)
	}
	e.log = e.log.With("component", "mixer")
	for i := 0; i < cfg.Workers; i++ {
		e.workers = append(e.workers, newWorker(e, i))
	}
	return e, nil
}

// Events is the stream of DTMF, talking, timeout and prompt events for the Focus.
func (e *Engine) Events() <-chan Event { return e.events }

// Config returns the engine's effective configuration.
func (e *Engine) Config() Config { return e.cfg }

// Run receives packets and runs the frame workers until ctx is done.
func (e *Engine) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, w := range e.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	errc := make(chan error, 1)
	go func() { errc <- e.receive() }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	_ = e.path.Shutdown()
	wg.Wait()
	if errors.Is(err, hal.ErrClosed) {
		err = nil
	}
	return err
}

// NewConference starts mixing a conference. id is the Focus ID; it names the
// conference in events.
func (e *Engine) NewConference(id string) (*Conference, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.confs[id]; ok {
		return nil, fmt.Errorf("mixer: conference %q already exists", id)
	}
	c := newConference(e, id)
	// The least loaded worker takes it.
	w := e.workers[0]
	for _, x := range e.workers[1:] {
		if x.load() < w.load() {
			w = x
		}
	}
	c.worker = w
	w.add(c)
	e.confs[id] = c
	return c, nil
}

func (e *Engine) removeConference(c *Conference) {
	e.mu.Lock()
	delete(e.confs, c.id)
	e.mu.Unlock()
	c.worker.remove(c)
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	nconf := len(e.confs)
	e.mu.Unlock()
	return Stats{
		Conferences:        nconf,
		Participants:       int(e.count.Load()),
		Frames:             e.stats.frames.Load(),
		LateFrames:         e.stats.lateFrames.Load(),
		SkippedFrames:      e.stats.skippedFrames.Load(),
		DroppedEvents:      e.stats.droppedEvents.Load(),
		UnknownFlowPackets: e.stats.unknownFlow.Load(),
		TxErrors:           e.stats.txErrors.Load(),
		MixTime:            time.Duration(e.stats.tickNanos.Load()),
		Path:               e.path.Counters(),
		PathName:           e.path.Name(),
		PathReason:         e.path.Reason(),
		Offload:            e.offloadStats(),
	}
}

func (e *Engine) emit(ev Event) {
	select {
	case e.events <- ev:
	default:
		e.stats.droppedEvents.Add(1)
	}
}

func (e *Engine) newParticipantID() ParticipantID {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.nextID++
	return ParticipantID(e.nextID)
}

// receive is the one goroutine that reads the packet path.
func (e *Engine) receive() error {
	const batch = 64
	pkts := make([]hal.Packet, batch)
	bufs := make([]byte, batch*1500)
	for i := range pkts {
		pkts[i].Buf = bufs[i*1500 : (i+1)*1500]
	}
	for {
		n, err := e.path.Read(pkts)
		if err != nil {
			return err
		}
		now := e.now()
		e.flowMu.RLock()
		for i := 0; i < n; i++ {
			pk := &pkts[i]
			p := e.flows[pk.Flow]
			if p == nil {
				e.stats.unknownFlow.Add(1)
				continue
			}
			p.receive(pk, now)
		}
		e.flowMu.RUnlock()
	}
}

func (e *Engine) addFlow(id hal.FlowID, p *participant) {
	e.flowMu.Lock()
	e.flows[id] = p
	e.flowMu.Unlock()
}

func (e *Engine) removeFlow(id hal.FlowID) {
	e.flowMu.Lock()
	delete(e.flows, id)
	e.flowMu.Unlock()
}
