package halselect

import (
	"github.com/prometheus/client_golang/prometheus"

	"confab/ebpf/rtpfilter"
	"confab/hal/xdppath"
)

// verdictCollector exports the XDP program's verdict counters, read from
// its per-CPU map on each scrape.
type verdictCollector struct {
	path           *xdppath.Path
	packets, bytes *prometheus.Desc
}

func newVerdictCollector(p *xdppath.Path) *verdictCollector {
	return &verdictCollector{
		path: p,
		packets: prometheus.NewDesc("confab_hal_xdp_packets_total",
			"Frames the XDP program judged, by verdict (pass_*, redirect_flow, tx_bypass, drop_*).", []string{"verdict"}, nil),
		bytes: prometheus.NewDesc("confab_hal_xdp_bytes_total",
			"Bytes of the frames the XDP program judged, by verdict.", []string{"verdict"}, nil),
	}
}

func (c *verdictCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.packets
	ch <- c.bytes
}

func (c *verdictCollector) Collect(ch chan<- prometheus.Metric) {
	vc, err := c.path.Filter().Verdicts()
	if err != nil {
		return // shut down: nothing to report
	}
	for v := range rtpfilter.NumVerdicts {
		ch <- prometheus.MustNewConstMetric(c.packets, prometheus.CounterValue, float64(vc[v].Packets), v.String())
		ch <- prometheus.MustNewConstMetric(c.bytes, prometheus.CounterValue, float64(vc[v].Bytes), v.String())
	}
}
