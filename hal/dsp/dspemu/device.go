// Package dspemu emulates the DSP coprocessor of docs/dsp-protocol.md: the
// device side of the protocol, doing its codec and mix work on the pure-Go
// engines of the mixer (any hal.CodecOffload and hal.MixOffload). It gives
// tests an spi.Conn and the READY and RESET gpio pins to hand to the host
// driver (hal/dsp), with hooks to inject the faults a real board has: a
// corrupted CRC, a READY line that never rises, a device that restarts in
// the middle of a conference. cmd/confab-dspemu serves the same Device on a
// Unix socket for manual runs.
//
// The Device models the bus byte by byte: what the host clocks in on MOSI
// is fed to a receiver that hunts for the frame magic, and while no request
// is being received the device shifts its pending response out on MISO. So
// a request or a response may be split over any number of SPI
// transactions, as on a spidev with a 4 KiB transfer limit.
package dspemu

import (
	"errors"
	"sync"
	"time"

	"confab/hal"
	"confab/hal/dsp/wire"
	"confab/mixer/offload"
)

// Engines is the work a Device does: the pure-Go engines in the emulator,
// a fake in tests.
type Engines struct {
	Codec hal.CodecOffload
	Mix   hal.MixOffload
}

// Limits are what a Device announces in HELLO.
type Limits struct {
	MaxChannels int
	MaxInputs   int
	MaxJobs     int
	MaxSamples  int
	MaxPayload  int
	Codecs      []wire.CodecCap
}

// DefaultLimits are the limits of the emulated board: 256 channels, mixes of
// up to 8 talkers, 128 jobs per batch, 40 ms at 48 kHz per frame, 256 KiB
// frames, and every codec at the mixer's rates.
func DefaultLimits() Limits {
	rates := wire.RateBit(8000) | wire.RateBit(16000) | wire.RateBit(48000)
	both := uint8(wire.CodecDecode | wire.CodecEncode)
	return Limits{
		MaxChannels: 256,
		MaxInputs:   8,
		MaxJobs:     128,
		MaxSamples:  1920,
		MaxPayload:  256 << 10,
		Codecs: []wire.CodecCap{
			{Codec: wire.CodecPCMU, Flags: both, Rates: rates},
			{Codec: wire.CodecPCMA, Flags: both, Rates: rates},
			{Codec: wire.CodecG722, Flags: both, Rates: rates},
			{Codec: wire.CodecL16, Flags: both, Rates: rates},
			{Codec: wire.CodecOpus, Flags: both | wire.CodecFEC, Rates: rates},
		},
	}
}

type options struct {
	limits  Limits
	bootID  uint32
	name    string
	latency time.Duration
}

// Option configures NewDevice.
type Option func(*options)

// WithLimits sets what the device announces and enforces.
func WithLimits(l Limits) Option { return func(o *options) { o.limits = l } }

// WithBootID sets the boot id of the first boot; each restart adds one.
// Tests that record byte-exact traces need it fixed (the default is fixed).
func WithBootID(id uint32) Option { return func(o *options) { o.bootID = id } }

// WithLatency makes the device take d to answer each request: READY rises
// that long after the request, from another goroutine, as on a board
// (default 0: READY is high by the time the request's Tx returns).
func WithLatency(d time.Duration) Option { return func(o *options) { o.latency = d } }

// WithName sets the firmware name announced in HELLO.
func WithName(s string) Option { return func(o *options) { o.name = s } }

type channel struct {
	used bool
	enc  bool
	id   hal.ChannelID // on the engine
}

