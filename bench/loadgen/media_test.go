package loadgen

import (
	"encoding/binary"
	"math"
	"net/netip"
	"testing"
	"time"

	"confab/bench/scenario"
	"confab/hal"
	"confab/hal/haltest"
)

func TestLossModel(t *testing.T) {
	tests := []struct {
		name     string
		loss     scenario.Loss
		wantRate float64
		wantRun  float64 // mean length of a run of losses
	}{
		{"independent loss loses its share in runs of about one", scenario.Loss{Rate: 0.05}, 0.05, 1.05},
		{"bursty loss loses its share in runs of the burst length", scenario.Loss{Rate: 0.1, Burst: 3}, 0.1, 3},
		{"no loss loses nothing", scenario.Loss{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newLoss(tt.loss, 42)
			const n = 200000
			lost, runs, inRun := 0, 0, false
			for range n {
				l := m.lost()
				if l {
					lost++
					if !inRun {
						runs++
					}
				}
				inRun = l
			}
			rate := float64(lost) / n
			if math.Abs(rate-tt.wantRate) > 0.1*tt.wantRate+1e-9 {
				t.Errorf("loss %.4f, want %.4f", rate, tt.wantRate)
			}
			if runs > 0 {
				if run := float64(lost) / float64(runs); math.Abs(run-tt.wantRun) > 0.15*tt.wantRun {
					t.Errorf("mean run %.2f, want %.2f", run, tt.wantRun)
				}
			} else if tt.wantRun != 0 {
				t.Error("no loss at all")
			}
		})
	}
}

func TestDelayQueue(t *testing.T) {
	t.Run("held packets come out by due time with their bytes", func(t *testing.T) {
		var q delayQueue
		q.size = 32
		q.hold(30*time.Millisecond, 3, []byte{3})
		q.hold(10*time.Millisecond, 1, []byte{1})
		q.hold(20*time.Millisecond, 2, []byte{2, 2})
		if next, ok := q.next(); !ok || next != 10*time.Millisecond {
			t.Fatalf("next %v %v", next, ok)
		}
		out := q.release(25*time.Millisecond, nil)
		if len(out) != 2 || out[0].Flow != 1 || out[1].Flow != 2 || out[1].N != 2 || out[1].Buf[1] != 2 {
			t.Fatalf("released %+v", out)
		}
		q.recycle(out)
		q.hold(40*time.Millisecond, 4, []byte{4})
		if len(q.free) != 1 {
			t.Errorf("%d free buffers after reuse, want 1", len(q.free))
		}
		if out := q.release(time.Second, nil); len(out) != 2 || out[0].Flow != 3 || out[1].Flow != 4 {
			t.Errorf("released %+v", out)
		}
	})
}

// TestSendLoop runs the send loop over a fake path and reads what it sent.
func TestSendLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("paces real time")
	}
	s := mustParse(t, "conferences 4 x 2\ntalkers 50%\n")
	seats := Plan(s)
	ci := mustCodec(t, "PCMU")
	codecs := map[string]*codecInfo{"PCMU": ci}
	quiet, err := encodeLoop(*ci, make([]int16, 50*160), false)
	if err != nil {
		t.Fatal(err)
	}
	talk, err := encodeLoop(*ci, burstPCM(*ci, 510, 20, 50), false)
	if err != nil {
		t.Fatal(err)
	}
	path := haltest.New(haltest.WithQueue(4096))
	m := newMedia(path, s, seats, codecs, headerLen+160)
	flows := map[hal.FlowID]*leg{}
	for i := range seats {
		f, err := path.Open(netip.MustParseAddrPort("192.0.2.1:30000"))
		if err != nil {
			t.Fatal(err)
		}
		l := &leg{seat: &seats[i], rx: &m.seats[i], flow: f.ID, ci: ci, quiet: quiet, slot: seats[i].Conf,
			pt: 0, eventPT: eventPT, ssrc: uint32(1000 + i), seq: 65530, ts: 1 << 31}
		if seats[i].Talker {
			l.talk = talk
		}
		if i == 0 {
			l.digits = []byte("1#")
		}
		m.add(l)
		flows[f.ID] = l
	}
	t.Run("conferences are spread over the sub-ticks of a frame", func(t *testing.T) {
		for slot, legs := range m.active {
			if len(legs) != 2 || legs[0].seat.Conf != legs[1].seat.Conf || legs[0].seat.Conf%m.slots != slot {
				t.Errorf("slot %d holds %d legs", slot, len(legs))
			}
		}
	})
	m.start()
	time.Sleep(1500 * time.Millisecond)
	m.close()

	type seen struct {
		n, events   int
		seq         uint16
		ts          uint32
		marker      bool
		broken      bool
		eventTS     map[uint32]bool
		audioPT     map[uint8]bool
		firstMarker bool
	}
	got := map[hal.FlowID]*seen{}
	for len(path.Sent()) > 0 {
		p := <-path.Sent()
		b := p.Buf[:p.N]
		sn := got[p.Flow]
		if sn == nil {
			sn = &seen{eventTS: map[uint32]bool{}, audioPT: map[uint8]bool{}, firstMarker: b[1]&0x80 != 0}
			got[p.Flow] = sn
		} else if binary.BigEndian.Uint16(b[2:]) != sn.seq+1 {
			sn.broken = true
		}
		sn.seq = binary.BigEndian.Uint16(b[2:])
		if binary.BigEndian.Uint32(b[8:]) != flows[p.Flow].ssrc {
			sn.broken = true
		}
		if pt := b[1] & 0x7f; pt == eventPT {
			sn.events++
			sn.eventTS[binary.BigEndian.Uint32(b[4:])] = true
		} else {
			if sn.n > 0 && binary.BigEndian.Uint32(b[4:])-sn.ts != 160 && len(sn.eventTS) == 0 {
				sn.broken = true
			}
			sn.ts = binary.BigEndian.Uint32(b[4:])
			sn.audioPT[pt] = true
			sn.n++
		}
	}
	t.Run("every leg sends about a packet per 20 ms in sequence, wrapping", func(t *testing.T) {
		if len(got) != len(seats) {
			t.Fatalf("%d legs sent, want %d", len(got), len(seats))
		}
		for f, sn := range got {
			if sn.broken {
				t.Errorf("flow %d: sequence, timestamp or SSRC broken", f)
			}
			if sn.n < 30 || sn.n > 80 {
				t.Errorf("flow %d: %d audio packets in 1.5 s", f, sn.n)
			}
			if !sn.firstMarker && sn.events == 0 {
				t.Errorf("flow %d: the first packet has no marker", f)
			}
			if !sn.audioPT[0] || len(sn.audioPT) != 1 {
				t.Errorf("flow %d: payload types %v", f, sn.audioPT)
			}
		}
	})
	t.Run("a digit goes as five updates and three end packets with one timestamp each", func(t *testing.T) {
		for f, l := range flows {
			sn := got[f]
			want, wantTS := 0, 0
			if l.seat.Index == 0 {
				want, wantTS = 2*(eventFrames+3), 2
			}
			if sn.events != want || len(sn.eventTS) != wantTS {
				t.Errorf("seat %d: %d event packets with %d timestamps, want %d and %d", l.seat.Index, sn.events, len(sn.eventTS), want, wantTS)
			}
		}
	})
}
