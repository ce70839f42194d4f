// Package metrics is Confab's Prometheus registry: conferences and
// callers, SIP traffic, the mixer's frame work and RTP packets, read from
// the components' own counters when Prometheus scrapes /metrics.
//
// Nothing here is on the hot path: the mixer, the packet path and the SIP
// front count with atomics they already keep, and this package reads their
// snapshots at scrape time (and, for the tick histogram, once a second).
// Names follow confab_<subsystem>_<name>_<unit>; no label carries a
// per-call value, so the number of series stays fixed.
package metrics

import (
	"net/http"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"confab/focus/sipfront"
	"confab/mixer"
)

// Rosters summarises the active conferences as their Foci see them.
type Rosters struct {
	Conferences  int
	Participants int
	// Codecs counts the callers connected with each codec.
	Codecs map[string]int
	// PacketsLost is the RTP loss the connected callers' streams had so
	// far (RFC 3550 cumulative loss).
	PacketsLost int64
}

// Sources are the snapshots the registry reads. Each is called at scrape
// time and must be safe for concurrent use.
type Sources struct {
	Mixer func() mixer.Stats
	SIP   func() sipfront.Stats
	// SIPResponses counts the final responses by method and status class.
	SIPResponses func() map[sipfront.ResponseKey]uint64
	Rosters      func() Rosters
	// Frame is the mixing interval, the tick the histogram measures against.
	Frame time.Duration
}

// Registry is Confab's own Prometheus registry.
type Registry struct {
	reg  *prometheus.Registry
	src  Sources
	tick prometheus.Histogram
	now  func() time.Time
}

// Option configures New.
type Option func(*Registry)

// WithClock sets the clock of the tick sampler (time.Now).
func WithClock(now func() time.Time) Option { return func(r *Registry) { r.now = now } }

// New returns a registry over src with the Go runtime and process metrics.
func New(src Sources, opts ...Option) *Registry {
	r := &Registry{reg: prometheus.NewRegistry(), src: src, now: time.Now}
	for _, o := range opts {
		o(r)
	}
	frame := src.Frame
	if frame <= 0 {
		frame = 20 * time.Millisecond
	}
	// Buckets from a tenth of the frame to twice it: a tick past the frame
	// interval is a late tick, heard as a gap.
	r.tick = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "confab_mixer_tick_duration_seconds",
		Help: "Time a frame worker spent mixing one frame of its conferences; above the frame interval the mix falls behind.",
		Buckets: []float64{frame.Seconds() / 10, frame.Seconds() / 5, frame.Seconds() / 2.5, frame.Seconds() / 1.6,
			frame.Seconds() / 1.25, frame.Seconds(), frame.Seconds() * 1.5, frame.Seconds() * 2},
	})
	r.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		r.tick, &collector{src: src})
	return r
}

// Handler serves the registry in the Prometheus exposition format.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Gatherer is the registry, for tests and for pushing elsewhere.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.reg }

// ObserveTick records one frame worker tick: the time it took to mix one
// frame of its conferences. Give it to mixer.Engine.SetTickObserver.
func (r *Registry) ObserveTick(d time.Duration) { r.tick.Observe(d.Seconds()) }

// collector reads the sources at scrape time.
type collector struct{ src Sources }

