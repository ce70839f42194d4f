package jitter

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want error
	}{
		{"a clock rate alone is enough", Config{ClockRate: 8000}, nil},
		{"every field may be set", Config{ClockRate: 48000, MinDelay: 10 * time.Millisecond, MaxDelay: time.Second, Slots: 128, MaxPayload: 400}, nil},
		{"a missing clock rate is refused", Config{}, ErrInvalidConfig},
		{"a clock rate above 384 kHz is refused", Config{ClockRate: 400000}, ErrInvalidConfig},
		{"a negative MinDelay is refused", Config{ClockRate: 8000, MinDelay: -time.Millisecond}, ErrInvalidConfig},
		{"MaxDelay below MinDelay is refused", Config{ClockRate: 8000, MinDelay: 100 * time.Millisecond, MaxDelay: 50 * time.Millisecond}, ErrInvalidConfig},
		{"MaxDelay beyond the jump window is refused", Config{ClockRate: 8000, MaxDelay: 6 * time.Second}, ErrInvalidConfig},
		{"fewer than four slots are refused", Config{ClockRate: 8000, Slots: 3}, ErrInvalidConfig},
		{"more than 512 slots are refused", Config{ClockRate: 8000, Slots: 513}, ErrInvalidConfig},
		{"a negative MaxPayload is refused", Config{ClockRate: 8000, MaxPayload: -1}, ErrInvalidConfig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := New(tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("New(%+v) error = %v, want %v", tt.cfg, err, tt.want)
			}
			if err := tt.cfg.Validate(); !errors.Is(err, tt.want) {
				t.Fatalf("Validate() = %v, want %v", err, tt.want)
			}
			if tt.want != nil {
				return
			}
			if got, want := len(b.store), b.cfg.Slots*b.cfg.MaxPayload; got != want {
				t.Fatalf("payload memory = %d bytes, want Slots*MaxPayload = %d", got, want)
			}
		})
	}
	t.Run("zero fields take the defaults", func(t *testing.T) {
		b, err := New(Config{ClockRate: 8000})
		if err != nil {
			t.Fatal(err)
		}
		want := Config{ClockRate: 8000, MinDelay: DefaultMinDelay, MaxDelay: DefaultMaxDelay, Slots: DefaultSlots, MaxPayload: DefaultMaxPayload}
		if got := b.Config(); got != want {
			t.Fatalf("Config() = %+v, want %+v", got, want)
		}
		if got := b.Stats().TargetDelay; got != DefaultMinDelay {
			t.Fatalf("initial TargetDelay = %v, want %v", got, DefaultMinDelay)
		}
	})
}

func TestPopBeforeAnyPacketWaits(t *testing.T) {
	s := newSim(t, Config{ClockRate: 8000})
	if f, st := s.b.Pop(epoch); st != StatusWait || f.Ticks != 0 {
		t.Fatalf("Pop on an empty buffer = %v %+v, want wait", st, f)
	}
}

func TestInOrder(t *testing.T) {
	tests := []struct {
		rate  uint32
		frame time.Duration
	}{
		{8000, 20 * time.Millisecond},
		{8000, 10 * time.Millisecond},
		{8000, 30 * time.Millisecond},
		{8000, 40 * time.Millisecond},
		{8000, 60 * time.Millisecond},
		{48000, 20 * time.Millisecond},
		{16000, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v packets at %d Hz play back to back", tt.frame, tt.rate), func(t *testing.T) {
			st := stream{n: 300, rate: tt.rate, frame: tt.frame, seq0: 1000, ts0: 5000, ssrc: 1, delay: 30 * time.Millisecond}
			s := newSim(t, Config{ClockRate: tt.rate})
			s.phase = 7 * time.Millisecond
			ps := st.packets()
			s.runUntil(ps, st.start+time.Duration(st.n+20)*st.frame, s.playedSeq(st.seq0+uint16(st.n-1)))

			if got, want := s.played(), span(st.seq0, st.n); !slices.Equal(got, want) {
				t.Fatalf("played %d packets %v..., want %d in order", len(got), got[:min(len(got), 5)], len(want))
			}
			if n := s.count(StatusLost) + s.count(StatusSilence); n != 0 {
				t.Fatalf("%d lost or silence items in a clean stream, want 0", n)
			}
			for i, it := range s.items {
				if it.st != StatusPacket {
					continue
				}
				if it.body != it.f.Seq || it.plen != 160 {
					t.Fatalf("item %d: payload names seq %d (%d bytes), want %d (160 bytes)", i, it.body, it.plen, it.f.Seq)
				}
				if i > 0 && it.f.Ticks != st.frameTicks() {
					t.Fatalf("item %d: Ticks = %d, want %d", i, it.f.Ticks, st.frameTicks())
				}
			}
			// The first packet plays TargetDelay after it arrived: at the
			// first tick at or after that, and not before.
			first := s.items[0].at
			due := ps[0].at + DefaultMinDelay
			if first < due || first >= due+s.tick {
				t.Fatalf("first packet popped at %v, want the first tick at or after %v", first, due)
			}
			stats := s.b.Stats()
			if stats.Received != uint64(st.n) || stats.Lost != 0 || stats.Late != 0 || stats.Duplicate != 0 || stats.Reordered != 0 || stats.Dropped != 0 || stats.Resets != 0 {
				t.Fatalf("stats = %+v, want %d received and nothing else", stats, st.n)
			}
			if stats.Jitter != 0 {
				t.Fatalf("Jitter = %v on a steady stream, want 0", stats.Jitter)
			}
			wantTarget := max(DefaultMinDelay, tt.frame)
			if (stats.TargetDelay - wantTarget).Abs() > time.Millisecond {
				t.Fatalf("TargetDelay = %v, want %v (one packet, or MinDelay)", stats.TargetDelay, wantTarget)
			}
		})
	}
}

