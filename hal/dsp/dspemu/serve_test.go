package dspemu_test

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"confab/hal/dsp/wire"
)

// sockOp sends one socket-transport message and reads the reply.
func sockOp(t *testing.T, c net.Conn, msg []byte, rlen int) (status, ready byte, data []byte) {
	t.Helper()
	if _, err := c.Write(msg); err != nil {
		t.Fatal(err)
	}
	reply := make([]byte, 2+rlen)
	if _, err := io.ReadFull(c, reply); err != nil {
		t.Fatal(err)
	}
	return reply[0], reply[1], reply[2:]
}

func TestTheSocketTransportCarriesTheBusAndTheLines(t *testing.T) {
	d, _ := newDev()
	host, dev := net.Pipe()
	go d.ServeConn(dev)
	defer host.Close()
	if st, rd, _ := sockOp(t, host, []byte{wire.SockReady}, 0); st != wire.SockOK || rd != 1 {
		t.Fatalf("READY after boot: status %d ready %d", st, rd)
	}
	if _, rd, _ := sockOp(t, host, []byte{wire.SockReset, 0}, 0); rd != 0 {
		t.Error("READY high while held in reset")
	}
	if _, rd, _ := sockOp(t, host, []byte{wire.SockReset, 1}, 0); rd != 1 {
		t.Error("READY low after the reset was released")
	}
	req := request(wire.TypeHello, 0, []byte{1, 0, 1, 0})
	msg := []byte{wire.SockTx, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint32(msg[1:], uint32(len(req)))
	msg = append(msg, req...)
	if st, rd, _ := sockOp(t, host, msg, 0); st != wire.SockOK || rd != 1 {
		t.Fatalf("request: status %d ready %d", st, rd)
	}
	msg = []byte{wire.SockWait, 0x10, 0x27, 0, 0} // 10 ms
	if _, rd, _ := sockOp(t, host, msg, 0); rd != 1 {
		t.Error("no READY for the response")
	}
	msg = []byte{wire.SockTx, 0, 0, 0, 0, wire.HeaderLen, 0, 0, 0}
	_, _, hb := sockOp(t, host, msg, wire.HeaderLen)
	if h, err := wire.ParseHeader(hb, wire.MaxPayload); err != nil || h.Type != wire.TypeHello.Response() {
		t.Errorf("response header: %+v %v", h, err)
	}
}

// FuzzServeConn feeds the emulator's socket server arbitrary bytes: it
// answers or drops the connection, never panics or hangs.
func FuzzServeConn(f *testing.F) {
	f.Add([]byte{wire.SockReady, wire.SockReset, 0, wire.SockReset, 1})
	f.Add([]byte{wire.SockTx, 4, 0, 0, 0, 4, 0, 0, 0, 0xd5, 0x50, 1, 1})
	f.Add([]byte{wire.SockWait, 0x10, 0x27, 0, 0, 'x'})
	f.Add([]byte{wire.SockTx, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, _ := newDev()
		host, dev := net.Pipe()
		done := make(chan struct{})
		go func() { d.ServeConn(dev); dev.Close(); close(done) }()
		go io.Copy(io.Discard, host)
		host.SetWriteDeadline(time.Now().Add(5 * time.Second))
		host.Write(b)
		host.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("the server hangs")
		}
	})
}
