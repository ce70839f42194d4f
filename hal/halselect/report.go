package halselect

import (
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"confab/hal"
)

// Report is the HAL's account of its drivers: for each capability (packet
// path, codec, mix, panel, watchdog) the driver in use and why, and each
// driver tried and refused with the reason. The daemon fills it as it opens
// drivers, logs it, and shows it on the web page's Settings; as a
// prometheus.Collector it exports confab_hal_driver_info{capability,
// driver, active, reason} = 1. It is safe for concurrent use.
type Report struct {
	mu      sync.Mutex
	lines   []hal.DriverStatus
	sources map[hal.Capability]func() []hal.DriverStatus
	desc    *prometheus.Desc
}

// NewReport returns an empty report.
func NewReport() *Report {
	return &Report{desc: prometheus.NewDesc("confab_hal_driver_info",
		"The HAL's drivers (value 1): per capability, the driver in use (active=true) and those refused (active=false), with why.",
		[]string{"capability", "driver", "active", "reason"}, nil)}
}

// Set records a line, replacing the one of the same capability and driver.
func (r *Report) Set(st hal.DriverStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sources, st.Capability)
	for i, l := range r.lines {
		if l.Capability == st.Capability && l.Driver == st.Driver {
			r.lines[i] = st
			return
		}
	}
	r.lines = append(r.lines, st)
}

// SetCapability replaces every line of st's capability with the given ones.
func (r *Report) SetCapability(c hal.Capability, lines ...hal.DriverStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.sources, c)
	r.lines = slices.DeleteFunc(r.lines, func(l hal.DriverStatus) bool { return l.Capability == c })
	r.lines = append(r.lines, lines...)
}

// Follow has the lines of capability c come from f, asked each time the
// report is read (those of other capabilities are left out, so one
// driver's Status can serve several): for a driver whose state changes
// while it runs (a DSP that faults and is re-probed). It replaces the
// capability's fixed lines.
func (r *Report) Follow(c hal.Capability, f func() []hal.DriverStatus) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = slices.DeleteFunc(r.lines, func(l hal.DriverStatus) bool { return l.Capability == c })
	if r.sources == nil {
		r.sources = make(map[hal.Capability]func() []hal.DriverStatus)
	}
	r.sources[c] = f
}

// List returns the lines in capability order (packet path, codec, mix,
// panel, watchdog, then others), the active driver first.
func (r *Report) List() []hal.DriverStatus {
	r.mu.Lock()
	out := slices.Clone(r.lines)
	srcs := make(map[hal.Capability]func() []hal.DriverStatus, len(r.sources))
	for c, f := range r.sources {
		srcs[c] = f
	}
	r.mu.Unlock()
	for c, f := range srcs {
		for _, l := range f() {
			if l.Capability == c {
				out = append(out, l)
			}
		}
	}
	rank := func(c hal.Capability) int {
		i := slices.Index([]hal.Capability{hal.CapPacketPath, hal.CapCodec, hal.CapMix, hal.CapPanel, hal.CapWatchdog}, c)
		if i < 0 {
			return 99
		}
		return i
	}
	slices.SortStableFunc(out, func(a, b hal.DriverStatus) int {
		if d := rank(a.Capability) - rank(b.Capability); d != 0 {
			return d
		}
		switch {
		case a.Active && !b.Active:
			return -1
		case b.Active && !a.Active:
			return 1
		}
		return 0
	})
	return out
}

// Active returns the active driver of capability c, "" if none is.
func (r *Report) Active(c hal.Capability) (hal.DriverStatus, bool) {
	for _, l := range r.List() {
		if l.Capability == c && l.Active {
			return l, true
		}
	}
	return hal.DriverStatus{}, false
}

// Log writes the report, one record per line.
func (r *Report) Log(log *slog.Logger) {
	for _, l := range r.List() {
		log.Info("hal driver", "capability", string(l.Capability), "driver", l.Driver, "active", l.Active, "reason", l.Reason)
	}
}

// Describe implements prometheus.Collector.
func (r *Report) Describe(ch chan<- *prometheus.Desc) { ch <- r.desc }

// Collect implements prometheus.Collector.
func (r *Report) Collect(ch chan<- prometheus.Metric) {
	for _, l := range r.List() {
		ch <- prometheus.MustNewConstMetric(r.desc, prometheus.GaugeValue, 1,
			string(l.Capability), l.Driver, strconv.FormatBool(l.Active), l.Reason)
	}
}

// packetPathLines are the report lines of the packet path Open chose: the
// driver in use and, when the pure-Go driver runs, XDP with why it was
// refused or not tried.
func packetPathLines(p hal.PacketPath, refused string) []hal.DriverStatus {
	lines := []hal.DriverStatus{{Capability: hal.CapPacketPath, Driver: p.Name(), Active: true, Reason: p.Reason()}}
	if p.Name() != "xdp" && refused != "" {
		lines = append(lines, hal.DriverStatus{Capability: hal.CapPacketPath, Driver: "xdp", Reason: refused})
	}
	return lines
}