func TestReordering(t *testing.T) {
	tests := []struct {
		name  string
		swaps map[int]time.Duration // packet index -> extra delay
		want  int                   // Reordered results
	}{
		{"a packet overtaken by the next one is played in order", map[int]time.Duration{10: 25 * time.Millisecond}, 1},
		{"a packet overtaken by three is played in order", map[int]time.Duration{20: 65 * time.Millisecond}, 1},
		{"pairs swapped throughout are played in order", func() map[int]time.Duration {
			m := map[int]time.Duration{}
			for i := 10; i < 190; i += 6 {
				m[i] = 25 * time.Millisecond
			}
			return m
		}(), 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 200, rate: 8000, frame: 20 * time.Millisecond, seq0: 65500, ts0: 1, ssrc: 7, delay: 10 * time.Millisecond}
			ps := st.packets()
			for i := range ps {
				ps[i].at += tt.swaps[i]
			}
			byArrival(ps)
			s := newSim(t, Config{ClockRate: 8000, MinDelay: 80 * time.Millisecond})
			s.runUntil(ps, 5*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))
			if got, want := s.played(), span(st.seq0, st.n); !slices.Equal(got, want) {
				t.Fatalf("played %v, want %d packets in order", got, len(want))
			}
			stats := s.b.Stats()
			if stats.Reordered != uint64(tt.want) || s.results[Reordered] != tt.want {
				t.Fatalf("Reordered = %d (results %d), want %d", stats.Reordered, s.results[Reordered], tt.want)
			}
			if stats.Lost != 0 || stats.Late != 0 || s.count(StatusLost) != 0 {
				t.Fatalf("stats = %+v, lost items %d; want no loss", stats, s.count(StatusLost))
			}
		})
	}
	t.Run("a packet sent before the first to arrive still plays first", func(t *testing.T) {
		s := newSim(t, Config{ClockRate: 8000})
		s.push(pkt{seq: 11, ts: 160, ssrc: 1, at: 0})
		if r := s.push(pkt{seq: 10, ts: 0, ssrc: 1, at: 2 * time.Millisecond}); r != Reordered {
			t.Fatalf("Push(earlier packet) = %v, want reordered", r)
		}
		s.push(pkt{seq: 12, ts: 320, ssrc: 1, at: 20 * time.Millisecond})
		s.popAll(100 * time.Millisecond)
		if got, want := s.played(), []uint16{10, 11, 12}; !slices.Equal(got, want) {
			t.Fatalf("played %v, want %v", got, want)
		}
	})
}

func TestDuplicates(t *testing.T) {
	tests := []struct {
		name  string
		again time.Duration // when the copy arrives after the original
	}{
		{"a copy arriving at once is dropped", 0},
		{"a copy arriving while the original waits is dropped", 5 * time.Millisecond},
		{"a copy arriving after the original played is dropped", 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ts0: 1000, ssrc: 3, delay: 10 * time.Millisecond}
			ps := st.packets()
			for i := 0; i < st.n; i += 5 {
				c := ps[i]
				c.at += tt.again
				ps = append(ps, c)
			}
			byArrival(ps)
			s := newSim(t, Config{ClockRate: 8000})
			s.runUntil(ps, 3*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))
			if got, want := s.played(), span(st.seq0, st.n); !slices.Equal(got, want) {
				t.Fatalf("played %v, want each of %d packets once", got, len(want))
			}
			if got := s.b.Stats().Duplicate; got != 20 || s.results[Duplicate] != 20 {
				t.Fatalf("Duplicate = %d (results %d), want 20", got, s.results[Duplicate])
			}
		})
	}
}

