package dsp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/pin"
	"periph.io/x/conn/v3/spi"

	"confab/hal/dsp/wire"
)

// sockBus is the SPI bus and the READY and RESET lines of an emulated
// device reached over a Unix socket (docs/dsp-protocol.md §8). A broken
// connection is dialled again at the next operation, so an emulator that
// is restarted looks like a device that was reset.
type sockBus struct {
	path    string
	timeout time.Duration

	mu    sync.Mutex
	c     net.Conn
	buf   []byte
	reply [2]byte
	// ready is READY as the last reply reported it; fresh says no Read
	// has used it yet, so the Read right after a transaction costs no
	// round trip.
	ready, fresh bool
}

// errSockStatus is a transaction the emulator refused.
var errSockStatus = errors.New("dsp: the emulator refused the operation")

func dialSock(path string, timeout time.Duration) (*sockBus, error) {
	s := &sockBus{path: path, timeout: timeout, buf: make([]byte, 64)}
	if err := s.dial(); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *sockBus) dial() error {
	c, err := net.DialTimeout("unix", s.path, time.Second)
	if err != nil {
		return fmt.Errorf("dsp: %w", err)
	}
	s.c = c
	return nil
}

// do sends one op (the bytes in s.buf[:n]) and reads its reply, and r's
// bytes after it.
func (s *sockBus) do(n int, r []byte) error {
	if s.c == nil {
		if err := s.dial(); err != nil {
			return err
		}
	}
	err := s.c.SetDeadline(time.Now().Add(s.timeout))
	if err == nil {
		_, err = s.c.Write(s.buf[:n])
	}
	if err == nil {
		_, err = io.ReadFull(s.c, s.reply[:])
	}
	if err == nil && len(r) > 0 {
		_, err = io.ReadFull(s.c, r)
	}
	if err != nil {
		s.c.Close()
		s.c = nil
		return err
	}
	s.ready, s.fresh = s.reply[1] == 1, true
	if s.reply[0] != wire.SockOK {
		return errSockStatus
	}
	return nil
}

func (s *sockBus) room(n int) {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	s.buf = s.buf[:cap(s.buf)]
}

// Tx implements spi.Conn.
func (s *sockBus) Tx(w, r []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.room(9 + len(w))
	s.buf[0] = wire.SockTx
	binary.LittleEndian.PutUint32(s.buf[1:], uint32(len(w)))
	binary.LittleEndian.PutUint32(s.buf[5:], uint32(len(r)))
	copy(s.buf[9:], w)
	return s.do(9+len(w), r)
}

func (s *sockBus) String() string      { return "unix:" + s.path }
func (s *sockBus) Duplex() conn.Duplex { return conn.Full }

// TxPackets implements spi.Conn.
func (s *sockBus) TxPackets(p []spi.Packet) error {
	for _, q := range p {
		if err := s.Tx(q.W, q.R); err != nil {
			return err
		}
	}
	return nil
}

func (s *sockBus) readReady() gpio.Level {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fresh {
		s.fresh = false
		return gpio.Level(s.ready)
	}
	s.buf[0] = wire.SockReady
	if s.do(1, nil) != nil {
		return gpio.Low
	}
	s.fresh = false
	return gpio.Level(s.ready)
}

func (s *sockBus) waitReady(d time.Duration) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf[0] = wire.SockWait
	binary.LittleEndian.PutUint32(s.buf[1:], uint32(d/time.Microsecond))
	if s.do(5, nil) != nil {
		return false
	}
	s.fresh = true
	return s.ready
}

func (s *sockBus) setReset(l gpio.Level) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf[0] = wire.SockReset
	s.buf[1] = 0
	if l {
		s.buf[1] = 1
	}
	return s.do(2, nil)
}

func (s *sockBus) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return nil
	}
	err := s.c.Close()
	s.c = nil
	return err
}

var _ spi.Conn = &sockBus{}

// sockPin is READY or RESET over the socket.
type sockPin struct {
	s     *sockBus
	reset bool
}

var errPinDir = errors.New("dsp: pin does not go that way")

func (p sockPin) String() string {
	if p.reset {
		return "unix-RESET"
	}
	return "unix-READY"
}
func (p sockPin) Name() string                          { return p.String() }
func (p sockPin) Number() int                           { return -1 }
func (p sockPin) Function() string                      { return "" }
func (p sockPin) Halt() error                           { return nil }
func (p sockPin) Pull() gpio.Pull                       { return gpio.PullNoChange }
func (p sockPin) DefaultPull() gpio.Pull                { return gpio.PullNoChange }
func (p sockPin) PWM(gpio.Duty, physic.Frequency) error { return errPinDir }
func (p sockPin) Func() pin.Func                        { return pin.FuncNone }
func (p sockPin) SupportedFuncs() []pin.Func            { return nil }
func (p sockPin) SetFunc(pin.Func) error                { return errPinDir }

func (p sockPin) In(gpio.Pull, gpio.Edge) error {
	if p.reset {
		return errPinDir
	}
	return nil
}

func (p sockPin) Read() gpio.Level {
	if p.reset {
		return gpio.High
	}
	return p.s.readReady()
}

// WaitForEdge waits on the emulator's side for READY to be high.
func (p sockPin) WaitForEdge(d time.Duration) bool {
	if p.reset {
		return false
	}
	if d < 0 {
		d = time.Hour
	}
	return p.s.waitReady(d)
}

func (p sockPin) Out(l gpio.Level) error {
	if !p.reset {
		return errPinDir
	}
	return p.s.setReset(l)
}

var _ gpio.PinIO = sockPin{}
