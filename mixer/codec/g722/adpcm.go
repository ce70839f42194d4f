package g722

// This file holds the two ADPCM sub-band coders of G.722 at 64 kbit/s
// (mode 1): 6 bits per lower-band sample, 2 per higher-band sample. Names in
// comments are the G.722 block names (§6, computational details), which the
// arithmetic follows step by step, including where it limits to 16 bits.

// Quantizer decision levels of the lower band, block QUANTL: interval i of
// the magnitude runs from q6[i-1]·Δ/4096 to q6[i]·Δ/4096 (q6[0] = 0); the
// 30th interval is open above.
var q6 = [30]int32{
	0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650,
	714, 786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195,
	2557, 2919,
}

// Code words of the lower band for quantizer interval 1–30, block QUANTL:
// iln for a negative difference, ilp for a positive one. Codes 0–3 are never
// sent.
var (
	iln = [31]uint8{
		0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17,
		16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4,
	}
	ilp = [31]uint8{
		0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45,
		44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32,
	}
)

// qm4 is the 4-bit inverse quantizer of the lower band (block INVQAL), by the
// code truncated to its 4 most significant bits; it feeds the predictor in
// every mode, so encoder and decoder stay in step whatever the mode.
var qm4 = [16]int32{
	0, -20456, -12896, -8968, -6288, -4240, -2584, -1200,
	20456, 12896, 8968, 6288, 4240, 2584, 1200, 0,
}

// qm6 is the 6-bit inverse quantizer of the lower band used for the output of
// the decoder in mode 1 (block INVQBL). Codes 0–3 are not sent but decode to
// the smallest level.
var qm6 = [64]int32{
	-136, -136, -136, -136, -24808, -21904, -19008, -16704,
	-14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
	-7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576,
	-3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
	24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192,
	10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
	4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032,
	1688, 1360, 1040, 728, 432, 136, -432, -136,
}

// wl is the log scale factor multiplier of the lower band (block LOGSCL), by
// the 4-bit code.
var wl = [16]int32{
	-60, 3042, 1198, 538, 334, 172, 58, -30,
	3042, 1198, 538, 334, 172, 58, -30, -60,
}

// The higher band: its decision level (block QUANTH), code words by
// magnitude interval 1–2 (ihn negative, ihp positive), inverse quantizer
// (INVQAH) and log scale factor multiplier (LOGSCH), by the 2-bit code.
const q2 = 564

var (
	ihn = [3]uint8{0, 1, 0}
	ihp = [3]uint8{0, 3, 2}
	qm2 = [4]int32{-7408, -1616, 7408, 1616}
	wh  = [4]int32{798, -214, 798, -214}
)

// ilb is the table of the antilogarithm in block SCALEL/SCALEH: 2048·2^(i/32).
var ilb = [32]int32{
	2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383,
	2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
	2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371,
	3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
}

// Limits of the log scale factor ∇ (blocks LOGSCL, LOGSCH) and the shift of
// its antilogarithm (SCALEL, SCALEH) for each band.
const (
	nbLowMax   = 18432
	nbHighMax  = 22528
	scaleLow   = 8
	scaleHigh  = 10
	detLowMin  = 32 // Δ at reset, the smallest it can be
	detHighMin = 8
)

// sat16 limits v to the 16-bit two's complement range, as every "limit"
// step of the Recommendation does.
func sat16(v int32) int32 {
	return min(max(v, -32768), 32767)
}

// band is the state of one sub-band ADPCM coder: its quantizer scale factor
// and its adaptive predictor of two poles and six zeros (§3.5, §3.6). The
// encoder and the decoder each hold one per band and update them the same way.
type band struct {
	nb  int32 // log scale factor ∇
	det int32 // quantizer scale factor Δ

	s  int32 // signal estimate, the predictor output
	sz int32 // zero section of the estimate

	a1, a2 int32    // pole coefficients
	b      [6]int32 // zero coefficients
	d      [6]int32 // quantized differences, most recent first
	p1, p2 int32    // previous partially reconstructed signals
	r1, r2 int32    // previous reconstructed signals
}

func (b *band) reset(det int32) { *b = band{det: det} }

// scale updates ∇ by the code's multiplier with leakage 127/128 and
// recomputes Δ from it (blocks LOGSCL/SCALEL, LOGSCH/SCALEH).
func (b *band) scale(w, nbMax int32, shift int32) {
	b.nb = min(max((b.nb*127)>>7+w, 0), nbMax)
	frac := (b.nb >> 6) & 31
	exp := shift - b.nb>>11
	var v int32
	if exp < 0 {
		v = ilb[frac] << -exp
	} else {
		v = ilb[frac] >> exp
	}
	b.det = v << 2
}