func TestLoss(t *testing.T) {
	tests := []struct {
		name   string
		lose   func(i int) bool
		minDel time.Duration
	}{
		{"5 % random loss reports each lost packet once", randomLoss(0.05, 42, 2000), 0},
		{"5 % random loss with more buffer reports each lost packet once", randomLoss(0.05, 7, 2000), 60 * time.Millisecond},
		{"a burst of three within the buffer is reported packet by packet", burst(100, 3), 80 * time.Millisecond},
		{"a burst of three at the buffer's edge is reported packet by packet", burst(100, 3), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 2000, rate: 8000, frame: 20 * time.Millisecond, seq0: 64000, ts0: 4294960000, ssrc: 9, delay: 15 * time.Millisecond, lose: tt.lose}
			var lost []uint16
			for i := range st.n {
				if tt.lose(i) {
					lost = append(lost, st.seq0+uint16(i))
				}
			}
			s := newSim(t, Config{ClockRate: 8000, MinDelay: tt.minDel})
			s.runUntil(st.packets(), 45*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))

			if got, want := s.played(), without(span(st.seq0, st.n), lost); !slices.Equal(got, want) {
				t.Fatalf("played %d packets, want the %d not lost, in order", len(got), len(want))
			}
			if got := s.seqsOf(StatusLost); !slices.Equal(got, lost) {
				t.Fatalf("lost items %v, want one for each of %v", got, lost)
			}
			stats := s.b.Stats()
			if stats.Lost != uint64(len(lost)) || stats.Concealed != uint64(len(lost)) {
				t.Fatalf("Lost = %d, Concealed = %d, want %d", stats.Lost, stats.Concealed, len(lost))
			}
			for _, it := range s.items {
				if it.st == StatusLost && it.f.Ticks != 160 {
					t.Fatalf("lost item %+v covers %d ticks, want one packet (160)", it.f, it.f.Ticks)
				}
			}
			if got, want := s.ticks(), uint64(st.n)*160; got != want {
				t.Fatalf("items cover %d ticks, want %d (the whole stream)", got, want)
			}
		})
	}
	t.Run("a burst longer than the buffer is counted and the stream goes on", func(t *testing.T) {
		st := stream{n: 500, rate: 8000, frame: 20 * time.Millisecond, seq0: 10, ssrc: 9, delay: 15 * time.Millisecond, lose: burst(200, 40)}
		s := newSim(t, Config{ClockRate: 8000})
		s.runUntil(st.packets(), 12*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))
		if got, want := s.played(), without(span(st.seq0, st.n), span(210, 40)); !slices.Equal(got, want) {
			t.Fatalf("played %d packets, want the %d not lost, in order", len(got), len(want))
		}
		stats := s.b.Stats()
		if stats.Lost != 40 {
			t.Fatalf("Lost = %d, want 40", stats.Lost)
		}
		// With nothing buffered the buffer conceals for 60 ms, then plays
		// silence; once the next packet shows the last missing one, that one
		// is concealed in its turn.
		if got := s.count(StatusLost); got != 4 {
			t.Fatalf("%d lost items, want 4 (60 ms of concealment, then the last lost packet)", got)
		}
		if got, want := s.ticks(), uint64(st.n)*160; got != want {
			t.Fatalf("items cover %d ticks, want %d (the whole stream)", got, want)
		}
	})
}

func TestOutageLongerThanTheRing(t *testing.T) {
	tests := []struct {
		lost  int
		slots int
	}{
		{40, 16},
		{300, 16},
		{400, 64},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d packets lost with %d slots are counted and the stream goes on", tt.lost, tt.slots), func(t *testing.T) {
			st := stream{n: tt.lost + 200, rate: 8000, frame: 20 * time.Millisecond, seq0: 65000, ssrc: 9, delay: 15 * time.Millisecond, lose: burst(100, tt.lost)}
			s := newSim(t, Config{ClockRate: 8000, Slots: tt.slots})
			s.runUntil(st.packets(), time.Minute, s.playedSeq(st.seq0+uint16(st.n-1)))
			if got, want := s.played(), without(span(st.seq0, st.n), span(st.seq0+100, tt.lost)); !slices.Equal(got, want) {
				t.Fatalf("played %d packets, want the %d not lost, in order", len(got), len(want))
			}
			stats := s.b.Stats()
			if stats.Lost != uint64(tt.lost) || stats.Dropped != 0 || stats.Resets != 0 {
				t.Fatalf("stats = %+v, want %d lost and no drop or reset", stats, tt.lost)
			}
			if got, want := s.ticks(), uint64(st.n)*160; got != want {
				t.Fatalf("items cover %d ticks, want %d (the whole stream)", got, want)
			}
		})
	}
}

