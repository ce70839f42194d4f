//go:build linux

package xdppath

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// rxBatch bounds the descriptors taken from one RX ring at a time.
const rxBatch = 64

// reader is Read's preallocated scratch in AF_XDP mode; readMu guards it.
type reader struct {
	descs    [rxBatch]unix.XDPDesc
	poll     []unix.PollFd // one per queue, then the wake eventfd
	coalesce unix.Timespec // rxCoalesce
}

// startXSK readies AF_XDP mode: the flow slots, and Read's poll set.
func (p *Path) startXSK(slots int) error {
	var err error
	if p.wakefd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("xdppath: eventfd: %w", err)
	}
	p.slots = make([]slot, slots)
	p.rd = &reader{coalesce: unix.NsecToTimespec(int64(rxCoalesce))}
	for _, q := range p.queues {
		p.rd.poll = append(p.rd.poll, unix.PollFd{Fd: int32(q.sock.FD()), Events: unix.POLLIN})
	}
	p.rd.poll = append(p.rd.poll, unix.PollFd{Fd: int32(p.wakefd), Events: unix.POLLIN})
	p.fbPool.New = func() any {
		s := make([]hal.Packet, 0, 64)
		return &s
	}
	return nil
}

// readXSK blocks until packets arrived on any queue's RX ring, or Shutdown,
// and fills pkts: Flow and RTCP from the destination port, From from the
// frame, the UDP payload copied into Buf. Frames that do not parse, whose
// flow closed meanwhile, or that do not fit Buf are dropped and counted in
// RxDropped. Each frame teaches its flow the next hop's MAC back to the
// frame's source. It does not allocate.
func (p *Path) readXSK(pkts []hal.Packet) (int, error) {
	p.readMu.Lock()
	defer p.readMu.Unlock()
	r := p.rd
	for {
		if p.closed.Load() {
			return 0, hal.ErrClosed
		}
		if len(pkts) == 0 {
			return 0, nil
		}
		n := 0
		var bytes, drops uint64
		for _, q := range p.queues {
			for n < len(pkts) {
				k := q.sock.Receive(r.descs[:min(rxBatch, len(pkts)-n)])
				if k == 0 {
					break
				}
				for _, d := range r.descs[:k] {
					if b, ok := p.deliver(q.sock.Frame(d), &pkts[n]); ok {
						n++
						bytes += uint64(b)
					} else {
						drops++
					}
				}
				q.sock.Recycle(r.descs[:k])
			}
		}
		if drops > 0 {
			p.counters.rxDropped.Add(drops)
		}
		if n > 0 {
			p.counters.rxPackets.Add(uint64(n))
			p.counters.rxBytes.Add(bytes)
			return n, nil
		}
		// The rings were empty: sleep until the kernel fills one. A packet
		// that arrived since Receive looked makes poll return at once.
		_, err := unix.Poll(r.poll, -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return 0, fmt.Errorf("xdppath: poll: %w", err)
		}
		// Let the packets that follow the first catch up with it, so that
		// a wakeup reads a batch (the user-space form of a NIC's interrupt
		// moderation). Media waits in a jitter buffer for tens of
		// milliseconds; this adds well under one.
		if !p.closed.Load() {
			_ = unix.Nanosleep(&r.coalesce, nil)
		}
	}
}

// rxCoalesce is how long Read lets packets gather after a wakeup.
const rxCoalesce = 500 * time.Microsecond

// deliver turns one received frame into pk and reports its payload size.
func (p *Path) deliver(frame []byte, pk *hal.Packet) (int, bool) {
	f, ok := parseUDP(frame)
	port := f.dst.Port()
	if !ok || port < p.low {
		return 0, false
	}
	idx := int(port-p.low) / 2
	if idx >= len(p.slots) || len(f.payload) > len(pk.Buf) {
		return 0, false
	}
	s := &p.slots[idx]
	id := s.id.Load()
	if id == 0 {
		return 0, false
	}
	pk.Flow, pk.RTCP, pk.N = hal.FlowID(id), (port-p.low)%2 == 1, copy(pk.Buf, f.payload)
	pk.From, pk.To = f.src, netip.AddrPort{}
	s.mu.RLock()
	known := s.peer == f.src.Addr() && s.peerMAC == f.srcMAC
	s.mu.RUnlock()
	if !known {
		s.mu.Lock()
		if s.id.Load() == id {
			s.peer, s.peerMAC = f.src.Addr(), f.srcMAC
		}
		s.mu.Unlock()
	}
	return pk.N, true
}
