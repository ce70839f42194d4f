package loadgen

import (
	"testing"
	"time"
)

func run(cpu float64, gap time.Duration, late float64, answered, failed int) *Result {
	r := &Result{Participants: 100}
	r.Bridge.Measured = true
	r.Bridge.PerParticipant, r.Bridge.CPU, r.Bridge.Machine = cpu, cpu*100, cpu*50
	r.Media.GapP99, r.Media.LatePct = gap, late
	r.Latency.P99 = 2 * gap
	r.Calls.Attempted, r.Calls.Answered, r.Calls.Failed = 100, answered, failed
	r.judge()
	return r
}

func TestMedianJudgesTheMedians(t *testing.T) {
	// One run of three was disturbed (a neighbour took the CPU): its gap
	// fails the criteria alone; the medians pass.
	runs := []*Result{
		run(0.10, 21*time.Millisecond, 0.01, 100, 0),
		run(0.30, 60*time.Millisecond, 5.0, 100, 0),
		run(0.12, 22*time.Millisecond, 0.02, 100, 0),
	}
	m := Median(runs)
	if m.Bridge.PerParticipant != 0.12 || m.Media.GapP99 != 22*time.Millisecond || m.Media.LatePct != 0.02 || m.Latency.P99 != 44*time.Millisecond {
		t.Fatalf("medians: cpu %v gap %v late %v latency %v", m.Bridge.PerParticipant, m.Media.GapP99, m.Media.LatePct, m.Latency.P99)
	}
	if !m.Pass {
		t.Fatalf("judged on the medians it passes; failed: %v", m.Failed)
	}
	s := m.Spread
	if s == nil || s.Runs != 3 || s.PassedRuns != 2 || s.PerParticipant != [2]float64{0.10, 0.30} || s.GapP99 != [2]time.Duration{21 * time.Millisecond, 60 * time.Millisecond} {
		t.Fatalf("spread %+v", s)
	}
	if runs[1].Spread != nil || runs[1].Media.GapP99 != 60*time.Millisecond {
		t.Fatal("Median changed a run it was given")
	}

	// Two of three runs fail on the gap: so do the medians.
	m = Median([]*Result{run(0.1, 30*time.Millisecond, 0, 100, 0), run(0.1, 20*time.Millisecond, 0, 100, 0), run(0.1, 31*time.Millisecond, 0, 100, 0)})
	if m.Pass {
		t.Fatal("the median gap is 30 ms, over the 25 ms limit, yet it passed")
	}
}

func TestMedianKeepsTheWorstCalls(t *testing.T) {
	m := Median([]*Result{run(0.1, 20*time.Millisecond, 0, 100, 0), run(0.1, 20*time.Millisecond, 0, 97, 3), run(0.1, 20*time.Millisecond, 0, 100, 0)})
	if m.Pass || m.Calls.Failed != 3 || m.Calls.Answered != 97 {
		t.Fatalf("a run that lost calls must fail the load: pass %v failed %d answered %d", m.Pass, m.Calls.Failed, m.Calls.Answered)
	}
	if one := run(0.1, 20*time.Millisecond, 0, 100, 0); Median([]*Result{one}) != one {
		t.Fatal("one run is its own result")
	}
	if Median(nil) != nil {
		t.Fatal("no runs, no result")
	}
}
