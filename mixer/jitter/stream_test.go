package jitter

import (
	"slices"
	"testing"
	"time"
)

func TestLatePackets(t *testing.T) {
	tests := []struct {
		name  string
		extra time.Duration // extra delay of packet 50
		late  uint64
	}{
		{"a packet 200 ms behind is dropped as late and concealed", 200 * time.Millisecond, 1},
		{"a packet 15 ms behind still plays", 15 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 300, rate: 8000, frame: 20 * time.Millisecond, seq0: 100, ssrc: 5, delay: 10 * time.Millisecond}
			ps := st.packets()
			ps[50].at += tt.extra
			byArrival(ps)
			s := newSim(t, Config{ClockRate: 8000, MinDelay: 40 * time.Millisecond})
			s.runUntil(ps, 10*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))

			stats := s.b.Stats()
			if stats.Late != tt.late || uint64(s.results[Late]) != tt.late {
				t.Fatalf("Late = %d (results %d), want %d", stats.Late, s.results[Late], tt.late)
			}
			// All the others play in order, but for any discarded to bring
			// the delay back down after the jitter spike.
			missing, ok := missingFrom(s.played(), span(st.seq0, st.n))
			if !ok || uint64(len(missing)) != tt.late+stats.Discarded {
				t.Fatalf("played all but %v (in order: %v), want all but the late and %d discarded", missing, ok, stats.Discarded)
			}
			if tt.late > 0 {
				if missing[0] != 150 {
					t.Fatalf("first packet not played is %d, want the late one, 150", missing[0])
				}
				if got := s.seqsOf(StatusLost); !slices.Contains(got, 150) {
					t.Fatalf("lost items %v, want one for the late packet 150", got)
				}
			}
			// A packet that turned up late was received: it is not lost.
			if stats.Lost != 0 {
				t.Fatalf("Lost = %d, want 0: the late packet arrived", stats.Lost)
			}
		})
	}
	t.Run("a packet counted lost that turns up late is taken off the lost count", func(t *testing.T) {
		st := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 5, delay: 10 * time.Millisecond}
		ps := st.packets()
		straggler := ps[30]
		straggler.at += 300 * time.Millisecond
		var before []pkt
		for _, p := range ps {
			if p.seq != straggler.seq && p.at < straggler.at {
				before = append(before, p)
			}
		}
		s := newSim(t, Config{ClockRate: 8000})
		s.run(before, straggler.at)
		if got := s.b.Stats().Lost; got != 1 {
			t.Fatalf("Lost before the straggler = %d, want 1", got)
		}
		if r := s.push(straggler); r != Late {
			t.Fatalf("Push(straggler) = %v, want late", r)
		}
		if got := s.b.Stats().Lost; got != 0 {
			t.Fatalf("Lost after the straggler = %d, want 0", got)
		}
		if r := s.push(straggler); r != Duplicate {
			t.Fatalf("Push(straggler again) = %v, want duplicate", r)
		}
	})
}

func TestSSRCChange(t *testing.T) {
	a := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 40000, ts0: 123456, ssrc: 0xaaaa, delay: 10 * time.Millisecond}
	b := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 7, ts0: 99, ssrc: 0xbbbb, delay: 10 * time.Millisecond, start: 2 * time.Second}
	ps := append(a.packets(), b.packets()...)
	// A straggler of the first stream turns up after the switch.
	straggler := a.packets()[95]
	straggler.at = b.start + 50*time.Millisecond
	ps = append(ps, straggler)
	byArrival(ps)

	s := newSim(t, Config{ClockRate: 8000})
	s.runUntil(ps, 10*time.Second, s.playedSeq(b.seq0+uint16(b.n-1)))

	t.Run("the new SSRC restarts the stream once", func(t *testing.T) {
		if got := s.b.Stats().Resets; got != 1 || s.results[Reset] != 1 {
			t.Fatalf("Resets = %d (results %d), want 1", got, s.results[Reset])
		}
	})
	t.Run("both streams play in order but for what was buffered at the switch", func(t *testing.T) {
		want := append(span(a.seq0, a.n), span(b.seq0, b.n)...)
		missing, ok := missingFrom(s.played(), want)
		if !ok || !slices.Equal(missing, span(a.seq0+uint16(a.n)-uint16(len(missing)), len(missing))) {
			t.Fatalf("played all but %v (in order: %v), want all but the end of the old stream", missing, ok)
		}
		if got := s.b.Stats().Dropped; got != uint64(len(missing)) || got > 2 {
			t.Fatalf("Dropped = %d, missing %v; want the one or two packets buffered at the switch", got, missing)
		}
	})
	t.Run("a straggler of the old stream is dropped as late, not a second restart", func(t *testing.T) {
		if got := s.b.Stats().Late; got != 1 {
			t.Fatalf("Late = %d, want 1", got)
		}
	})
	t.Run("the new stream starts one target delay after its first packet", func(t *testing.T) {
		for _, it := range s.items {
			if it.st == StatusPacket && it.f.Seq == b.seq0 {
				due := b.start + b.delay + DefaultMinDelay
				if it.at < due || it.at >= due+s.tick {
					t.Fatalf("first packet of the new stream popped at %v, want the first tick from %v", it.at, due)
				}
				return
			}
		}
		t.Fatal("first packet of the new stream never played")
	})
}

