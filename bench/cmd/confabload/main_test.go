package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"confab/bench/bridgeproc"
	"confab/bench/report"
)

// TestAgainstConfabd runs the generator with 20 callers against a real
// confabd, built from this tree: two conferences with a PIN, entered with
// RFC 4733 digits, a few seconds of tone bursts, and a report that must say
// the mix is right.
func TestAgainstConfabd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds confabd and runs a few seconds of load")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "confabd")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := bridgeproc.Build(ctx, "../../..", bin); err != nil {
		t.Fatal(err)
	}
	scen := filepath.Join(dir, "pin-20.txt")
	if err := os.WriteFile(scen, []byte(`name     pin-20
conferences 2 x 10
talkers  20%
pin      1234
rate     50/s
warmup   3s
window   3s
analyse  20
`), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report.md")
	js := filepath.Join(dir, "results.json")
	var stdout, stderr bytes.Buffer
	if err := run(ctx, []string{"-confabd", bin, "-out", out, "-json", js, scen}, &stdout, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}

	t.Run("every caller got in and the report says the mix is right", func(t *testing.T) {
		md, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var row string
		for line := range strings.Lines(string(md)) {
			if strings.HasPrefix(line, "| 20 | 2 × 10 |") {
				row = line
			}
		}
		if !strings.Contains(row, "| 20/20 |") || !strings.Contains(row, "| OK |") {
			t.Errorf("the run's row %q does not show 20/20 calls and mix OK\n%s", row, md)
		}
	})
	t.Run("the results show every receiver checked, the bridge measured and latency timed", func(t *testing.T) {
		b, err := os.ReadFile(js)
		if err != nil {
			t.Fatal(err)
		}
		var rep report.Report
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		groups := rep.Groups
		if len(groups) != 1 || len(groups[0].Runs) != 1 {
			t.Fatalf("%d groups", len(groups))
		}
		r := groups[0].Runs[0]
		if r.Mix.Checked != 20 || r.Mix.OK != 20 {
			t.Errorf("mix %d of %d OK: %v", r.Mix.OK, r.Mix.Checked, r.Mix.Failures)
		}
		if !r.Bridge.Measured || r.Bridge.CPU <= 0 || r.Bridge.RSS <= 0 {
			t.Errorf("bridge %+v", r.Bridge)
		}
		if r.Latency.Samples == 0 {
			t.Error("no latency measured")
		}
		if r.Calls.EndedByBridge != 0 {
			t.Errorf("the bridge ended %d calls (a wrong PIN?)", r.Calls.EndedByBridge)
		}
	})
	t.Run("the chart beside the report is a PNG", func(t *testing.T) {
		f, err := os.Open(filepath.Join(dir, "report.png"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		img, err := png.Decode(f)
		if err != nil {
			t.Fatal(err)
		}
		if b := img.Bounds(); b.Dx() < 400 || b.Dy() < 300 {
			t.Errorf("chart is %v", b)
		}
	})
	t.Run("the saved results rewrite the same report", func(t *testing.T) {
		again := filepath.Join(dir, "again.md")
		var o, e bytes.Buffer
		if err := run(ctx, []string{"-from-json", js, "-out", again}, &o, &e); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(out)
		b, _ := os.ReadFile(again)
		if string(b) != strings.ReplaceAll(string(a), "(report.png)", "(again.png)") {
			t.Errorf("the rewritten report differs:\n%s\n---\n%s", a, b)
		}
	})
	t.Run("the console shows one result line", func(t *testing.T) {
		if n := strings.Count(stdout.String(), "RESULT pin-20 N=20"); n != 1 {
			t.Errorf("%d result lines in %q", n, stdout.String())
		}
	})
}

func TestRunRejects(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "s.txt")
	if err := os.WriteFile(good, []byte("conferences 1 x 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("conferences 1 x 2\nspeakers 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no scenario file", []string{"-bridge", "127.0.0.1:5060"}, "no scenario"},
		{"no bridge to load", []string{good}, "-bridge"},
		{"a scenario with an unknown key", []string{"-bridge", "127.0.0.1:5060", bad}, "speakers"},
		{"a local address that is not an IP", []string{"-bridge", "x:1", "-local", "here", good}, "-local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := run(t.Context(), tt.args, &out, &errb)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one naming %q", err, tt.want)
			}
		})
	}
}
