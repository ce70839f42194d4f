package loadgen

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"

	"confab/bench/rtpstats"
	"confab/bench/scenario"
	"confab/hal"
)

// Media timing constants.
const (
	// subTick spreads each frame's packets over the frame time: the
	// callers of a conference send together, but conferences are spread
	// over ptime/subTick slots, as phones that are not synchronised would
	// be, so that neither the bridge nor the send loop sees all the
	// packets of a frame in one burst.
	subTick = 5 * time.Millisecond
	// sentRing is how many sub-ticks' send times are kept for the latency
	// measurement: longer than any talk period (10 s).
	sentRing = 4096
	// maxCatchUp frames are sent back to back when the send loop has
	// fallen behind; beyond that it skips ahead, as a phone would after a
	// stall, rather than flood the bridge.
	maxCatchUp = 25
	// readBatch packets per Read: small, because every packet of a batch
	// is stamped with the time the batch came in.
	readBatch = 64
	// pinDelay is how long after the answer a caller starts entering its
	// PIN, time for the bridge to start its prompt.
	pinDelay = 500 * time.Millisecond
	// RFC 4733 digits: each lasts eventFrames frames, then gapFrames of
	// audio before the next.
	eventFrames = 5
	gapFrames   = 3
	// maxPacketsPerFrame bounds what one leg sends in one frame: an audio
	// packet, or an event packet, or the three copies of an event's end
	// packet (RFC 4733 §2.5.1.4).
	maxPacketsPerFrame = 3
	headerLen          = 12
)

// leg is one call's media. The send fields belong to the send loop (under
// Media.sendMu); seat state belongs to the receive loop (under rxMu).
type leg struct {
	seat   *Seat
	rx     *seatRx
	flow   hal.FlowID
	ci     *codecInfo
	talk   *source // nil for a listener
	quiet  *source
	offset int // frame k plays loop frame k+offset
	phase  int // a talk period starts at frames k with (k+phase) % cycle == 0
	slot   int // the sub-tick of each frame the leg sends in

	pt, eventPT uint8
	ssrc        uint32
	seq         uint16
	// ts is the RTP timestamp of frame 0; frame k's is ts + k·ticks, so a
	// frame skipped after a stall moves the timestamp on as a phone's
	// sampling clock would (RFC 3550 §5.1).
	ts     uint32
	marker bool // the next audio packet starts a talkspurt

	digits     []byte
	digitFrom  int64 // first frame a digit may go
	digitStep  int
	eventStart uint32

	loss lossModel
}

// seatRx is what a seat has received, across the calls churn gives it.
type seatRx struct {
	stream *rtpstats.Stream
	an     *analyser // nil unless the seat is analysed
	rtcp   uint64
	event  uint64 // telephone-event packets the bridge sent
	bad    uint64 // datagrams that are not RTP version 2
}

// Media sends every caller's RTP from one goroutine, paced by the
// monotonic clock, and receives every caller's RTP in another, over one
// batched packet path: no goroutine per caller.
type Media struct {
	path   hal.PacketPath
	ptime  time.Duration
	cycle  int // talk period in frames
	loss   scenario.Loss
	jitter time.Duration
	base   time.Time

	slots   int // sub-ticks per frame
	sendMu  sync.Mutex
	active  [][]*leg // by slot
	arena   []byte
	slot    int // bytes per packet in the arena
	queue   delayQueue
	rng     xorshift
	tick    atomic.Int64 // the last sub-tick sent
	sentAt  [sentRing]atomic.Int64
	skipped atomic.Uint64 // sub-ticks skipped after a stall

	lateMu   sync.Mutex
	sendLate *rtpstats.Histogram // how late the send loop woke for a sub-tick

	flowsMu sync.RWMutex
	flows   map[hal.FlowID]*leg

	rxMu    sync.Mutex
	seats   []seatRx
	gaps    *rtpstats.Histogram // every interarrival interval of every stream
	unknown uint64              // packets for flows that are gone

	stop chan struct{}
	wg   sync.WaitGroup
}

