//go:build linux

package xdppath

import (
	"fmt"
	"net/netip"

	"confab/ebpf/rtpfilter"
	"confab/hal"
)

// FlowStats returns what the XDP program counted for the flow.
func (p *Path) FlowStats(id hal.FlowID) (hal.FlowStats, error) {
	port, err := p.port(id)
	if err != nil {
		return hal.FlowStats{}, err
	}
	st, err := p.filter.FlowStats(port)
	if err != nil {
		return hal.FlowStats{}, err
	}
	return hal.FlowStats{
		RTPPackets: st.RTPPackets, RTPBytes: st.RTPBytes,
		RTCPPackets: st.RTCPPackets, RTCPBytes: st.RTCPBytes,
		SeqGaps: st.SeqGaps, MaxSeq: st.MaxSeq, LastArrival: st.LastArrival,
		Forwarded: st.ForwardedPackets, ForwardedSeq: st.ForwardedSeq,
	}, nil
}

// SetPayloadTypes has the XDP program drop the flow's RTP of any other
// payload type.
func (p *Path) SetPayloadTypes(id hal.FlowID, pts []uint8) error {
	port, err := p.port(id)
	if err != nil {
		return err
	}
	return p.filter.SetPayloadTypes(port, pts)
}

// Bypass has the XDP program forward the media arriving on flow from to
// flow to's remote, rewritten as s describes, sent back out the way to's
// packets come in (hal.Bypasser). It needs to's remote and a packet from
// it (the way back), both flows of one address family with a source
// address for it, and frames of both on the same VLAN; otherwise it
// returns hal.ErrNoBypass. The bypass keeps the addresses it started
// with: after SetRemote of either flow, end it and start it again.
func (p *Path) Bypass(from, to hal.FlowID, s hal.BypassStream) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed.Load() {
		return hal.ErrClosed
	}
	if p.noBypass {
		return fmt.Errorf("%w: turned off", hal.ErrNoBypass)
	}
	fi, ti := p.flows[from], p.flows[to]
	if fi == nil || ti == nil || from == to {
		return fmt.Errorf("%w: %d -> %d", hal.ErrUnknownFlow, from, to)
	}
	dst, srcRemote := ti.remote[0], fi.remote[0]
	if !dst.IsValid() || !srcRemote.IsValid() || dst.Addr().Is4() != srcRemote.Addr().Is4() {
		return fmt.Errorf("%w: remotes %s and %s", hal.ErrNoBypass, srcRemote, dst)
	}
	src := p.source(dst.Addr())
	if !src.IsValid() {
		return fmt.Errorf("%w: no source address for %s", hal.ErrNoBypass, dst)
	}
	fst, err := p.filter.FlowStats(fi.port)
	if err != nil {
		return err
	}
	tst, err := p.filter.FlowStats(ti.port)
	if err != nil {
		return err
	}
	if !tst.Link.Known() {
		return fmt.Errorf("%w: nothing heard from %s yet", hal.ErrNoBypass, dst)
	}
	if fst.Link.VLAN != tst.Link.VLAN {
		return fmt.Errorf("%w: VLANs %v and %v differ", hal.ErrNoBypass, fst.Link.VLAN, tst.Link.VLAN)
	}
	err = p.filter.SetBypass(fi.port, rtpfilter.Bypass{
		InPT: s.InPT, OutPT: s.OutPT,
		From:   netip.AddrPortFrom(src, ti.port),
		To:     dst,
		SrcMAC: tst.Link.Local, DstMAC: tst.Link.NextHop, Ifindex: tst.Link.Ifindex,
		SSRC: s.SSRC, NextSeq: s.NextSeq, NextTimestamp: s.NextTimestamp,
	})
	if err != nil {
		return err
	}
	p.bypasses[from] = to
	return nil
}

// EndBypass sends from's media to the MCU again and returns where the
// forwarded stream stopped.
func (p *Path) EndBypass(from hal.FlowID) (hal.Handover, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fi := p.flows[from]
	if fi == nil {
		return hal.Handover{}, fmt.Errorf("%w: %d", hal.ErrUnknownFlow, from)
	}
	delete(p.bypasses, from)
	h, err := p.filter.ClearBypass(fi.port)
	if err != nil {
		return hal.Handover{}, err
	}
	return hal.Handover{Forwarded: h.Forwarded, Seq: h.Seq, Timestamp: h.Timestamp, At: h.At}, nil
}
