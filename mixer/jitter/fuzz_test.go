package jitter

import (
	"encoding/binary"
	"testing"
	"time"
)

// opSize is the length of one operation in a fuzz input:
//
//	[0]    bits 0-1: 0-2 push, 3 pop until wait; bit 2: marker;
//	       bits 3-4: SSRC (one of four); bit 5: sequence and timestamp are
//	       absolute, not deltas; bits 6-7: payload size class
//	[1:3]  sequence number, or delta from the last one (int16)
//	[3:7]  timestamp, or delta from the last one (int32)
//	[7]    local time step in milliseconds (int8: the clock may step back)
const opSize = 8

// FuzzBuffer feeds arbitrary packet sequences, with arbitrary arrival
// times, to a Buffer and checks that it never panics, never holds more than
// Slots packets, hands out the payload stored under each sequence number,
// and that a reader popping until StatusWait always gets there.
func FuzzBuffer(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 160, 0, 20})
	f.Add(seedSchedule(stream{n: 60, rate: 8000, frame: 20 * time.Millisecond, seq0: 65530, ts0: 4294967000, ssrc: 1, delay: 5 * time.Millisecond, jitter: 40 * time.Millisecond, seed: 1, lose: burst(20, 3)}))
	f.Add(seedSchedule(stream{n: 40, rate: 8000, frame: 60 * time.Millisecond, seq0: 1, ssrc: 1, delay: 5 * time.Millisecond}))
	f.Add([]byte{
		32, 255, 255, 0, 0, 0, 0, 20, // absolute seq 65535 ts 0
		0, 1, 0, 160, 0, 0, 0, 20,
		8, 1, 0, 160, 0, 0, 0, 20, // another SSRC
		3, 0, 0, 0, 0, 0, 0, 100, // pop
		0, 0, 16, 0, 0, 0, 0, 1, // seq jump of 4096
		3, 0, 0, 0, 0, 0, 0, 127,
	})
	f.Fuzz(fuzzBuffer)
}

func fuzzBuffer(t *testing.T, data []byte) {
	if len(data) < 2 {
		return
	}
	cfg := Config{
		ClockRate: []uint32{8000, 16000, 48000, 1000}[data[0]&3],
		Slots:     MinSlots + int(data[0]>>2)%61,
		MinDelay:  time.Duration(data[1]&15) * 10 * time.Millisecond,
		MaxDelay:  time.Duration(data[1]>>4)*40*time.Millisecond + 150*time.Millisecond,
	}
	b, err := New(cfg)
	if err != nil {
		return
	}
	data = data[2:]
	now := epoch
	var seq uint16
	var ts uint32
	var pushes uint64
	payload := make([]byte, 1600)
	for ; len(data) >= opSize; data = data[opSize:] {
		op := data[0]
		now = now.Add(time.Duration(int8(data[7])) * time.Millisecond)
		if op&3 == 3 {
			popAll(t, b, now)
			continue
		}
		ds := binary.LittleEndian.Uint16(data[1:3])
		dt := binary.LittleEndian.Uint32(data[3:7])
		if op&32 != 0 {
			seq, ts = ds, dt
		} else {
			seq += ds
			ts += dt
		}
		n := []int{0, 2, 160, 1501}[op>>6]
		p := payload[:n]
		if n >= 2 {
			binary.BigEndian.PutUint16(p, seq)
		}
		b.Push(seq, ts, uint32(op>>3&3), op&4 != 0, p, now)
		pushes++
		if got := b.Stats(); got.Buffered > cfg.Slots || got.Buffered < 0 || got.Received != pushes {
			t.Fatalf("stats = %+v after %d pushes, want Buffered within [0, %d]", got, pushes, cfg.Slots)
		}
	}
	popAll(t, b, now.Add(time.Second))
}

// popAll pops until StatusWait and checks every item.
func popAll(t *testing.T, b *Buffer, now time.Time) {
	// Each item moves playout on by at least a tick, and a reader that fell
	// far behind is moved up to the present: the loop ends within the
	// buffer's depth in ticks.
	limit := int(b.maxTicks) + 2*int(b.frameMax) + 16
	for range limit {
		f, st := b.Pop(now)
		switch st {
		case StatusWait:
			return
		case StatusPacket:
			if len(f.Payload) > b.maxPayload {
				t.Fatalf("payload of %d bytes, want at most %d", len(f.Payload), b.maxPayload)
			}
			if len(f.Payload) >= 2 && binary.BigEndian.Uint16(f.Payload) != f.Seq {
				t.Fatalf("packet %d carries the payload of %d", f.Seq, binary.BigEndian.Uint16(f.Payload))
			}
		case StatusLost, StatusSilence:
			if f.Payload != nil {
				t.Fatalf("%v item with a payload", st)
			}
		default:
			t.Fatalf("Pop returned status %v", st)
		}
		if f.Ticks == 0 {
			t.Fatalf("%v item covering no time: %+v", st, f)
		}
		if n := b.Stats().Buffered; n > len(b.slots) {
			t.Fatalf("Buffered = %d, want at most %d", n, len(b.slots))
		}
	}
	t.Fatalf("Pop did not return StatusWait within %d items: %v", limit, b)
}

// seedSchedule encodes a synthetic stream as a fuzz input, with a pop
// every 20 ms.
func seedSchedule(s stream) []byte {
	out := []byte{0, 0}
	var last time.Duration
	var seq uint16
	var ts uint32
	for _, p := range s.packets() {
		for ; last+20*time.Millisecond <= p.at; last += 20 * time.Millisecond {
			out = append(out, 3, 0, 0, 0, 0, 0, 0, 20)
		}
		op := make([]byte, opSize)
		op[0] = 2 << 6
		binary.LittleEndian.PutUint16(op[1:], p.seq-seq)
		binary.LittleEndian.PutUint32(op[3:], p.ts-ts)
		seq, ts = p.seq, p.ts
		out = append(out, op...)
	}
	return out
}
