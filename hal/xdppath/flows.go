//go:build linux

package xdppath

import (
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"

	"confab/hal"
)

// flowInfo is the control path's record of an open flow.
type flowInfo struct {
	port   uint16     // RTP; RTCP is port+1
	sockID hal.FlowID // the kernel sockets' flow in sockpath
	remote [2]netip.AddrPort
	// rtcpSet says remote[1] came from SetRemoteRTCP.
	rtcpSet bool
}

// slot is an AF_XDP-mode flow as the hot paths see it, by port pair. In
// AF_XDP mode the path hands out its own FlowIDs, the slot index in the low
// 16 bits and a generation above (as sockpath does, so that a FlowID kept
// after Close names no flow); in filter mode it hands out sockpath's.
type slot struct {
	id  atomic.Uint32 // the open flow's FlowID, 0 when none: the RX demux
	gen uint16        // guarded by Path.mu

	mu     sync.RWMutex
	sockID hal.FlowID
	port   uint16
	remote [2]netip.AddrPort // by RTP (0) and RTCP (1)
	// The last source heard on this flow and the frame's source MAC: the
	// next hop back to it.
	peer    netip.Addr
	peerMAC [6]byte
}

const (
	slotBits = 16
	slotMask = 1<<slotBits - 1
)

// macFor returns the next hop's MAC toward dst, if dst is the flow's last
// heard source. s.mu is held.
func (s *slot) macFor(dst netip.Addr) ([6]byte, bool) {
	return s.peerMAC, s.peer.IsValid() && s.peer == dst
}

// Open binds the flow's kernel sockets (sockpath.Open, whose errors it
// returns) and opens the flow in the XDP program.
func (p *Path) Open(remote netip.AddrPort) (hal.Flow, error) {
	if p.closed.Load() {
		return hal.Flow{}, hal.ErrClosed
	}
	f, err := p.sock.Open(remote)
	if err != nil {
		return hal.Flow{}, err
	}
	if err := p.filter.OpenFlow(f.LocalPort); err != nil {
		_ = p.sock.Close(f.ID)
		return hal.Flow{}, err
	}
	info := &flowInfo{port: f.LocalPort, sockID: f.ID, remote: [2]netip.AddrPort{f.Remote, rtcpRemote(f.Remote)}}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return hal.Flow{}, hal.ErrClosed
	}
	if p.xskOn {
		idx := int(f.LocalPort-p.low) / 2
		s := &p.slots[idx]
		s.gen++
		if s.gen == 0 {
			s.gen = 1
		}
		f.ID = hal.FlowID(uint32(s.gen)<<slotBits | uint32(idx))
		s.mu.Lock()
		s.sockID, s.port, s.remote = info.sockID, f.LocalPort, info.remote
		s.peer, s.peerMAC = netip.Addr{}, [6]byte{}
		s.mu.Unlock()
		s.id.Store(uint32(f.ID))
	}
	p.flows[f.ID] = info
	return f, nil
}

// Close closes the flow in the XDP program, then its kernel sockets.
func (p *Path) Close(id hal.FlowID) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	info := p.flows[id]
	if info == nil {
		return hal.ErrUnknownFlow
	}
	for from, to := range p.bypasses {
		if from == id || to == id {
			if fi := p.flows[from]; fi != nil {
				_, _ = p.filter.ClearBypass(fi.port)
			}
			delete(p.bypasses, from)
		}
	}
	err := p.filter.CloseFlow(info.port)
	if p.xskOn {
		s := &p.slots[int(info.port-p.low)/2]
		s.id.Store(0)
		s.mu.Lock()
		s.sockID, s.remote, s.peer = 0, [2]netip.AddrPort{}, netip.Addr{}
		s.mu.Unlock()
	}
	delete(p.flows, id)
	if cerr := p.sock.Close(info.sockID); err == nil {
		err = cerr
	}
	return err
}

// SetRemote changes where the flow's RTP goes (and its RTCP, unless
// SetRemoteRTCP set that), as sockpath.SetRemote does.
func (p *Path) SetRemote(id hal.FlowID, remote netip.AddrPort) error {
	return p.setRemote(id, remote, false)
}

// SetRemoteRTCP overrides where the flow's RTCP goes; zero removes the
// override.
func (p *Path) SetRemoteRTCP(id hal.FlowID, remote netip.AddrPort) error {
	return p.setRemote(id, remote, true)
}

func (p *Path) setRemote(id hal.FlowID, remote netip.AddrPort, rtcp bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	info := p.flows[id]
	if info == nil {
		return hal.ErrUnknownFlow
	}
	var err error
	if rtcp {
		err = p.sock.SetRemoteRTCP(info.sockID, remote)
	} else {
		err = p.sock.SetRemote(info.sockID, remote)
	}
	if err != nil {
		return err
	}
	// sockpath accepted it; keep the same normalized view.
	remote = normalize(remote)
	switch {
	case !rtcp:
		info.remote[0] = remote
		if !info.rtcpSet {
			info.remote[1] = rtcpRemote(remote)
		}
	case remote.IsValid():
		info.remote[1], info.rtcpSet = remote, true
	default:
		info.remote[1], info.rtcpSet = rtcpRemote(info.remote[0]), false
	}
	if p.xskOn {
		s := &p.slots[int(info.port-p.low)/2]
		s.mu.Lock()
		s.remote = info.remote
		s.mu.Unlock()
	}
	return nil
}

// normalize is sockpath's view of a remote from signalling: none for no
// address, an unspecified one or port 0; IPv4-mapped as plain IPv4.
func normalize(ap netip.AddrPort) netip.AddrPort {
	a := ap.Addr().Unmap()
	if !a.IsValid() || a.IsUnspecified() || ap.Port() == 0 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(a, ap.Port())
}

// rtcpRemote is the default RTCP destination for an RTP remote: the next
// port up (RFC 3550 §11).
func rtcpRemote(rtp netip.AddrPort) netip.AddrPort {
	if !rtp.IsValid() || rtp.Port() == 65535 {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(rtp.Addr(), rtp.Port()+1)
}

// port returns the RTP port of an open flow.
func (p *Path) port(id hal.FlowID) (uint16, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if info := p.flows[id]; info != nil {
		return info.port, nil
	}
	return 0, fmt.Errorf("%w: %d", hal.ErrUnknownFlow, id)
}

// Read returns received packets: from the AF_XDP sockets in AF_XDP mode,
// from the kernel sockets otherwise.
func (p *Path) Read(pkts []hal.Packet) (int, error) {
	if p.xskOn {
		return p.readXSK(pkts)
	}
	return p.sock.Read(pkts)
}

// Write sends packets: as frames through the AF_XDP sockets in AF_XDP
// mode, through the kernel sockets otherwise.
func (p *Path) Write(pkts []hal.Packet) (int, error) {
	if p.xskOn {
		return p.writeXSK(pkts)
	}
	return p.sock.Write(pkts)
}
