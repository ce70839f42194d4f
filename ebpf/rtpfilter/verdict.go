//go:build linux

package rtpfilter

import (
	"fmt"

	"github.com/cilium/ebpf"
)

// Verdict is what the program decided about a frame, and why. The values
// are those of enum verdict in rtpfilter.c.
type Verdict uint32

// Verdicts.
const (
	PassNotIP       Verdict = iota // not IPv4 or IPv6 (ARP, LLDP ...)
	PassNotUDP                     // IP but not UDP, or headers the program does not parse
	PassOtherPort                  // UDP outside the media range and not to the SIP port
	PassFragment                   // a later IP fragment, which carries no UDP header
	PassFlow                       // a known flow's packet, to the kernel's UDP socket
	RedirectFlow                   // a known flow's packet, to an AF_XDP socket
	TxBypass                       // a known flow's packet, forwarded to its two-party peer
	PassSIP                        // SIP within its source's rate
	DropSIPFlood                   // SIP over its source's rate
	DropUnknownFlow                // media port with no open flow
	DropMalformed                  // UDP length that does not fit the IP packet or the frame
	DropFragment                   // fragmented media (RTP never needs fragmenting)
	DropVersion                    // RTP/RTCP version is not 2 (RFC 3550 §5.1)
	DropRTPLength                  // shorter than its header, CSRCs, extension or padding
	DropPayloadType                // reserved (RFC 3551 §6) or not negotiated payload type
	DropRTCP                       // on the RTCP port but not RTCP, or a bad RTCP length
	NumVerdicts                    // how many verdicts there are
)

var verdictNames = [NumVerdicts]string{
	PassNotIP:       "pass_not_ip",
	PassNotUDP:      "pass_not_udp",
	PassOtherPort:   "pass_other_port",
	PassFragment:    "pass_fragment",
	PassFlow:        "pass_flow",
	RedirectFlow:    "redirect_flow",
	TxBypass:        "tx_bypass",
	PassSIP:         "pass_sip",
	DropSIPFlood:    "drop_sip_flood",
	DropUnknownFlow: "drop_unknown_flow",
	DropMalformed:   "drop_malformed",
	DropFragment:    "drop_fragment",
	DropVersion:     "drop_version",
	DropRTPLength:   "drop_rtp_length",
	DropPayloadType: "drop_payload_type",
	DropRTCP:        "drop_rtcp",
}

// String is the verdict's name, as metrics label it.
func (v Verdict) String() string {
	if v < NumVerdicts {
		return verdictNames[v]
	}
	return fmt.Sprintf("verdict(%d)", uint32(v))
}

// Dropped reports whether the verdict drops the frame.
func (v Verdict) Dropped() bool { return v >= DropSIPFlood && v < NumVerdicts }

// Count is packets and bytes (whole frames) of one verdict.
type Count struct {
	Packets, Bytes uint64
}

// VerdictCounts holds a Count per verdict, indexed by Verdict.
type VerdictCounts [NumVerdicts]Count

// Dropped sums the dropping verdicts.
func (vc *VerdictCounts) Dropped() Count {
	var c Count
	for v := range NumVerdicts {
		if v.Dropped() {
			c.Packets += vc[v].Packets
			c.Bytes += vc[v].Bytes
		}
	}
	return c
}

// Verdicts returns the running totals of every verdict, summed over CPUs.
func (f *Filter) Verdicts() (VerdictCounts, error) {
	var out VerdictCounts
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		return out, fmt.Errorf("rtpfilter: possible CPUs: %w", err)
	}
	per := make([]rtpfilterVerdictCount, cpus)
	for v := range NumVerdicts {
		if err := f.objs.Verdicts.Lookup(uint32(v), per); err != nil {
			return out, fmt.Errorf("rtpfilter: verdict %s: %w", v, err)
		}
		for _, c := range per {
			out[v].Packets += c.Packets
			out[v].Bytes += c.Bytes
		}
	}
	return out, nil
}
