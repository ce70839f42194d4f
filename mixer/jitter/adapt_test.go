package jitter

import (
	"fmt"
	"testing"
	"time"
)

func TestJitterSetsTarget(t *testing.T) {
	tests := []struct {
		jitter     time.Duration // uniform extra network delay in [0, jitter)
		minTarget  time.Duration
		maxTarget  time.Duration
		maxLatePct float64
	}{
		// J of a uniform delay in [0, j) is j/3 (the mean of |U1-U2|), so
		// the target is about 20 ms + j.
		// The target rises at once and falls slowly, so it rides the upper
		// edge of the estimate's noise.
		{0, 20 * time.Millisecond, 20 * time.Millisecond, 0},
		{20 * time.Millisecond, 30 * time.Millisecond, 55 * time.Millisecond, 1},
		{60 * time.Millisecond, 65 * time.Millisecond, 125 * time.Millisecond, 1},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%v of jitter sets a target in [%v, %v]", tt.jitter, tt.minTarget, tt.maxTarget), func(t *testing.T) {
			st := stream{n: 3000, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 20 * time.Millisecond, jitter: tt.jitter, seed: 3}
			s := newSim(t, Config{ClockRate: 8000})
			var half Stats
			var level, n time.Duration
			s.onTick = func(at time.Duration) {
				if at == 30*time.Second {
					half = s.b.Stats()
				}
				if at > 30*time.Second {
					level += s.b.Stats().CurrentDelay
					n++
				}
			}
			s.run(st.packets(), 60*time.Second)
			stats := s.b.Stats()

			for _, it := range s.items {
				if it.at > 30*time.Second && (it.stats.TargetDelay < tt.minTarget || it.stats.TargetDelay > tt.maxTarget) {
					t.Fatalf("TargetDelay = %v at %v, want within [%v, %v]", it.stats.TargetDelay, it.at, tt.minTarget, tt.maxTarget)
				}
			}
			if got := level / n; got < tt.minTarget-20*time.Millisecond || got > tt.maxTarget+20*time.Millisecond {
				t.Fatalf("mean CurrentDelay = %v, want within a packet of the target [%v, %v]", got, tt.minTarget, tt.maxTarget)
			}
			received := float64(stats.Received - half.Received)
			if pct := 100 * float64(stats.Late-half.Late) / received; pct > tt.maxLatePct {
				t.Fatalf("%.1f %% of packets late in the second half, want at most %.1f %%", pct, tt.maxLatePct)
			}
			if stats.Lost != 0 {
				t.Fatalf("Lost = %d with no packet lost", stats.Lost)
			}
		})
	}
	t.Run("jitter beyond MaxDelay holds the target and the delay at MaxDelay", func(t *testing.T) {
		st := stream{n: 3000, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 20 * time.Millisecond, jitter: 500 * time.Millisecond, seed: 3}
		s := newSim(t, Config{ClockRate: 8000})
		var sum, n time.Duration
		s.onTick = func(at time.Duration) {
			stats := s.b.Stats()
			if at > 10*time.Second && (stats.TargetDelay-DefaultMaxDelay).Abs() > time.Millisecond {
				t.Fatalf("TargetDelay = %v at %v, want MaxDelay", stats.TargetDelay, at)
			}
			sum += stats.CurrentDelay
			n++
		}
		s.run(st.packets(), 60*time.Second)
		if got, limit := sum/n, DefaultMaxDelay+20*time.Millisecond; got > limit {
			t.Fatalf("mean CurrentDelay = %v, want at most %v", got, limit)
		}
	})
	t.Run("the target grows within a second of a jitter burst and shrinks over seconds after it", func(t *testing.T) {
		calm := stream{n: 1500, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 20 * time.Millisecond, seed: 5}
		ps := calm.packets()
		rough := calm
		rough.jitter = 60 * time.Millisecond
		for i, p := range rough.packets() {
			if i >= 500 && i < 1000 { // 10 s to 20 s
				ps[i] = p
			}
		}
		byArrival(ps)
		s := newSim(t, Config{ClockRate: 8000})
		at := map[time.Duration]time.Duration{}
		s.onTick = func(now time.Duration) { at[now] = s.b.Stats().TargetDelay }
		s.run(ps, 30*time.Second)
		if got := at[11*time.Second]; got < 60*time.Millisecond {
			t.Fatalf("TargetDelay 1 s into the burst = %v, want >= 60ms", got)
		}
		if got := at[21*time.Second]; got < 40*time.Millisecond {
			t.Fatalf("TargetDelay 1 s after the burst = %v, want still >= 40ms", got)
		}
		if got := at[30*time.Second]; got > 25*time.Millisecond {
			t.Fatalf("TargetDelay 10 s after the burst = %v, want back near 20ms", got)
		}
	})
}

