//go:build linux

package rtpfilter

import (
	"fmt"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
)

// Rule flags, as RULE_OPEN and RULE_BYPASS in rtpfilter.c.
const (
	ruleOpen   = 1 << 0
	ruleBypass = 1 << 1
)

// FlowStats is what the program counted for one flow since OpenFlow.
type FlowStats struct {
	RTPPackets, RTPBytes   uint64 // valid RTP, payload bytes (UDP payload)
	RTCPPackets, RTCPBytes uint64 // valid RTCP, on either port (RFC 5761 mux)
	// SeqGaps counts RTP sequence numbers skipped (RFC 3550 A.1): lost or
	// not yet arrived when a later one came. A new SSRC, or a jump of 3000
	// or more, restarts the count rather than adding to it.
	SeqGaps uint64
	// LastArrival is when the last valid packet arrived; zero if none.
	LastArrival time.Time
	// SSRC and MaxSeq are the RTP stream being followed.
	SSRC   uint32
	MaxSeq uint16
	// Link is the way the last valid packet came in.
	Link Link

	// Forwarded counts the packets the two-party bypass sent on to the
	// peer, and ForwardedSeq is the last one's sequence number as it
	// arrived; Handover describes it as it left.
	ForwardedPackets, ForwardedBytes uint64
	ForwardedSeq                     uint16
	Handover                         Handover
}

// Link is the link-layer way a flow's packets arrive: the way back to the
// caller.
type Link struct {
	Ifindex int
	// NextHop is the frame's source MAC: the caller's, or its router's.
	// Local is its destination MAC: ours on that interface.
	NextHop, Local [6]byte
	// VLAN holds the frame's 802.1Q/802.1ad tag control fields, outer
	// first; 0 for none.
	VLAN [2]uint16
}

// Known reports whether a packet has been seen, so that the link is known.
func (l Link) Known() bool { return l.Ifindex != 0 || l.NextHop != [6]byte{} }

// Handover is where a bypassed stream stands: what the peer last received,
// so that the MCU can continue the stream it sends without a jump in
// sequence numbers or timestamps (RFC 3550 §5.1).
type Handover struct {
	// Forwarded reports whether any packet went through in the last bypass.
	Forwarded bool
	// Seq and Timestamp are the last forwarded packet's, as the peer saw them.
	Seq       uint16
	Timestamp uint32
	// At is when it was forwarded.
	At time.Time
}

// Bypass tells the program to forward a caller's media straight to the
// other party of a two-party conference, rewritten as the MCU would have
// sent it (as rtpengine's kernel forwarding does).
type Bypass struct {
	// InPT is the media payload type the caller sends; only it is
	// forwarded. Everything else (RFC 4733 telephone-event, comfort noise,
	// RTCP) still reaches the MCU.
	InPT uint8
	// OutPT is the payload type the peer negotiated for the same codec.
	OutPT uint8
	// From is our address and port the peer receives our stream from: the
	// peer's own flow's local RTP port.
	From netip.AddrPort
	// To is the peer's RTP address.
	To netip.AddrPort
	// SrcMAC is the egress interface's address, DstMAC the next hop's
	// toward To.
	SrcMAC, DstMAC [6]byte
	// Ifindex is the egress interface; 0 sends back out of the one the
	// packet came in on (XDP_TX).
	Ifindex int
	// SSRC, NextSeq and NextTimestamp continue the stream the MCU has been
	// sending the peer: the first forwarded packet carries NextSeq and
	// NextTimestamp, later ones keep the caller's spacing.
	SSRC          uint32
	NextSeq       uint16
	NextTimestamp uint32
}

