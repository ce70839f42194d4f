// Package dsp drives a DSP coprocessor on an SPI bus that decodes, encodes
// and mixes audio frames for the MCU, speaking the framed protocol of
// docs/dsp-protocol.md: a versioned HELLO with the device's capabilities,
// batches of many channels (or conferences) per transaction, sequence
// numbers and CRC-32C on every frame, flow control on a READY line, and
// resynchronisation by a pulse on the RESET line.
//
// The driver serves the MCU through hal.Offload. Any failure of the device
// (a timeout on READY, a CRC error, a device that restarted, a sequence gap,
// a malformed frame) fails the batch at once with an error wrapping
// hal.ErrOffloadFault, so the MCU redoes that frame on its pure-Go engines;
// the driver counts the fault, marks itself unhealthy and re-probes the
// device in the background (reset pulse, HELLO) with back-off. Channels do
// not survive a re-probe: handles from before it fail and must be reopened.
//
// On Linux, Open reaches real hardware through periph.io's host drivers
// (/dev/spidev*, GPIO character devices); "unix:" targets reach the device
// emulator of cmd/confab-dspemu over a Unix socket.
package dsp

import (
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/spi"

	"confab/hal"
	"confab/hal/dsp/wire"
)

type options struct {
	timeout     time.Duration
	bootTimeout time.Duration
	pulse       time.Duration
	maxTx       int
	maxPayload  int
	backoffMin  time.Duration
	backoffMax  time.Duration
	log         *slog.Logger
	closer      func() error
}

// Option configures New and Open.
type Option func(*options)

// WithTimeout bounds the wait for READY after a request: the longest a
// batch can hang before it fails (default 5 ms, well under a 20 ms frame).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithBootTimeout bounds the wait for READY after a reset pulse (default
// 200 ms).
func WithBootTimeout(d time.Duration) Option { return func(o *options) { o.bootTimeout = d } }

// WithResetPulse sets how long RESET is held low (default 1 ms).
func WithResetPulse(d time.Duration) Option { return func(o *options) { o.pulse = d } }

// WithMaxTransfer caps the bytes of one SPI transaction (default 4096, the
// spidev module's default bufsiz); longer frames are split.
func WithMaxTransfer(n int) Option { return func(o *options) { o.maxTx = n } }

// WithMaxPayload caps the frame payload the host buffers hold (default
// 256 KiB); the device's own limit from HELLO applies when smaller.
func WithMaxPayload(n int) Option { return func(o *options) { o.maxPayload = n } }

// WithBackoff sets the first and the longest wait between re-probes after
// a fault (default 50 ms doubling to 5 s).
func WithBackoff(first, longest time.Duration) Option {
	return func(o *options) { o.backoffMin, o.backoffMax = first, longest }
}

// WithLogger sets the logger for faults and recoveries.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// withCloser releases what Open acquired when the driver closes.
func withCloser(f func() error) Option { return func(o *options) { o.closer = f } }

// Driver is the host side of one DSP coprocessor. It is safe for
// concurrent use; transactions on the bus take turns.
type Driver struct {
	o     options
	conn  spi.Conn
	ready gpio.PinIO
	reset gpio.PinIO
	edges bool

	mu     sync.Mutex // the bus: one transaction at a time
	seq    uint32
	hello  wire.Hello
	epoch  uint32 // bumped by every successful probe; in each ChannelID
	maxPay int    // min(host, device) payload limit
	txbuf  []byte
	rxbuf  []byte

	healthy atomic.Bool
	closed  atomic.Bool
	stop    chan struct{}
	wg      sync.WaitGroup
	probing bool // a re-probe goroutine runs; under mu

	st counters
}

// New resets the device on the bus, says HELLO and checks the protocol
// version. ready is the device's READY line (input), reset its RESET line
// (output, active low).
func New(c spi.Conn, ready, reset gpio.PinIO, opts ...Option) (*Driver, error) {
	o := options{
		timeout:     5 * time.Millisecond,
		bootTimeout: 200 * time.Millisecond,
		pulse:       time.Millisecond,
		maxTx:       4096,
		maxPayload:  256 << 10,
		backoffMin:  50 * time.Millisecond,
		backoffMax:  5 * time.Second,
		log:         slog.Default(),
	}
	for _, f := range opts {
		f(&o)
	}
	if o.maxPayload > wire.MaxPayload {
		o.maxPayload = wire.MaxPayload
	}
	if o.maxTx < wire.HeaderLen {
		o.maxTx = wire.HeaderLen
	}
	d := &Driver{
		o:     o,
		conn:  c,
		ready: ready,
		reset: reset,
		txbuf: make([]byte, wire.FrameLen(o.maxPayload)),
		rxbuf: make([]byte, wire.FrameLen(o.maxPayload)),
		stop:  make(chan struct{}),
	}
	// Rising edges wake the waiter at once where the pin has edge
	// detection (a GPIO character device); otherwise READY is polled.
	if err := ready.In(gpio.PullNoChange, gpio.RisingEdge); err == nil {
		d.edges = true
	} else if err := ready.In(gpio.PullNoChange, gpio.NoEdge); err != nil {
		return nil, fmt.Errorf("dsp: READY line %s: %w", ready, err)
	}
	if err := reset.Out(gpio.High); err != nil {
		return nil, fmt.Errorf("dsp: RESET line %s: %w", reset, err)
	}
	d.mu.Lock()
	err := d.probe()
	d.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("dsp: probing the device: %w", err)
	}
	d.healthy.Store(true)
	o.log.Info("dsp: device ready", "device", d.hello.Name, "boot", d.hello.BootID,
		"channels", d.hello.MaxChannels, "mix_inputs", d.hello.MaxInputs)
	return d, nil
}

