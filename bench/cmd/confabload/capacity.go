package main

import (
	"confab/bench/loadgen"
	"confab/bench/report"
	"confab/bench/scenario"
)

// capacitySearch is the outcome of a capacity search.
type capacitySearch struct {
	runs  []*loadgen.Result
	found report.Capacity
}

// searchCapacity finds the largest number of conferences, from the
// scenario's MIN to MAX participants in steps of STEP, whose run passes
// the criteria: a binary search over the candidate counts, which assumes
// that a load that fails would fail with more callers too (RFC 7502 §5.1
// searches the same way, for set-up rates).
func searchCapacity(s scenario.Scenario, probe func(confs int) (*loadgen.Result, error)) (capacitySearch, error) {
	c := *s.Capacity
	step := max(1, c.Step/s.Size)
	var counts []int
	for n := (c.Min + s.Size - 1) / s.Size; n*s.Size <= c.Max; n += step {
		counts = append(counts, n)
	}
	out := capacitySearch{found: report.Capacity{Min: c.Min, Max: c.Max, Step: c.Step}}
	lo, hi := 0, len(counts)-1 // the answer is the last passing index in counts, if any
	best := -1
	for lo <= hi {
		mid := (lo + hi + 1) / 2
		r, err := probe(counts[mid])
		if r != nil {
			out.runs = append(out.runs, r)
		}
		if err != nil {
			return out, err
		}
		if r.Pass {
			best, lo = mid, mid+1
		} else {
			hi = mid - 1
		}
	}
	if best >= 0 {
		out.found.Participants = counts[best] * s.Size
		out.found.AtMax = best == len(counts)-1
	}
	return out, nil
}