// slot maps an RTP port to its flow slot.
func (f *Filter) slot(port uint16) (uint32, error) {
	c := f.cfg
	if c.MediaLow == 0 || port < c.MediaLow || port > c.MediaHigh || (port-c.MediaLow)%2 != 0 {
		return 0, fmt.Errorf("%w: %d (range %d-%d)", ErrPort, port, c.MediaLow, c.MediaHigh)
	}
	s := uint32(port-c.MediaLow) / 2
	if s >= maxSlots {
		return 0, fmt.Errorf("%w: %d", ErrPort, port)
	}
	return s, nil
}

// OpenFlow lets packets to the RTP port and the RTCP port above it through,
// and starts its counters from zero.
func (f *Filter) OpenFlow(port uint16) error {
	s, err := f.slot(port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.objs.FlowCounters.Put(s, &rtpfilterFlowStats{}); err != nil {
		return fmt.Errorf("rtpfilter: reset counters of port %d: %w", port, err)
	}
	return f.writeRule(s, rtpfilterFlowRule{Flags: ruleOpen})
}

// CloseFlow drops packets to the port pair again.
func (f *Filter) CloseFlow(port uint16) error {
	s, err := f.slot(port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.writeRule(s, rtpfilterFlowRule{}); err != nil {
		return err
	}
	delete(f.rules, s)
	return nil
}

// SetPayloadTypes limits the flow's RTP to the negotiated payload types
// (codec, telephone-event, comfort noise); none lifts the limit.
func (f *Filter) SetPayloadTypes(port uint16, pts []uint8) error {
	s, err := f.slot(port)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[s]
	if !ok {
		return fmt.Errorf("%w: port %d", ErrFlowClosed, port)
	}
	r.PtMask = [2]uint64{}
	for _, pt := range pts {
		if pt < 128 {
			r.PtMask[pt/64] |= 1 << (pt % 64)
		}
	}
	return f.writeRule(s, r)
}

// SetBypass forwards the caller's media that arrives on port to the peer as
// b describes, from the next packet on.
func (f *Filter) SetBypass(port uint16, b Bypass) error {
	s, err := f.slot(port)
	if err != nil {
		return err
	}
	from, to := b.From.Addr().Unmap(), b.To.Addr().Unmap()
	switch {
	case !from.IsValid() || !to.IsValid() || b.To.Port() == 0 || b.From.Port() == 0:
		return fmt.Errorf("%w: from %s to %s", ErrBypass, b.From, b.To)
	case from.Is4() != to.Is4():
		return fmt.Errorf("%w: %s and %s are of different address families", ErrBypass, from, to)
	case b.InPT > 127 || b.OutPT > 127:
		return fmt.Errorf("%w: payload types %d and %d", ErrBypass, b.InPT, b.OutPT)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[s]
	if !ok {
		return fmt.Errorf("%w: port %d", ErrFlowClosed, port)
	}
	r.Flags |= ruleBypass
	r.Epoch++ // the program takes new deltas for the new epoch
	r.Ifindex = uint32(b.Ifindex)
	r.InPt, r.OutPt = b.InPT, b.OutPT
	r.OutSport, r.OutDport = b.From.Port(), b.To.Port()
	r.OutSsrc, r.SeqNext, r.TsNext = b.SSRC, b.NextSeq, b.NextTimestamp
	r.Smac, r.Dmac = b.SrcMAC, b.DstMAC
	r.Saddr, r.Daddr = [16]byte{}, [16]byte{}
	if from.Is4() {
		r.Family = 4
		a, z := from.As4(), to.As4()
		copy(r.Saddr[:], a[:])
		copy(r.Daddr[:], z[:])
	} else {
		r.Family = 6
		r.Saddr, r.Daddr = from.As16(), to.As16()
	}
	return f.writeRule(s, r)
}

// ClearBypass sends the caller's media to the MCU again and reports where
// the forwarded stream stopped. A packet the program was forwarding on
// another CPU at that moment may still leave after it.
func (f *Filter) ClearBypass(port uint16) (Handover, error) {
	s, err := f.slot(port)
	if err != nil {
		return Handover{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.rules[s]
	if !ok {
		return Handover{}, fmt.Errorf("%w: port %d", ErrFlowClosed, port)
	}
	if r.Flags&ruleBypass != 0 {
		r.Flags &^= ruleBypass
		if err := f.writeRule(s, r); err != nil {
			return Handover{}, err
		}
	}
	st, err := f.stats(s)
	if err != nil {
		return Handover{}, err
	}
	return st.Handover, nil
}

// writeRule stores a slot's rule. f.mu is held.
//
// A map update copies the value while the program may be reading it on
// another CPU (no lock; the program must stay cheap), so a reader can see
// part of the old value and part of the new. To keep every mix a valid
// rule, one write changes either the flags or the other fields, never
// both: a rule that gains the bypass flag first gets its fields, then the
// flag; one whose bypass fields change loses the flag first.
func (f *Filter) writeRule(s uint32, next rtpfilterFlowRule) error {
	prev := f.rules[s]
	steps := make([]rtpfilterFlowRule, 0, 3)
	fields, flags := next, prev.Flags
	fields.Flags = flags
	if fields != prev {
		if flags&ruleBypass != 0 {
			// Fields change under an active bypass: stop it first.
			off := prev
			off.Flags &^= ruleBypass
			steps = append(steps, off)
			fields.Flags &^= ruleBypass
		}
		steps = append(steps, fields)
	}
	if next.Flags != fields.Flags || len(steps) == 0 {
		steps = append(steps, next)
	}
	for _, r := range steps {
		if err := f.objs.FlowRules.Put(s, &r); err != nil {
			return fmt.Errorf("rtpfilter: rule of slot %d: %w", s, err)
		}
		f.rules[s] = r
	}
	if next.Flags == 0 {
		delete(f.rules, s)
	}
	return nil
}

// FlowStats returns the counters of the flow on RTP port port.
func (f *Filter) FlowStats(port uint16) (FlowStats, error) {
	s, err := f.slot(port)
	if err != nil {
		return FlowStats{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats(s)
}

// stats reads slot s's counters. f.mu is held.
func (f *Filter) stats(s uint32) (FlowStats, error) {
	var st rtpfilterFlowStats
	if err := f.objs.FlowCounters.Lookup(s, &st); err != nil {
		return FlowStats{}, fmt.Errorf("rtpfilter: counters of slot %d: %w", s, err)
	}
	clock := newMonoClock()
	return FlowStats{
		RTPPackets:  st.RtpPackets,
		RTPBytes:    st.RtpBytes,
		RTCPPackets: st.RtcpPackets,
		RTCPBytes:   st.RtcpBytes,
		SeqGaps:     st.SeqGaps,
		LastArrival: clock.time(st.LastNs),
		SSRC:        st.Ssrc,
		MaxSeq:      st.MaxSeq,
		Link: Link{
			Ifindex: int(st.Ifindex),
			NextHop: st.SrcMac,
			Local:   st.DstMac,
			VLAN:    st.Vlan,
		},
		ForwardedPackets: st.FwdPackets,
		ForwardedBytes:   st.FwdBytes,
		ForwardedSeq:     st.FwdInSeq,
		Handover: Handover{
			Forwarded: st.FwdPackets > 0 && st.FwdEpoch == f.rules[s].Epoch,
			Seq:       st.FwdSeq,
			Timestamp: st.FwdTs,
			At:        clock.time(st.FwdNs),
		},
	}, nil
}

// monoClock converts the program's bpf_ktime_get_ns readings
// (CLOCK_MONOTONIC, bpf-helpers(7)) into wall-clock times.
type monoClock struct {
	now  time.Time
	mono int64
}

func newMonoClock() monoClock {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return monoClock{now: time.Now(), mono: ts.Nano()}
}

// time is the wall-clock time of monotonic reading ns; zero for none.
func (c monoClock) time(ns uint64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return c.now.Add(-time.Duration(c.mono - int64(ns)))
}
