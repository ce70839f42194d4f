//go:build linux

package xsk

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Errors a caller can tell apart.
var (
	// ErrConfig is returned by Open for sizes it cannot use.
	ErrConfig = errors.New("xsk: invalid configuration")
	// ErrNoQueue is returned by Open when the interface has no such RX
	// queue (the kernel's EINVAL from bind).
	ErrNoQueue = errors.New("xsk: no such queue")
)

// Defaults: 4096 frames of 2 KiB (8 MiB of UMEM per socket), half of them
// lent to the kernel for receiving, rings of 2048 entries. At one 20 ms
// packet per participant that holds a second of backlog for 100
// participants per queue, or 40 ms for 2500; the MCU reads far faster.
const (
	DefaultFrames    = 4096
	DefaultFrameSize = 2048
	DefaultRingSize  = 2048
)

// Config sizes a socket. Zero fields take the defaults.
type Config struct {
	// Frames is the number of UMEM frames, FrameSize their size: a power
	// of two from 2048 to the page size (aligned chunk mode, af_xdp.rst).
	Frames, FrameSize int
	// RingSize is the number of entries of each ring, a power of two. Half
	// of the frames go to receiving and half to sending, so RingSize must
	// hold Frames/2.
	RingSize int
}

func (c *Config) setDefaults() {
	if c.Frames == 0 {
		c.Frames = DefaultFrames
	}
	if c.FrameSize == 0 {
		c.FrameSize = DefaultFrameSize
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
}

func (c Config) validate() error {
	pow2 := func(n int) bool { return n > 0 && n&(n-1) == 0 }
	switch {
	case !pow2(c.FrameSize) || c.FrameSize < 2048 || c.FrameSize > unix.Getpagesize():
		return fmt.Errorf("%w: frame size %d: want a power of two from 2048 to the page size", ErrConfig, c.FrameSize)
	case !pow2(c.RingSize):
		return fmt.Errorf("%w: ring size %d: want a power of two", ErrConfig, c.RingSize)
	case c.Frames < 2 || c.Frames%2 != 0 || c.Frames/2 > c.RingSize:
		return fmt.Errorf("%w: %d frames: want an even number whose half fits a ring of %d", ErrConfig, c.Frames, c.RingSize)
	}
	return nil
}

// Socket is one AF_XDP socket bound to one RX/TX queue of an interface,
// with its own UMEM. The receive side (Receive, Frame, Recycle) and the
// send side (TxFrame, Send, Flush, Reclaim) may each be used by one
// goroutine at a time; the two sides may run concurrently.
type Socket struct {
	fd        int
	ifindex   int
	queue     int
	zeroCopy  bool
	frameSize uint64

	umem  []byte
	maps  [4][]byte // rx, tx, fill, completion ring mappings
	rx    descRing
	tx    descRing
	fill  addrRing
	comp  addrRing
	freeT []uint64 // send frames not in flight
}

// Open creates an AF_XDP socket on queue queue of interface ifindex,
// registers its UMEM, maps its four rings, lends the receive frames to the
// kernel and binds. The kernel chooses zero-copy where the driver supports
// it, copy mode otherwise (ZeroCopy tells which). Open needs CAP_NET_RAW
// (root) and, for packets to arrive, an XDP program that redirects them
// into an XSKMAP holding this socket.
func Open(ifindex, queue int, cfg Config) (*Socket, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	fd, err := unix.Socket(unix.AF_XDP, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("xsk: socket(AF_XDP): %w", err)
	}
	s := &Socket{fd: fd, ifindex: ifindex, queue: queue, frameSize: uint64(cfg.FrameSize)}
	if err := s.setup(cfg); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Socket) setup(cfg Config) error {
	var err error
	s.umem, err = unix.Mmap(-1, 0, cfg.Frames*cfg.FrameSize, unix.PROT_READ|unix.PROT_WRITE,
		unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_POPULATE)
	if err != nil {
		return fmt.Errorf("xsk: mmap UMEM: %w", err)
	}
	reg := unix.XDPUmemReg{
		Addr: uint64(uintptr(unsafe.Pointer(&s.umem[0]))),
		Len:  uint64(len(s.umem)),
		Size: uint32(cfg.FrameSize),
	}
	if err := setsockopt(s.fd, unix.XDP_UMEM_REG, unsafe.Pointer(&reg), unsafe.Sizeof(reg)); err != nil {
		return fmt.Errorf("xsk: XDP_UMEM_REG: %w", err)
	}
	for _, opt := range []int{unix.XDP_UMEM_FILL_RING, unix.XDP_UMEM_COMPLETION_RING, unix.XDP_RX_RING, unix.XDP_TX_RING} {
		if err := unix.SetsockoptInt(s.fd, unix.SOL_XDP, opt, cfg.RingSize); err != nil {
			return fmt.Errorf("xsk: ring size option %d: %w", opt, err)
		}
	}
	var off unix.XDPMmapOffsets
	if err := getsockopt(s.fd, unix.XDP_MMAP_OFFSETS, unsafe.Pointer(&off), unsafe.Sizeof(off)); err != nil {
		return fmt.Errorf("xsk: XDP_MMAP_OFFSETS: %w", err)
	}
	size := uint32(cfg.RingSize)
	descLen := uint64(unsafe.Sizeof(unix.XDPDesc{}))
	maps := []struct {
		pgoff int64
		off   unix.XDPRingOffset
		entry uint64
	}{
		{unix.XDP_PGOFF_RX_RING, off.Rx, descLen},
		{unix.XDP_PGOFF_TX_RING, off.Tx, descLen},
		{unix.XDP_UMEM_PGOFF_FILL_RING, off.Fr, 8},
		{unix.XDP_UMEM_PGOFF_COMPLETION_RING, off.Cr, 8},
	}
	for i, m := range maps {
		s.maps[i], err = unix.Mmap(s.fd, m.pgoff, int(m.off.Desc+uint64(size)*m.entry),
			unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
		if err != nil {
			return fmt.Errorf("xsk: mmap ring %d: %w", i, err)
		}
	}
	s.rx = newDescRing(s.maps[0], off.Rx, size)
	s.tx = newDescRing(s.maps[1], off.Tx, size)
	s.fill = newAddrRing(s.maps[2], off.Fr, size)
	s.comp = newAddrRing(s.maps[3], off.Cr, size)

	// The first half of the frames receive, the second half send.
	half := cfg.Frames / 2
	n := s.fill.free(uint32(half))
	for i := range n {
		s.fill.addrs[(s.fill.cached+i)&s.fill.mask] = uint64(i) * s.frameSize
	}
	s.fill.submit(n)
	s.freeT = make([]uint64, 0, half)
	for i := half; i < cfg.Frames; i++ {
		s.freeT = append(s.freeT, uint64(i)*s.frameSize)
	}

	sa := unix.SockaddrXDP{Flags: unix.XDP_USE_NEED_WAKEUP, Ifindex: uint32(s.ifindex), QueueID: uint32(s.queue)}
	if err := unix.Bind(s.fd, &sa); err != nil {
		if errors.Is(err, unix.EINVAL) {
			return fmt.Errorf("%w: bind to queue %d of interface %d: %v", ErrNoQueue, s.queue, s.ifindex, err)
		}
		return fmt.Errorf("xsk: bind to queue %d of interface %d: %w", s.queue, s.ifindex, err)
	}
	var opts uint32
	if err := getsockopt(s.fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts)); err == nil {
		s.zeroCopy = opts&unix.XDP_OPTIONS_ZEROCOPY != 0
	}
	return nil
}

// FD is the socket's descriptor, for the XSKMAP and for poll(2).
func (s *Socket) FD() int { return s.fd }

// Queue is the RX/TX queue the socket is bound to.
func (s *Socket) Queue() int { return s.queue }

// ZeroCopy reports whether the driver runs the socket in zero-copy mode;
// otherwise the kernel copies each packet between the driver and the UMEM.
func (s *Socket) ZeroCopy() bool { return s.zeroCopy }

// Close unmaps the rings and the UMEM and closes the socket. The XSKMAP
// entry goes with the socket.
func (s *Socket) Close() error {
	var err error
	if s.fd >= 0 {
		err = unix.Close(s.fd)
		s.fd = -1
	}
	for i, m := range s.maps {
		if m != nil {
			_ = unix.Munmap(m)
			s.maps[i] = nil
		}
	}
	if s.umem != nil {
		_ = unix.Munmap(s.umem)
		s.umem = nil
	}
	return err
}

// Receive takes up to len(descs) received packets off the RX ring. The
// packets' bytes are Frame(descs[i]) until the caller gives the frames
// back with Recycle. It does not block or allocate.
func (s *Socket) Receive(descs []unix.XDPDesc) int {
	n := s.rx.ready(uint32(len(descs)))
	for i := range n {
		descs[i] = s.rx.descs[(s.rx.cached+i)&s.rx.mask]
	}
	s.rx.release(n)
	return int(n)
}

// Frame is a received (or to-be-sent) packet's bytes inside the UMEM.
func (s *Socket) Frame(d unix.XDPDesc) []byte {
	return s.umem[d.Addr : d.Addr+uint64(d.Len) : d.Addr+uint64(d.Len)]
}

// Recycle lends received frames back to the kernel through the fill ring,
// and wakes the driver if it asked to be (XDP_USE_NEED_WAKEUP). The fill
// ring holds every receive frame, so there is always room.
func (s *Socket) Recycle(descs []unix.XDPDesc) {
	n := s.fill.free(uint32(len(descs)))
	for i := range n {
		// Aligned chunk mode: the frame is the address rounded down.
		s.fill.addrs[(s.fill.cached+i)&s.fill.mask] = descs[i].Addr &^ (s.frameSize - 1)
	}
	s.fill.submit(n)
	if s.fill.needWakeup() {
		_, _, _ = unix.Syscall6(unix.SYS_RECVFROM, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
	}
}

// TxFrame returns a free send frame, reclaiming completed sends when none
// is left, and false when every frame is still in flight.
func (s *Socket) TxFrame() (addr uint64, buf []byte, ok bool) {
	if len(s.freeT) == 0 {
		s.Reclaim()
		if len(s.freeT) == 0 {
			return 0, nil, false
		}
	}
	addr = s.freeT[len(s.freeT)-1]
	s.freeT = s.freeT[:len(s.freeT)-1]
	return addr, s.umem[addr : addr+s.frameSize : addr+s.frameSize], true
}

// Release returns a frame from TxFrame that will not be sent after all.
func (s *Socket) Release(addr uint64) { s.freeT = append(s.freeT, addr) }

// Send queues the first n bytes of the frame at addr on the TX ring; it
// leaves when Flush kicks the kernel. It reports false, and keeps the
// frame, when the ring is full.
func (s *Socket) Send(addr uint64, n int) bool {
	if s.tx.free(1) == 0 {
		return false
	}
	s.tx.descs[s.tx.cached&s.tx.mask] = unix.XDPDesc{Addr: addr, Len: uint32(n)}
	s.tx.submit(1)
	return true
}

// flushKicks bounds Flush. In copy mode each sendto(2) sends a batch of
// descriptors (32 in Linux 6.1's xsk_generic_xmit) and returns EAGAIN while
// more remain.
const flushKicks = 64

// Flush kicks the kernel to transmit what Send queued, if it asked to be
// kicked (XDP_USE_NEED_WAKEUP: a zero-copy driver that is still busy does
// not). Errors are transient (EAGAIN, EBUSY, ENOBUFS, ENETDOWN): the
// descriptors stay queued for the next Flush.
func (s *Socket) Flush() error {
	for range flushKicks {
		if atomic.LoadUint32(s.tx.consumer) == s.tx.cached || !s.tx.needWakeup() {
			return nil // all taken, or the driver is on it
		}
		_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(s.fd), 0, 0, unix.MSG_DONTWAIT, 0, 0)
		switch errno {
		case 0, unix.EAGAIN, unix.EBUSY:
			// Sent a batch, or more remain, or the kernel is sending.
		default:
			return errno
		}
	}
	return nil
}

// Reclaim moves completed sends from the completion ring back to the free
// send frames.
func (s *Socket) Reclaim() {
	n := s.comp.ready(s.comp.size)
	for i := range n {
		s.freeT = append(s.freeT, s.comp.addrs[(s.comp.cached+i)&s.comp.mask])
	}
	s.comp.release(n)
}

// Stats are the kernel's counters for the socket (XDP_STATISTICS).
type Stats struct {
	RxDropped       uint64 // packets dropped for another reason than a full ring
	RxInvalidDescs  uint64
	TxInvalidDescs  uint64
	RxRingFull      uint64 // packets dropped because the RX ring was full
	RxFillRingEmpty uint64 // times the fill ring had no frame for a packet
	TxRingEmpty     uint64
}

// Stats reads the kernel's counters for the socket.
func (s *Socket) Stats() (Stats, error) {
	var st unix.XDPStatistics
	if err := getsockopt(s.fd, unix.XDP_STATISTICS, unsafe.Pointer(&st), unsafe.Sizeof(st)); err != nil {
		return Stats{}, fmt.Errorf("xsk: XDP_STATISTICS: %w", err)
	}
	return Stats{
		RxDropped: st.Rx_dropped, RxInvalidDescs: st.Rx_invalid_descs, TxInvalidDescs: st.Tx_invalid_descs,
		RxRingFull: st.Rx_ring_full, RxFillRingEmpty: st.Rx_fill_ring_empty_descs, TxRingEmpty: st.Tx_ring_empty_descs,
	}, nil
}

func setsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	_, _, errno := unix.Syscall6(unix.SYS_SETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), n, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func getsockopt(fd, opt int, p unsafe.Pointer, n uintptr) error {
	l := uint32(n)
	_, _, errno := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_XDP, uintptr(opt), uintptr(p), uintptr(unsafe.Pointer(&l)), 0)
	if errno != 0 {
		return errno
	}
	return nil
}