// newMedia prepares the media of every seat.
func newMedia(path hal.PacketPath, s scenario.Scenario, seats []Seat, codecs map[string]*codecInfo, slot int) *Media {
	slots := max(1, int(s.Ptime/subTick))
	m := &Media{path: path, ptime: s.Ptime, cycle: int(s.TalkEach / s.Ptime), loss: s.Loss, jitter: s.Jitter,
		base: time.Now(), flows: map[hal.FlowID]*leg{}, seats: make([]seatRx, len(seats)), slot: slot,
		slots: slots, active: make([][]*leg, slots),
		gaps:     rtpstats.NewHistogram(100*time.Microsecond, 2000),
		sendLate: rtpstats.NewHistogram(100*time.Microsecond, 2000),
		rng:      newXorshift(uint64(time.Now().UnixNano())), stop: make(chan struct{})}
	m.queue.size = slot
	for i := range seats {
		ci := codecs[seats[i].Codec]
		m.seats[i].stream = rtpstats.NewStream(rtpstats.Config{ClockRate: ci.spec.Info.ClockRate,
			LateAfter: s.Ptime, GapOver: gapLimit})
	}
	return m
}

// now is the monotonic time since the media started.
func (m *Media) now() time.Duration { return time.Since(m.base) }

// start runs the send and receive loops until close.
func (m *Media) start() {
	m.wg.Add(2)
	go func() { defer m.wg.Done(); m.sendLoop() }()
	go func() { defer m.wg.Done(); m.receiveLoop() }()
}

// close stops both loops; the caller shuts the path down first or after.
func (m *Media) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	_ = m.path.Shutdown()
	m.wg.Wait()
}

// add starts sending a leg's media and counting what it receives.
func (m *Media) add(l *leg) {
	m.rxMu.Lock()
	l.rx.stream.Break()
	if l.rx.an != nil {
		l.rx.an.newCall()
	}
	m.rxMu.Unlock()
	m.flowsMu.Lock()
	m.flows[l.flow] = l
	m.flowsMu.Unlock()
	m.sendMu.Lock()
	l.slot %= m.slots
	l.digitFrom = m.tick.Load()/int64(m.slots) + int64(pinDelay/m.ptime)
	l.marker = true
	m.active[l.slot] = append(m.active[l.slot], l)
	m.sendMu.Unlock()
}

// remove stops a leg's media and closes its flow.
func (m *Media) remove(l *leg) {
	m.sendMu.Lock()
	active := m.active[l.slot]
	for i, a := range active {
		if a == l {
			last := len(active) - 1
			active[i], active[last] = active[last], nil
			m.active[l.slot] = active[:last]
			break
		}
	}
	m.sendMu.Unlock()
	m.flowsMu.Lock()
	delete(m.flows, l.flow)
	m.flowsMu.Unlock()
	_ = m.path.Close(l.flow)
}

// sendLoop sends sub-tick j, the slot j % slots of frame j / slots, at
// base + j·subTick by the monotonic clock, and releases jitter-delayed
// packets between sub-ticks.
func (m *Media) sendLoop() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	sub := m.ptime / time.Duration(m.slots)
	var batch, held []hal.Packet
	for j := int64(1); ; {
		due := time.Duration(j) * sub
		wake := due
		if next, ok := m.queue.next(); ok && next < wake {
			wake = next
		}
		if d := wake - m.now(); d > 0 {
			timer.Reset(d)
			select {
			case <-m.stop:
				return
			case <-timer.C:
			}
		} else {
			select {
			case <-m.stop:
				return
			default:
			}
		}
		now := m.now()
		if len(m.queue.items) > 0 {
			held = m.queue.release(now, held[:0])
			if len(held) > 0 {
				_, _ = m.path.Write(held)
				m.queue.recycle(held)
			}
		}
		if now < due {
			continue
		}
		if behind := int64((now - due) / sub); behind > maxCatchUp*int64(m.slots) {
			// Skipped sub-ticks sent nothing: no burst may be timed
			// against them, nor against what the ring held before.
			for i := int64(0); i < min(behind, sentRing); i++ {
				m.sentAt[(j+i)%sentRing].Store(0)
			}
			m.skipped.Add(uint64(behind))
			j += behind
			due = time.Duration(j) * sub
		}
		m.lateMu.Lock()
		m.sendLate.Add(now - due)
		m.lateMu.Unlock()
		batch = m.buildSlot(j/int64(m.slots), int(j%int64(m.slots)), now, batch[:0])
		m.sentAt[j%sentRing].Store(int64(now))
		m.tick.Store(j)
		if len(batch) > 0 {
			_, _ = m.path.Write(batch)
		}
		j++
	}
}

