package loadgen

import (
	"fmt"
	"math"
	"strings"
	"time"

	"confab/bench/audiocheck"
	"confab/mixer/codec"
)

// Thresholds of the mix check, as shares of the received power: a talker
// is heard when its tone holds at least heardLevel of it (four equal
// talkers hold -6 dB each), and a receiver does not hear itself when its
// own tone stays under echoLevel (a bridge that mixed a talker back into
// its own ear would leave it near -6 dB).
const (
	heardLevel = -20.0 // dB
	echoLevel  = -30.0 // dB
	// onsetLevel is the sample magnitude that marks a burst in the
	// received audio (the tones peak at 8192), and onsetQuiet the
	// silence that must come before it.
	onsetLevel = 1000
	onsetQuiet = 150 * time.Millisecond
	// maxLatencySamples bounds the latencies kept per receiver.
	maxLatencySamples = 4096
)

// analyser decodes what one seat receives and checks it: which talkers it
// hears, that it does not hear itself, and when each talk burst arrives.
type analyser struct {
	seat       *Seat
	tones      []float64 // the tones of the seat's conference's talkers
	own        int       // index of the seat's own tone in tones, or -1
	others     int       // talkers in the conference besides the seat
	speech     bool      // talkers send speech: no tones to check
	phase      int
	slot       int
	rate       int
	frameLen   int
	newDecoder func() (codec.Decoder, error)

	dec       codec.Decoder
	pcm       []int16
	bank      *audiocheck.ToneBank
	onset     *audiocheck.Onset
	started   bool
	lastSeq   uint16
	lastAt    time.Duration
	ptime     time.Duration
	latencies []time.Duration
	samples   uint64
	decodeErr uint64
}

// analysisRate is the PCM rate a codec is decoded at for analysis: its
// native rate, except Opus, which libopus decodes straight to 8 kHz at the
// least cost; every tone lies below 4 kHz.
func analysisRate(ci *codecInfo) int {
	if ci.spec.Info.Name == "opus" {
		return 8000
	}
	return ci.rate
}

func newAnalyser(seat *Seat, tones []float64, own, phase int, ci *codecInfo, ptime time.Duration) *analyser {
	rate := analysisRate(ci)
	a := &analyser{seat: seat, tones: tones, own: own, phase: phase, rate: rate, ptime: ptime,
		frameLen:   int(int64(rate) * int64(ptime) / int64(time.Second)),
		newDecoder: func() (codec.Decoder, error) { return ci.spec.NewDecoder(rate) },
		pcm:        make([]int16, rate*120/1000+rate/50), // the longest Opus packet, 120 ms
		bank:       audiocheck.NewToneBank(rate, rate/10, tones),
		onset:      audiocheck.NewOnset(onsetLevel, int(int64(rate)*int64(onsetQuiet)/int64(time.Second))),
	}
	return a
}

// newCall starts on a new call's stream: a fresh decoder state.
func (a *analyser) newCall() {
	a.dec, _ = a.newDecoder()
	a.started = false
}

// reset starts a measurement window.
func (a *analyser) reset() {
	a.bank.Reset()
	a.latencies = a.latencies[:0]
	a.samples, a.decodeErr = 0, 0
}

// packet analyses one received payload; m gives the talk bursts' send
// times.
func (a *analyser) packet(m *Media, payload []byte, seq uint16, at time.Duration) {
	if a.dec == nil {
		return
	}
	if a.started {
		d := seq - a.lastSeq
		switch {
		case d == 0 || d >= 0x8000: // a duplicate or a late packet: its moment has passed
			return
		case d > 1 && d < 100:
			a.onset.Silence(int(d-1) * a.frameLen)
		}
		// A bridge that sends nothing while nobody talks (DTX, RFC 3551
		// §4.1) leaves a pause in time, not in sequence numbers: a
		// listener hears silence there.
		if pause := at - a.lastAt - a.ptime; pause > a.ptime {
			a.onset.Silence(int(int64(pause) * int64(a.rate) / int64(time.Second)))
		}
	}
	a.started, a.lastSeq, a.lastAt = true, seq, at
	n, err := a.dec.Decode(payload, a.pcm)
	if err != nil {
		a.decodeErr++
		return
	}
	pcm := a.pcm[:n]
	a.bank.Write(pcm)
	a.samples += uint64(n)
	idx := a.onset.Write(pcm)
	if idx < 0 || a.others == 0 {
		return // no burst, or nobody else talks: nothing to time
	}
	t := at + time.Duration(idx)*time.Second/time.Duration(a.rate)
	sent, ok := m.burstSentBefore(t, a.phase, a.slot)
	if !ok || len(a.latencies) >= maxLatencySamples {
		return
	}
	a.latencies = append(a.latencies, t-sent)
}

// verdict checks the mix this seat received: at least min(talkers, mixed)
// of the other talkers heard, and its own tone not.
func (a *analyser) verdict(mixed int) (ok bool, detail string) {
	levels := a.bank.Levels()
	others, heard := 0, 0
	var parts []string
	for i, l := range levels {
		if i == a.own {
			continue
		}
		others++
		if l >= heardLevel {
			heard++
		}
		parts = append(parts, fmt.Sprintf("%.0f Hz %s", a.tones[i], dB(l)))
	}
	want := min(others, mixed)
	ok = heard >= want
	if others > 0 && a.bank.Energy() == 0 {
		ok = false
	}
	own := ""
	if a.own >= 0 {
		own = fmt.Sprintf("; own %.0f Hz %s", a.tones[a.own], dB(levels[a.own]))
		if levels[a.own] > echoLevel {
			ok = false
		}
	}
	detail = fmt.Sprintf("seat %d (conference %s, %s): heard %d of %d talkers, want %d [%s]%s",
		a.seat.Index, a.seat.Number, a.seat.Codec, heard, others, want, strings.Join(parts, ", "), own)
	return ok, detail
}

func dB(v float64) string {
	if math.IsInf(v, -1) {
		return "-inf dB"
	}
	return fmt.Sprintf("%.1f dB", v)
}