func TestPacketDuration(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(ps []pkt) // changes the 20 ms schedule
		lose  int            // index of a packet lost late in the stream
		ticks uint32         // wanted Ticks of its lost item
	}{
		{"a change to 40 ms packets is learned", func(ps []pkt) {
			for i := 100; i < len(ps); i++ {
				ps[i].ts += uint32(i-100) * 160
				ps[i].at += time.Duration(i-100) * 20 * time.Millisecond
			}
		}, 150, 320},
		{"a change to 10 ms packets is learned", func(ps []pkt) {
			for i := 100; i < len(ps); i++ {
				ps[i].ts -= uint32(i-100) * 80
				ps[i].at -= time.Duration(i-100) * 10 * time.Millisecond
			}
		}, 150, 80},
		{"one unmarked 40 ms gap is not taken for a duration", func(ps []pkt) {
			for i := 100; i < len(ps); i++ {
				ps[i].ts += 320
				ps[i].at += 40 * time.Millisecond
			}
		}, 101, 160},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 200, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 10 * time.Millisecond}
			ps := st.packets()
			tt.edit(ps)
			lost := ps[tt.lose].seq
			ps = append(ps[:tt.lose], ps[tt.lose+1:]...)
			s := newSim(t, Config{ClockRate: 8000, MinDelay: 60 * time.Millisecond})
			s.runUntil(ps, time.Minute, s.playedSeq(ps[len(ps)-1].seq))
			for _, it := range s.items {
				if it.st == StatusLost && it.f.Seq == lost {
					if it.f.Ticks != tt.ticks {
						t.Fatalf("lost item %+v covers %d ticks, want %d", it.f, it.f.Ticks, tt.ticks)
					}
					return
				}
			}
			t.Fatalf("no lost item for packet %d", lost)
		})
	}
}

func TestNames(t *testing.T) {
	tests := []struct {
		got, want string
	}{
		{StatusPacket.String(), "packet"},
		{StatusLost.String(), "lost"},
		{StatusSilence.String(), "silence"},
		{StatusWait.String(), "wait"},
		{Status(0).String(), "Status(0)"},
		{Accepted.String(), "accepted"},
		{Duplicate.String(), "duplicate"},
		{Late.String(), "late"},
		{Reordered.String(), "reordered"},
		{Dropped.String(), "dropped"},
		{Reset.String(), "reset"},
		{PushResult(9).String(), "PushResult(9)"},
	}
	for _, tt := range tests {
		t.Run(tt.want+" reads as such", func(t *testing.T) {
			if tt.got != tt.want {
				t.Fatalf("String() = %q, want %q", tt.got, tt.want)
			}
		})
	}
}

// randomLoss loses each of n packets with probability p, never the first
// or the last.
func randomLoss(p float64, seed uint64, n int) func(int) bool {
	lost := map[int]bool{}
	r := newRand(seed)
	for i := 1; i < n-1; i++ {
		lost[i] = r.Float64() < p
	}
	return func(i int) bool { return lost[i] }
}

// burst loses n packets from index first.
func burst(first, n int) func(int) bool {
	return func(i int) bool { return i >= first && i < first+n }
}

func TestNextShowsThePacketAfterALossForFEC(t *testing.T) {
	b, err := New(Config{ClockRate: 8000})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(100, 0)
	// Packets 0, 1, 3: packet 2 is lost; 3 arrives in time.
	for _, seq := range []uint16{0, 1, 3} {
		b.Push(seq, uint32(seq)*160, 7, false, []byte{byte(seq)}, start.Add(time.Duration(seq)*20*time.Millisecond))
	}
	now := start.Add(200 * time.Millisecond)
	var sawLoss bool
	for i := 0; i < 4; i++ {
		f, st := b.Pop(now)
		if st == StatusLost {
			sawLoss = true
			next, ok := b.Next()
			if !ok || len(next) != 1 || next[0] != 3 {
				t.Fatalf("after losing packet %d, Next = %v %v; want packet 3", f.Seq, next, ok)
			}
			break
		}
	}
	if !sawLoss {
		t.Fatal("the missing packet was never reported lost")
	}
}