// predict runs block 4 on the quantized difference d: it reconstructs the
// signal, adapts the pole and zero coefficients by the sign algorithm, and
// computes the estimate for the next sample.
func (b *band) predict(d int32) {
	// RECONS and PARREC: reconstructed and partially reconstructed signal.
	r := sat16(b.s + d)
	p := sat16(b.sz + d)

	// UPPOL2: second pole, from the signs of p and its two predecessors.
	sg0, sg1, sg2 := p>>15, b.p1>>15, b.p2>>15
	wd := sat16(b.a1 << 2)
	if sg0 == sg1 {
		wd = min(-wd, 32767)
	}
	wd >>= 7
	if sg0 == sg2 {
		wd += 128
	} else {
		wd -= 128
	}
	a2 := min(max(wd+(b.a2*32512)>>15, -12288), 12288)

	// UPPOL1: first pole, limited so the pole pair stays stable.
	wd = -192
	if sg0 == sg1 {
		wd = 192
	}
	a1 := sat16(wd + (b.a1*32640)>>15)
	lim := sat16(15360 - a2)
	a1 = min(max(a1, -lim), lim)

	// UPZERO: the six zeros, by sign agreement of d with its predecessors.
	var step int32
	if d != 0 {
		step = 128
	}
	sgd := d >> 15
	for i, di := range b.d {
		w := step
		if di>>15 != sgd {
			w = -step
		}
		b.b[i] = sat16(w + (b.b[i]*32640)>>15)
	}

	// DELAYA: shift the histories.
	b.d[5], b.d[4], b.d[3], b.d[2], b.d[1], b.d[0] = b.d[4], b.d[3], b.d[2], b.d[1], b.d[0], d
	b.p2, b.p1 = b.p1, p
	b.r2, b.r1 = b.r1, r
	b.a1, b.a2 = a1, a2

	// FILTEP, FILTEZ, PREDIC: the estimate for the next sample.
	sp := sat16((b.a1*sat16(b.r1+b.r1))>>15 + (b.a2*sat16(b.r2+b.r2))>>15)
	var sz int32
	for i, di := range b.d {
		sz += (b.b[i] * sat16(di+di)) >> 15
	}
	b.sz = sat16(sz)
	b.s = sat16(sp + b.sz)
}

// encodeLow quantizes the lower-band sample xl to a 6-bit code and updates
// the band (blocks SUBTL, QUANTL, INVQAL, LOGSCL, SCALEL, block 4).
func (b *band) encodeLow(xl int32) uint8 {
	el := sat16(xl - b.s)
	wd := el
	if el < 0 {
		wd = -(el + 1)
	}
	// The smallest interval whose upper decision level is above wd, by
	// binary search (the levels rise with i); 30 if none is.
	lo, hi := 1, 30
	for lo < hi {
		mid := (lo + hi) / 2
		if wd < (q6[mid]*b.det)>>12 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	code := ilp[lo]
	if el < 0 {
		code = iln[lo]
	}
	b.updateLow(code)
	return code
}

// decodeLow returns the reconstructed lower-band sample for a 6-bit code
// (block INVQBL, RECONS and LIMIT of the decoder) and updates the band.
func (b *band) decodeLow(code uint8) int32 {
	rl := min(max(b.s+(b.det*qm6[code&63])>>15, -16384), 16383)
	b.updateLow(code)
	return rl
}

func (b *band) updateLow(code uint8) {
	c4 := code >> 2
	d := (b.det * qm4[c4]) >> 15
	b.scale(wl[c4], nbLowMax, scaleLow)
	b.predict(d)
}

// encodeHigh quantizes the higher-band sample xh to a 2-bit code and updates
// the band (blocks SUBTH, QUANTH, INVQAH, LOGSCH, SCALEH, block 4).
func (b *band) encodeHigh(xh int32) uint8 {
	eh := sat16(xh - b.s)
	wd := eh
	if eh < 0 {
		wd = -(eh + 1)
	}
	mih := 1
	if wd >= (q2*b.det)>>12 {
		mih = 2
	}
	code := ihp[mih]
	if eh < 0 {
		code = ihn[mih]
	}
	b.updateHigh(code)
	return code
}

// decodeHigh returns the reconstructed higher-band sample for a 2-bit code
// (blocks INVQAH, RECONS and LIMIT of the decoder) and updates the band.
func (b *band) decodeHigh(code uint8) int32 {
	rh := min(max(b.s+(b.det*qm2[code&3])>>15, -16384), 16383)
	b.updateHigh(code & 3)
	return rh
}

func (b *band) updateHigh(code uint8) {
	d := (b.det * qm2[code]) >> 15
	b.scale(wh[code], nbHighMax, scaleHigh)
	b.predict(d)
}