// Device is one emulated DSP. It is safe for concurrent use; the bus and
// the pins lock it.
type Device struct {
	mu      sync.Mutex
	eng     Engines
	lim     Limits
	hel     wire.Hello
	latency time.Duration
	gen     uint64 // bumped by every response and boot, so a late READY is not raised for a lost one

	// Boot state.
	inReset   bool
	needHello bool
	expectSeq uint32
	chans     []channel
	nextChan  int

	// Receiver: hunting for Magic0, then header, then body.
	rx    []byte
	rxN   int
	rxLen int // bytes the current frame needs, 0 while hunting

	// Transmitter: the pending response.
	tx    []byte
	txLen int
	txPos int

	ready     bool
	readyEdge chan struct{}

	// Fault injection.
	corrupt int
	stall   int
	misnum  int

	// Scratch for the engines.
	jobs  []hal.CodecJob
	mjobs []hal.MixJob
	pcm   []int16
	out   []int16
	bytes []byte
	ins   [][]int16

	stats Stats
}

// Stats counts what the device saw.
type Stats struct {
	Requests, Responses, BadFrames, Boots uint64
}

// New returns a device doing its work on the mixer's pure-Go engines
// (mixer/offload), sized to the device's limits: the emulator proper.
func New(opts ...Option) *Device {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	eng := offload.New(offload.WithMaxChannels(o.limits.MaxChannels), offload.WithMaxInputs(o.limits.MaxInputs))
	return NewDevice(Engines{Codec: eng, Mix: eng}, opts...)
}

func defaults() options {
	return options{limits: DefaultLimits(), bootID: 0x0B007001, name: "confab-dspemu"}
}

// NewDevice returns a powered-up device that has booted once and waits for
// HELLO, with READY high.
func NewDevice(eng Engines, opts ...Option) *Device {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	l := o.limits
	d := &Device{
		eng:     eng,
		lim:     l,
		latency: o.latency,
		hel: wire.Hello{
			Version:     wire.Version,
			BootID:      o.bootID - 1,
			MaxChannels: uint16(l.MaxChannels),
			MaxInputs:   uint16(l.MaxInputs),
			MaxJobs:     uint16(l.MaxJobs),
			MaxSamples:  uint16(l.MaxSamples),
			MaxPayload:  uint32(l.MaxPayload),
			Codecs:      l.Codecs,
			Name:        o.name,
		},
		chans:     make([]channel, l.MaxChannels),
		rx:        make([]byte, wire.FrameLen(l.MaxPayload)),
		tx:        make([]byte, wire.FrameLen(l.MaxPayload)),
		readyEdge: make(chan struct{}, 1),
		jobs:      make([]hal.CodecJob, l.MaxJobs),
		mjobs:     make([]hal.MixJob, l.MaxJobs),
		pcm:       make([]int16, l.MaxPayload/2),
		out:       make([]int16, l.MaxPayload/2),
		bytes:     make([]byte, l.MaxPayload),
		ins:       make([][]int16, 2*l.MaxJobs*l.MaxInputs),
	}
	d.mu.Lock()
	d.boot()
	d.mu.Unlock()
	return d
}

// boot is what the firmware does after reset: new boot id, no channels,
// wait for HELLO, READY high. Called with mu held.
func (d *Device) boot() {
	for i := range d.chans {
		if d.chans[i].used && d.eng.Codec != nil {
			d.eng.Codec.Close(d.chans[i].id)
		}
		d.chans[i] = channel{}
	}
	d.hel.BootID++
	d.gen++
	d.needHello = true
	d.rxN, d.rxLen = 0, 0
	d.txLen, d.txPos = 0, 0
	d.stall = 0
	d.stats.Boots++
	d.setReady(true)
}

func (d *Device) setReady(v bool) {
	if v && !d.ready {
		select {
		case d.readyEdge <- struct{}{}:
		default:
		}
	}
	d.ready = v
}

