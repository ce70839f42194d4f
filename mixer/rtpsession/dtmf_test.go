package rtpsession

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/pion/rtp"
)

func TestTelephoneEventDigits(t *testing.T) {
	type te = TelephoneEvent
	// press is the packets of one key press as RFC 4733 §2.5.1 sends them:
	// growing durations every 20 ms, then the end packet three times.
	press := func(ev uint8, ts uint32, steps int) []struct {
		ts uint32
		ev te
	} {
		var out []struct {
			ts uint32
			ev te
		}
		for i := 1; i <= steps; i++ {
			out = append(out, struct {
				ts uint32
				ev te
			}{ts, te{Event: ev, Volume: 10, Duration: uint16(160 * i), End: i == steps}})
		}
		last := out[len(out)-1]
		return append(out, last, last)
	}
	type seqd = []struct {
		ts uint32
		ev te
	}
	cat := func(parts ...seqd) seqd {
		var out seqd
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	tests := []struct {
		name    string
		packets seqd
		want    string
	}{
		{
			name:    "repeated end packets yield each digit once",
			packets: cat(press(5, 1000, 5), press(11, 3000, 2)),
			want:    "5#",
		},
		{
			name:    "the same digit pressed twice yields two digits",
			packets: cat(press(1, 1000, 4), press(1, 3000, 4)),
			want:    "11",
		},
		{
			name:    "an event whose first packet was lost still yields its digit once",
			packets: press(7, 1000, 4)[1:],
			want:    "7",
		},
		{
			name:    "a late end packet of an earlier event yields nothing",
			packets: cat(press(1, 1000, 3), press(2, 3000, 3), press(1, 1000, 3)[2:3]),
			want:    "12",
		},
		{
			name: "the segments of one long event yield one digit",
			packets: cat(seqd{{1000, te{Event: 9, Duration: 65535}}},
				press(9, 1000+65535, 3)),
			want: "9",
		},
		{
			name:    "a timestamp far behind the last event starts a new one",
			packets: cat(press(3, 1000000, 2), press(4, 1000, 2)),
			want:    "34",
		},
		{
			name:    "events other than the sixteen keys yield no digit",
			packets: cat(press(16, 1000, 3), press(0, 3000, 3)),
			want:    "0",
		},
		{
			name:    "the keys map to 0-9 * # A-D",
			packets: cat(press(10, 1000, 1), press(12, 2000, 1), press(15, 3000, 1), press(9, 4000, 1)),
			want:    "*AD9",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newSession(t, nil)
			for i, p := range tc.packets {
				if _, v := s.HandleRTP(dtmfPkt(t, uint16(100+i), p.ts, p.ev), sdpAddr, ms(20*i)); v != Control {
					t.Fatalf("packet %d: verdict %v, want control", i, v)
				}
			}
			if got := drainDigits(s); got != tc.want {
				t.Errorf("digits %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDigitEventDuration(t *testing.T) {
	s := newSession(t, nil)
	s.HandleRTP(dtmfPkt(t, 1, 1000, TelephoneEvent{Event: 2, Duration: 400}), sdpAddr, t0)
	evs := s.Events(make([]Event, 0, 4))
	want := Event{Kind: EventDigit, Digit: '2', Duration: 50 * time.Millisecond}
	if len(evs) != 1 || evs[0] != want {
		t.Errorf("events %+v, want [%+v]", evs, want)
	}
}

func TestTelephoneEventsCountInTheMediaSequence(t *testing.T) {
	s := newSession(t, nil)
	seq := uint16(0)
	for range 3 {
		s.HandleRTP(pkt{pt: ptPCMU, seq: seq}.build(t), sdpAddr, t0)
		seq++
	}
	for i := range 5 {
		s.HandleRTP(dtmfPkt(t, seq, 480, TelephoneEvent{Event: 1, Duration: uint16(160 * (i + 1))}), sdpAddr, t0)
		seq++
	}
	s.HandleRTP(pkt{pt: ptPCMU, seq: seq}.build(t), sdpAddr, t0)
	if st := s.Stats(); st.Lost != 0 || st.PacketsReceived != 9 {
		t.Errorf("lost %d received %d, want 0 and 9", st.Lost, st.PacketsReceived)
	}
}

func TestTelephoneEventWireFormat(t *testing.T) {
	tests := []struct {
		name string
		ev   TelephoneEvent
		wire []byte
	}{
		{"an end packet sets the E bit", TelephoneEvent{Event: 5, End: true, Volume: 10, Duration: 800}, []byte{5, 0x8a, 0x03, 0x20}},
		{"a start packet leaves it clear", TelephoneEvent{Event: 11, Volume: 63, Duration: 160}, []byte{11, 0x3f, 0x00, 0xa0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.ev.Append(nil); !bytes.Equal(got, tc.wire) {
				t.Errorf("Append = % x, want % x", got, tc.wire)
			}
			got, err := ParseTelephoneEvent(tc.wire)
			if err != nil || got != tc.ev {
				t.Errorf("Parse = %+v, %v; want %+v", got, err, tc.ev)
			}
		})
	}
	t.Run("a short payload is an error", func(t *testing.T) {
		if _, err := ParseTelephoneEvent([]byte{1, 2, 3}); !errors.Is(err, ErrTelephoneEvent) {
			t.Errorf("err = %v, want ErrTelephoneEvent", err)
		}
	})
}

func TestDigitEventMapping(t *testing.T) {
	for code := range uint8(16) {
		digit, ok := DigitForEvent(code)
		back, err := EventForDigit(digit)
		if !ok || err != nil || back != code {
			t.Errorf("event %d -> %q -> %d, %v", code, digit, back, err)
		}
	}
	t.Run("lower-case letters are keys too", func(t *testing.T) {
		if code, err := EventForDigit('c'); err != nil || code != 14 {
			t.Errorf("EventForDigit('c') = %d, %v; want 14", code, err)
		}
	})
	t.Run("other characters are not keys", func(t *testing.T) {
		if _, err := EventForDigit('x'); !errors.Is(err, ErrDigit) {
			t.Errorf("err = %v, want ErrDigit", err)
		}
		if _, ok := DigitForEvent(16); ok {
			t.Error("event 16 maps to a digit")
		}
	})
}

func TestDTMFGenerator(t *testing.T) {
	t.Run("a 100 ms press at 20 ms produces five growing packets and two repeats of the end", func(t *testing.T) {
		g, err := NewDTMFGenerator('#', 100*time.Millisecond, 20*time.Millisecond, 8000)
		if err != nil {
			t.Fatal(err)
		}
		want := []DTMFPacket{
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 160}, Marker: true},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 320}},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 480}},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 640}},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 800, End: true}},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 800, End: true}, Retransmit: true},
			{Event: TelephoneEvent{Event: 11, Volume: 10, Duration: 800, End: true}, Retransmit: true},
		}
		for i, w := range want {
			got, ok := g.Next()
			if !ok || got != w {
				t.Fatalf("packet %d = %+v %v, want %+v", i, got, ok, w)
			}
		}
		if _, ok := g.Next(); ok || !g.Done() {
			t.Error("generator goes on after the last repeat")
		}
	})
	t.Run("a press shorter than the interval is one end packet", func(t *testing.T) {
		g, err := NewDTMFGenerator('1', 10*time.Millisecond, 20*time.Millisecond, 8000)
		if err != nil {
			t.Fatal(err)
		}
		if p, _ := g.Next(); !p.Marker || !p.Event.End || p.Event.Duration != 80 {
			t.Errorf("first packet %+v", p)
		}
	})
	bad := []struct {
		name     string
		digit    byte
		duration time.Duration
		interval time.Duration
		rate     uint32
		want     error
	}{
		{"a key that is no digit", 'x', time.Second / 10, time.Second / 50, 8000, ErrDigit},
		{"a zero duration", '1', 0, time.Second / 50, 8000, ErrDTMFDuration},
		{"a zero interval", '1', time.Second / 10, 0, 8000, ErrDTMFDuration},
		{"a duration beyond one event", '1', 10 * time.Second, time.Second / 50, 8000, ErrDTMFDuration},
		{"a zero clock rate", '1', time.Second / 10, time.Second / 50, 0, ErrDTMFDuration},
	}
	for _, tc := range bad {
		t.Run("NewDTMFGenerator refuses "+tc.name, func(t *testing.T) {
			if _, err := NewDTMFGenerator(tc.digit, tc.duration, tc.interval, tc.rate); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestWriteDTMFRoundTrip(t *testing.T) {
	tx := newSession(t, nil)
	rx := newSession(t, nil)
	buf := make([]byte, 1500)

	// Audio, then the digits "4" and "4" again, then audio.
	var sent []rtp.Header
	record := func(n int) {
		var p rtp.Packet
		if err := p.Unmarshal(buf[:n]); err != nil {
			t.Fatalf("sent packet does not parse: %v", err)
		}
		sent = append(sent, p.Header)
		if _, v := rx.HandleRTP(buf[:n], sdpAddr, t0); v == Dropped {
			t.Fatalf("receiver dropped packet %d: %+v", len(sent), rx.Stats().Dropped)
		}
	}
	clock := 0
	n, err := tx.WriteRTP(buf, make([]byte, 160), 160, false, ms(clock))
	if err != nil {
		t.Fatal(err)
	}
	record(n)
	for range 2 {
		clock += 20
		g, err := NewDTMFGenerator('4', 60*time.Millisecond, 20*time.Millisecond, 8000)
		if err != nil {
			t.Fatal(err)
		}
		for done := false; !done; clock += 20 {
			if n, done, err = tx.WriteDTMF(buf, &g, ms(clock)); err != nil {
				t.Fatal(err)
			}
			record(n)
		}
	}
	n, err = tx.WriteRTP(buf, make([]byte, 160), 160, false, ms(clock))
	if err != nil {
		t.Fatal(err)
	}
	record(n)

	if got := drainDigits(rx); got != "44" {
		t.Errorf("receiver got digits %q, want \"44\"", got)
	}
	base := sent[0].Timestamp
	// Audio at 0; each press keeps the timestamp of its start over its five
	// packets and the stream goes on where its 480 ticks end: the 40 ms of
	// end repeats stay under the skip threshold.
	wantTS := []uint32{0, 160, 160, 160, 160, 160, 640, 640, 640, 640, 640, 1120}
	for i, h := range sent {
		if h.SequenceNumber != sent[0].SequenceNumber+uint16(i) {
			t.Errorf("packet %d seq %d, want %d", i, h.SequenceNumber, sent[0].SequenceNumber+uint16(i))
		}
		if i < len(wantTS) && h.Timestamp-base != wantTS[i] {
			t.Errorf("packet %d timestamp +%d, want +%d", i, h.Timestamp-base, wantTS[i])
		}
	}
	if len(sent) != len(wantTS) {
		t.Errorf("sent %d packets, want %d", len(sent), len(wantTS))
	}
	if !sent[1].Marker || sent[2].Marker || sent[1].PayloadType != ptDTMF {
		t.Errorf("first event packet marker %v pt %d, second marker %v", sent[1].Marker, sent[1].PayloadType, sent[2].Marker)
	}
}

func TestWriteDTMFErrors(t *testing.T) {
	g, err := NewDTMFGenerator('1', 100*time.Millisecond, 20*time.Millisecond, 48000)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(*Config)
		dst    int
		want   error
	}{
		{"telephone-event not negotiated", func(c *Config) { c.DTMFPayloadType = 0 }, 64, ErrPayloadType},
		{"a clock rate other than negotiated", func(*Config) {}, 64, ErrPayloadType},
		{"a buffer too short", func(c *Config) { c.DTMFClockRate = 48000 }, 15, ErrShortBuffer},
	}
	for _, tc := range tests {
		t.Run("WriteDTMF refuses "+tc.name, func(t *testing.T) {
			s := newSession(t, tc.mutate)
			gen := g
			if _, _, err := s.WriteDTMF(make([]byte, tc.dst), &gen, t0); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if gen != g {
				t.Error("a refused write consumed a packet of the generator")
			}
		})
	}
}
