package mix

// Detector decides whether a participant is talking from its per-frame
// energy: it turns on after StartFrames consecutive frames above Threshold
// and off after HangFrames consecutive frames below it, so that the pauses
// between words do not clip speech (the hang-over of FreeSWITCH's
// energy detector; Asterisk's dsp_silence_threshold plays the same role).
type Detector struct {
	Threshold   int32 // mean absolute amplitude; ~160 matches Asterisk's default
	StartFrames int   // frames above threshold before "talking" (default 1)
	HangFrames  int   // frames below threshold before "not talking"

	talking bool
	above   int
	below   int
	// Level is a smoothed energy (IIR, 1/4 new) used to rank talkers.
	Level int32
}

// Update feeds one frame's energy and reports the talking state and whether
// it changed with this frame.
func (d *Detector) Update(energy int32) (talking, changed bool) {
	d.Level += (energy - d.Level) / 4
	start := d.StartFrames
	if start < 1 {
		start = 1
	}
	if energy >= d.Threshold {
		d.above++
		d.below = 0
		if !d.talking && d.above >= start {
			d.talking = true
			return true, true
		}
		return d.talking, false
	}
	d.above = 0
	d.below++
	if d.talking && d.below > d.HangFrames {
		d.talking = false
		return false, true
	}
	return d.talking, false
}

// Talking reports the current state.
func (d *Detector) Talking() bool { return d.talking }

// Reset forgets the history (mute, hold).
func (d *Detector) Reset() {
	*d = Detector{Threshold: d.Threshold, StartFrames: d.StartFrames, HangFrames: d.HangFrames}
}