// probe pulses RESET, waits for the device to boot and says HELLO.
// Called with mu held.
func (d *Driver) probe() error {
	if err := d.reset.Out(gpio.Low); err != nil {
		return fmt.Errorf("%w: RESET: %w", ErrBus, err)
	}
	time.Sleep(d.o.pulse)
	if err := d.reset.Out(gpio.High); err != nil {
		return fmt.Errorf("%w: RESET: %w", ErrBus, err)
	}
	if !d.waitReady(d.o.bootTimeout) {
		return fmt.Errorf("%w after reset", ErrTimeout)
	}
	d.maxPay = min(2048, d.o.maxPayload) // room for HELLO until we know the limit
	p := d.payload()
	p[0], p[1], p[2], p[3] = wire.Version, 0, wire.Version, 0
	_, resp, err := d.transact(wire.TypeHello, wire.HelloReqLen)
	if err != nil {
		return err
	}
	hel, err := wire.ParseHello(resp)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	if hel.Version != wire.Version {
		return fmt.Errorf("%w: device speaks version %d, we speak %d", ErrProtocol, hel.Version, wire.Version)
	}
	d.hello = hel
	d.maxPay = min(int(hel.MaxPayload), d.o.maxPayload)
	d.epoch++
	return nil
}

// payload is the request payload area of the transmit buffer.
func (d *Driver) payload() []byte { return d.txbuf[wire.HeaderLen : wire.HeaderLen+d.maxPay] }

// waitReady waits up to timeout for READY to be high.
func (d *Driver) waitReady(timeout time.Duration) bool {
	if d.ready.Read() == gpio.High {
		return true
	}
	return d.waitReadyUntil(time.Now().Add(timeout))
}

// waitReadyUntil waits until deadline for READY to be high.
func (d *Driver) waitReadyUntil(deadline time.Time) bool {
	if d.ready.Read() == gpio.High {
		return true
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return d.ready.Read() == gpio.High
		}
		if d.edges {
			d.ready.WaitForEdge(left)
		} else {
			time.Sleep(min(left, 50*time.Microsecond))
		}
		if d.ready.Read() == gpio.High {
			return true
		}
	}
}

// transact sends the request whose payload (n bytes) is in place, waits for
// READY and reads the response. It checks the response's CRC, sequence
// number and type, and turns ERROR responses into errors. Called with mu
// held; does not allocate unless it fails.
func (d *Driver) transact(typ wire.Type, n int) (wire.Header, []byte, error) {
	seq := d.seq
	d.seq++
	d.st.transactions.Add(1)
	frame := wire.Seal(d.txbuf, typ, seq, n)
	// One bound for the whole exchange, so a batch fails within the
	// timeout whatever holds it up. A request goes out only while READY
	// is high (§5.1): a device still busy with an abandoned request, or
	// booting, is waited for.
	deadline := time.Now().Add(d.o.timeout)
	if !d.waitReadyUntil(deadline) {
		return wire.Header{}, nil, ErrTimeout
	}
	for off := 0; off < len(frame); off += d.o.maxTx {
		if err := d.conn.Tx(frame[off:min(off+d.o.maxTx, len(frame))], nil); err != nil {
			return wire.Header{}, nil, fmt.Errorf("%w: %w", ErrBus, err)
		}
	}
	d.st.bytesOut.Add(uint64(len(frame)))
	if !d.waitReadyUntil(deadline) {
		return wire.Header{}, nil, ErrTimeout
	}
	hb := d.rxbuf[:wire.HeaderLen]
	if err := d.conn.Tx(nil, hb); err != nil {
		return wire.Header{}, nil, fmt.Errorf("%w: %w", ErrBus, err)
	}
	h, err := wire.ParseHeader(hb, d.maxPay)
	switch err {
	case nil:
	case wire.ErrHeaderCRC:
		return h, nil, ErrCRC
	default:
		return h, nil, errProtocolOf(err)
	}
	body := d.rxbuf[wire.HeaderLen:wire.FrameLen(int(h.Len))]
	for off := 0; off < len(body); off += d.o.maxTx {
		if err := d.conn.Tx(nil, body[off:min(off+d.o.maxTx, len(body))]); err != nil {
			return h, nil, fmt.Errorf("%w: %w", ErrBus, err)
		}
	}
	d.st.bytesIn.Add(uint64(wire.FrameLen(int(h.Len))))
	p, err := wire.CheckPayload(body)
	if err != nil {
		return h, nil, ErrCRC
	}
	if h.Seq != seq {
		return h, nil, ErrSequence
	}
	if h.Type == wire.TypeError {
		return h, p, deviceError(p)
	}
	if h.Type != typ.Response() {
		return h, nil, errWrongType
	}
	return h, p, nil
}

