package prompt

import (
	"encoding/binary"
	"errors"
	"math"
	"testing"
)

func TestLibraryHasEveryPromptTheFocusPlays(t *testing.T) {
	l, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"enter-pin", "wrong-pin", "first-participant", "waiting-for-leader", "locked",
		"muted", "unmuted", "goodbye", JoinTone, LeaveTone, Beep} {
		t.Run(name+" is loaded and audible", func(t *testing.T) {
			p := l.Prompt(name)
			if p == nil {
				t.Fatalf("prompt %q missing", name)
			}
			if p.DurationMillis() < 100 || p.DurationMillis() > 10000 {
				t.Fatalf("prompt %q lasts %d ms", name, p.DurationMillis())
			}
			if rms(p.PCM) < 500 {
				t.Fatalf("prompt %q is nearly silent (rms %.0f)", name, rms(p.PCM))
			}
		})
	}
}

func TestForRateKeepsLengthAndLoudness(t *testing.T) {
	p := Tone("t", 16000, 0.5, 500, 0, 1000)
	for _, rate := range []int{8000, 16000, 48000} {
		t.Run("resampled to the mixing rate", func(t *testing.T) {
			pcm, err := p.ForRate(rate)
			if err != nil {
				t.Fatal(err)
			}
			want := len(p.PCM) * rate / 16000
			if len(pcm) != want {
				t.Fatalf("rate %d: %d samples, want %d", rate, len(pcm), want)
			}
			if r0, r1 := rms(p.PCM), rms(pcm); math.Abs(r1-r0)/r0 > 0.05 {
				t.Fatalf("rate %d: rms %.0f, source %.0f", rate, r1, r0)
			}
			again, _ := p.ForRate(rate)
			if &again[0] != &pcm[0] {
				t.Fatal("second call did not use the cache")
			}
		})
	}
}

func TestParseWAVRejectsWhatItCannotPlay(t *testing.T) {
	good := makeWAV(1, 16, 16000, []int16{1, -2, 3})
	stereo := makeWAV(2, 16, 16000, []int16{1, 2})
	eightBit := makeWAV(1, 8, 16000, []int16{1, 2})
	cases := []struct {
		name string
		in   []byte
		ok   bool
	}{
		{"a mono 16-bit file parses", good, true},
		{"a stereo file is refused", stereo, false},
		{"an 8-bit file is refused", eightBit, false},
		{"an empty file is refused", nil, false},
		{"a truncated header is refused", good[:20], false},
		{"garbage is refused", []byte("RIFFxxxxWAVEgarbage-garbage"), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, pcm, err := ParseWAV(c.in)
			if c.ok && (err != nil || len(pcm) != 3 || pcm[1] != -2) {
				t.Fatalf("got %v, %v", pcm, err)
			}
			if !c.ok && !errors.Is(err, ErrBadWAV) {
				t.Fatalf("got err %v, want ErrBadWAV", err)
			}
		})
	}
}

func FuzzParseWAV(f *testing.F) {
	f.Add(makeWAV(1, 16, 16000, []int16{1, 2, 3}))
	f.Add([]byte("RIFF\x00\x00\x00\x00WAVEfmt "))
	f.Fuzz(func(t *testing.T, b []byte) {
		rate, pcm, err := ParseWAV(b)
		if err == nil && (rate < 8000 || rate > 48000 || len(pcm)*2 > len(b)) {
			t.Fatalf("accepted rate %d with %d samples from %d bytes", rate, len(pcm), len(b))
		}
	})
}

func makeWAV(channels, bits uint16, rate uint32, pcm []int16) []byte {
	data := make([]byte, 2*len(pcm))
	for i, s := range pcm {
		binary.LittleEndian.PutUint16(data[2*i:], uint16(s))
	}
	b := []byte("RIFF\x00\x00\x00\x00WAVEfmt ")
	b = binary.LittleEndian.AppendUint32(b, 16)
	b = binary.LittleEndian.AppendUint16(b, 1)
	b = binary.LittleEndian.AppendUint16(b, channels)
	b = binary.LittleEndian.AppendUint32(b, rate)
	b = binary.LittleEndian.AppendUint32(b, rate*uint32(channels)*uint32(bits)/8)
	b = binary.LittleEndian.AppendUint16(b, channels*bits/8)
	b = binary.LittleEndian.AppendUint16(b, bits)
	b = append(b, "data"...)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(data)))
	b = append(b, data...)
	binary.LittleEndian.PutUint32(b[4:], uint32(len(b)-8))
	return b
}

func rms(pcm []int16) float64 {
	var s float64
	for _, v := range pcm {
		s += float64(v) * float64(v)
	}
	return math.Sqrt(s / float64(len(pcm)))
}

func TestCountPromptSaysTheDigitsThenParticipants(t *testing.T) {
	l, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	one, twelve := l.CountPrompt(1), l.CountPrompt(12)
	if one == nil || twelve == nil {
		t.Fatal("no count prompt")
	}
	tail := len(l.Prompt("participants").PCM) - 4000
	d1, d2 := len(l.Prompt("digit-1").PCM)-4000, len(l.Prompt("digit-2").PCM)-4000
	if got, want := len(one.PCM), 4000+d1+tail; got != want {
		t.Fatalf("\"1 participants\" has %d samples, want %d", got, want)
	}
	if got, want := len(twelve.PCM), 4000+d1+d2+tail; got != want {
		t.Fatalf("\"12 participants\" has %d samples, want %d", got, want)
	}
}