func TestJump(t *testing.T) {
	tests := []struct {
		name    string
		seqStep uint16 // added to sequence numbers from packet 100 on
		tsStep  uint32 // added to timestamps from packet 100 on
	}{
		{"a timestamp jump of 20 s restarts the stream", 0, 20 * 8000},
		{"a timestamp jump back restarts the stream", 0, 1<<32 - 3*8000},
		{"a sequence jump of 5000 restarts the stream", 5000, 0},
		{"a sequence jump of 30000 back restarts the stream", 1<<16 - 30000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 200, rate: 8000, frame: 20 * time.Millisecond, seq0: 60000, ts0: 4294967000, ssrc: 1, delay: 10 * time.Millisecond}
			ps := st.packets()
			for i := range ps {
				if i >= 100 {
					ps[i].seq += tt.seqStep
					ps[i].ts += tt.tsStep
				}
			}
			s := newSim(t, Config{ClockRate: 8000})
			last := ps[len(ps)-1].seq
			s.runUntil(ps, 10*time.Second, s.playedSeq(last))

			if got := s.b.Stats().Resets; got != 1 {
				t.Fatalf("Resets = %d, want 1", got)
			}
			var want []uint16
			for _, p := range ps {
				want = append(want, p.seq)
			}
			// What was buffered at the jump is dropped with the old stream.
			missing, ok := missingFrom(s.played(), want)
			if !ok || !slices.Equal(missing, want[100-len(missing):100]) {
				t.Fatalf("played all but %v (in order: %v), want all but the end of the old stream", missing, ok)
			}
			if got := s.b.Stats().Dropped; got != uint64(len(missing)) || got > 2 {
				t.Fatalf("Dropped = %d, missing %v; want the one or two packets buffered at the jump", got, missing)
			}
			// Never stall: the packet after the jump plays within a target
			// delay and a tick of its arrival.
			for _, it := range s.items {
				if it.st == StatusPacket && it.f.Seq == ps[100].seq {
					if it.at > ps[100].at+DefaultMinDelay+s.tick {
						t.Fatalf("packet after the jump popped at %v, arrived %v", it.at, ps[100].at)
					}
				}
			}
		})
	}
}

