package loadgen

import (
	"slices"
	"time"
)

// Spread is how far repeated runs of one load were apart: the smallest and
// largest of each figure a verdict rests on.
type Spread struct {
	Runs               int
	PerParticipant     [2]float64 // bridge CPU per participant, % of one core
	GapP99             [2]time.Duration
	LatePct, LossPct   [2]float64
	LatencyP99         [2]time.Duration
	PassedRuns         int
	WorstCallsFailed   int
	WorstEndedByBridge int
}

// Median folds repeated runs of the same load into one result: each figure
// a verdict or a chart rests on (bridge and generator CPU, loss, late
// frames, gaps, jitter, latency) is the median over the runs, and the
// criteria are judged again on those medians. Call failures are not
// averaged away: the worst run's count stands. The rest (the counters, the
// notes' details) comes from the run whose bridge CPU is the median one.
// Spread records the range. One run is returned as it is.
func Median(runs []*Result) *Result {
	switch len(runs) {
	case 0:
		return nil
	case 1:
		return runs[0]
	}
	byCPU := slices.Clone(runs)
	slices.SortStableFunc(byCPU, func(a, b *Result) int {
		switch {
		case a.Bridge.PerParticipant < b.Bridge.PerParticipant:
			return -1
		case a.Bridge.PerParticipant > b.Bridge.PerParticipant:
			return 1
		}
		return 0
	})
	mid := *byCPU[(len(byCPU)-1)/2]
	out := &mid
	f := func(get func(*Result) float64) float64 { return medianOf(runs, get) }
	d := func(get func(*Result) time.Duration) time.Duration {
		return time.Duration(medianOf(runs, func(r *Result) float64 { return float64(get(r)) }))
	}
	out.Bridge.CPU = f(func(r *Result) float64 { return r.Bridge.CPU })
	out.Bridge.PerParticipant = f(func(r *Result) float64 { return r.Bridge.PerParticipant })
	out.Bridge.Machine = f(func(r *Result) float64 { return r.Bridge.Machine })
	out.Gen.CPU = f(func(r *Result) float64 { return r.Gen.CPU })
	out.Media.LossPct = f(func(r *Result) float64 { return r.Media.LossPct })
	out.Media.LatePct = f(func(r *Result) float64 { return r.Media.LatePct })
	out.Media.GapP99 = d(func(r *Result) time.Duration { return r.Media.GapP99 })
	out.Media.JitterMean = d(func(r *Result) time.Duration { return r.Media.JitterMean })
	out.Media.GapsOverPct = f(func(r *Result) float64 { return r.Media.GapsOverPct })
	out.Latency.P50 = d(func(r *Result) time.Duration { return r.Latency.P50 })
	out.Latency.P99 = d(func(r *Result) time.Duration { return r.Latency.P99 })

	s := &Spread{Runs: len(runs)}
	s.PerParticipant = rangeOf(runs, func(r *Result) float64 { return r.Bridge.PerParticipant })
	s.LatePct = rangeOf(runs, func(r *Result) float64 { return r.Media.LatePct })
	s.LossPct = rangeOf(runs, func(r *Result) float64 { return r.Media.LossPct })
	g := rangeOf(runs, func(r *Result) float64 { return float64(r.Media.GapP99) })
	s.GapP99 = [2]time.Duration{time.Duration(g[0]), time.Duration(g[1])}
	l := rangeOf(runs, func(r *Result) float64 { return float64(r.Latency.P99) })
	s.LatencyP99 = [2]time.Duration{time.Duration(l[0]), time.Duration(l[1])}
	for _, r := range runs {
		if r.Pass {
			s.PassedRuns++
		}
		s.WorstCallsFailed = max(s.WorstCallsFailed, r.Calls.Failed)
		out.Calls.Answered = min(out.Calls.Answered, r.Calls.Answered)
		s.WorstEndedByBridge = max(s.WorstEndedByBridge, r.Calls.EndedByBridge)
	}
	out.Calls.Failed = s.WorstCallsFailed
	out.Calls.EndedByBridge = s.WorstEndedByBridge
	out.Spread = s
	out.judge()
	return out
}

func medianOf(runs []*Result, get func(*Result) float64) float64 {
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = get(r)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

func rangeOf(runs []*Result, get func(*Result) float64) [2]float64 {
	lo, hi := get(runs[0]), get(runs[0])
	for _, r := range runs[1:] {
		lo, hi = min(lo, get(r)), max(hi, get(r))
	}
	return [2]float64{lo, hi}
}
