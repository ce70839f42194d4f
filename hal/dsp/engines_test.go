package dsp_test

import (
	"confab/hal/dsp/dspemu"
	"confab/mixer/offload"
)

// engines returns the mixer's pure-Go engines, the emulator's work and the
// reference its results are compared with.
func engines() dspemu.Engines {
	e := offload.New()
	return dspemu.Engines{Codec: e, Mix: e}
}
