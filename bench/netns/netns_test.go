package netns

import (
	"slices"
	"testing"
	"time"

	"confab/bench/scenario"
)

func TestNetemArgs(t *testing.T) {
	tests := []struct {
		n    scenario.Netem
		want []string
	}{
		{scenario.Netem{}, nil},
		{scenario.Netem{Loss: 0.02}, []string{"limit", "200000", "loss", "2%"}},
		{scenario.Netem{Delay: 20 * time.Millisecond, Jitter: 2500 * time.Microsecond, Loss: 0.005, Reorder: 0.01},
			[]string{"limit", "200000", "delay", "20ms", "2.5ms", "loss", "0.5%", "reorder", "1%"}},
	}
	for _, tt := range tests {
		if got := netemArgs(tt.n); !slices.Equal(got, tt.want) {
			t.Errorf("netemArgs(%+v) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
