// Package report writes what the load generator measured as a markdown
// report, a table per scenario and the targets at the top, with a
// PNG chart beside it (bridge CPU per participant, and late frames,
// against the number of participants), so that a reader sees at a glance
// how a bridge scales. The chart is drawn with the standard library alone.
package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"confab/bench/loadgen"
)

// Capacity is the outcome of a capacity search.
type Capacity struct {
	Min, Max, Step int
	// Participants is the largest load that met the criteria, 0 if even
	// Min did not; AtMax says the search ended at Max without failing.
	Participants int
	AtMax        bool
}

// Group is one scenario's runs: one, a sweep, or a capacity search's
// probes.
type Group struct {
	Scenario    string
	Description string
	Runs        []*loadgen.Result
	Capacity    *Capacity `json:",omitempty"`
}

// Report collects groups and writes them.
type Report struct {
	Title  string
	Date   time.Time
	Env    Environment
	Groups []Group
}

// Environment is the machine and software the runs ran on.
type Environment struct {
	CPU        string
	CPUs       int
	Kernel     string
	Go         string
	GOMAXPROCS int
	// Nice is the nice value the generator and the bridge ran at (0 unless
	// confabload -nice).
	Nice int
}

// New starts a report dated now.
func New(title string) *Report {
	return &Report{Title: title, Date: time.Now(), Env: environment()}
}

func environment() Environment {
	e := Environment{CPUs: runtime.NumCPU(), Go: runtime.Version(), GOMAXPROCS: runtime.GOMAXPROCS(0)}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		e.Kernel = strings.TrimSpace(string(b))
	}
	return e
}

// Add appends a scenario's runs.
func (r *Report) Add(g Group) { r.Groups = append(r.Groups, g) }

// Write writes the markdown report to path and its chart beside it, with
// the same name and .png.
func (r *Report) Write(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	pngPath := strings.TrimSuffix(path, filepath.Ext(path)) + ".png"
	var chart bytes.Buffer
	if err := WriteChart(&chart, r.Panels()); err != nil {
		return fmt.Errorf("report: chart: %w", err)
	}
	if err := os.WriteFile(pngPath, chart.Bytes(), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	md := r.Markdown(filepath.Base(pngPath))
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	return nil
}

// Panels are the chart's: the bridge's CPU per participant, the late
// frames and the p99 gap, against participants, one series per scenario with more than
// one run of the same scenario shape (sweeps), single runs as their own
// points.
func (r *Report) Panels() []Panel {
	cpu := Panel{Title: "BRIDGE CPU PER PARTICIPANT", XLabel: "PARTICIPANTS", YLabel: "% OF ONE CORE",
		Target: 0.05, TLabel: "G.711 TARGET 0.05%"}
	late := Panel{Title: "LATE FRAMES", XLabel: "PARTICIPANTS", YLabel: "% OF FRAMES LATE",
		Target: 0.1, TLabel: "TARGET 0.1%", Cap: 5}
	gap := Panel{Title: "P99 GAP BETWEEN PACKETS", XLabel: "PARTICIPANTS", YLabel: "MS",
		Target: 25, TLabel: "LIMIT 25 MS", Cap: 100}
	for _, g := range r.Groups {
		runs := append([]*loadgen.Result(nil), g.Runs...)
		sort.SliceStable(runs, func(i, j int) bool { return runs[i].Participants < runs[j].Participants })
		var c, l, p Series
		c.Name, l.Name, p.Name = g.Scenario, g.Scenario, g.Scenario
		for _, run := range runs {
			if run.Bridge.Measured {
				c.Points = append(c.Points, Point{float64(run.Participants), run.Bridge.PerParticipant, !run.Pass})
			}
			l.Points = append(l.Points, Point{float64(run.Participants), run.Media.LatePct, !run.Pass})
			p.Points = append(p.Points, Point{float64(run.Participants), float64(run.Media.GapP99) / float64(time.Millisecond), !run.Pass})
		}
		if len(c.Points) > 0 {
			cpu.Series = append(cpu.Series, c)
		}
		if len(l.Points) > 0 {
			late.Series = append(late.Series, l)
			gap.Series = append(gap.Series, p)
		}
	}
	return []Panel{cpu, late, gap}
}

// Line is a one-line summary of a run, for the console.
func Line(r *loadgen.Result) string {
	verdict := "PASS"
	if !r.Pass {
		verdict = "FAIL: " + strings.Join(r.Failed, "; ")
	}
	bridge := "bridge not measured"
	if r.Bridge.Measured {
		bridge = fmt.Sprintf("bridge %.1f%% (%.4f%%/participant, %.0f%% of machine, %s)", r.Bridge.CPU,
			r.Bridge.PerParticipant, r.Bridge.Machine, mib(r.Bridge.RSS))
	}
	return fmt.Sprintf("RESULT %s N=%d (%dx%d %s, talkers %.0f%%) calls %d/%d srd p99 %s | %s | gen %.1f%% other %.0f%% steal %.0f%% | loss %.3f%% late %.3f%% gap p99 %s max %s | latency p50 %s p99 %s (%d) | mix %s | %s",
		r.Scenario, r.Participants, r.Conferences, r.Size, r.Codecs, 100*r.Talkers, r.Calls.Answered, r.Participants,
		ms(r.Calls.SRDp99), bridge, r.Gen.CPU, r.Gen.Other, r.Gen.Steal, r.Media.LossPct, r.Media.LatePct, ms(r.Media.GapP99), ms(r.Media.GapMax),
		ms(r.Latency.P50), ms(r.Latency.P99), r.Latency.Samples, r.Mix.Verdict(), verdict)
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
