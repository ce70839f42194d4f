// Package halselect chooses the packet-path driver for the MCU: the
// XDP/AF_XDP driver (hal/xdppath) on the media interface where the kernel
// and the NIC take it, and the pure-Go driver (hal/sockpath) everywhere
// else. The choice and its reason are logged, exported as a metric and
// kept in the path's Name and Reason, which the web page shows.
//
// The ladder, first that works: XDP in driver mode with AF_XDP; XDP in
// generic mode with AF_XDP; XDP (either mode) filtering for kernel sockets
// when AF_XDP is refused; pure-Go sockets, with the reason XDP was refused
// (no interface configured, no privilege, no BPF support, another XDP
// program on the interface). hal/xdppath's package comment lists the
// kernel features and privileges XDP needs.
package halselect

import (
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"confab/hal"
	"confab/hal/sockpath"
	"confab/hal/xdppath"
)

// Config says where media flows.
type Config struct {
	// Interface is the media interface for XDP; "" uses the pure-Go
	// driver.
	Interface string
	// Listen and LowPort..HighPort are the flows' address and RTP/RTCP
	// port range, as sockpath.New takes them.
	Listen            netip.Addr
	LowPort, HighPort uint16
	// SIPPort is guarded against floods by the XDP program (0: not
	// guarded), at SIPRate packets per second and SIPBurst at once per
	// source (0: the defaults).
	SIPPort           uint16
	SIPRate, SIPBurst int
	// NoAFXDP keeps media on the kernel's sockets behind the XDP filter.
	NoAFXDP bool
}

type options struct {
	log      *slog.Logger
	reg      prometheus.Registerer
	report   *Report
	xdpOpts  []xdppath.Option
	sockOpts []sockpath.Option
}

// Option configures Open.
type Option func(*options)

// WithLogger sets the logger for the choice and for the driver.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRegisterer registers the driver's metrics (see Open) on reg.
func WithRegisterer(reg prometheus.Registerer) Option { return func(o *options) { o.reg = reg } }

// WithReport records the choice in the HAL's report: the packet-path
// driver in use and, under the pure-Go driver, why XDP was not.
func WithReport(r *Report) Option { return func(o *options) { o.report = r } }

// WithXDPOptions passes options to xdppath.New.
func WithXDPOptions(opts ...xdppath.Option) Option {
	return func(o *options) { o.xdpOpts = append(o.xdpOpts, opts...) }
}

// WithSocketOptions passes options to the flows' kernel sockets, under
// either driver.
func WithSocketOptions(opts ...sockpath.Option) Option {
	return func(o *options) { o.sockOpts = append(o.sockOpts, opts...) }
}

// Open returns the best packet path for cfg. It fails only when neither
// driver can run (a bad port range or listen address, say).
//
// With a registerer it exports confab_hal_packet_path_info{driver, mode,
// af_xdp, reason} = 1, and under XDP confab_hal_xdp_packets_total and
// confab_hal_xdp_bytes_total by verdict.
func Open(cfg Config, opts ...Option) (hal.PacketPath, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	log := o.log.With("component", "hal/halselect")
	var path hal.PacketPath
	info := pathInfo{driver: "socket", mode: "none", afxdp: "off"}

	why := "no media interface is configured for XDP"
	if cfg.Interface != "" {
		xo := []xdppath.Option{
			xdppath.WithLogger(o.log),
			xdppath.WithAFXDP(!cfg.NoAFXDP),
			xdppath.WithSIPGuard(cfg.SIPPort, cfg.SIPRate, cfg.SIPBurst),
			xdppath.WithSocketOptions(o.sockOpts...),
		}
		xp, err := xdppath.New(cfg.Interface, cfg.Listen, cfg.LowPort, cfg.HighPort, append(xo, o.xdpOpts...)...)
		if err == nil {
			path = xp
			info.driver, info.mode = "xdp", xp.Mode().String()
			if on, zc := xp.AFXDP(); on {
				info.afxdp = "copy"
				if zc {
					info.afxdp = "zero-copy"
				}
			}
			if o.reg != nil {
				if err := o.reg.Register(newVerdictCollector(xp)); err != nil {
					log.Warn("XDP verdict metrics not registered", "err", err)
				}
			}
		} else {
			why = fmt.Sprintf("XDP refused on %s: %v", cfg.Interface, err)
			log.Warn("falling back to the pure-Go packet path", "reason", why)
		}
	}
	if path == nil {
		sp, err := sockpath.New(cfg.Listen, cfg.LowPort, cfg.HighPort,
			append([]sockpath.Option{sockpath.WithLogger(o.log), sockpath.WithReason(why + "; pure-Go sockets (epoll, recvmmsg/sendmmsg)")}, o.sockOpts...)...)
		if err != nil {
			return nil, err
		}
		path = sp
	}
	info.reason = path.Reason()
	if o.report != nil {
		o.report.SetCapability(hal.CapPacketPath, packetPathLines(path, why)...)
	}
	log.Info("packet path chosen", "driver", info.driver, "mode", info.mode, "af_xdp", info.afxdp, "reason", info.reason)
	if o.reg != nil {
		if err := o.reg.Register(info.collector()); err != nil {
			log.Warn("packet path metric not registered", "err", err)
		}
	}
	return path, nil
}

// pathInfo is what confab_hal_packet_path_info reports.
type pathInfo struct {
	driver, mode, afxdp, reason string
}

func (pi pathInfo) collector() prometheus.Collector {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "confab_hal_packet_path_info",
		Help: "The packet-path driver in use (value 1): socket or xdp, the XDP attach mode, AF_XDP off, copy or zero-copy, and why.",
	}, []string{"driver", "mode", "af_xdp", "reason"})
	g.WithLabelValues(pi.driver, pi.mode, pi.afxdp, pi.reason).Set(1)
	return g
}
