package sockpath

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// A FlowID is the flow's slot index in its low slotBits bits and the slot's
// generation above them. The generation changes on every Open of the slot,
// so a FlowID kept after Close (a packet still in the MCU's pipeline) names
// no flow instead of the next participant on the same ports. Generations
// start at 1, so no open flow has FlowID 0. 32256 slots (1024..65535) fit in
// 16 bits.
const (
	slotBits = 16
	slotMask = 1<<slotBits - 1
)

// Tags in the epoll event's Pad word say which socket of a flow is ready;
// the Fd word carries the FlowID (epoll_ctl(2): the data is returned as is).
const (
	tagRTP  int32 = 0
	tagRTCP int32 = 1
	tagWake int32 = 2 // the Shutdown eventfd, not a flow
)

// slotState is the allocator's view of a slot.
type slotState uint8

const (
	slotFree     slotState = iota
	slotReserved           // Open is binding the slot's sockets
	slotOpen
)

// slot is one RTP/RTCP port pair and, while open, its flow.
type slot struct {
	// Guarded by Path.mu.
	state slotState
	gen   uint16

	// mu guards the fields below. Read and Write hold it shared while they
	// use the descriptors; Close holds it exclusively while closing them, so
	// a descriptor is never closed (and its number reused) under a syscall.
	// Writers of these fields also hold Path.mu, except SetRemote*.
	mu      sync.RWMutex
	id      hal.FlowID        // 0 while not open
	fd      [2]int            // by tag: RTP, RTCP
	remote  [2]netip.AddrPort // default destinations by tag
	rtcpSet bool              // remote[tagRTCP] came from SetRemoteRTCP
}

func flowID(idx int, gen uint16) hal.FlowID {
	return hal.FlowID(uint32(gen)<<slotBits | uint32(idx))
}

// slotOf returns the slot id points at, or nil. Whether the flow is still
// open there is for the caller to check against slot.id under slot.mu.
func (p *Path) slotOf(id hal.FlowID) *slot {
	idx := int(id & slotMask)
	if idx >= len(p.slots) {
		return nil
	}
	return &p.slots[idx]
}

// port is slot idx's RTP port.
func (p *Path) port(idx int) uint16 { return p.lowPort + uint16(2*idx) }

// Open binds the next free RTP/RTCP port pair, round-robin through the
// range so that a just-closed pair rests before reuse. A pair that another
// socket holds (EADDRINUSE on either port) is skipped. remote may be zero,
// an unspecified address or port 0 when the peer's address is not known yet
// or the stream is on hold (RFC 3264 §8.4); packets then need an explicit To
// until SetRemote. It fails with hal.ErrNoPorts when no pair can be bound
// and with ErrAddressFamily for a remote the listen address cannot reach.
func (p *Path) Open(remote netip.AddrPort) (hal.Flow, error) {
	remote, err := p.checkRemote(remote)
	if err != nil {
		return hal.Flow{}, err
	}
	for range len(p.slots) {
		idx, err := p.reserve()
		if err != nil {
			return hal.Flow{}, err
		}
		fds, err := p.bindPair(p.port(idx))
		if errors.Is(err, unix.EADDRINUSE) {
			p.log.Debug("media port pair in use elsewhere, skipping", "port", p.port(idx))
			p.unreserve(idx)
			continue
		}
		if err != nil {
			p.unreserve(idx)
			return hal.Flow{}, err
		}
		return p.install(idx, fds, remote)
	}
	return hal.Flow{}, p.errNoPorts()
}

func (p *Path) errNoPorts() error {
	return fmt.Errorf("%w: all %d pairs from port %d are in use", hal.ErrNoPorts, len(p.slots), p.lowPort)
}

