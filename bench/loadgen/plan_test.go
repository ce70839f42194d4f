package loadgen

import (
	"math"
	"strings"
	"testing"

	"confab/bench/scenario"
)

func mustParse(t testing.TB, text string) scenario.Scenario {
	t.Helper()
	s, err := scenario.Parse(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestPlan(t *testing.T) {
	t.Run("one talker in ten gives each conference of ten exactly one", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 200 x 10\ntalkers 10%\n"))
		per := map[int]int{}
		for _, s := range seats {
			if s.Talker {
				per[s.Conf]++
			}
		}
		for c := range 200 {
			if per[c] != 1 {
				t.Fatalf("conference %d has %d talkers, want 1", c, per[c])
			}
		}
	})
	t.Run("talkers of a conference have distinct tones on the grid", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 3 x 30\ntalkers 90%\n"))
		grid := map[float64]bool{}
		for _, f := range toneGrid() {
			grid[f] = true
		}
		for c := range 3 {
			seen := map[float64]bool{}
			n := 0
			for _, s := range seats {
				if s.Conf != c || !s.Talker {
					continue
				}
				n++
				if !grid[s.Tone] || math.Mod(s.Tone, 10) != 0 {
					t.Errorf("tone %v is not on the 10 Hz grid", s.Tone)
				}
				if seen[s.Tone] && n <= len(grid) {
					t.Errorf("conference %d: tone %v twice among %d talkers", c, s.Tone, n)
				}
				seen[s.Tone] = true
			}
		}
	})
	t.Run("every conference gets close to the codec mix", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 20 x 10\ncodec PCMU 50%\ncodec G722 30%\ncodec opus 20%\n"))
		total := map[string]int{}
		for c := range 20 {
			per := map[string]int{}
			for _, s := range seats[c*10 : (c+1)*10] {
				per[s.Codec]++
				total[s.Codec]++
			}
			if per["PCMU"] < 3 || per["PCMU"] > 7 || per["G722"] < 1 || per["opus"] < 1 {
				t.Errorf("conference %d: %v", c, per)
			}
		}
		if total["PCMU"] != 100 || total["G722"] < 58 || total["G722"] > 62 || total["opus"] < 38 || total["opus"] > 42 {
			t.Errorf("totals %v, want about 100, 60, 40", total)
		}
	})
	t.Run("analysed receivers are listeners spread over distinct conferences", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 100 x 10\ntalkers 10%\nanalyse 40\n"))
		confs := map[int]bool{}
		n := 0
		for _, s := range seats {
			if !s.Analysed {
				continue
			}
			n++
			if s.Talker {
				t.Errorf("seat %d is a talker; listeners come first", s.Index)
			}
			if confs[s.Conf] {
				t.Errorf("conference %d analysed twice before every conference had one", s.Conf)
			}
			confs[s.Conf] = true
		}
		if n != 40 {
			t.Errorf("%d analysed, want 40", n)
		}
		low, high := 0, 0
		for c := range confs {
			if c < 50 {
				low++
			} else {
				high++
			}
		}
		if low < 15 || high < 15 {
			t.Errorf("analysed conferences bunched: %d in the first half, %d in the second", low, high)
		}
	})
	t.Run("more analysed receivers than conferences take further seats, then talkers", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 2 x 3\ntalkers 34%\nanalyse 6\n"))
		for _, s := range seats {
			if !s.Analysed {
				t.Errorf("seat %d not analysed", s.Index)
			}
		}
	})
	t.Run("conference numbers count up from the first", func(t *testing.T) {
		seats := Plan(mustParse(t, "conferences 3 x 2\nnumber 8100\n"))
		if seats[0].Number != "8100" || seats[5].Number != "8102" || seats[5].Conf != 2 {
			t.Errorf("seat 0 %s, seat 5 %s in conference %d", seats[0].Number, seats[5].Number, seats[5].Conf)
		}
	})
}

func TestTarget(t *testing.T) {
	tests := []struct {
		name, template, want string
	}{
		{"the number and the bridge are filled in", "sip:{number}@{bridge}", "sip:7001@127.0.0.1:5060"},
		{"a fixed host keeps the number only", "sip:conf-{number}@bridge.example;transport=udp", "sip:conf-7001@bridge.example;transport=udp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Target(tt.template, "7001", "127.0.0.1:5060"); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
