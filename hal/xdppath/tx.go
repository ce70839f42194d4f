//go:build linux

package xdppath

import (
	"net/netip"

	"confab/hal"
	"confab/hal/sockpath"
)

// txRetries bounds how often Write waits for completions when every send
// frame of its queue is in flight.
const txRetries = 3

// lockTx takes the send side of a queue: a free one if any, else the next
// in turn.
func (p *Path) lockTx() *queue {
	n := uint32(len(p.queues))
	start := p.txNext.Add(1) % n
	for i := range n {
		q := p.queues[(start+i)%n]
		if q.txMu.TryLock() {
			return q
		}
	}
	q := p.queues[start]
	q.txMu.Lock()
	return q
}

// writeXSK builds each packet's Ethernet, IP and UDP headers around its
// payload in a send frame of an AF_XDP socket, from the flow's local port
// to Packet.To or the flow's remote, and kicks the kernel once for the
// batch. A packet to a destination whose next hop has not been heard from
// (or of a family without a source address) goes through the flow's kernel
// socket instead. Errors are reported as sockpath.Path.Write reports them,
// with the same sentinels. It is safe for concurrent use and does not
// allocate.
func (p *Path) writeXSK(pkts []hal.Packet) (int, error) {
	if p.closed.Load() {
		return 0, hal.ErrClosed
	}
	fbp := p.fbPool.Get().(*[]hal.Packet)
	fb := (*fbp)[:0]
	var res txResult

	q := p.lockTx()
	if p.closed.Load() { // Shutdown may have closed the socket meanwhile
		q.txMu.Unlock()
		p.fbPool.Put(fbp)
		return 0, hal.ErrClosed
	}
	for i := range pkts {
		pk := &pkts[i]
		if pk.N < 0 || pk.N > len(pk.Buf) {
			res.fail(sockpath.ErrBadPacket)
			continue
		}
		idx := int(uint32(pk.Flow) & slotMask)
		if idx >= len(p.slots) || pk.Flow == 0 {
			res.fail(hal.ErrUnknownFlow)
			continue
		}
		s := &p.slots[idx]
		s.mu.RLock()
		if s.id.Load() != uint32(pk.Flow) {
			s.mu.RUnlock()
			res.fail(hal.ErrUnknownFlow)
			continue
		}
		tag := 0
		if pk.RTCP {
			tag = 1
		}
		to := pk.To
		if !to.IsValid() {
			to = s.remote[tag]
		}
		to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
		mac, heard := s.macFor(to.Addr())
		from := netip.AddrPortFrom(p.source(to.Addr()), s.port+uint16(tag))
		sockID := s.sockID
		s.mu.RUnlock()

		if !heard || !from.Addr().IsValid() || !to.IsValid() || to.Port() == 0 {
			// The kernel resolves the next hop, or refuses with the
			// error sockpath gives for such a destination.
			fp := *pk
			fp.Flow, fp.To = sockID, to
			fb = append(fb, fp)
			continue
		}
		if !p.sendFrame(q, mac, from, to, pk.Buf[:pk.N]) {
			res.errs++ // the ring stayed full: dropped, as a full socket buffer would
			continue
		}
		res.sent++
		res.bytes += uint64(pk.N)
	}
	if err := q.sock.Flush(); err != nil {
		res.errs++
	}
	q.txMu.Unlock()

	if res.sent > 0 {
		p.counters.txPackets.Add(res.sent)
		p.counters.txBytes.Add(res.bytes)
	}
	if res.errs > 0 {
		p.counters.txErrs.Add(res.errs)
	}
	sent := int(res.sent)
	if len(fb) > 0 {
		n, err := p.sock.Write(fb)
		sent += n
		if res.err == nil {
			res.err = err
		}
	}
	clear(fb) // drop the references to the caller's buffers
	*fbp = fb[:0]
	p.fbPool.Put(fbp)
	return sent, res.err
}

// txResult accumulates one Write's outcome.
type txResult struct {
	sent, bytes, errs uint64
	err               error // the first error the caller caused
}

func (r *txResult) fail(err error) {
	r.errs++
	if r.err == nil {
		r.err = err
	}
}

// sendFrame builds one frame in a free send frame of q and queues it.
func (p *Path) sendFrame(q *queue, mac [6]byte, from, to netip.AddrPort, payload []byte) bool {
	for range txRetries {
		addr, buf, ok := q.sock.TxFrame()
		if !ok {
			_ = q.sock.Flush() // let the kernel finish sends, then reclaim
			continue
		}
		n := headerLen(from.Addr()) + len(payload)
		if n > len(buf) {
			q.sock.Release(addr)
			return false
		}
		buildUDP(buf[:n], p.mac, mac, from, to, payload)
		if q.sock.Send(addr, n) {
			return true
		}
		q.sock.Release(addr)
		_ = q.sock.Flush()
	}
	return false
}
