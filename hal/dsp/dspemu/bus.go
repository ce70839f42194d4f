package dspemu

import (
	"errors"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/spi"
)

// Conn returns the device's end of the SPI bus, full duplex.
func (d *Device) Conn() spi.Conn { return busConn{d} }

// Ready returns the READY line, an input on the host's side; it supports
// rising-edge waits.
func (d *Device) Ready() gpio.PinIO { return &readyPin{d: d} }

// Reset returns the RESET line, an output on the host's side, active low:
// Low holds the device in reset, High lets it boot.
func (d *Device) Reset() gpio.PinIO { return &resetPin{d: d} }

type busConn struct{ d *Device }

func (c busConn) String() string       { return "dspemu" }
func (c busConn) Duplex() conn.Duplex  { return conn.Full }
func (c busConn) Tx(w, r []byte) error { return c.d.Tx(w, r) }
func (c busConn) TxPackets(p []spi.Packet) error {
	for _, q := range p {
		if err := c.d.Tx(q.W, q.R); err != nil {
			return err
		}
	}
	return nil
}

var _ spi.Conn = busConn{}

// errPinDir is what a pin says when driven in the direction it does not go.
var errPinDir = errors.New("dspemu: pin does not go that way")

// basePin holds the parts of gpio.PinIO both lines share.
type basePin struct{ name string }

func (p basePin) String() string                        { return p.name }
func (p basePin) Name() string                          { return p.name }
func (p basePin) Number() int                           { return -1 }
func (p basePin) Function() string                      { return "" }
func (p basePin) Halt() error                           { return nil }
func (p basePin) Pull() gpio.Pull                       { return gpio.PullNoChange }
func (p basePin) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (p basePin) PWM(gpio.Duty, physic.Frequency) error { return errPinDir }
func (p basePin) Func() pin.Func                        { return pin.FuncNone }
func (p basePin) SupportedFuncs() []pin.Func            { return nil }
func (p basePin) SetFunc(pin.Func) error                { return errPinDir }

type readyPin struct {
	basePin
	d *Device
}

func (p *readyPin) String() string { return "dspemu-READY" }

func (p *readyPin) In(gpio.Pull, gpio.Edge) error { return nil }

func (p *readyPin) Read() gpio.Level { return gpio.Level(p.d.readyLevel()) }

// WaitForEdge waits for READY to rise.
func (p *readyPin) WaitForEdge(timeout time.Duration) bool {
	if timeout < 0 {
		<-p.d.readyEdge
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.d.readyEdge:
		return true
	case <-t.C:
		return false
	}
}

func (p *readyPin) Out(gpio.Level) error { return errPinDir }

type resetPin struct {
	basePin
	d *Device
}

func (p *resetPin) String() string { return "dspemu-RESET" }

func (p *resetPin) In(gpio.Pull, gpio.Edge) error { return errPinDir }

func (p *resetPin) Read() gpio.Level {
	p.d.mu.Lock()
	defer p.d.mu.Unlock()
	return gpio.Level(!p.d.inReset)
}

func (p *resetPin) WaitForEdge(time.Duration) bool { return false }

// Out drives RESET (active low).
func (p *resetPin) Out(l gpio.Level) error {
	p.d.HoldReset(l == gpio.Low)
	return nil
}

var (
	_ gpio.PinIO = &readyPin{}
	_ gpio.PinIO = &resetPin{}
)

// Port returns the device as an spi.PortCloser, for periph's spitest.Record
// and for code that connects to a port itself.
func (d *Device) Port() spi.PortCloser { return busPort{d} }

type busPort struct{ d *Device }

func (p busPort) String() string                    { return "dspemu" }
func (p busPort) Close() error                      { return nil }
func (p busPort) LimitSpeed(physic.Frequency) error { return nil }
func (p busPort) Connect(physic.Frequency, spi.Mode, int) (spi.Conn, error) {
	return busConn(p), nil
}
