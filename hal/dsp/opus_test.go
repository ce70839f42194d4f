package dsp_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"confab/hal"
	"confab/mixer/offload"
)

// TestOpusThroughTheDeviceIsBitExactWithTheGoEngine runs the same frames
// through an Opus encoder and decoder on the device and on a pure-Go engine:
// libopus is deterministic, so with the same history the packets and the
// PCM (decoded, concealed, rebuilt from FEC) are identical.
func TestOpusThroughTheDeviceIsBitExactWithTheGoEngine(t *testing.T) {
	r := newRig(t)
	ref := offload.New()
	const rate, n = 48000, 960
	spec := hal.ChannelSpec{Codec: "opus", Rate: rate, Frame: 20 * time.Millisecond}
	dec, err := r.off.Codec.Open(spec)
	if err != nil {
		t.Fatalf("open Opus decoder on the device: %v", err)
	}
	rdec, _ := ref.Open(spec)
	spec.Encoder = true
	enc, err := r.off.Codec.Open(spec)
	if err != nil {
		t.Fatalf("open Opus encoder on the device: %v", err)
	}
	renc, _ := ref.Open(spec)

	for f := 0; f < 6; f++ {
		pcm := tone(n, rate, 300+100*float64(f), 6000)
		ej := []hal.CodecJob{{Channel: enc, PCM: pcm, Payload: make([]byte, 1500)}}
		rj := []hal.CodecJob{{Channel: renc, PCM: pcm, Payload: make([]byte, 1500)}}
		if err := r.off.Codec.Encode(ej); err != nil || ej[0].Err != nil {
			t.Fatalf("frame %d: encode: %v / %v", f, err, ej[0].Err)
		}
		ref.Encode(rj)
		pkt := ej[0].Payload[:ej[0].N]
		if !bytes.Equal(pkt, rj[0].Payload[:rj[0].N]) {
			t.Fatalf("frame %d: device packet of %d bytes differs from the Go engine's %d", f, len(pkt), rj[0].N)
		}
		// Frame 3 is "lost": conceal it, then rebuild it from frame 4's FEC
		// as a jitter buffer would (both on both sides, in order).
		op := hal.DecodePayload
		switch f {
		case 3:
			op = hal.DecodeConceal
		case 4:
			op = hal.DecodeFEC
		}
		dj := []hal.CodecJob{{Channel: dec, Op: op, Payload: pkt, PCM: make([]int16, n)}}
		rdj := []hal.CodecJob{{Channel: rdec, Op: op, Payload: pkt, PCM: make([]int16, n)}}
		if err := r.off.Codec.Decode(dj); err != nil || dj[0].Err != nil {
			t.Fatalf("frame %d op %d: decode: %v / %v", f, op, err, dj[0].Err)
		}
		ref.Decode(rdj)
		if !slices.Equal(dj[0].PCM[:dj[0].N], rdj[0].PCM[:rdj[0].N]) || dj[0].N != n {
			t.Fatalf("frame %d op %d: device PCM (%d samples) differs from the Go engine's (%d)", f, op, dj[0].N, rdj[0].N)
		}
		if f == 2 && slices.Max(dj[0].PCM) < 1000 {
			t.Fatalf("frame %d decoded to near silence (peak %d)", f, slices.Max(dj[0].PCM))
		}
	}
}
