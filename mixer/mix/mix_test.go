package mix

import "testing"

func TestMinusSelfGivesEveryoneButTheListener(t *testing.T) {
	a := []int16{100, -200, 300}
	b := []int16{10, 20, 30}
	c := []int16{1, 2, 3}
	acc := make([]int32, 3)
	for _, s := range [][]int16{a, b, c} {
		Add(acc, s)
	}
	out := make([]int16, 3)
	MinusSelf(out, acc, a)
	want := []int16{11, 22, 33}
	for i := range want {
		if out[i] != want[i] {
			t.Fatalf("a hears %v, want %v", out, want)
		}
	}
}

func TestSaturationClipsInsteadOfWrapping(t *testing.T) {
	cases := []struct {
		name string
		acc  int32
		want int16
	}{
		{"a loud positive sum clips at the top", 40000, 32767},
		{"a loud negative sum clips at the bottom", -40000, -32768},
		{"a normal sum passes", 1234, 1234},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := make([]int16, 1)
			Saturate(out, []int32{c.acc})
			if out[0] != c.want {
				t.Fatalf("got %d, want %d", out[0], c.want)
			}
		})
	}
}

func TestGainFromDB(t *testing.T) {
	cases := []struct {
		db       int
		min, max int32
	}{
		{0, Unity, Unity},
		{6, 8100, 8250},   // x1.995
		{-6, 2040, 2070},  // x0.501
		{-12, 1020, 1035}, // x0.251
		{99, 64000, 65000},
	}
	for _, c := range cases {
		g := GainFromDB(c.db)
		if g < c.min || g > c.max {
			t.Errorf("GainFromDB(%d) = %d, want %d..%d", c.db, g, c.min, c.max)
		}
	}
}

func TestDetectorHangsOverShortPauses(t *testing.T) {
	d := Detector{Threshold: 200, HangFrames: 3}
	steps := []struct {
		energy  int32
		talking bool
		changed bool
	}{
		{50, false, false},
		{500, true, true},
		{10, true, false}, // pause between words: still talking
		{10, true, false},
		{600, true, false},
		{10, true, false},
		{10, true, false},
		{10, true, false},
		{10, false, true}, // the fourth quiet frame ends the talkspurt
	}
	for i, s := range steps {
		talking, changed := d.Update(s.energy)
		if talking != s.talking || changed != s.changed {
			t.Fatalf("frame %d: got talking=%v changed=%v, want %v %v", i, talking, changed, s.talking, s.changed)
		}
	}
}

func TestEnergyIsMeanAbsoluteAmplitude(t *testing.T) {
	if e := Energy([]int16{100, -100, 300, -300}); e != 200 {
		t.Fatalf("energy %d, want 200", e)
	}
	if e := Energy(nil); e != 0 {
		t.Fatalf("energy of nothing %d", e)
	}
}

func BenchmarkMixMinusSelf160x10(b *testing.B) {
	frames := make([][]int16, 10)
	for i := range frames {
		frames[i] = make([]int16, 160)
		for j := range frames[i] {
			frames[i][j] = int16(j * i)
		}
	}
	acc := make([]int32, 160)
	out := make([]int16, 160)
	b.ReportAllocs()
	for b.Loop() {
		Clear(acc)
		for _, f := range frames {
			Add(acc, f)
		}
		for _, f := range frames {
			MinusSelf(out, acc, f)
		}
	}
}
