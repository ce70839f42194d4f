package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const fakeScenario = `
conferences 3 x 4
talkers     50%
talk        200ms / 600ms
rate        200/s
warmup      1500ms
window      1500ms
mixed       4
`

func TestRunAgainstAFakeBridge(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a few seconds of paced media")
	}
	t.Run("a correct bridge passes the mix check with every call up and nothing lost", func(t *testing.T) {
		r := runFake(t, fakeScenario+"analyse 6\n", nil)
		if r.Calls.Answered != 12 || r.Calls.Failed != 0 {
			t.Errorf("calls %d answered, %d failed; want 12 and 0", r.Calls.Answered, r.Calls.Failed)
		}
		if r.Mix.Verdict() != "OK" || r.Mix.Checked != 6 {
			t.Errorf("mix %s over %d receivers: %v", r.Mix.Verdict(), r.Mix.Checked, r.Mix.Failures)
		}
		if r.Media.Received == 0 || r.Media.LossPct != 0 {
			t.Errorf("received %d, loss %.3f%%", r.Media.Received, r.Media.LossPct)
		}
		// The fake mixes every 20 ms what arrived: at most a frame and a
		// tick behind, plus the test machine's scheduling.
		if r.Latency.Samples == 0 || r.Latency.P50 > 60*time.Millisecond || r.Latency.Min < 0 {
			t.Errorf("latency %d samples, p50 %v, min %v", r.Latency.Samples, r.Latency.P50, r.Latency.Min)
		}
		if r.Bridge.Measured {
			t.Error("no PID was given, yet the bridge counts as measured")
		}
	})
	t.Run("a bridge that mixes callers into their own ear fails the mix check", func(t *testing.T) {
		r := runFake(t, fakeScenario+"analyse 12\n", func(b *fakeBridge) { b.echo = true })
		if r.Mix.OK == r.Mix.Checked {
			t.Fatalf("mix %s; want failures for the talkers", r.Mix.Verdict())
		}
		if len(r.Mix.Failures) == 0 || !strings.Contains(r.Mix.Failures[0], "own") {
			t.Errorf("failures %q do not name the own tone", r.Mix.Failures)
		}
	})
	t.Run("a bridge that adds no delay is measured at about none", func(t *testing.T) {
		r := runFake(t, "conferences 3 x 4\ntalkers 25%\ntalk 200ms / 600ms\nwarmup 1s\nwindow 1500ms\nanalyse 9\n",
			func(b *fakeBridge) { b.direct = true })
		if r.Latency.Samples < 9 {
			t.Fatalf("%d latency samples", r.Latency.Samples)
		}
		// What is left is the generator's own path: a channel, the fake
		// and a goroutine wakeup, and the frame's first loud sample.
		t.Logf("latency over %d bursts: min %v, p50 %v, p99 %v", r.Latency.Samples, r.Latency.Min, r.Latency.P50, r.Latency.P99)
		if r.Latency.Min < 0 || r.Latency.P50 > 10*time.Millisecond {
			t.Errorf("latency min %v p50 %v p99 %v, want about zero", r.Latency.Min, r.Latency.P50, r.Latency.P99)
		}
	})
	t.Run("the PIN is keyed in with RFC 4733 digits after the answer", func(t *testing.T) {
		var b *fakeBridge
		runFake(t, fakeScenario+"pin 2468\n", func(fb *fakeBridge) { b = fb })
		got := b.enteredDigits()
		if len(got) != 12 {
			t.Fatalf("digits from %d callers, want 12", len(got))
		}
		for _, d := range got {
			if d != "2468#" {
				t.Errorf("a caller keyed %q, want 2468#", d)
			}
		}
	})
	t.Run("refused calls are counted by status and fail the run", func(t *testing.T) {
		r := runFake(t, fakeScenario, func(b *fakeBridge) { b.refuse = "7002" })
		if r.Calls.Failed != 4 || r.Calls.Failures["SIP 486"] != 4 || r.Pass {
			t.Errorf("failed %d, failures %v, pass %v; want 4 busy and a failed run", r.Calls.Failed, r.Calls.Failures, r.Pass)
		}
	})
	t.Run("upstream loss does not reach the receivers' counts of the bridge's stream", func(t *testing.T) {
		r := runFake(t, fakeScenario+"loss 10%\njitter 10ms\n", nil)
		if r.Media.LossPct != 0 || r.Impairment != "loss 10.0%, jitter 10ms" {
			t.Errorf("loss %.3f%%, impairment %q", r.Media.LossPct, r.Impairment)
		}
	})
}

func TestRunRejects(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		err  error
	}{
		{"a sweep, which is many runs", Config{Scenario: mustParse(t, "conferences 1 x 2\nsweep 1 2\n"), Bridge: "x:1"}, ErrConfig},
		{"a target that needs a bridge address without one", Config{Scenario: mustParse(t, "conferences 1 x 2\n")}, ErrConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Run(t.Context(), tt.cfg, WithDialer(newFakeBridge(nil))); !errors.Is(err, tt.err) {
				t.Errorf("error %v, want %v", err, tt.err)
			}
		})
	}
}
