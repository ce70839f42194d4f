package loadgen

import (
	"math"
	"slices"
	"strconv"
	"strings"

	"confab/bench/scenario"
)

// toneGrid is the set of talker tones. Each is a whole number of cycles in
// the analysis block (100 ms, so a 10 Hz grid), which keeps simultaneous
// tones out of each other's Goertzel filters; the spacing of 110 Hz keeps
// them apart after any codec, and all lie inside the G.711 band
// (300-3400 Hz) so that every codec carries them.
func toneGrid() []float64 {
	var g []float64
	for f := 400.0; f <= 3260; f += 110 {
		g = append(g, f)
	}
	return g
}

// Seat is one caller's place in the load: which conference it dials, with
// which codec, whether it talks and with which tone, and whether its audio
// is analysed. A seat keeps its place when churn replaces its call.
type Seat struct {
	Index    int
	Conf     int    // conference index, 0-based
	Number   string // the conference's number
	Codec    string
	Talker   bool
	Tone     float64 // Hz, for talkers
	Ordinal  int     // the talker's place among its conference's talkers
	Analysed bool
}

// Plan lays the scenario's callers out in seats: conference by conference,
// codecs and talkers spread evenly over every conference, tones distinct
// within a conference (up to the size of the tone grid), and the analysed
// receivers spread over the conferences, listeners before talkers.
func Plan(s scenario.Scenario) []Seat {
	grid := toneGrid()
	seats := make([]Seat, s.Participants())
	cum := make([]float64, len(s.Codecs))
	acc := 0.0
	for i, c := range s.Codecs {
		acc += c.Share
		cum[i] = acc
	}
	for c := range s.Conferences {
		talkers := 0
		for k := range s.Size {
			i := c*s.Size + k
			st := &seats[i]
			st.Index, st.Conf, st.Number = i, c, strconv.Itoa(s.Number+c)
			// A low-discrepancy walk over the codec shares: every window of
			// seats, and so every conference, gets close to the mix.
			u := math.Mod(float64(i)*0.6180339887498949, 1)
			st.Codec = s.Codecs[len(s.Codecs)-1].Name
			for j, edge := range cum {
				if u < edge {
					st.Codec = s.Codecs[j].Name
					break
				}
			}
			// Bresenham over all seats: exactly the share talks, spread.
			if math.Floor(float64(i+1)*s.Talkers+1e-9) > math.Floor(float64(i)*s.Talkers+1e-9) {
				st.Talker = true
				st.Ordinal = talkers
				st.Tone = grid[(talkers+c)%len(grid)]
				talkers++
			}
		}
	}
	markAnalysed(seats, s)
	return seats
}

// markAnalysed picks s.Analyse seats: in the first round one listener in
// each of a well-spread set of conferences, then further seats of the same
// conferences, listeners first.
func markAnalysed(seats []Seat, s scenario.Scenario) {
	want := min(s.Analyse, len(seats))
	confs := make([]int, s.Conferences)
	for i := range confs {
		confs[i] = i
	}
	frac := func(c int) float64 { return math.Mod(float64(c)*0.6180339887498949, 1) }
	slices.SortStableFunc(confs, func(a, b int) int {
		switch fa, fb := frac(a), frac(b); {
		case fa < fb:
			return -1
		case fa > fb:
			return 1
		}
		return 0
	})
	order := func(c int) []int { // listeners, then talkers
		var out []int
		for _, talker := range []bool{false, true} {
			for k := range s.Size {
				if i := c*s.Size + k; seats[i].Talker == talker {
					out = append(out, i)
				}
			}
		}
		return out
	}
	picked := 0
	for round := 0; picked < want && round < s.Size; round++ {
		for _, c := range confs {
			if picked == want {
				break
			}
			seats[order(c)[round]].Analysed = true
			picked++
		}
	}
}

// Target is the SIP URI a seat dials.
func Target(template, number, bridge string) string {
	return strings.NewReplacer("{number}", number, "{bridge}", bridge).Replace(template)
}
