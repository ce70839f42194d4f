package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"confab/bench/procstat"
	"confab/bench/scenario"
	"confab/hal"
	"confab/hal/sockpath"
)

// ErrConfig means the run's configuration cannot work.
var ErrConfig = errors.New("loadgen: invalid configuration")

// Run-time limits.
const (
	maxInFlight = 256              // INVITEs waiting for their answer at once
	dialTimeout = 20 * time.Second // per call, longer than any healthy set-up
	byeTimeout  = 5 * time.Second
)

// Config is one run of a scenario.
type Config struct {
	Scenario scenario.Scenario
	// Bridge replaces {bridge} in the scenario's target (host:port).
	Bridge string
	// PID is the bridge process whose CPU and memory are measured; 0
	// measures none.
	PID int
	// Local is the callers' address for SIP and RTP (default 127.0.0.1).
	Local netip.Addr
	// RTPLow and RTPHigh are the callers' RTP ports (default 40000-59999).
	RTPLow, RTPHigh uint16
	// Log receives progress (default: discard).
	Log *slog.Logger
	// BridgeCounters, when set, reads counters the bridge keeps about
	// itself (Confab's /metrics); the window's increase of each is
	// reported.
	BridgeCounters func(context.Context) (map[string]float64, error)
}

// Option changes how Run reaches the outside, for tests.
type Option func(*options)

type options struct {
	path   hal.PacketPath
	dialer Dialer
	proc   procstat.Reader
}

// WithPacketPath sends and receives the callers' RTP through p instead of
// a socket packet path of Run's own. Run shuts p down when it ends.
func WithPacketPath(p hal.PacketPath) Option { return func(o *options) { o.path = p } }

// WithDialer places calls through d instead of a SIP user agent of Run's
// own. Run closes d when it ends.
func WithDialer(d Dialer) Option { return func(o *options) { o.dialer = d } }

// WithProc reads process and host statistics through r.
func WithProc(r procstat.Reader) Option { return func(o *options) { o.proc = r } }

// seatCall is the call a seat holds now.
type seatCall struct {
	call Call
	leg  *leg
}

type generator struct {
	cfg   Config
	s     scenario.Scenario
	log   *slog.Logger
	seats []Seat

	codecs map[string]*codecInfo
	quiet  map[string]*source
	talk   map[talkKey]*source
	loop   int // talker loop length in frames, a multiple of the talk period

	path   hal.PacketPath
	dialer Dialer
	media  *Media
	proc   procstat.Reader

	mu        sync.Mutex
	calls     []*seatCall
	busy      []bool // a churn replacement is under way
	srd       []time.Duration
	failures  map[string]int
	attempted int
	answered  int
	failed    int
	replaced  int
	firstErr  error
}

type talkKey struct {
	codec string
	tone  float64
}

// Run puts the scenario's callers on the bridge, measures a window of
// steady load, hangs up and returns what it measured. The scenario must
// be a single run (no sweep or capacity search: see
// scenario.WithConferences).
func Run(ctx context.Context, cfg Config, opts ...Option) (*Result, error) {
	o := options{proc: procstat.New()}
	for _, opt := range opts {
		opt(&o)
	}
	g, err := newGenerator(cfg, o)
	if err != nil {
		if o.path != nil {
			_ = o.path.Shutdown()
		}
		if o.dialer != nil {
			_ = o.dialer.Close()
		}
		return nil, err
	}
	return g.run(ctx)
}