func TestJumpWithReordering(t *testing.T) {
	tests := []struct {
		name   string
		tsStep uint32
		ssrc   uint32 // of the packets from 100 on
	}{
		{"a packet from before a timestamp jump, arriving after it, is late", 30 * 8000, 1},
		{"a packet of the old SSRC, arriving after the new one, is late", 0, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 200, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 10 * time.Millisecond}
			ps := st.packets()
			for i := 100; i < len(ps); i++ {
				ps[i].ts += tt.tsStep
				ps[i].ssrc = tt.ssrc
			}
			ps[99].at = ps[100].at + time.Millisecond
			byArrival(ps)
			s := newSim(t, Config{ClockRate: 8000})
			s.runUntil(ps, 10*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))
			stats := s.b.Stats()
			if stats.Resets != 1 || stats.Late != 1 {
				t.Fatalf("stats = %+v, want one reset and the straggler late", stats)
			}
			if got, want := s.played()[len(s.played())-100:], span(st.seq0+100, 100); !slices.Equal(got, want) {
				t.Fatalf("after the jump played %v, want %v", got, want)
			}
		})
	}
	t.Run("a replaced SSRC that comes back with newer packets takes over again", func(t *testing.T) {
		a := stream{n: 50, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 10 * time.Millisecond}
		hold := stream{n: 50, rate: 8000, frame: 20 * time.Millisecond, seq0: 9000, ts0: 77, ssrc: 2, delay: 10 * time.Millisecond, start: time.Second}
		back := stream{n: 50, rate: 8000, frame: 20 * time.Millisecond, seq0: 51, ts0: 50 * 160, ssrc: 1, delay: 10 * time.Millisecond, start: 2 * time.Second}
		ps := append(append(a.packets(), hold.packets()...), back.packets()...)
		s := newSim(t, Config{ClockRate: 8000})
		s.runUntil(ps, 10*time.Second, s.playedSeq(back.seq0+uint16(back.n-1)))
		if got := s.b.Stats().Resets; got != 2 {
			t.Fatalf("Resets = %d, want 2", got)
		}
	})
}

func TestDTXGap(t *testing.T) {
	tests := []struct {
		name   string
		gap    time.Duration
		marker bool
	}{
		{"a 1 s gap opened by a marked packet is silence, not loss", time.Second, true},
		{"a 400 ms gap without a marker is silence, not loss", 400 * time.Millisecond, false},
		{"a 5 s gap is silence, not loss", 5 * time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 500, ts0: 1000, ssrc: 2, delay: 10 * time.Millisecond}
			ps := st.packets()
			gapTicks := uint32(tt.gap / time.Millisecond * 8)
			for i := 50; i < len(ps); i++ {
				ps[i].ts += gapTicks
				ps[i].at += tt.gap
			}
			ps[50].marker = tt.marker
			s := newSim(t, Config{ClockRate: 8000})
			s.runUntil(ps, 20*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))

			if got, want := s.played(), span(st.seq0, st.n); !slices.Equal(got, want) {
				t.Fatalf("played %d packets, want %d in order", len(got), len(want))
			}
			stats := s.b.Stats()
			if stats.Lost != 0 || stats.Late != 0 || stats.Resets != 0 {
				t.Fatalf("stats = %+v, want no loss, lateness or reset", stats)
			}
			// Running dry at the end of a talkspurt looks like loss until
			// the next packet comes: the buffer conceals for 60 ms, then
			// calls the rest silence.
			var lost, silence uint64
			for _, it := range s.items {
				switch it.st {
				case StatusLost:
					lost += uint64(it.f.Ticks)
				case StatusSilence:
					silence += uint64(it.f.Ticks)
				}
			}
			if lost > 480 {
				t.Fatalf("%d ticks concealed in the gap, want at most 60 ms (480)", lost)
			}
			if got, want := lost+silence, uint64(gapTicks); got != want {
				t.Fatalf("gap filled with %d ticks, want %d", got, want)
			}
			marked := false
			for _, it := range s.items {
				if it.st == StatusPacket && it.f.Seq == st.seq0+50 {
					marked = it.f.Marker
				}
			}
			if marked != tt.marker {
				t.Fatalf("first packet after the gap has Marker %v, want %v", marked, tt.marker)
			}
		})
	}
}

