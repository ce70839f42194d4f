package dspemu

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"confab/hal/dsp/wire"
)

// maxSockWait bounds a host's SockWait, in microseconds: no driver waits
// for READY longer than a second.
const maxSockWait = 1_000_000

// WaitReady waits up to timeout for READY to be high.
func (d *Device) WaitReady(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		if d.readyLevel() {
			return true
		}
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		t := time.NewTimer(left)
		select {
		case <-d.readyEdge:
		case <-t.C:
		}
		t.Stop()
	}
}

// Serve answers hosts on ln with the socket transport of
// docs/dsp-protocol.md §8 until ln is closed. There is one bus, so one host:
// a new connection replaces the one before it (a restarted confabd does
// not wait for its dead predecessor to time out).
func (d *Device) Serve(ln net.Listener) error {
	var cur net.Conn
	var done chan struct{}
	stop := func() {
		if cur != nil {
			cur.Close()
			<-done
		}
	}
	defer stop()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		stop()
		cur, done = c, make(chan struct{})
		go func(c net.Conn, done chan struct{}) {
			defer close(done)
			// A host that breaks the framing loses its connection; the
			// device carries on.
			d.ServeConn(c)
			c.Close()
		}(c, done)
	}
}

// ServeConn answers one host connection until it closes or breaks the
// framing.
func (d *Device) ServeConn(c net.Conn) error {
	br := bufio.NewReader(c)
	bw := bufio.NewWriter(c)
	var w, r []byte
	var hdr [8]byte
	for {
		op, err := br.ReadByte()
		if err != nil {
			return err
		}
		status := byte(wire.SockOK)
		var out []byte
		switch op {
		case wire.SockTx:
			if _, err := io.ReadFull(br, hdr[:8]); err != nil {
				return err
			}
			wl, rl := binary.LittleEndian.Uint32(hdr[:]), binary.LittleEndian.Uint32(hdr[4:])
			if wl > wire.SockMaxTx || rl > wire.SockMaxTx {
				return fmt.Errorf("dspemu: transaction of %d/%d bytes", wl, rl)
			}
			w, r = grow(w, int(wl)), grow(r, int(rl))
			if _, err := io.ReadFull(br, w); err != nil {
				return err
			}
			if err := d.Tx(w, r); err != nil {
				status = wire.SockErr
			}
			out = r
		case wire.SockReady:
		case wire.SockWait:
			if _, err := io.ReadFull(br, hdr[:4]); err != nil {
				return err
			}
			us := binary.LittleEndian.Uint32(hdr[:])
			d.WaitReady(time.Duration(min(us, maxSockWait)) * time.Microsecond)
		case wire.SockReset:
			lv, err := br.ReadByte()
			if err != nil {
				return err
			}
			d.HoldReset(lv == 0)
		default:
			return fmt.Errorf("dspemu: unknown socket op 0x%02x", op)
		}
		rd := byte(0)
		if d.readyLevel() {
			rd = 1
		}
		bw.WriteByte(status)
		bw.WriteByte(rd)
		bw.Write(out)
		if err := bw.Flush(); err != nil {
			return err
		}
	}
}

func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