// Tx clocks one SPI transaction: w out on MOSI (0x00 filler past its end),
// and len(r) bytes in from MISO. Bytes that belong to no frame are ignored,
// as a device's receiver does with line noise.
func (d *Device) Tx(w, r []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := max(len(w), len(r))
	if d.inReset {
		clear(r)
		return nil
	}
	for i := 0; i < n; {
		if d.rxLen > 0 {
			// Inside a request: take as much of it as w holds (MISO
			// shifts out 0x00 meanwhile).
			k := min(d.rxLen-d.rxN, n-i)
			if i < len(w) {
				k = min(k, len(w)-i)
				copy(d.rx[d.rxN:], w[i:i+k])
			} else {
				clear(d.rx[d.rxN : d.rxN+k])
			}
			if i < len(r) {
				clear(r[i:min(i+k, len(r))])
			}
			d.rxN += k
			i += k
			if d.rxN == d.rxLen {
				d.received()
			}
			continue
		}
		// Idle receiver: shift the response out until a request starts.
		var in byte
		if i < len(w) {
			in = w[i]
		}
		if in == wire.Magic0 {
			// A request starts. Whatever response was pending is
			// dropped, and READY falls until this request is answered.
			d.rxLen, d.rxN = wire.HeaderLen, 0
			d.txLen, d.txPos = 0, 0
			d.gen++
			d.setReady(false)
			continue
		}
		if i >= len(w) {
			// Filler to the end: the rest of the read in one copy.
			m := copy(r[i:], d.tx[d.txPos:d.txLen])
			d.txPos += m
			clear(r[i+m:])
			break
		}
		var out byte
		if d.txPos < d.txLen {
			out = d.tx[d.txPos]
			d.txPos++
		}
		if i < len(r) {
			r[i] = out
		}
		i++
	}
	return nil
}

// received handles a complete header or a complete frame (§5.2).
func (d *Device) received() {
	if d.rxLen == wire.HeaderLen {
		h, err := wire.ParseHeader(d.rx[:wire.HeaderLen], d.lim.MaxPayload)
		if err == nil {
			d.rxLen = wire.FrameLen(int(h.Len))
			return
		}
		d.rxLen, d.rxN = 0, 0
		if err == wire.ErrMagic {
			// A stray 0xD5 in line noise: not a frame.
			d.setReady(true)
			return
		}
		d.stats.BadFrames++
		code := wire.CodeBadFrame
		switch err {
		case wire.ErrLength:
			code = wire.CodeTooBig
		case wire.ErrVersion:
			code = wire.CodeVersion
		}
		d.respondError(h.Seq, h.Type, code, 0)
		return
	}
	frame := d.rx[:d.rxLen]
	d.rxLen, d.rxN = 0, 0
	d.handle(frame)
}

// handle answers one complete request frame.
func (d *Device) handle(frame []byte) {
	d.stats.Requests++
	h, p, err := wire.ParseFrame(frame, d.lim.MaxPayload)
	if err != nil {
		d.stats.BadFrames++
		d.respondError(h.Seq, h.Type, wire.CodeBadFrame, 0)
		return
	}
	if d.stall > 0 {
		// A hung firmware: the request is swallowed and READY stays low.
		d.stall--
		return
	}
	switch {
	case h.Type == wire.TypeHello:
		d.needHello = false
		d.expectSeq = h.Seq + 1
		d.hello(h.Seq, p)
		return
	case h.Type == wire.TypeReset:
		d.boot()
		out := d.tx[wire.HeaderLen:]
		putU32(out, d.hel.BootID)
		d.respond(h.Seq, wire.TypeReset.Response(), wire.ResetRespLen)
		return
	case d.needHello:
		d.respondError(h.Seq, h.Type, wire.CodeNotReady, 0)
		return
	case h.Seq != d.expectSeq:
		d.respondError(h.Seq, h.Type, wire.CodeSequence, d.expectSeq)
		return
	}
	d.expectSeq++
	var n int
	var code wire.Code
	switch h.Type {
	case wire.TypeOpen:
		n, code = d.open(p)
	case wire.TypeClose:
		n, code = d.close(p)
	case wire.TypeDecode:
		n, code = d.decode(p)
	case wire.TypeEncode:
		n, code = d.encode(p)
	case wire.TypeMix:
		n, code = d.mix(p)
	default:
		code = wire.CodeBadRequest
	}
	if code != 0 {
		d.respondError(h.Seq, h.Type, code, 0)
		return
	}
	d.respond(h.Seq, h.Type.Response(), n)
}

