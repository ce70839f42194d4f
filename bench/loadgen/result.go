package loadgen

import (
	"fmt"
	"time"
)

// The capacity criteria of the issue, and the report's targets.
const (
	gapLimit       = 25 * time.Millisecond // p99 of the gaps between packets a receiver gets
	lossLimit      = 0.1                   // % of packets
	machineLimit   = 70.0                  // % of all cores, for the bridge
	lateLimit      = 0.1                   // % of frames
	latencyTarget  = 60 * time.Millisecond // p99 of the bridge's added latency
	maxMixFailures = 5                     // mix-check failures described in a Result
)

// Result is what one run measured. Percentages of CPU are of one core
// (100 % = one core busy) unless named Machine.
type Result struct {
	Scenario     string
	Description  string
	Participants int
	Conferences  int
	Size         int
	Codecs       string
	DTX          bool    // callers leave out silent Opus frames
	Talkers      float64 // share
	Impairment   string
	Window       time.Duration
	StartedAt    time.Time

	Calls   CallStats
	Bridge  ProcessStats
	Gen     GeneratorStats
	Media   MediaStats
	Latency LatencyStats
	Mix     MixStats
	// BridgeCounters are the increases over the window of counters the
	// bridge reports about itself, when it does (Config.BridgeCounters).
	BridgeCounters map[string]float64 `json:",omitempty"`
	// Spread, when the load was run more than once (scenario repeat), is
	// the range over the runs; the figures above are then their medians
	// (Median).
	Spread *Spread `json:",omitempty"`

	// Pass is true when the capacity criteria held; Failed names those
	// that did not.
	Pass   bool
	Failed []string
}

// CallStats are the SIP side: set-up success and the session request
// delay (RFC 6076 §4.2, INVITE to its final 2xx, including a digest
// challenge's round trip).
type CallStats struct {
	Attempted, Answered, Failed int
	Failures                    map[string]int // by SIP status or error kind
	Replaced                    int            // by churn
	EndedByBridge               int            // calls the bridge hung up before the end
	SRDp50, SRDp95, SRDp99      time.Duration
	SRDMax                      time.Duration
	SetupTime                   time.Duration // first INVITE to the last answer of the ramp
}

// ProcessStats is the bridge process over the window, from /proc/PID.
type ProcessStats struct {
	Measured       bool
	CPU            float64 // % of one core
	User, System   float64
	PerParticipant float64 // % of one core
	Machine        float64 // % of all cores
	RSS, PeakRSS   int64   // bytes, at the window's end
	Threads        int
}

// GeneratorStats is the load generator's own cost and timing.
type GeneratorStats struct {
	CPU         float64 // % of one core
	HostBusy    float64 // the whole machine, % of one core
	Other       float64 // what neither the bridge nor the generator used, % of one core
	Steal       float64 // what the hypervisor took from the machine's CPUs, % of one core
	Interrupts  float64 // interrupt and softirq time no process was charged for, within Other, % of one core
	CPUs        int
	SendLateP99 time.Duration // how late the send loop woke for a frame
	SendLateMax time.Duration
	Skipped     uint64 // frames skipped after stalls
}

// MediaStats is what the receivers got in the window.
type MediaStats struct {
	Receivers         int
	Received          uint64
	Expected          uint64
	Lost              int64
	LossPct           float64
	Late              uint64 // frames later than one ptime after their schedule
	LatePct           float64
	GapsOver          uint64 // intervals between arrivals over 25 ms
	GapsOverPct       float64
	GapP50, GapP99    time.Duration
	GapMax            time.Duration
	JitterMean        time.Duration // RFC 3550 jitter, mean over receivers
	JitterMax         time.Duration
	RTCP              uint64 // RTCP packets the bridge sent
	Silent            int    // receivers that got nothing in the window
	UnknownFlowPkts   uint64
	ExpectedByTimePct float64 // received as a share of N·window/ptime
}

// LatencyStats is the bridge's added latency: from a talker sending the
// first packet of a tone burst to a listener receiving its first sample.
type LatencyStats struct {
	Samples        int
	P50, P99, Max  time.Duration
	Min            time.Duration
	TalkPeriod     time.Duration // latencies alias beyond it
	NoTalkerChecks int           // analysed receivers with nobody else talking
}

// MixStats is the mix check over the analysed receivers.
type MixStats struct {
	Checked, OK int
	Failures    []string // the first few, described
}

// Verdict is "OK" when every analysed receiver heard the talkers and not
// itself.
func (m MixStats) Verdict() string {
	switch {
	case m.Checked == 0:
		return "not checked"
	case m.OK == m.Checked:
		return "OK"
	}
	return fmt.Sprintf("FAIL (%d of %d receivers)", m.Checked-m.OK, m.Checked)
}

// judge applies the capacity criteria.
func (r *Result) judge() {
	r.Failed = nil
	if r.Calls.Failed > 0 || r.Calls.Answered < r.Participants {
		r.Failed = append(r.Failed, fmt.Sprintf("%d of %d calls failed", r.Calls.Failed, r.Calls.Attempted))
	}
	if r.Calls.EndedByBridge > 0 {
		r.Failed = append(r.Failed, fmt.Sprintf("the bridge ended %d calls", r.Calls.EndedByBridge))
	}
	if r.Media.GapP99 >= gapLimit {
		r.Failed = append(r.Failed, fmt.Sprintf("p99 gap %v >= %v", r.Media.GapP99.Round(100*time.Microsecond), gapLimit))
	}
	if r.Media.LossPct >= lossLimit {
		r.Failed = append(r.Failed, fmt.Sprintf("loss %.3f%% >= %.1f%%", r.Media.LossPct, lossLimit))
	}
	if r.Bridge.Measured && r.Bridge.Machine >= machineLimit {
		r.Failed = append(r.Failed, fmt.Sprintf("bridge at %.0f%% of the machine >= %.0f%%", r.Bridge.Machine, machineLimit))
	}
	r.Pass = len(r.Failed) == 0
}

// Targets are the report's further targets, beyond the capacity criteria.
func (r *Result) Targets() (lateOK, latencyOK bool) {
	return r.Media.LatePct < lateLimit, r.Latency.Samples > 0 && r.Latency.P99 <= latencyTarget
}
