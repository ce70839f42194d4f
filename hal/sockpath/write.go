package sockpath

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// sendBatch bounds a sendmmsg(2) call: the longest run of packets on one
// socket that Write hands to the kernel at once.
const sendBatch = 64

// sendScratch is one Write call's preallocated message headers, iovecs and
// destination addresses, linked to each other once when made. Concurrent
// Writes each take their own from Path.sendPool.
type sendScratch struct {
	hdrs  [sendBatch]unix.Mmsghdr
	iovs  [sendBatch]unix.Iovec
	addrs [sendBatch]unix.RawSockaddrInet6
}

func newSendScratch() *sendScratch {
	s := new(sendScratch)
	for i := range s.hdrs {
		h := &s.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&s.addrs[i]))
		h.Iov = &s.iovs[i]
		h.SetIovlen(1)
	}
	return s
}

// sendResult accumulates one Write call's outcome.
type sendResult struct {
	sent, bytes, errs uint64
	err               error // the first error worth reporting
}

func (r *sendResult) fail(n int, err error) {
	r.errs += uint64(n)
	if r.err == nil {
		r.err = err
	}
}

// failErrno counts a packet the kernel refused. Conditions of the network
// or of a peer are counted but not reported: a full socket buffer (EAGAIN,
// ENOBUFS), an ICMP error from an earlier datagram (ECONNREFUSED and kin,
// udp(7)) or a lost route say nothing about this packet's caller, recur
// every 20 ms while they last, and must not stop the flow.
func (r *sendResult) failErrno(errno unix.Errno) {
	switch errno {
	case unix.EAGAIN, unix.ENOBUFS, unix.ECONNREFUSED, unix.EHOSTUNREACH,
		unix.ENETUNREACH, unix.EHOSTDOWN, unix.ENETDOWN:
		r.errs++
	default:
		r.fail(1, errno)
	}
}

// Write sends each packet from its flow's RTP or RTCP socket (Packet.RTCP)
// to Packet.To, or when To is zero to the flow's remote for that socket.
// Consecutive packets of one flow and socket go in one sendmmsg(2); a lone
// packet goes by sendto(2). The sockets are non-blocking: a packet the
// kernel cannot queue now is dropped, as real-time media should be.
//
// Write does not stop at a packet it cannot send: it sends the rest, counts
// the failures in TxErrors, and returns how many packets the kernel took and
// the first failure caused by the caller: hal.ErrUnknownFlow, ErrNoRemote,
// ErrAddressFamily, ErrBadPacket, or a unix.Errno such as EMSGSIZE. (Those
// are returned unwrapped to keep the path allocation-free.) Network
// conditions are only counted, see failErrno. After Shutdown it returns
// hal.ErrClosed.
//
// Write is safe for concurrent use and does not allocate.
func (p *Path) Write(pkts []hal.Packet) (int, error) {
	if p.closed.Load() {
		return 0, hal.ErrClosed
	}
	sc := p.sendPool.Get().(*sendScratch)
	var res sendResult
	for i := 0; i < len(pkts); {
		j := i + 1
		for j < len(pkts) && j-i < sendBatch && pkts[j].Flow == pkts[i].Flow && pkts[j].RTCP == pkts[i].RTCP {
			j++
		}
		p.sendRun(sc, pkts[i:j], &res)
		i = j
	}
	p.sendPool.Put(sc)
	if res.sent > 0 {
		p.counters.txPackets.Add(res.sent)
		p.counters.txBytes.Add(res.bytes)
	}
	if res.errs > 0 {
		p.counters.txErrs.Add(res.errs)
	}
	return int(res.sent), res.err
}

// sendRun sends a run of packets that share a flow and socket, holding the
// slot shared so Close cannot close the descriptor meanwhile.
func (p *Path) sendRun(sc *sendScratch, run []hal.Packet, res *sendResult) {
	id := run[0].Flow
	s := p.slotOf(id)
	if s == nil {
		res.fail(len(run), hal.ErrUnknownFlow)
		return
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.id != id || id == 0 {
		res.fail(len(run), hal.ErrUnknownFlow)
		return
	}
	tag := tagRTP
	if run[0].RTCP {
		tag = tagRTCP
	}
	fd, def := s.fd[tag], s.remote[tag]

	k := 0
	for i := range run {
		pk := &run[i]
		if pk.N < 0 || pk.N > len(pk.Buf) {
			res.fail(1, ErrBadPacket)
			continue
		}
		to := pk.To
		if !to.IsValid() {
			to = def
		}
		if err := p.destErr(to); err != nil {
			res.fail(1, err)
			continue
		}
		sc.hdrs[k].Hdr.Namelen = putSockaddr(&sc.addrs[k], p.family, to)
		iov := &sc.iovs[k]
		iov.Base = nil
		if pk.N > 0 {
			iov.Base = &pk.Buf[0]
		}
		iov.SetLen(pk.N)
		k++
	}
	switch k {
	case 0:
	case 1:
		sendOne(fd, sc, res)
	default:
		sendMany(fd, sc, k, res)
	}
}

// destErr says why a packet cannot go to ap, or nil if it can.
func (p *Path) destErr(ap netip.AddrPort) error {
	switch {
	case p.usable(ap):
		return nil
	case !ap.IsValid() || ap.Addr().Unmap().IsUnspecified() || ap.Port() == 0:
		return ErrNoRemote
	default:
		return ErrAddressFamily
	}
}

// sendOne sends sc's first prepared packet with sendto(2).
func sendOne(fd int, sc *sendScratch, res *sendResult) {
	iov := &sc.iovs[0]
	_, _, errno := unix.Syscall6(unix.SYS_SENDTO, uintptr(fd),
		uintptr(unsafe.Pointer(iov.Base)), uintptr(iov.Len), unix.MSG_DONTWAIT,
		uintptr(unsafe.Pointer(&sc.addrs[0])), uintptr(sc.hdrs[0].Hdr.Namelen))
	if errno != 0 {
		res.failErrno(errno)
		return
	}
	res.sent++
	res.bytes += uint64(iov.Len)
}

// sendMany sends sc's first k prepared packets with sendmmsg(2). The call
// stops at the first message that fails and reports the error only if that
// was the first one, so a failed message is skipped and the call repeated
// for the rest.
func sendMany(fd int, sc *sendScratch, k int, res *sendResult) {
	for off := 0; off < k; {
		got, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(fd),
			uintptr(unsafe.Pointer(&sc.hdrs[off])), uintptr(k-off), unix.MSG_DONTWAIT, 0, 0)
		if errno != 0 || got == 0 {
			if errno == 0 {
				errno = unix.EIO // cannot happen for k-off > 0; never loop
			}
			res.failErrno(errno)
			off++
			continue
		}
		for i := off; i < off+int(got); i++ {
			res.bytes += uint64(sc.hdrs[i].Len)
		}
		res.sent += uint64(got)
		off += int(got)
	}
}
