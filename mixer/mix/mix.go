// Package mix holds the arithmetic of the N-1 conference mix: frame energy,
// talker detection with hang-over, summing in int32 and the per-listener
// "everyone but me" output with saturation. It knows nothing of codecs,
// packets or time; the engine in package mixer drives it once per frame.
//
// All functions work on caller-owned slices and never allocate.
package mix

// Unity is the Q12 fixed-point gain that leaves a signal unchanged.
const Unity = 1 << 12

// Energy returns the mean absolute amplitude of pcm, the measure Asterisk's
// and FreeSWITCH's talker detection use (a cheap stand-in for RMS).
func Energy(pcm []int16) int32 {
	if len(pcm) == 0 {
		return 0
	}
	var s int64
	for _, v := range pcm {
		if v < 0 {
			s -= int64(v)
		} else {
			s += int64(v)
		}
	}
	return int32(s / int64(len(pcm)))
}

// Add accumulates src into acc: acc[i] += src[i].
func Add(acc []int32, src []int16) {
	acc = acc[:len(src)]
	for i, v := range src {
		acc[i] += int32(v)
	}
}

// Clear zeroes acc.
func Clear(acc []int32) {
	for i := range acc {
		acc[i] = 0
	}
}

// Saturate writes acc into dst, clipped to the int16 range.
func Saturate(dst []int16, acc []int32) {
	dst = dst[:len(acc)]
	for i, v := range acc {
		dst[i] = clip(v)
	}
}

// MinusSelf writes acc-self into dst, clipped: the mix a talker hears,
// everyone's voice but its own (mix-minus).
func MinusSelf(dst []int16, acc []int32, self []int16) {
	dst = dst[:len(acc)]
	self = self[:len(acc)]
	for i, v := range acc {
		dst[i] = clip(v - int32(self[i]))
	}
}

// Gain scales pcm in place by g (Q12: Unity = x1), with saturation.
func Gain(pcm []int16, g int32) {
	if g == Unity {
		return
	}
	for i, v := range pcm {
		pcm[i] = clip((int32(v) * g) >> 12)
	}
}

// GainFromDB converts a gain in dB (-24..+24) to Q12.
func GainFromDB(db int) int32 {
	if db < -24 {
		db = -24
	}
	if db > 24 {
		db = 24
	}
	// 10^(db/20) by a small table of 1 dB steps avoids math in the control path.
	g := int64(Unity)
	step := int64(4596) // 10^(1/20) in Q12
	if db < 0 {
		step = int64(3651) // 10^(-1/20) in Q12
		db = -db
	}
	for ; db > 0; db-- {
		g = g * step >> 12
	}
	return int32(g)
}

// Zero clears pcm.
func Zero(pcm []int16) {
	for i := range pcm {
		pcm[i] = 0
	}
}

// AddClipped adds src into dst in place with saturation (a prompt laid over a mix).
func AddClipped(dst, src []int16) {
	src = src[:len(dst)]
	for i, v := range dst {
		dst[i] = clip(int32(v) + int32(src[i]))
	}
}

func clip(v int32) int16 {
	if v > 32767 {
		return 32767
	}
	if v < -32768 {
		return -32768
	}
	return int16(v)
}