func TestClockDrift(t *testing.T) {
	const minutes = 10
	tests := []struct {
		name   string
		drift  float64
		jitter time.Duration
	}{
		{"a sender 0.5 % fast keeps the level at target for 10 minutes", 0.005, 0},
		{"a sender 0.5 % slow keeps the level at target for 10 minutes", -0.005, 0},
		{"a sender 0.5 % fast with 20 ms of jitter keeps the level at target", 0.005, 20 * time.Millisecond},
		{"a sender 0.5 % slow with 20 ms of jitter keeps the level at target", -0.005, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := 20 * time.Millisecond
			n := int(float64(minutes*time.Minute/frame) * (1 + tt.drift))
			st := stream{n: n, rate: 8000, frame: frame, seq0: 40000, ts0: 4294000000, ssrc: 1, drift: tt.drift, delay: 20 * time.Millisecond, jitter: tt.jitter, seed: 11}
			ps := st.packets()
			arrival := map[uint16]time.Duration{}
			for _, p := range ps {
				arrival[p.seq] = p.at
			}
			s := newSim(t, Config{ClockRate: 8000})
			var worst time.Duration
			maxBuffered := 0
			s.onTick = func(at time.Duration) {
				if at < 10*time.Second {
					return
				}
				stats := s.b.Stats()
				worst = max(worst, (stats.CurrentDelay - stats.TargetDelay).Abs())
				maxBuffered = max(maxBuffered, stats.Buffered)
			}
			s.run(ps, minutes*time.Minute)
			stats := s.b.Stats()

			if worst > frame {
				t.Fatalf("CurrentDelay strayed %v from TargetDelay, want within one packet (%v)", worst, frame)
			}
			if limit := int((stats.TargetDelay+2*frame)/frame) + 1; maxBuffered > limit {
				t.Fatalf("up to %d packets buffered, want at most %d", maxBuffered, limit)
			}
			// The delay each packet actually saw, from arrival to Pop,
			// stays the same from the first minute to the last.
			var first, last, nf, nl time.Duration
			for _, it := range s.items {
				if it.st != StatusPacket {
					continue
				}
				d := it.at - arrival[it.f.Seq]
				switch {
				case it.at > 10*time.Second && it.at < time.Minute:
					first += d
					nf++
				case it.at > (minutes-1)*time.Minute:
					last += d
					nl++
				}
			}
			if drift := (last/nl - first/nf).Abs(); drift > frame {
				t.Fatalf("mean playout delay moved %v between the first and last minute, want within %v", drift, frame)
			}
			// The drift is 0.5 % of 10 minutes, 3 s or 150 packets, made up
			// one packet at a time.
			adjust := stats.Discarded
			if tt.drift < 0 {
				adjust = stats.Inserted
			}
			if adjust < 120 || adjust > 200 {
				t.Fatalf("stats = %+v: %d packets adjusted for drift, want about 150", stats, adjust)
			}
			if stats.Lost != 0 || stats.Dropped != 0 || stats.Resets != 0 {
				t.Fatalf("stats = %+v, want no loss, drop or reset", stats)
			}
			if tt.jitter == 0 && stats.Late != 0 {
				t.Fatalf("Late = %d with no jitter, want 0", stats.Late)
			}
		})
	}
}

