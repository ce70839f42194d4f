package main

import (
	"log/slog"
	"net"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"confab/hal"
	"confab/hal/halselect"
)

// openMediaPath opens the packet path the MCU runs on: XDP/AF_XDP on the
// media interface where the kernel and NIC take it, the pure-Go sockets
// otherwise (hal/halselect says which and why; the web page shows it).
func openMediaPath(cfg config, log *slog.Logger, reg prometheus.Registerer, report *halselect.Report) (hal.PacketPath, error) {
	ifname := cfg.MediaIf
	if ifname == "auto" {
		ifname = interfaceOf(cfg.PublicIP)
	}
	sipPort := uint16(0)
	if ap, err := netip.ParseAddrPort(cfg.SIP); err == nil {
		sipPort = ap.Port()
	}
	return halselect.Open(halselect.Config{Interface: ifname, Listen: netip.IPv4Unspecified(),
		LowPort: cfg.RTPLow, HighPort: cfg.RTPHigh, SIPPort: sipPort}, halselect.WithLogger(log), halselect.WithRegisterer(reg), halselect.WithReport(report))
}

// interfaceOf names the interface that holds addr, "" for loopback or an
// address no interface has: media on loopback stays on the kernel's sockets.
func interfaceOf(addr netip.Addr) string {
	if !addr.IsValid() || addr.IsLoopback() {
		return ""
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return ""
	}
	for _, ifc := range ifs {
		addrs, err := ifc.Addrs()
		if err != nil || ifc.Flags&net.FlagLoopback != 0 {
			continue
		}
		for _, a := range addrs {
			if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr().Unmap() == addr {
				return ifc.Name
			}
		}
	}
	return ""
}

// laterRegisterer holds collectors made before the metrics registry exists
// (the media path opens first) and hands them over when it does.
type laterRegisterer struct{ cs []prometheus.Collector }

func (l *laterRegisterer) Register(c prometheus.Collector) error {
	l.cs = append(l.cs, c)
	return nil
}

func (l *laterRegisterer) MustRegister(cs ...prometheus.Collector) { l.cs = append(l.cs, cs...) }

func (l *laterRegisterer) Unregister(c prometheus.Collector) bool {
	for i, x := range l.cs {
		if x == c {
			l.cs = append(l.cs[:i], l.cs[i+1:]...)
			return true
		}
	}
	return false
}

// handOver registers the held collectors on reg.
func (l *laterRegisterer) handOver(reg prometheus.Registerer) error {
	for _, c := range l.cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	l.cs = nil
	return nil
}
