//go:build linux

package rtpfilter

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/cilium/ebpf"
)

// SIPSource is one source address the SIP guard has seen, with what its
// token bucket let through and dropped.
type SIPSource struct {
	Addr            netip.Addr
	Passed, Dropped uint64
}

// sipKey is the guard's key for a: IPv6, or IPv4 as ::ffff:a.b.c.d
// (RFC 4291 §2.5.5.2).
func sipKey(a netip.Addr) rtpfilterSipKey {
	return rtpfilterSipKey{Addr: a.Unmap().As16()}
}

// TrustSIPSource exempts a from the SIP guard: a trunk or proxy that
// legitimately sends more than one phone would.
func (f *Filter) TrustSIPSource(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("rtpfilter: trust SIP source: no address")
	}
	k := sipKey(a)
	if err := f.objs.SipTrusted.Put(&k, uint8(1)); err != nil {
		return fmt.Errorf("rtpfilter: trust SIP source %s: %w", a, err)
	}
	return nil
}

// DistrustSIPSource subjects a to the SIP guard again.
func (f *Filter) DistrustSIPSource(a netip.Addr) error {
	k := sipKey(a)
	if err := f.objs.SipTrusted.Delete(&k); err != nil && !errors.Is(err, ebpf.ErrKeyNotExist) {
		return fmt.Errorf("rtpfilter: distrust SIP source %s: %w", a, err)
	}
	return nil
}

// SIPSources lists the sources the guard holds buckets for (the most
// recent 16384; the map is LRU), to show who floods.
func (f *Filter) SIPSources() ([]SIPSource, error) {
	var (
		k   rtpfilterSipKey
		b   rtpfilterSipBucket
		out []SIPSource
	)
	it := f.objs.SipBuckets.Iterate()
	for it.Next(&k, &b) {
		out = append(out, SIPSource{Addr: netip.AddrFrom16(k.Addr).Unmap(), Passed: b.Passed, Dropped: b.Dropped})
	}
	if err := it.Err(); err != nil {
		return out, fmt.Errorf("rtpfilter: SIP sources: %w", err)
	}
	return out, nil
}