func newGenerator(cfg Config, o options) (*generator, error) {
	s := cfg.Scenario
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if len(s.Sweep) > 0 || s.Capacity != nil {
		return nil, fmt.Errorf("%w: a sweep or capacity search is many runs; give one", ErrConfig)
	}
	if !cfg.Local.IsValid() {
		cfg.Local = netip.MustParseAddr("127.0.0.1")
	}
	if cfg.RTPLow == 0 {
		cfg.RTPLow, cfg.RTPHigh = 40000, 59999
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if strings.Contains(s.Target, "{bridge}") && cfg.Bridge == "" {
		return nil, fmt.Errorf("%w: the target %q needs a bridge address", ErrConfig, s.Target)
	}
	g := &generator{cfg: cfg, s: s, log: cfg.Log.With("component", "loadgen", "scenario", s.Name), seats: Plan(s),
		codecs: map[string]*codecInfo{}, quiet: map[string]*source{}, talk: map[talkKey]*source{},
		failures: map[string]int{}, proc: o.proc}
	g.calls = make([]*seatCall, len(g.seats))
	g.busy = make([]bool, len(g.seats))
	if err := g.prepareAudio(); err != nil {
		return nil, err
	}
	slot := headerLen + 4
	for _, src := range g.quiet {
		slot = max(slot, headerLen+src.maxLen())
	}
	for _, src := range g.talk {
		slot = max(slot, headerLen+src.maxLen())
	}
	g.path, g.dialer = o.path, o.dialer
	if g.path == nil {
		p, err := sockpath.New(cfg.Local, cfg.RTPLow, cfg.RTPHigh)
		if err != nil {
			return nil, fmt.Errorf("loadgen: RTP ports: %w", err)
		}
		g.path = p
	}
	if g.dialer == nil {
		d, err := NewSIPDialer(netip.AddrPortFrom(cfg.Local, 0).String(), s.AuthUser, s.AuthPassword, cfg.Log)
		if err != nil {
			_ = g.path.Shutdown()
			return nil, fmt.Errorf("loadgen: SIP: %w", err)
		}
		g.dialer = d
	}
	g.media = newMedia(g.path, s, g.seats, g.codecs, slot)
	g.addAnalysers()
	return g, nil
}

// prepareAudio encodes every loop the callers send, once.
func (g *generator) prepareAudio() error {
	s := g.s
	cycle := int(s.TalkEach / s.Ptime)
	on := int(s.TalkOn / s.Ptime)
	var speech []int16
	speechRate := 0
	if s.WAV != "" {
		var err error
		if speech, speechRate, err = ReadWAVFile(s.WAV); err != nil {
			return err
		}
	}
	g.loop = cycle
	for _, st := range g.seats {
		ci := g.codecs[st.Codec]
		if ci == nil {
			c, err := lookupCodec(st.Codec, s.Ptime)
			if err != nil {
				return err
			}
			ci = &c
			g.codecs[st.Codec] = ci
			if g.quiet[st.Codec], err = encodeLoop(*ci, make([]int16, cycle*ci.frameLen), s.DTX); err != nil {
				return err
			}
		}
		if !st.Talker {
			continue
		}
		key := talkKey{st.Codec, st.Tone}
		if speech != nil {
			key.tone = 0
		}
		if g.talk[key] != nil {
			continue
		}
		pcm := burstPCM(*ci, st.Tone, on, cycle)
		if speech != nil {
			sp, err := resampleTo(speech, speechRate, ci.rate)
			if err != nil {
				return err
			}
			pcm = speechPCM(*ci, sp, on, cycle)
		}
		src, err := encodeLoop(*ci, pcm, s.DTX)
		if err != nil {
			return err
		}
		g.talk[key] = src
		g.loop = max(g.loop, src.frames())
	}
	return nil
}

// phase spreads the conferences' talk periods over the period, so that the
// bridge sees a steady number of talkers.
func (g *generator) phase(conf int) int {
	cycle := int(g.s.TalkEach / g.s.Ptime)
	return int(math.Mod(float64(conf)*0.6180339887498949, 1) * float64(cycle))
}

func (g *generator) addAnalysers() {
	byConf := map[int][]*Seat{}
	for i := range g.seats {
		if g.seats[i].Talker {
			byConf[g.seats[i].Conf] = append(byConf[g.seats[i].Conf], &g.seats[i])
		}
	}
	for i := range g.seats {
		st := &g.seats[i]
		if !st.Analysed {
			continue
		}
		var tones []float64
		own := -1
		others := 0
		for _, t := range byConf[st.Conf] {
			if t == st {
				own = len(tones)
			} else {
				others++
			}
			tones = append(tones, t.Tone)
		}
		a := newAnalyser(st, tones, own, g.phase(st.Conf), g.codecs[st.Codec], g.s.Ptime)
		a.slot = st.Conf % g.media.slots
		a.others = others
		a.speech = g.s.WAV != "" // no tones to check, but onsets to time
		g.media.seats[i].an = a
	}
}

func (g *generator) run(ctx context.Context) (*Result, error) {
	s := g.s
	res := &Result{Scenario: s.Name, Description: s.Description, Participants: s.Participants(), Conferences: s.Conferences,
		Size: s.Size, Codecs: codecMix(s), DTX: s.DTX, Talkers: s.Talkers, Impairment: impairment(s), Window: s.Window,
		StartedAt: time.Now()}
	g.media.start()
	defer func() {
		g.media.close()
		_ = g.dialer.Close()
	}()

	g.log.Info("calling", "participants", len(g.seats), "rate", s.Rate)
	t0 := time.Now()
	g.joinAll(ctx)
	res.Calls.SetupTime = time.Since(t0)
	g.mu.Lock()
	answered, firstErr := g.answered, g.firstErr
	g.mu.Unlock()
	g.log.Info("calls set up", "answered", answered, "of", len(g.seats), "took", res.Calls.SetupTime.Round(time.Millisecond))
	if answered == 0 {
		g.hangupAll()
		return nil, fmt.Errorf("loadgen: no call was answered: %w", firstErr)
	}

	churnCtx, stopChurn := context.WithCancel(ctx)
	var churn sync.WaitGroup
	if s.Churn > 0 {
		churn.Add(1)
		go func() { defer churn.Done(); g.churn(churnCtx, ctx) }()
	}
	if err := sleep(ctx, s.Warmup); err != nil {
		stopChurn()
		churn.Wait()
		g.hangupAll()
		return nil, err
	}

	// The measured window.
	c0 := g.bridgeCounters(ctx)
	g.media.resetCounts()
	p0, perr := g.procSample()
	h0, herr := g.proc.Host()
	self0, w0 := procstat.Self(), time.Now()
	werr := sleep(ctx, s.Window)
	wall := time.Since(w0)
	self1 := procstat.Self()
	h1, herr1 := g.proc.Host()
	p1, perr1 := g.procSample()
	g.media.snapshot(res, s, wall)
	if c1 := g.bridgeCounters(ctx); c0 != nil && c1 != nil {
		res.BridgeCounters = map[string]float64{}
		for k, v := range c1 {
			res.BridgeCounters[k] = v - c0[k]
		}
	}
	stopChurn()
	churn.Wait()

	g.mu.Lock()
	for _, c := range g.calls {
		if c == nil {
			continue
		}
		select {
		case <-c.call.Ended():
			res.Calls.EndedByBridge++
		default:
		}
	}
	res.Calls.Attempted, res.Calls.Answered, res.Calls.Failed = g.attempted, g.answered, g.failed
	res.Calls.Replaced = g.replaced
	res.Calls.Failures = g.failures
	srd := slices.Clone(g.srd)
	g.mu.Unlock()
	slices.Sort(srd)
	res.Calls.SRDp50, res.Calls.SRDp95, res.Calls.SRDp99 = quantile(srd, 0.5), quantile(srd, 0.95), quantile(srd, 0.99)
	if len(srd) > 0 {
		res.Calls.SRDMax = srd[len(srd)-1]
	}
	// Churn replaces answered calls with new ones; what counts is that
	// every seat was answered.
	res.Calls.Answered = min(res.Calls.Answered, res.Participants)

	res.Gen.CPU = procstat.Share(self1-self0, wall)
	if herr == nil && herr1 == nil {
		res.Gen.CPUs = h1.CPUs
		res.Gen.HostBusy = procstat.Share(h1.Busy-h0.Busy, wall)
		res.Gen.Steal = procstat.Share(h1.Steal-h0.Steal, wall)
		res.Gen.Interrupts = procstat.Share(h1.Interrupts-h0.Interrupts, wall)
	}
	if g.cfg.PID > 0 && perr == nil && perr1 == nil {
		b := &res.Bridge
		b.Measured = true
		b.CPU = procstat.Share(p1.CPU()-p0.CPU(), wall)
		b.User = procstat.Share(p1.User-p0.User, wall)
		b.System = procstat.Share(p1.System-p0.System, wall)
		b.PerParticipant = b.CPU / float64(res.Participants)
		b.RSS, b.PeakRSS, b.Threads = p1.RSS, p1.PeakRSS, p1.Threads
		if res.Gen.CPUs > 0 {
			b.Machine = b.CPU / float64(res.Gen.CPUs)
		}
	}
	if res.Gen.HostBusy > 0 {
		res.Gen.Other = max(0, res.Gen.HostBusy-res.Gen.CPU-res.Bridge.CPU)
	}
	res.judge()
	g.log.Info("window measured", "bridge_cpu", fmt.Sprintf("%.1f%%", res.Bridge.CPU), "p99_gap", res.Media.GapP99,
		"loss", fmt.Sprintf("%.3f%%", res.Media.LossPct), "mix", res.Mix.Verdict(), "pass", res.Pass)
	g.hangupAll()
	if werr != nil {
		return res, werr
	}
	return res, nil
}

func (g *generator) bridgeCounters(ctx context.Context) map[string]float64 {
	if g.cfg.BridgeCounters == nil {
		return nil
	}
	c, err := g.cfg.BridgeCounters(ctx)
	if err != nil {
		g.log.Warn("reading the bridge's counters", "err", err)
		return nil
	}
	return c
}

func (g *generator) procSample() (procstat.Process, error) {
	if g.cfg.PID <= 0 {
		return procstat.Process{}, nil
	}
	return g.proc.Process(g.cfg.PID)
}

// joinAll places every seat's call, paced at the scenario's rate.
func (g *generator) joinAll(ctx context.Context) {
	sem := make(chan struct{}, maxInFlight)
	interval := time.Duration(float64(time.Second) / g.s.Rate)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range g.seats {
		if sleep(ctx, time.Until(start.Add(time.Duration(i)*interval))) != nil {
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_ = g.join(ctx, i)
		}()
	}
	wg.Wait()
}

// join places seat i's call and starts its media.
func (g *generator) join(ctx context.Context, i int) error {
	st := &g.seats[i]
	ci := g.codecs[st.Codec]
	g.mu.Lock()
	g.attempted++
	g.mu.Unlock()
	fail := func(kind string, err error) error {
		g.mu.Lock()
		g.failed++
		g.failures[kind]++
		if g.firstErr == nil {
			g.firstErr = err
		}
		g.mu.Unlock()
		g.log.Debug("call failed", "seat", i, "kind", kind, "err", err)
		return err
	}
	flow, err := g.path.Open(netip.AddrPort{})
	if err != nil {
		return fail("no RTP port", err)
	}
	sdp := offer(ci, netip.AddrPortFrom(g.cfg.Local, flow.LocalPort), g.s.Ptime, i)
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	t0 := time.Now()
	call, err := g.dialer.Dial(dctx, Target(g.s.Target, st.Number, g.cfg.Bridge), sdp)
	srd := time.Since(t0)
	if err != nil {
		_ = g.path.Close(flow.ID)
		return fail(failureKind(err), err)
	}
	ans, err := parseAnswer(call.Answer(), ci)
	if err == nil && g.s.PIN != "" && ans.event == 0 {
		err = fmt.Errorf("%w: no telephone-event to enter the PIN with", ErrAnswer)
	}
	if err == nil {
		err = g.path.SetRemote(flow.ID, ans.remote)
	}
	if err != nil {
		bctx, bcancel := context.WithTimeout(context.Background(), byeTimeout)
		_ = call.Hangup(bctx)
		bcancel()
		_ = g.path.Close(flow.ID)
		return fail(failureKind(err), err)
	}
	l := &leg{seat: st, rx: &g.media.seats[i], flow: flow.ID, ci: ci, quiet: g.quiet[st.Codec],
		offset: g.phase(st.Conf), phase: g.phase(st.Conf), slot: st.Conf, pt: ans.pt, eventPT: ans.event,
		ssrc: random32(), seq: uint16(random32()), ts: random32(), loss: newLoss(g.s.Loss, uint64(random32())<<32|uint64(i))}
	if l.eventPT == 0 {
		l.eventPT = eventPT
	}
	if st.Talker {
		key := talkKey{st.Codec, st.Tone}
		if g.s.WAV != "" {
			key.tone = 0
			// Each talker speaks another part of the speech, a whole
			// number of talk periods on, so the bursts stay aligned.
			cycle := int(g.s.TalkEach / g.s.Ptime)
			l.offset += cycle * (st.Ordinal % max(1, g.talk[key].frames()/cycle))
		}
		l.talk = g.talk[key]
	}
	if g.s.PIN != "" {
		l.digits = []byte(g.s.PIN + "#")
	}
	g.media.add(l)
	g.mu.Lock()
	g.calls[i] = &seatCall{call: call, leg: l}
	g.answered++
	g.srd = append(g.srd, srd)
	g.mu.Unlock()
	return nil
}

// churn replaces callers at the scenario's rate, until ctx ends: a random
// seat that is not analysed hangs up and calls again. A replacement under
// way when churn stops is completed under callCtx, so that stopping is not
// counted as a failed call.
func (g *generator) churn(ctx, callCtx context.Context) {
	interval := time.Duration(float64(time.Second) / g.s.Churn)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	rng := newXorshift(uint64(random32()))
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		i := -1
		g.mu.Lock()
		for range 20 {
			j := int(rng.next() % uint64(len(g.seats)))
			if !g.seats[j].Analysed && !g.busy[j] && g.calls[j] != nil {
				i = j
				g.busy[j] = true
				break
			}
		}
		g.mu.Unlock()
		if i < 0 {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			g.replace(callCtx, i)
		}()
	}
}