// reserve claims the next free slot from the cursor.
func (p *Path) reserve() (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return 0, hal.ErrClosed
	}
	for range len(p.slots) {
		i := p.cursor
		p.cursor = (p.cursor + 1) % len(p.slots)
		if p.slots[i].state == slotFree {
			p.slots[i].state = slotReserved
			return i, nil
		}
	}
	return 0, p.errNoPorts()
}

func (p *Path) unreserve(idx int) {
	p.mu.Lock()
	p.slots[idx].state = slotFree
	p.mu.Unlock()
}

// install publishes a reserved slot's sockets as a new flow and adds them to
// the epoll set. The slot's id is set before the sockets join the set, so a
// Read woken by their first packet finds the flow.
func (p *Path) install(idx int, fds [2]int, remote netip.AddrPort) (hal.Flow, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := &p.slots[idx]
	if p.closed.Load() {
		s.state = slotFree
		unix.Close(fds[tagRTP])
		unix.Close(fds[tagRTCP])
		return hal.Flow{}, hal.ErrClosed
	}
	s.gen++
	if s.gen == 0 {
		s.gen = 1
	}
	id := flowID(idx, s.gen)
	s.mu.Lock()
	s.id, s.fd, s.rtcpSet = id, fds, false
	s.remote = [2]netip.AddrPort{remote, rtcpRemote(remote)}
	s.mu.Unlock()
	s.state = slotOpen
	for tag, fd := range fds {
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(id), Pad: int32(tag)}
		if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
			p.closeSlot(idx)
			return hal.Flow{}, fmt.Errorf("sockpath: epoll_ctl add port %d: %w", p.port(idx)+uint16(tag), err)
		}
	}
	p.log.Debug("flow opened", "flow", id, "port", p.port(idx), "remote", remote)
	return hal.Flow{ID: id, LocalPort: p.port(idx), Remote: remote}, nil
}

// Close removes the flow's sockets from the epoll set and closes them; its
// ports become free for a later Open.
func (p *Path) Close(id hal.FlowID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	idx := int(id & slotMask)
	if idx >= len(p.slots) || p.slots[idx].state != slotOpen || flowID(idx, p.slots[idx].gen) != id {
		return hal.ErrUnknownFlow
	}
	p.closeSlot(idx)
	p.log.Debug("flow closed", "flow", id, "port", p.port(idx))
	return nil
}

// closeSlot closes an open slot's flow. p.mu is held.
func (p *Path) closeSlot(idx int) {
	s := &p.slots[idx]
	s.mu.Lock()
	for _, fd := range s.fd {
		// Closing the last reference also leaves the epoll set (epoll(7)
		// Q6); deleting first keeps that true even if the fd were shared.
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil)
		unix.Close(fd)
	}
	s.id, s.fd, s.remote, s.rtcpSet = 0, [2]int{-1, -1}, [2]netip.AddrPort{}, false
	s.mu.Unlock()
	s.state = slotFree
}

// SetRemote changes where the flow's RTP goes, and its RTCP (to port+1,
// RFC 3550 §11) unless SetRemoteRTCP set that. A zero remote means none.
func (p *Path) SetRemote(id hal.FlowID, remote netip.AddrPort) error {
	return p.setRemote(id, remote, tagRTP)
}

// SetRemoteRTCP sends the flow's RTCP to remote instead of the RTP remote's
// port+1 (SDP a=rtcp, RFC 3605 §2.1). A zero remote removes the override.
func (p *Path) SetRemoteRTCP(id hal.FlowID, remote netip.AddrPort) error {
	return p.setRemote(id, remote, tagRTCP)
}