var (
	descConferences  = prometheus.NewDesc("confab_conferences_active", "Conferences with callers in them.", nil, nil)
	descParticipants = prometheus.NewDesc("confab_participants_active", "Callers connected to conferences.", nil, nil)
	descCodec        = prometheus.NewDesc("confab_participants_codec", "Callers connected, by the codec they use.", []string{"codec"}, nil)
	descSIPRequests  = prometheus.NewDesc("confab_sip_requests_total",
		"SIP requests answered, by method and status class (2xx ... 6xx).", []string{"method", "class"}, nil)
	descSIPCalls      = prometheus.NewDesc("confab_sip_calls", "SIP calls in progress.", nil, nil)
	descSIPChallenges = prometheus.NewDesc("confab_sip_challenges_total", "401 digest challenges sent.", nil, nil)
	descSIPAuthFail   = prometheus.NewDesc("confab_sip_auth_failures_total", "Requests with wrong credentials or unknown users.", nil, nil)
	descSIPLockedOut  = prometheus.NewDesc("confab_sip_locked_out_total", "Requests refused because their source was locked out after failures.", nil, nil)
	descSIPMalformed  = prometheus.NewDesc("confab_sip_malformed_total", "SIP messages dropped or refused as malformed.", nil, nil)
	descSIPTimeouts   = prometheus.NewDesc("confab_sip_session_expired_total", "Calls ended by the session timer or a missing ACK.", []string{"why"}, nil)
	descFrames        = prometheus.NewDesc("confab_mixer_frames_total", "Conference frames mixed.", nil, nil)
	descLateTicks     = prometheus.NewDesc("confab_mixer_late_ticks_total", "Frame worker ticks that ran more than one frame late and caught up.", nil, nil)
	descSkipped       = prometheus.NewDesc("confab_mixer_skipped_frames_total", "Frames given up because a worker was too far behind.", nil, nil)
	descMixSeconds    = prometheus.NewDesc("confab_mixer_mix_seconds_total", "Time spent mixing.", nil, nil)
	descDroppedEvents = prometheus.NewDesc("confab_mixer_dropped_events_total", "Mixer events (talking, DTMF) nobody read in time.", nil, nil)
	descRTPPackets    = prometheus.NewDesc("confab_rtp_packets_total", "RTP and RTCP packets through the media path.", []string{"direction"}, nil)
	descRTPBytes      = prometheus.NewDesc("confab_rtp_bytes_total", "RTP and RTCP bytes through the media path.", []string{"direction"}, nil)
	descRTPDropped    = prometheus.NewDesc("confab_rtp_dropped_packets_total",
		"Packets dropped: by the media path (no flow, bad source, full queue), for unknown flows, or not sent.", []string{"where"}, nil)
	descRTPLost = prometheus.NewDesc("confab_rtp_lost_packets", "RTP packets the connected callers' streams lost on the way to the box.", nil, nil)
	descPath    = prometheus.NewDesc("confab_media_path_info", "The media path in use (1 for the one in use).", []string{"path"}, nil)

	// Codec and mix offload to a device (a DSP), and the pure-Go fallback.
	descOffloadFrames = prometheus.NewDesc("confab_mixer_offload_frames_total",
		"Conference frames mixed, by where the mix ran: on the offload device or in Go.", []string{"where"}, nil)
	descOffloadJobs = prometheus.NewDesc("confab_mixer_offload_codec_jobs_total",
		"Decode and encode jobs, by where they ran (a batch redone in Go after a fault counts in both).", []string{"where"}, nil)
	descOffloadFaults = prometheus.NewDesc("confab_mixer_offload_faults_total",
		"Offload device faults (timeout, CRC error, reset) the mixer met.", nil, nil)
	descOffloadRedone = prometheus.NewDesc("confab_mixer_offload_redone_batches_total",
		"Device batches redone in Go within the same frame.", nil, nil)
	descOffloadFallbacks = prometheus.NewDesc("confab_mixer_offload_fallbacks_total",
		"Conferences moved from the offload device to the pure-Go engines after a fault.", nil, nil)
	descOffloadRecoveries = prometheus.NewDesc("confab_mixer_offload_recoveries_total",
		"Conferences moved back to the offload device once it was healthy again.", nil, nil)
	descOffloadRefused = prometheus.NewDesc("confab_mixer_offload_not_offloaded_total",
		"Channels and mixes the device could not take (no free channel, unsupported), done in Go.", nil, nil)
	descOffloadConfs = prometheus.NewDesc("confab_mixer_offload_conferences",
		"Conferences running on the offload device.", nil, nil)
	descOffloadChans = prometheus.NewDesc("confab_mixer_offload_channels",
		"Codec channels open on the offload device.", nil, nil)
	descOffloadInfo = prometheus.NewDesc("confab_mixer_offload_info",
		"Who does codec and mix work: device or go (1 for the one in use).", []string{"work", "engine"}, nil)
)

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConferences, descParticipants, descCodec, descSIPRequests, descSIPCalls,
		descSIPChallenges, descSIPAuthFail, descSIPLockedOut, descSIPMalformed, descSIPTimeouts, descFrames, descLateTicks,
		descSkipped, descMixSeconds, descDroppedEvents, descRTPPackets, descRTPBytes, descRTPDropped, descRTPLost, descPath,
		descOffloadFrames, descOffloadJobs, descOffloadFaults, descOffloadRedone, descOffloadFallbacks, descOffloadRecoveries,
		descOffloadRefused, descOffloadConfs, descOffloadChans, descOffloadInfo} {
		ch <- d
	}
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	if c.src.Rosters != nil {
		r := c.src.Rosters()
		gauge(descConferences, float64(r.Conferences))
		gauge(descParticipants, float64(r.Participants))
		codecs := make([]string, 0, len(r.Codecs))
		for k := range r.Codecs {
			codecs = append(codecs, k)
		}
		sort.Strings(codecs)
		for _, k := range codecs {
			gauge(descCodec, float64(r.Codecs[k]), k)
		}
		gauge(descRTPLost, float64(r.PacketsLost))
	}
	if c.src.SIPResponses != nil {
		for k, n := range c.src.SIPResponses() {
			counter(descSIPRequests, n, k.Method, k.Class)
		}
	}
	if c.src.SIP != nil {
		s := c.src.SIP()
		gauge(descSIPCalls, float64(s.Calls))
		counter(descSIPChallenges, s.Challenges)
		counter(descSIPAuthFail, s.AuthFailures)
		counter(descSIPLockedOut, s.LockedOut)
		counter(descSIPMalformed, s.Malformed)
		counter(descSIPTimeouts, s.SessionExpired, "session-timer")
		counter(descSIPTimeouts, s.AckTimeouts, "no-ack")
	}
	if c.src.Mixer != nil {
		m := c.src.Mixer()
		counter(descFrames, m.Frames)
		counter(descLateTicks, m.LateFrames)
		counter(descSkipped, m.SkippedFrames)
		ch <- prometheus.MustNewConstMetric(descMixSeconds, prometheus.CounterValue, m.MixTime.Seconds())
		counter(descDroppedEvents, m.DroppedEvents)
		counter(descRTPPackets, m.Path.RxPackets, "in")
		counter(descRTPPackets, m.Path.TxPackets, "out")
		counter(descRTPBytes, m.Path.RxBytes, "in")
		counter(descRTPBytes, m.Path.TxBytes, "out")
		counter(descRTPDropped, m.Path.RxDropped, "path")
		counter(descRTPDropped, m.UnknownFlowPackets, "unknown-flow")
		counter(descRTPDropped, m.TxErrors+m.Path.TxErrors, "send")
		gauge(descPath, 1, m.PathName)
		o := m.Offload
		counter(descOffloadFrames, o.FramesDevice, "device")
		counter(descOffloadFrames, o.FramesGo, "go")
		counter(descOffloadJobs, o.CodecJobsDevice, "device")
		counter(descOffloadJobs, o.CodecJobsGo, "go")
		counter(descOffloadFaults, o.Faults)
		counter(descOffloadRedone, o.Redone)
		counter(descOffloadFallbacks, o.Fallbacks)
		counter(descOffloadRecoveries, o.Recoveries)
		counter(descOffloadRefused, o.NotOffloaded)
		gauge(descOffloadConfs, float64(o.ConferencesOnDevice))
		gauge(descOffloadChans, float64(o.ChannelsOnDevice))
		if o.Codec != "" {
			gauge(descOffloadInfo, 1, "codec", o.Codec)
		}
		if o.Mix != "" {
			gauge(descOffloadInfo, 1, "mix", o.Mix)
		}
	}
}

// Registerer lets other components add their own collectors (the HAL's
// packet-path info and XDP verdict counters) to Confab's registry.
func (r *Registry) Registerer() prometheus.Registerer { return r.reg }
