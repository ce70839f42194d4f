package loadgen

import (
	"slices"
	"time"

	"confab/bench/scenario"
)

// resetCounts starts the measured window: every receiver's counts, the
// pooled gaps and the analysers start from zero.
func (m *Media) resetCounts() {
	m.rxMu.Lock()
	defer m.rxMu.Unlock()
	for i := range m.seats {
		rx := &m.seats[i]
		rx.stream.ResetCounts()
		rx.rtcp, rx.event, rx.bad = 0, 0, 0
		if rx.an != nil {
			rx.an.reset()
		}
	}
	m.gaps.Reset()
	m.lateMu.Lock()
	m.sendLate.Reset()
	m.lateMu.Unlock()
	m.unknown = 0
	m.skipped.Store(0)
}

// snapshot fills r's media, latency, mix and send-loop figures from the
// window that began at resetCounts and lasted wall.
func (m *Media) snapshot(r *Result, s scenario.Scenario, wall time.Duration) {
	m.rxMu.Lock()
	defer m.rxMu.Unlock()
	md := &r.Media
	var jitterSum time.Duration
	var lat []time.Duration
	for i := range m.seats {
		rx := &m.seats[i]
		c := rx.stream.Counts()
		md.Receivers++
		md.Received += c.Received
		md.Expected += c.Expected
		md.Late += c.Late
		md.GapsOver += c.GapsOver
		md.RTCP += rx.rtcp
		jitterSum += c.Jitter
		md.JitterMax = max(md.JitterMax, c.Jitter)
		if c.Received == 0 {
			md.Silent++
		}
		if rx.an == nil {
			continue
		}
		a := rx.an
		lat = append(lat, a.latencies...)
		if a.others == 0 {
			r.Latency.NoTalkerChecks++
		}
		if a.speech {
			continue
		}
		r.Mix.Checked++
		if ok, detail := a.verdict(s.Mixed); ok {
			r.Mix.OK++
		} else if len(r.Mix.Failures) < maxMixFailures {
			r.Mix.Failures = append(r.Mix.Failures, detail)
		}
	}
	md.Lost = int64(md.Expected) - int64(md.Received)
	if md.Expected > 0 {
		md.LossPct = 100 * float64(max(md.Lost, 0)) / float64(md.Expected)
	}
	if md.Received > 0 {
		md.LatePct = 100 * float64(md.Late) / float64(md.Received)
		md.GapsOverPct = 100 * float64(md.GapsOver) / float64(md.Received)
	}
	if md.Receivers > 0 {
		md.JitterMean = jitterSum / time.Duration(md.Receivers)
		byTime := float64(md.Receivers) * wall.Seconds() / s.Ptime.Seconds()
		md.ExpectedByTimePct = 100 * float64(md.Received) / byTime
	}
	md.GapP50, md.GapP99, md.GapMax = m.gaps.Quantile(0.5), m.gaps.Quantile(0.99), m.gaps.Max()
	md.UnknownFlowPkts = m.unknown

	slices.Sort(lat)
	r.Latency.Samples = len(lat)
	r.Latency.TalkPeriod = s.TalkEach
	if len(lat) > 0 {
		r.Latency.Min, r.Latency.Max = lat[0], lat[len(lat)-1]
		r.Latency.P50, r.Latency.P99 = quantile(lat, 0.5), quantile(lat, 0.99)
	}
	m.lateMu.Lock()
	r.Gen.SendLateP99, r.Gen.SendLateMax = m.sendLate.Quantile(0.99), m.sendLate.Max()
	m.lateMu.Unlock()
	r.Gen.Skipped = m.skipped.Load()
}