// respond seals the response whose payload is in place and raises READY.
func (d *Device) respond(seq uint32, typ wire.Type, n int) {
	if d.misnum > 0 {
		d.misnum--
		seq++
	}
	f := wire.Seal(d.tx, typ, seq, n)
	if d.corrupt > 0 {
		d.corrupt--
		f[len(f)-1] ^= 0x01
	}
	d.txLen, d.txPos = len(f), 0
	d.stats.Responses++
	d.gen++
	if d.latency <= 0 {
		d.setReady(true)
		return
	}
	gen := d.gen
	time.AfterFunc(d.latency, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.gen == gen && !d.inReset && d.rxLen == 0 {
			d.setReady(true)
		}
	})
}

func (d *Device) respondError(seq uint32, req wire.Type, code wire.Code, arg uint32) {
	p := d.tx[wire.HeaderLen:]
	p[0], p[1], p[2], p[3] = byte(code), byte(req), 0, 0
	putU32(p[4:], arg)
	d.respond(seq, wire.TypeError, wire.ErrorLen)
}

func (d *Device) hello(seq uint32, p []byte) {
	r := wire.Reader{B: p}
	lo, hi := r.U16(), r.U16()
	if r.Short || lo > wire.Version || hi < wire.Version {
		d.needHello = true
		d.respondError(seq, wire.TypeHello, wire.CodeVersion, wire.Version)
		return
	}
	b := d.hel.Append(d.tx[wire.HeaderLen:wire.HeaderLen])
	d.respond(seq, wire.TypeHello.Response(), len(b))
}

func putU32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}

// Ready reports the READY line.
func (d *Device) readyLevel() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready && !d.inReset
}

// HoldReset drives the RESET line: true holds the device in reset (READY
// low, the bus ignored), false releases it and the device boots.
func (d *Device) HoldReset(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if on == d.inReset {
		return
	}
	d.inReset = on
	if on {
		d.setReady(false)
		return
	}
	d.boot()
}

// SetLatency changes how long the device takes to answer (see WithLatency).
func (d *Device) SetLatency(l time.Duration) {
	d.mu.Lock()
	d.latency = l
	d.mu.Unlock()
}

// CorruptNext flips a bit in the CRC of the next n responses.
func (d *Device) CorruptNext(n int) {
	d.mu.Lock()
	d.corrupt = n
	d.mu.Unlock()
}

// MisnumberNext gives the next n responses the sequence number after their
// request's, as a response left over from another exchange would carry.
func (d *Device) MisnumberNext(n int) {
	d.mu.Lock()
	d.misnum = n
	d.mu.Unlock()
}

// StallNext makes the device swallow the next n requests without an answer,
// leaving READY low, as hung firmware does. A reset ends the stall.
func (d *Device) StallNext(n int) {
	d.mu.Lock()
	d.stall = n
	d.mu.Unlock()
}

// Restart reboots the device on its own (a watchdog or a brown-out): a new
// boot id, every channel gone, HELLO needed.
func (d *Device) Restart() {
	d.mu.Lock()
	d.boot()
	d.mu.Unlock()
}

// BootID is the current boot id.
func (d *Device) BootID() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hel.BootID
}

// OpenChannels counts the open channels.
func (d *Device) OpenChannels() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, c := range d.chans {
		if c.used {
			n++
		}
	}
	return n
}

// Stats returns the device's counters.
func (d *Device) Stats() Stats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

// errNoEngine is the job error when the device was built without an engine.
var errNoEngine = errors.New("dspemu: no engine")
