package sockpath

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// readBatch bounds one recvmmsg call; 64 is the batch measured in
// performance anchors §2.3. Read loops for longer caller batches.
const readBatch = 64

// readEvents bounds one epoll_wait. At one packet per socket per 20 ms tick
// each ready socket yields about one packet, so a caller's batch of 256
// wants 256 events from one call; with 64 events per call BenchmarkRead
// took about 20 % more CPU per packet.
const readEvents = 256

// reader is Read's preallocated scratch; readMu guards it. Each message
// header points at its own iovec and address slot once and for all; Read
// only aims the iovecs at the caller's buffers.
type reader struct {
	events [readEvents]unix.EpollEvent
	hdrs   [readBatch]unix.Mmsghdr
	iovs   [readBatch]unix.Iovec
	addrs  [readBatch]unix.RawSockaddrInet6
}

func newReader() *reader {
	r := new(reader)
	for i := range r.hdrs {
		h := &r.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&r.addrs[i]))
		h.Iov = &r.iovs[i]
		h.SetIovlen(1)
	}
	return r
}

// Read blocks until at least one datagram has arrived on any flow, or the
// path is shut down (hal.ErrClosed), and fills up to len(pkts) packets: Flow,
// RTCP (the datagram came to the RTCP port), From, N and the payload in
// pkts[i].Buf[:N]; To is cleared. Packets come from any source: latching is
// the MCU's decision. A datagram longer than len(Buf) is dropped and counted
// in RxDropped; to keep the caller's batch dense Read may then swap Buf
// slices between entries of pkts, but never loses or allocates one.
//
// Read must be called from one goroutine at a time; others wait. It does
// not allocate.
func (p *Path) Read(pkts []hal.Packet) (int, error) {
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
		// Level-triggered (epoll(7)): a socket left unread because pkts
		// filled up is reported again, after the others that were ready,
		// so no flow starves.
		nev, err := unix.EpollWait(p.epfd, r.events[:min(len(pkts), readEvents)], -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("sockpath: epoll_wait: %w", err)
		}
		var n int
		var bytes, drops uint64
		for i := 0; i < nev && n < len(pkts); i++ {
			ev := &r.events[i]
			if ev.Pad == tagWake {
				continue // Shutdown set closed before waking us
			}
			got, b, d := p.drainFlow(r, hal.FlowID(uint32(ev.Fd)), ev.Pad, pkts[n:])
			n, bytes, drops = n+got, bytes+b, drops+d
		}
		if n > 0 {
			p.counters.rxPackets.Add(uint64(n))
			p.counters.rxBytes.Add(bytes)
		}
		if drops > 0 {
			p.counters.rxDropped.Add(drops)
		}
		if n > 0 {
			return n, nil
		}
	}
}

// drainFlow receives from one ready socket of flow id, holding the slot
// shared so Close cannot close the descriptor meanwhile. An event for a flow
// closed since epoll_wait returned (a stale id) reads nothing.
func (p *Path) drainFlow(r *reader, id hal.FlowID, tag int32, pkts []hal.Packet) (int, uint64, uint64) {
	s := p.slotOf(id)
	if s == nil || (tag != tagRTP && tag != tagRTCP) {
		return 0, 0, 0
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.id != id || id == 0 {
		return 0, 0, 0
	}
	return r.drain(s.fd[tag], id, tag == tagRTCP, pkts)
}

// drain reads datagrams from fd with recvmmsg(2) until the socket's queue
// is empty or pkts is full, and returns how many packets it filled, their
// bytes, and how many truncated datagrams it dropped.
func (r *reader) drain(fd int, id hal.FlowID, rtcp bool, pkts []hal.Packet) (n int, bytes, drops uint64) {
	for n < len(pkts) {
		batch := pkts[n : n+min(len(pkts)-n, readBatch)]
		for i := range batch {
			buf := batch[i].Buf
			iov := &r.iovs[i]
			iov.Base = nil
			if len(buf) > 0 {
				iov.Base = &buf[0]
			}
			iov.SetLen(len(buf))
			r.hdrs[i].Hdr.Namelen = sockaddrLen6
			r.hdrs[i].Hdr.Flags = 0
		}
		got, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&r.hdrs[0])), uintptr(len(batch)), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 {
			// EAGAIN: nothing (more) queued. Anything else is a pending
			// socket error, such as ECONNREFUSED from an ICMP port
			// unreachable (udp(7)); reading it cleared it, and the flow
			// lives on.
			return n, bytes, drops
		}
		kept := 0
		for i := range int(got) {
			h := &r.hdrs[i]
			if h.Hdr.Flags&unix.MSG_TRUNC != 0 {
				drops++
				continue
			}
			if kept != i {
				// The datagram is in batch[i].Buf; move that buffer into
				// the next dense entry and the truncated one's out.
				batch[kept].Buf, batch[i].Buf = batch[i].Buf, batch[kept].Buf
			}
			pk := &batch[kept]
			pk.Flow, pk.RTCP, pk.N = id, rtcp, int(h.Len)
			pk.From, pk.To = sockaddrAddrPort(&r.addrs[i]), netip.AddrPort{}
			bytes += uint64(h.Len)
			kept++
		}
		n += kept
		if int(got) < len(batch) {
			// recvmmsg without MSG_WAITFORONE on a non-blocking socket
			// stops only when the queue is empty: no need to call again
			// just to collect EAGAIN.
			return n, bytes, drops
		}
	}
	return n, bytes, drops
}