func TestDelayMovesInSilence(t *testing.T) {
	tests := []struct {
		name string
		// jitter of the first talkspurt, and of its last second
		jitter, tail time.Duration
		// whether the delay must grow (else shrink) at the end of it
		grow bool
	}{
		// Five seconds of 60 ms jitter raise the delay; one clean second
		// lets the target fall faster than the delay may follow in speech
		// (a packet a second). The rest is cut from the silence.
		{"a delay well above target is cut in the silence before the next talkspurt", 60 * time.Millisecond, 0, false},
		// 8 ms of jitter raise the target by 8 ms and, the first packet
		// having been the fastest, lower the delay by 4 ms: too little to
		// chop speech for, enough to stretch the pause. (The stretch comes
		// as the talkspurt runs out, in its 60 ms of concealment.)
		{"a delay below target grows in the pause between talkspurts", 8 * time.Millisecond, 8 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := stream{n: 300, rate: 8000, frame: 20 * time.Millisecond, seq0: 1, ssrc: 1, delay: 20 * time.Millisecond, jitter: tt.jitter, seed: 1}
			tail := first
			tail.jitter = tt.tail
			ps := first.packets()
			ps[0].at = first.delay
			for i, p := range tail.packets() {
				if i >= 250 {
					ps[i] = p
				}
			}
			second := stream{n: 100, rate: 8000, frame: 20 * time.Millisecond, seq0: 301, ts0: 400 * 160, ssrc: 1, delay: 20 * time.Millisecond, start: 8 * time.Second}
			ps = append(ps, second.packets()...)
			ps[300].marker = true
			byArrival(ps)

			s := newSim(t, Config{ClockRate: 8000})
			var before Stats
			s.onTick = func(at time.Duration) {
				if at == 5900*time.Millisecond { // the first talkspurt's end
					before = s.b.Stats()
				}
			}
			s.run(ps, 10*time.Second)
			var now Stats
			for _, it := range s.items {
				if it.st == StatusPacket && it.f.Seq == second.seq0 {
					now = it.stats
				}
			}
			if now.Received == 0 {
				t.Fatal("the second talkspurt never played")
			}
			off := before.CurrentDelay - before.TargetDelay
			if (tt.grow && off > -10*time.Millisecond) || (!tt.grow && off < 15*time.Millisecond) {
				t.Fatalf("at the end of the talkspurt CurrentDelay = %v, TargetDelay = %v: not the case under test", before.CurrentDelay, before.TargetDelay)
			}
			if got := now.CurrentDelay - now.TargetDelay; got.Abs() > 5*time.Millisecond {
				t.Fatalf("as the next talkspurt starts CurrentDelay = %v, TargetDelay = %v, want within 5ms", now.CurrentDelay, now.TargetDelay)
			}
			// No packet was discarded for it, and any concealment is the
			// 60 ms that follows the end of a talkspurt, plus one frame
			// inserted there.
			if now.Discarded != before.Discarded || now.Concealed > before.Concealed+4 {
				t.Fatalf("stats went from %+v to %+v over the silence, want no packet discarded", before, now)
			}
			if tt.grow && now.Inserted == before.Inserted {
				t.Fatalf("Inserted stayed %d over the silence, want silence inserted", now.Inserted)
			}
		})
	}
}

func TestGapStretch(t *testing.T) {
	s := newSim(t, Config{ClockRate: 8000})
	for i := range 10 {
		s.push(pkt{seq: uint16(i), ts: uint32(i) * 160, ssrc: 1, at: time.Duration(i) * 20 * time.Millisecond})
	}
	s.popAll(300 * time.Millisecond)
	// The next talkspurt is buffered after a second of silence, and the
	// target has just risen three packets above the delay.
	s.push(pkt{seq: 10, ts: 10*160 + 8000, ssrc: 1, marker: true, at: 1200 * time.Millisecond})
	s.b.target = s.b.level + 3*160
	s.items = nil
	for at := 1200 * time.Millisecond; s.count(StatusPacket) == 0 && at < 2*time.Second; at += 20 * time.Millisecond {
		s.popAll(at)
	}
	played := s.items[len(s.items)-1]
	if played.st != StatusPacket {
		t.Fatalf("the talkspurt never played: %v", s.b)
	}
	t.Run("silence is inserted, not concealment", func(t *testing.T) {
		if played.stats.Inserted != 3 || s.count(StatusLost) != 0 {
			t.Fatalf("stats = %+v, %d lost items; want 3 silences inserted", played.stats, s.count(StatusLost))
		}
	})
	t.Run("the talkspurt starts at the target delay", func(t *testing.T) {
		if got := (played.stats.CurrentDelay - played.stats.TargetDelay).Abs(); got > 5*time.Millisecond {
			t.Fatalf("CurrentDelay = %v, TargetDelay = %v, want within 5ms", played.stats.CurrentDelay, played.stats.TargetDelay)
		}
		// Planned at 20 ms + 1.2 s of timestamps; three frames inserted.
		if want := 1220*time.Millisecond + 60*time.Millisecond; played.at < want || played.at >= want+20*time.Millisecond {
			t.Fatalf("talkspurt played at %v, want on the tick from %v", played.at, want)
		}
	})
}