func (g *generator) replace(ctx context.Context, i int) {
	g.mu.Lock()
	sc := g.calls[i]
	g.calls[i] = nil
	g.mu.Unlock()
	if sc != nil {
		g.hangup(sc)
	}
	if g.join(ctx, i) == nil {
		g.mu.Lock()
		g.replaced++
		g.mu.Unlock()
	}
	g.mu.Lock()
	g.busy[i] = false
	g.mu.Unlock()
}

func (g *generator) hangup(sc *seatCall) {
	g.media.remove(sc.leg)
	ctx, cancel := context.WithTimeout(context.Background(), byeTimeout)
	defer cancel()
	_ = sc.call.Hangup(ctx)
}

// hangupAll ends every call, at twice the set-up rate.
func (g *generator) hangupAll() {
	g.mu.Lock()
	calls := slices.Clone(g.calls)
	clear(g.calls)
	g.mu.Unlock()
	interval := time.Duration(float64(time.Second) / (2 * g.s.Rate))
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	n := 0
	for _, sc := range calls {
		if sc == nil {
			continue
		}
		time.Sleep(time.Until(start.Add(time.Duration(n) * interval)))
		n++
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			g.hangup(sc)
		}()
	}
	wg.Wait()
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func random32() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:])
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func codecMix(s scenario.Scenario) string {
	var parts []string
	for _, c := range s.Codecs {
		if len(s.Codecs) == 1 {
			return c.Name
		}
		parts = append(parts, fmt.Sprintf("%s %.0f%%", c.Name, 100*c.Share))
	}
	return strings.Join(parts, ", ")
}

func impairment(s scenario.Scenario) string {
	var parts []string
	if s.Loss.Rate > 0 {
		p := fmt.Sprintf("loss %.1f%%", 100*s.Loss.Rate)
		if s.Loss.Burst > 1 {
			p += fmt.Sprintf(" (bursts of %.1f)", s.Loss.Burst)
		}
		parts = append(parts, p)
	}
	if s.Jitter > 0 {
		parts = append(parts, fmt.Sprintf("jitter %v", s.Jitter))
	}
	if s.Netem != nil {
		parts = append(parts, s.Netem.String())
	}
	if s.Churn > 0 {
		parts = append(parts, fmt.Sprintf("churn %.0f/s", s.Churn))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