// buildSlot lays out the packets of frame k of every active leg in slot s
// in the arena.
func (m *Media) buildSlot(k int64, s int, now time.Duration, batch []hal.Packet) []hal.Packet {
	m.sendMu.Lock()
	defer m.sendMu.Unlock()
	active := m.active[s]
	if need := len(active) * m.slot * maxPacketsPerFrame; len(m.arena) < need {
		m.arena = make([]byte, need+need/4)
	}
	per := m.slot
	for i, l := range active {
		buf := m.arena[i*per*maxPacketsPerFrame : (i+1)*per*maxPacketsPerFrame]
		first := len(batch)
		batch = l.build(k, buf, per, batch)
		// Impairment applies to what the caller sends, upstream of the
		// bridge, as an access network would.
		out := batch[:first]
		for _, p := range batch[first:] {
			switch {
			case l.loss.lost():
			case m.jitter > 0:
				d := time.Duration(m.rng.next() % uint64(m.jitter+1))
				m.queue.hold(now+d, p.Flow, p.Buf[:p.N])
			default:
				out = append(out, p)
			}
		}
		batch = out
	}
	return batch
}

// build appends leg l's packets for frame k, each in its own per-byte
// piece of buf.
func (l *leg) build(k int64, buf []byte, per int, batch []hal.Packet) []hal.Packet {
	ts := l.ts + uint32(k)*l.ci.ticks
	if len(l.digits) > 0 && k >= l.digitFrom {
		if pkts, ok := l.digit(ts, buf, per, batch); ok {
			return pkts
		}
	}
	src := l.quiet
	if l.talk != nil {
		src = l.talk
	}
	payload, send := src.frame(int(k) + l.offset)
	if !send {
		l.marker = true
		return batch
	}
	n := l.header(buf, l.pt, l.marker, ts)
	n += copy(buf[n:per], payload)
	l.marker = false
	return append(batch, hal.Packet{Flow: l.flow, Buf: buf[:per], N: n})
}

// digit sends the current RFC 4733 digit's packets for the frame at ts; ok
// is false in the pause after a digit, when audio goes instead.
func (l *leg) digit(ts uint32, buf []byte, per int, batch []hal.Packet) ([]hal.Packet, bool) {
	step := l.digitStep
	code := eventCode(l.digits[0])
	if l.digitStep++; l.digitStep == eventFrames+1+gapFrames {
		l.digitStep = 0
		l.digits = l.digits[1:]
	}
	switch {
	case step > eventFrames:
		return batch, false
	case step == 0:
		l.eventStart = ts
	}
	if step < eventFrames {
		dur := uint16(min(uint32(step+1)*l.ci.ticks, 0xffff))
		n := l.header(buf, l.eventPT, step == 0, l.eventStart)
		n += putEvent(buf[n:], code, false, dur)
		return append(batch, hal.Packet{Flow: l.flow, Buf: buf[:per], N: n}), true
	}
	// The end packet, sent three times (RFC 4733 §2.5.1.4).
	dur := uint16(min(uint32(eventFrames)*l.ci.ticks, 0xffff))
	for c := range maxPacketsPerFrame {
		b := buf[c*per : (c+1)*per]
		n := l.header(b, l.eventPT, false, l.eventStart)
		n += putEvent(b[n:], code, true, dur)
		batch = append(batch, hal.Packet{Flow: l.flow, Buf: b, N: n})
	}
	return batch, true
}