// usable returns the error a batch fails with at once when the device is
// not to be used.
func (d *Driver) usable() error {
	if d.closed.Load() {
		return ErrClosed
	}
	if !d.healthy.Load() {
		d.st.rejected.Add(1)
		return ErrUnhealthy
	}
	return nil
}

// fail counts a fault, marks the device unhealthy and starts the re-probe.
// A refusal from the device where none can be (no channel, say, in answer
// to a batch) is a protocol fault. Called with mu held.
func (d *Driver) fail(err error) error {
	k := kindOf(err)
	if k < 0 {
		err, k = errDevBad, FaultProtocol
	}
	d.st.faults[k].Add(1)
	if d.healthy.Load() {
		d.o.log.Warn("dsp: device fault, falling back to the pure-Go engines", "err", err)
	}
	d.down()
	return err
}

// down marks the device unhealthy and starts the re-probe unless one
// runs. Called with mu held.
func (d *Driver) down() {
	d.healthy.Store(false)
	if !d.probing && !d.closed.Load() {
		d.probing = true
		d.wg.Add(1)
		go d.reprobe()
	}
}

// reprobe retries the device with back-off until it answers HELLO.
func (d *Driver) reprobe() {
	defer d.wg.Done()
	wait := d.o.backoffMin
	for {
		t := time.NewTimer(wait)
		select {
		case <-d.stop:
			t.Stop()
			d.mu.Lock()
			d.probing = false
			d.mu.Unlock()
			return
		case <-t.C:
		}
		d.mu.Lock()
		err := d.probe()
		if err == nil {
			d.probing = false
			d.healthy.Store(true)
			d.st.recoveries.Add(1)
			d.mu.Unlock()
			d.o.log.Info("dsp: device back", "boot", d.hello.BootID)
			return
		}
		d.st.probeFailures.Add(1)
		d.mu.Unlock()
		d.o.log.Warn("dsp: re-probe failed", "err", err, "retry_in", wait)
		wait = min(2*wait, d.o.backoffMax)
	}
}

// Probe resets the device and says HELLO now, whatever its health: what
// the background re-probe does, for tools and tests. Channels opened
// before it are gone. When it fails the device is unhealthy and the
// background re-probe takes over.
func (d *Driver) Probe() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return ErrClosed
	}
	if err := d.probe(); err != nil {
		// The reset pulse went out: whatever ran on the device is gone.
		d.st.probeFailures.Add(1)
		d.down()
		return err
	}
	if !d.healthy.Swap(true) {
		d.st.recoveries.Add(1)
	}
	return nil
}

// Healthy reports whether batches go to the device.
func (d *Driver) Healthy() bool { return d.healthy.Load() && !d.closed.Load() }

// Hello returns what the device announced at the last probe.
func (d *Driver) Hello() wire.Hello {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hello
}

// Offload returns the device as the MCU takes it: codec and mix offload,
// and Healthy.
func (d *Driver) Offload() hal.Offload {
	return hal.Offload{Codec: codecSide{d}, Mix: mixSide{d}, Healthy: d.Healthy}
}

// Status reports the driver for the HAL's report at start.
func (d *Driver) Status() []hal.DriverStatus {
	h := d.Hello()
	reason := fmt.Sprintf("%s (boot %08x): %d channels, mixes of %d", h.Name, h.BootID, h.MaxChannels, h.MaxInputs)
	if !d.Healthy() {
		reason = "device fault, re-probing; the pure-Go engines do the work"
	}
	return []hal.DriverStatus{
		{Capability: hal.CapCodec, Driver: "dsp-spi", Active: d.Healthy(), Reason: reason},
		{Capability: hal.CapMix, Driver: "dsp-spi", Active: d.Healthy(), Reason: reason},
	}
}

// Close stops the re-probe and releases the bus. Batches fail afterwards.
func (d *Driver) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	close(d.stop)
	d.wg.Wait()
	// Wait for a batch still on the bus before the bus goes away.
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.o.closer != nil {
		return d.o.closer()
	}
	return nil
}