func TestOverflow(t *testing.T) {
	t.Run("a flood of packets at one instant keeps the ring bounded", func(t *testing.T) {
		s := newSim(t, Config{ClockRate: 8000, Slots: 16})
		for i := range 10000 {
			s.push(pkt{seq: uint16(i), ts: uint32(i) * 160, ssrc: 1, at: time.Millisecond})
			if n := s.b.Stats().Buffered; n > 16 {
				t.Fatalf("Buffered = %d after %d packets, want <= 16", n, i+1)
			}
		}
		stats := s.b.Stats()
		if stats.Dropped == 0 || s.results[Dropped] == 0 {
			t.Fatalf("stats = %+v, want packets dropped", stats)
		}
		// The stream goes on: the flood drains and a steady stream resumes.
		st := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 10000, ts0: 10000 * 160, ssrc: 1, delay: 10 * time.Millisecond, start: 200 * time.Second}
		s.runUntil(st.packets(), 300*time.Second, s.playedSeq(st.seq0+uint16(st.n-1)))
		if got := s.played(); !slices.Equal(got[len(got)-50:], span(st.seq0+50, 50)) {
			t.Fatalf("last packets played %v, want the new stream's", got[len(got)-50:])
		}
	})
	t.Run("a payload above MaxPayload is dropped", func(t *testing.T) {
		b, err := New(Config{ClockRate: 8000, MaxPayload: 100})
		if err != nil {
			t.Fatal(err)
		}
		if r := b.Push(1, 160, 1, false, make([]byte, 101), epoch); r != Dropped {
			t.Fatalf("Push(101 bytes) = %v, want dropped", r)
		}
		if r := b.Push(1, 160, 1, false, make([]byte, 100), epoch); r != Accepted {
			t.Fatalf("Push(100 bytes) = %v, want accepted", r)
		}
		if got := b.Stats(); got.Dropped != 1 || got.Received != 2 || got.Buffered != 1 {
			t.Fatalf("stats = %+v, want 2 received, 1 dropped, 1 buffered", got)
		}
	})
	t.Run("a sender running far ahead is held to MaxDelay", func(t *testing.T) {
		st := stream{n: 3000, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, drift: 0.5, delay: 10 * time.Millisecond}
		s := newSim(t, Config{ClockRate: 8000})
		var worst time.Duration
		s.onTick = func(time.Duration) { worst = max(worst, s.b.Stats().CurrentDelay) }
		s.run(st.packets(), 60*time.Second)
		if limit := DefaultMaxDelay + 2*20*time.Millisecond; worst > limit {
			t.Fatalf("delay reached %v, want at most %v", worst, limit)
		}
	})
}

func TestStalledReader(t *testing.T) {
	st := stream{n: 500, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 10 * time.Millisecond}
	ps := st.packets()
	s := newSim(t, Config{ClockRate: 8000})
	i := 0
	for at := s.phase; at <= 10*time.Second; at += s.tick {
		for ; i < len(ps) && ps[i].at <= at; i++ {
			s.push(ps[i])
		}
		if at < 2*time.Second || at > 3*time.Second {
			s.popAll(at)
		}
	}
	t.Run("after a second without Pop the reader gets current audio", func(t *testing.T) {
		for _, it := range s.items {
			if it.at > 3*time.Second && it.st == StatusPacket {
				// The packet due at this tick was sent 30 ms before it.
				sent := time.Duration(it.f.Seq-st.seq0) * st.frame
				if late := it.at - sent; late > 100*time.Millisecond {
					t.Fatalf("first packet after the stall was sent %v before it played, want current audio", late)
				}
				return
			}
		}
		t.Fatal("no packet played after the stall")
	})
	t.Run("the packets skipped are counted dropped", func(t *testing.T) {
		if got := s.b.Stats().Dropped; got < 40 || got > 55 {
			t.Fatalf("Dropped = %d, want about a second's worth (50)", got)
		}
	})
}

func TestReset(t *testing.T) {
	st := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 10 * time.Millisecond, jitter: 30 * time.Millisecond}
	s := newSim(t, Config{ClockRate: 8000})
	s.run(st.packets(), 1500*time.Millisecond)
	s.b.Reset()
	if got := s.b.Stats(); got != (Stats{TargetDelay: DefaultMinDelay, CurrentDelay: DefaultMinDelay}) {
		t.Fatalf("Stats after Reset = %+v, want zero totals and the initial target", got)
	}
	if _, st := s.b.Pop(epoch.Add(time.Hour)); st != StatusWait {
		t.Fatalf("Pop after Reset = %v, want wait", st)
	}
	if r := s.b.Push(9, 9, 9, false, []byte{1}, epoch.Add(time.Hour)); r != Accepted {
		t.Fatalf("Push after Reset = %v, want accepted as a new stream", r)
	}
}