func (p *Path) setRemote(id hal.FlowID, remote netip.AddrPort, tag int32) error {
	if p.closed.Load() {
		return hal.ErrClosed
	}
	remote, err := p.checkRemote(remote)
	if err != nil {
		return err
	}
	s := p.slotOf(id)
	if s == nil {
		return hal.ErrUnknownFlow
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.id != id || id == 0 {
		return hal.ErrUnknownFlow
	}
	switch {
	case tag == tagRTP:
		s.remote[tagRTP] = remote
		if !s.rtcpSet {
			s.remote[tagRTCP] = rtcpRemote(remote)
		}
	case remote.IsValid():
		s.remote[tagRTCP], s.rtcpSet = remote, true
	default:
		s.remote[tagRTCP], s.rtcpSet = rtcpRemote(s.remote[tagRTP]), false
	}
	return nil
}

// checkRemote normalizes a remote from signalling: no address, an
// unspecified address (the old c=0.0.0.0 hold, RFC 3264 §8.4) or port 0 (a
// stream refused, RFC 3264 §5.1 and §6) all mean no remote. IPv4-mapped addresses
// become plain IPv4, the form Read reports peers in.
func (p *Path) checkRemote(ap netip.AddrPort) (netip.AddrPort, error) {
	a := ap.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || ap.Port() == 0 {
		return netip.AddrPort{}, nil
	}
	if !p.reachable(a) {
		return netip.AddrPort{}, fmt.Errorf("%w: %s from %s", ErrAddressFamily, ap, p.listen)
	}
	return netip.AddrPortFrom(a, ap.Port()), nil
}

// reachable reports whether the flow sockets can send to the (unmapped)
// address a.
func (p *Path) reachable(a netip.Addr) bool {
	switch {
	case p.family == unix.AF_INET:
		return a.Is4()
	case p.dual:
		return true
	default:
		return a.Is6()
	}
}

// usable reports whether a packet may be sent to ap: a reachable address
// that is not unspecified, and a port.
func (p *Path) usable(ap netip.AddrPort) bool {
	a := ap.Addr().Unmap()
	return a.IsValid() && !a.IsUnspecified() && ap.Port() != 0 && p.reachable(a)
}

// rtcpRemote is the default RTCP destination for an RTP remote: the next
// port up (RFC 3550 §11), or none when there is no next port.
func rtcpRemote(rtp netip.AddrPort) netip.AddrPort {
	if !rtp.IsValid() || rtp.Port() == 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
}

// bindPair binds the RTP socket on port and the RTCP socket on port+1.
func (p *Path) bindPair(port uint16) ([2]int, error) {
	rtp, err := p.bindSocket(port)
	if err != nil {
		return [2]int{}, err
	}
	rtcp, err := p.bindSocket(port + 1)
	if err != nil {
		unix.Close(rtp)
		return [2]int{}, err
	}
	return [2]int{rtp, rtcp}, nil
}

// bindSocket makes one non-blocking UDP socket bound to the listen address
// and port. It is not in Go's netpoller: only the epoll set watches it.
func (p *Path) bindSocket(port uint16) (int, error) {
	fd, err := unix.Socket(p.family, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_UDP)
	if err != nil {
		return -1, fmt.Errorf("sockpath: socket: %w", err)
	}
	if err := p.setupSocket(fd, port); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func (p *Path) setupSocket(fd int, port uint16) error {
	if p.family == unix.AF_INET6 {
		// Set explicitly rather than trust net.ipv6.bindv6only (ipv6(7)).
		v6only := 1
		if p.dual {
			v6only = 0
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fmt.Errorf("sockpath: IPV6_V6ONLY: %w", err)
		}
	}
	if p.rcvBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, p.rcvBuf); err != nil {
			return fmt.Errorf("sockpath: SO_RCVBUF: %w", err)
		}
	}
	if p.sndBuf > 0 {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, p.sndBuf); err != nil {
			return fmt.Errorf("sockpath: SO_SNDBUF: %w", err)
		}
	}
	var sa unix.Sockaddr
	if p.family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(port), Addr: p.listen.As4()}
	} else {
		sa = &unix.SockaddrInet6{Port: int(port), Addr: p.listen.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fmt.Errorf("sockpath: bind %s: %w", netip.AddrPortFrom(p.listen, port), err)
	}
	return nil
}
