package dsp

import "github.com/prometheus/client_golang/prometheus"

// Collector exports the driver's counters, read from Stats at each scrape
// (the batch path only bumps atomics). Register it on the daemon's
// registry: reg.MustRegister(d.Collector()).
func (d *Driver) Collector() prometheus.Collector { return &collector{d: d, descs: newDescs()} }

type descs struct {
	transactions, bytes, faults, recoveries, probeFailures, rejected, healthy *prometheus.Desc
}

func newDescs() descs {
	return descs{
		transactions: prometheus.NewDesc("confab_dsp_transactions_total",
			"Request/response exchanges with the DSP coprocessor.", nil, nil),
		bytes: prometheus.NewDesc("confab_dsp_bus_bytes_total",
			"Frame bytes on the SPI bus, by direction (out: requests, in: responses).", []string{"direction"}, nil),
		faults: prometheus.NewDesc("confab_dsp_faults_total",
			"Device faults that sent batches back to the pure-Go engines, by kind.", []string{"kind"}, nil),
		recoveries: prometheus.NewDesc("confab_dsp_recoveries_total",
			"Re-probes that brought the device back after a fault.", nil, nil),
		probeFailures: prometheus.NewDesc("confab_dsp_probe_failures_total",
			"Re-probes that did not.", nil, nil),
		rejected: prometheus.NewDesc("confab_dsp_rejected_batches_total",
			"Batches failed at once while the device was unhealthy.", nil, nil),
		healthy: prometheus.NewDesc("confab_dsp_healthy",
			"1 while batches go to the device, 0 while the pure-Go engines do the work.", nil, nil),
	}
}

type collector struct {
	d     *Driver
	descs descs
}

func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.descs.transactions
	ch <- c.descs.bytes
	ch <- c.descs.faults
	ch <- c.descs.recoveries
	ch <- c.descs.probeFailures
	ch <- c.descs.rejected
	ch <- c.descs.healthy
}

func (c *collector) Collect(ch chan<- prometheus.Metric) {
	s := c.d.Stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	counter(c.descs.transactions, s.Transactions)
	counter(c.descs.bytes, s.BytesOut, "out")
	counter(c.descs.bytes, s.BytesIn, "in")
	for k := FaultKind(0); k < faultKinds; k++ {
		counter(c.descs.faults, s.Faults[k], k.String())
	}
	counter(c.descs.recoveries, s.Recoveries)
	counter(c.descs.probeFailures, s.ProbeFailures)
	counter(c.descs.rejected, s.Rejected)
	h := 0.0
	if s.Healthy {
		h = 1
	}
	ch <- prometheus.MustNewConstMetric(c.descs.healthy, prometheus.GaugeValue, h)
}
