package audiocheck

// Onset finds where bursts of sound begin: the first sample whose magnitude
// reaches a threshold after at least a given number of samples below half
// of it. A burst is counted once however it fades in and out, and noise or
// concealment at the quiet level does not start one.
type Onset struct {
	threshold int32
	quietNeed int
	quiet     int
}

// NewOnset returns a detector for samples reaching threshold after quiet
// samples of silence (below threshold/2). It starts as if after a long
// silence, so a burst at the very start counts.
func NewOnset(threshold int16, quiet int) *Onset {
	return &Onset{threshold: int32(threshold), quietNeed: quiet, quiet: quiet}
}

// Write scans the next samples and returns the index of the first onset in
// them, or -1.
func (o *Onset) Write(pcm []int16) int {
	found := -1
	half := o.threshold / 2
	for i, v := range pcm {
		a := int32(v)
		if a < 0 {
			a = -a
		}
		switch {
		case a >= o.threshold:
			if o.quiet >= o.quietNeed && found < 0 {
				found = i
			}
			o.quiet = 0
		case a >= half:
			o.quiet = 0
		default:
			o.quiet++
		}
	}
	return found
}

// Silence tells the detector that samples of silence passed that it was
// not given (a gap in the stream).
func (o *Onset) Silence(samples int) { o.quiet += samples }