// header writes an RTP header (RFC 3550 §5.1) and takes a sequence number.
func (l *leg) header(b []byte, pt uint8, marker bool, ts uint32) int {
	b[0] = 0x80
	b[1] = pt & 0x7f
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], l.seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], l.ssrc)
	l.seq++
	return headerLen
}

// eventCode is the RFC 4733 §3.2 event code of a DTMF digit.
func eventCode(d byte) byte {
	switch {
	case d >= '0' && d <= '9':
		return d - '0'
	case d == '*':
		return 10
	case d == '#':
		return 11
	case d >= 'A' && d <= 'D':
		return 12 + d - 'A'
	}
	return 11
}

// putEvent writes an RFC 4733 §2.3 telephone-event payload at volume 10.
func putEvent(b []byte, code byte, end bool, dur uint16) int {
	b[0] = code
	b[1] = 10
	if end {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], dur)
	return 4
}

// receiveLoop reads every caller's packets and updates its seat.
func (m *Media) receiveLoop() {
	pkts := make([]hal.Packet, readBatch)
	for i := range pkts {
		pkts[i].Buf = make([]byte, 2048)
	}
	for {
		n, err := m.path.Read(pkts)
		if err != nil {
			return
		}
		at := m.now()
		m.flowsMu.RLock()
		m.rxMu.Lock()
		for i := range pkts[:n] {
			m.receive(&pkts[i], at)
		}
		m.rxMu.Unlock()
		m.flowsMu.RUnlock()
	}
}

// receive accounts one packet; rxMu and flowsMu are held.
func (m *Media) receive(p *hal.Packet, at time.Duration) {
	l := m.flows[p.Flow]
	if l == nil {
		m.unknown++
		return
	}
	rx := l.rx
	if p.RTCP {
		rx.rtcp++
		return
	}
	b := p.Buf[:p.N]
	payload, ok := rtpPayload(b)
	if !ok {
		rx.bad++
		return
	}
	pt := b[1] & 0x7f
	if pt == l.eventPT && l.eventPT != l.pt {
		rx.event++
		return
	}
	seq := binary.BigEndian.Uint16(b[2:])
	ts := binary.BigEndian.Uint32(b[4:])
	ssrc := binary.BigEndian.Uint32(b[8:])
	if gap, ok := rx.stream.Packet(seq, ts, ssrc, at); ok {
		m.gaps.Add(gap)
	}
	if rx.an != nil {
		rx.an.packet(m, payload, seq, at)
	}
}

// rtpPayload returns the payload of an RTP packet, past the CSRCs and any
// header extension and before any padding (RFC 3550 §5.1, §5.3.1).
func rtpPayload(b []byte) ([]byte, bool) {
	if len(b) < headerLen || b[0]>>6 != 2 {
		return nil, false
	}
	n := headerLen + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 {
		if len(b) < n+4 {
			return nil, false
		}
		n += 4 + 4*int(binary.BigEndian.Uint16(b[n+2:]))
	}
	end := len(b)
	if b[0]&0x20 != 0 && end > 0 {
		end -= int(b[end-1])
	}
	if n > end {
		return nil, false
	}
	return b[n:end], true
}

// burstSentBefore finds when the latest talk period of a conference with
// phase and slot began, no later than t: the send time of slot's sub-tick
// of the frame k with (k+phase) % cycle == 0.
func (m *Media) burstSentBefore(t time.Duration, phase, slot int) (time.Duration, bool) {
	last := m.tick.Load()
	slots, cycle := int64(m.slots), int64(m.cycle)
	frame := last / slots
	k := frame - (frame+int64(phase))%cycle
	for ; k >= 0; k -= cycle {
		j := k*slots + int64(slot)
		if j > last {
			continue
		}
		if last-j >= sentRing-1 {
			break
		}
		s := time.Duration(m.sentAt[j%sentRing].Load())
		if s > 0 && s <= t {
			return s, true
		}
	}
	return 0, false
}
