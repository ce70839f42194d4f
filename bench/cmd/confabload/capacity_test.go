package main

import (
	"errors"
	"strings"
	"testing"

	"confab/bench/loadgen"
	"confab/bench/scenario"
)

func TestSearchCapacity(t *testing.T) {
	s, err := scenario.Parse(strings.NewReader("conferences 1 x 10\ncapacity 1000 4000 500\n"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		limit  int // the largest N that passes
		want   int
		atMax  bool
		probes int
	}{
		{"a bridge that holds everything is found at the maximum", 10000, 4000, true, 3},
		{"a bridge that holds nothing has no capacity", 500, 0, false, 3},
		{"a limit between steps is found at the step below it", 2700, 2500, false, 3},
		{"a limit on a step is found exactly", 1500, 1500, false, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var probed []int
			c, err := searchCapacity(s, func(confs int) (*loadgen.Result, error) {
				n := confs * 10
				probed = append(probed, n)
				return &loadgen.Result{Participants: n, Pass: n <= tt.limit}, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.found.Participants != tt.want || c.found.AtMax != tt.atMax {
				t.Errorf("found %d (at max %v), want %d (%v); probed %v", c.found.Participants, c.found.AtMax, tt.want, tt.atMax, probed)
			}
			if len(probed) != tt.probes || len(c.runs) != len(probed) {
				t.Errorf("probed %v, %d runs kept; want %d probes", probed, len(c.runs), tt.probes)
			}
		})
	}
	t.Run("a probe that cannot run ends the search with its error", func(t *testing.T) {
		boom := errors.New("bridge died")
		_, err := searchCapacity(s, func(int) (*loadgen.Result, error) { return nil, boom })
		if !errors.Is(err, boom) {
			t.Errorf("error %v", err)
		}
	})
}
