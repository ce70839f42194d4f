package panel

import (
	"time"

	"periph.io/x/conn/v3/gpio"
)

// A Pattern is an LED's blink pattern: steps of a level held for a while,
// repeated from the first step when the last ends. A pattern of one step
// is a steady level.
type Pattern []Step

// Step is one level of a Pattern and how long it lasts.
type Step struct {
	Level gpio.Level
	For   time.Duration
}

// The patterns the panel shows (see the package comment). Unexported, so
// that nobody changes them under a running panel. They differ in rhythm, not only in speed,
// so that they can be told apart without a watch.
var (
	// patternOff and patternOn are steady.
	patternOff = Pattern{{gpio.Low, time.Second}}
	patternOn  = Pattern{{gpio.High, time.Second}}
	// patternBooting is a slow, even blink: once a second.
	patternBooting = Pattern{{gpio.High, 500 * time.Millisecond}, {gpio.Low, 500 * time.Millisecond}}
	// patternFault is a fast, even blink: five times a second.
	patternFault = Pattern{{gpio.High, 100 * time.Millisecond}, {gpio.Low, 100 * time.Millisecond}}
	// patternResetConfirm is three quick flashes and a pause: the
	// factory-reset button has been held long enough, and letting go
	// wipes the configuration.
	patternResetConfirm = Pattern{
		{gpio.High, 100 * time.Millisecond}, {gpio.Low, 100 * time.Millisecond},
		{gpio.High, 100 * time.Millisecond}, {gpio.Low, 100 * time.Millisecond},
		{gpio.High, 100 * time.Millisecond}, {gpio.Low, 700 * time.Millisecond},
	}
	// patternActiveMuted is the conference LED while mute-all is engaged
	// and conferences run: on, with a short dark blink every second.
	patternActiveMuted = Pattern{{gpio.High, 850 * time.Millisecond}, {gpio.Low, 150 * time.Millisecond}}
	// patternIdleMuted is the conference LED while mute-all is engaged
	// and no conference runs: off, with a short flash every second.
	patternIdleMuted = Pattern{{gpio.Low, 850 * time.Millisecond}, {gpio.High, 150 * time.Millisecond}}
)

// Period is the length of one round of the pattern.
func (p Pattern) Period() time.Duration {
	var d time.Duration
	for _, s := range p {
		d += s.For
	}
	return d
}

// LevelAt is the level the pattern shows at d after it started.
func (p Pattern) LevelAt(d time.Duration) gpio.Level {
	period := p.Period()
	if len(p) == 0 || period <= 0 {
		return gpio.Low
	}
	if d < 0 {
		d = 0
	}
	d %= period
	for _, s := range p {
		if d < s.For {
			return s.Level
		}
		d -= s.For
	}
	return p[len(p)-1].Level
}
