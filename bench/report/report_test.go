package report

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"confab/bench/loadgen"
)

// run is a synthetic result.
func run(n int, codecs string, perParticipant, late float64, pass bool) *loadgen.Result {
	r := &loadgen.Result{Scenario: "s", Participants: n, Conferences: n / 10, Size: 10, Codecs: codecs, Talkers: 0.1,
		Impairment: "none", Window: 10 * time.Second, Pass: pass}
	r.Calls.Attempted, r.Calls.Answered = n, n
	r.Bridge = loadgen.ProcessStats{Measured: true, CPU: perParticipant * float64(n), PerParticipant: perParticipant, Machine: perParticipant * float64(n) / 2, RSS: 64 << 20}
	r.Media.LatePct = late
	r.Media.Received = uint64(n) * 500
	r.Media.GapP99 = 21 * time.Millisecond
	r.Latency = loadgen.LatencyStats{Samples: 100, P50: 40 * time.Millisecond, P99: 55 * time.Millisecond}
	r.Mix = loadgen.MixStats{Checked: 10, OK: 10}
	if !pass {
		r.Failed = []string{"p99 gap 30ms >= 25ms"}
	}
	return r
}

func sample() *Report {
	r := &Report{Title: "Test", Date: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC), Env: Environment{CPU: "Test CPU", CPUs: 2}}
	r.Add(Group{Scenario: "g711-sweep", Description: "G.711 sweep", Runs: []*loadgen.Result{
		run(1000, "PCMU", 0.04, 0.01, true), run(2000, "PCMU", 0.045, 0.05, true)}})
	var opusRuns []*loadgen.Result
	for _, cpu := range []float64{0.4, 0.5, 0.3} {
		r := run(200, "opus", cpu, cpu/2, false)
		r.Media.GapP99 = 30 * time.Millisecond
		opusRuns = append(opusRuns, r)
	}
	opus := loadgen.Median(opusRuns)
	r.Add(Group{Scenario: "opus", Runs: []*loadgen.Result{opus}})
	r.Add(Group{Scenario: "capacity", Runs: []*loadgen.Result{run(2500, "PCMU", 0.05, 0.02, true)},
		Capacity: &Capacity{Min: 1000, Max: 4000, Step: 500, Participants: 2500}})
	return r
}

func TestMarkdown(t *testing.T) {
	md := sample().Markdown("chart.png")
	tests := []struct {
		name string
		want string
	}{
		{"the title carries the date", "# Test, 2026-01-02"},
		{"the chart is linked", "](chart.png)"},
		{"the 2,000 G.711 target is judged from the 200 x 10 run", "| 2,000 G.711 participants in 200 conferences of 10, < 0.1 % late frames | 2000/2000 calls, late 0.050 %"},
		{"the G.711 CPU target comes from the largest G.711 run", "0.0500 % at N = 2500 (125.0 % of one core); marginal"},
		{"the Opus target is judged and missed, from a run that failed", "| Opus 48 kHz at 10 % talkers <= 0.3 % per participant | 0.4000 % at N = 200 (80.0 % of one core, a run that failed the criteria) | **no** |"},
		{"the latency target uses the worst p99 of the runs that kept time", "worst p99 55.0 ms"},
		{"the marginal CPU per participant is fitted over the G.711 runs", "marginal 0.0557 % per added participant over 3 runs that kept time"},
		{"each run has a row", "| 2000 | 200 × 10 | 2000/2000 |"},
		{"a failed run says why", "N = 200 failed: p99 gap 30ms >= 25ms."},
		{"a repeated load gives its medians and range", "N = 200: the medians of 3 runs (0 passed on their own); over the runs bridge CPU per participant 0.3000-0.5000 %, p99 gap 30.0 ms-30.0 ms, late 0.150-0.250 %"},
		{"the capacity found is stated", "**2500 participants** is the largest load that passed."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !strings.Contains(md, tt.want) {
				t.Errorf("report lacks %q:\n%s", tt.want, md)
			}
		})
	}
}

func TestWrite(t *testing.T) {
	t.Run("the report and a decodable chart are written side by side", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "results", "2026-01-02.md")
		if err := sample().Write(path); err != nil {
			t.Fatal(err)
		}
		md, err := os.ReadFile(path)
		if err != nil || !bytes.Contains(md, []byte("](2026-01-02.png)")) {
			t.Fatalf("report: %v", err)
		}
		b, err := os.ReadFile(strings.TrimSuffix(path, ".md") + ".png")
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if img.Bounds().Dx() != figWidth || img.Bounds().Dy() != 3*panelHeight {
			t.Errorf("chart is %v", img.Bounds())
		}
		// The first series' colour is on the chart: its points were drawn.
		want := palette(0)
		found := false
		for y := 0; y < img.Bounds().Dy() && !found; y++ {
			for x := 0; x < figWidth-marginRight; x++ {
				r, g, b, _ := img.At(x, y).RGBA()
				if uint8(r>>8) == want.R && uint8(g>>8) == want.G && uint8(b>>8) == want.B {
					found = true
					break
				}
			}
		}
		if !found {
			t.Error("no point of the first series inside the plot")
		}
	})
}

func TestNiceAxis(t *testing.T) {
	tests := []struct {
		name      string
		max       float64
		step, top float64
	}{
		{"2,000 participants step by 500", 2000, 500, 2000},
		{"a small share steps by a hundredth", 0.047, 0.01, 0.05},
		{"an awkward maximum is rounded up to a step", 37, 10, 40},
		{"nothing to show gives a unit axis", 0, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, top := niceAxis(tt.max)
			if diff(step, tt.step) > 1e-9 || diff(top, tt.top) > 1e-9 {
				t.Errorf("niceAxis(%v) = %v, %v; want %v, %v", tt.max, step, top, tt.step, tt.top)
			}
		})
	}
	t.Run("labels carry the decimals their step needs", func(t *testing.T) {
		if got := label(0.05, 0.01); got != "0.05" {
			t.Errorf("got %q", got)
		}
		if got := label(1500, 500); got != "1500" {
			t.Errorf("got %q", got)
		}
	})
}

func TestGlyph(t *testing.T) {
	t.Run("lower case is drawn as upper case", func(t *testing.T) {
		if glyph('a') != glyph('A') || glyph('A') == ([7]uint8{}) {
			t.Error("a and A differ, or A is blank")
		}
	})
	t.Run("a rune the font lacks is blank", func(t *testing.T) {
		if glyph('€') != ([7]uint8{}) {
			t.Error("not blank")
		}
	})
}

func diff(a, b float64) float64 {
	if a > b {
		return a - b
	}
	return b - a
}
