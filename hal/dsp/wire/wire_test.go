package wire

import (
	"bytes"
	"testing"
)

func TestCRCIsCRC32C(t *testing.T) {
	// The check value of CRC-32C (RFC 3720 §B.4; the catalogue's "check").
	if got := CRC([]byte("123456789")); got != 0xE3069283 {
		t.Errorf("CRC-32C check value %08x, want e3069283", got)
	}
}

func TestAFrameRoundTripsAndEveryDamageIsCaught(t *testing.T) {
	buf := make([]byte, FrameLen(5))
	copy(buf[HeaderLen:], "hello")
	f := Seal(buf, TypeDecode, 42, 5)
	h, p, err := ParseFrame(f, 100)
	if err != nil || h.Type != TypeDecode || h.Seq != 42 || h.Len != 5 || string(p) != "hello" {
		t.Fatalf("round trip: %+v %q %v", h, p, err)
	}
	for _, tc := range []struct {
		name string
		at   int
		max  int
		want error
	}{
		{"a flipped magic byte", 0, 100, ErrMagic},
		{"a flipped sequence bit", 4, 100, ErrHeaderCRC},
		{"a flipped length bit", 8, 100, ErrHeaderCRC},
		{"a flipped header CRC bit", 12, 100, ErrHeaderCRC},
		{"a flipped payload bit", HeaderLen + 2, 100, ErrCRC},
		{"a flipped trailer bit", HeaderLen + 6, 100, ErrCRC},
		{"a payload over the limit", -1, 4, ErrLength},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := bytes.Clone(f)
			if tc.at >= 0 {
				g[tc.at] ^= 0x04
			}
			if _, _, err := ParseFrame(g, tc.max); err != tc.want {
				t.Errorf("err %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := ParseFrame(f[:len(f)-1], 100); err != ErrShort {
		t.Errorf("short frame: %v", err)
	}
}

func TestHelloRoundTrips(t *testing.T) {
	h := Hello{Version: 1, BootID: 9, MaxChannels: 3, MaxInputs: 4, MaxJobs: 5, MaxSamples: 6, MaxPayload: 7,
		Codecs: []CodecCap{{Codec: CodecG722, Flags: CodecDecode, Rates: RateBit(16000)}}, Name: "x"}
	got, err := ParseHello(h.Append(nil))
	if err != nil || got.BootID != 9 || got.Name != "x" || len(got.Codecs) != 1 || !got.Has(CodecG722, 16000, CodecDecode) || got.Has(CodecG722, 16000, CodecEncode) {
		t.Fatalf("%+v %v", got, err)
	}
	b := h.Append(nil)
	if _, err := ParseHello(b[:len(b)-1]); err != ErrHello {
		t.Errorf("truncated HELLO: %v", err)
	}
}

func TestReaderAndWriterStopAtTheEnd(t *testing.T) {
	w := Writer{B: make([]byte, 5)}
	w.U32(1)
	w.U16(2)
	if !w.Over || w.N != 4 {
		t.Errorf("writer past the end: over %v n %d", w.Over, w.N)
	}
	r := Reader{B: []byte{1, 0, 2}}
	if r.U16() != 1 || r.U16() != 0 || !r.Short || r.Bytes(1) != nil {
		t.Error("reader past the end")
	}
	pcm := []int16{-2, 300}
	w = Writer{B: make([]byte, 4)}
	w.PCM(pcm)
	if !bytes.Equal(w.B, []byte{0xfe, 0xff, 0x2c, 0x01}) {
		t.Errorf("PCM bytes % x", w.B)
	}
	out := make([]int16, 2)
	r = Reader{B: w.B}
	r.PCM(out)
	if out[0] != -2 || out[1] != 300 {
		t.Errorf("PCM back %v", out)
	}
}

// FuzzParse feeds the frame and HELLO parsers arbitrary bytes: an error or
// a result, never a panic.
func FuzzParse(f *testing.F) {
	buf := make([]byte, FrameLen(4))
	f.Add(Seal(buf, TypeHello, 0, 4))
	f.Add((&Hello{Codecs: []CodecCap{{}}, Name: "n"}).Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, p, err := ParseFrame(b, 1<<16); err == nil && len(p) > len(b) {
			t.Fatal("payload longer than the frame")
		}
		ParseHello(b)
	})
}
