package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/host/v3"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/halselect"
	"confab/hal/panel"
	"confab/hal/watchdog"
)

// The HAL's optional drivers beside the packet path: the front panel, the
// watchdog and the codec/mix coprocessor. Each is tried when configured; a
// driver that does not work leaves the box running without it, and the
// HAL's report (log, confab_hal_driver_info, the Settings page) says why.

// gpioLookup resolves GPIO pin names on this board: periph's host drivers
// (the GPIO character device, sysfs, the SoC's registers) are loaded on
// first use.
type gpioLookup struct {
	once sync.Once
	err  error
}

func (g *gpioLookup) pin(name string) (gpio.PinIO, error) {
	g.once.Do(func() { _, g.err = host.Init() })
	if g.err != nil {
		return nil, fmt.Errorf("GPIO drivers: %w", g.err)
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("no GPIO pin %q on this board", name)
	}
	return p, nil
}

// openPanel resolves the -panel pins and makes the front panel. A pin the
// board does not have, or GPIO the kernel does not offer, leaves the panel
// out (nil) with the reason in the status: a box without its panel still
// conferences.
func openPanel(spec map[string]string, lookup func(string) (gpio.PinIO, error), confs panel.Conferences,
	reset func() error, log *slog.Logger, opts ...panel.Option) (*panel.Panel, hal.DriverStatus) {
	st := hal.DriverStatus{Capability: hal.CapPanel, Driver: "none"}
	if len(spec) == 0 {
		st.Reason = "no -panel configured"
		return nil, st
	}
	var pins panel.Pins
	slots := map[string]*gpio.PinIO{"status": &pins.Status, "active": &pins.Active, "mute": &pins.Mute, "reset": &pins.Reset}
	var used []string
	for _, role := range panelRoles {
		name, ok := spec[role]
		if !ok {
			continue
		}
		p, err := lookup(name)
		if err != nil {
			st.Driver, st.Reason = "gpio", fmt.Sprintf("not used: %s pin: %v", role, err)
			return nil, st
		}
		*slots[role] = p
		used = append(used, role+"="+name)
	}
	p, err := panel.New(pins, confs, reset, append([]panel.Option{panel.WithLogger(log)}, opts...)...)
	if err != nil {
		st.Driver, st.Reason = "gpio", "not used: "+err.Error()
		return nil, st
	}
	st.Driver, st.Active, st.Reason = "gpio", true, strings.Join(used, ", ")
	return p, st
}

// runWatchdog arms the -watchdog device and feeds it while health passes,
// until ctx ends; it returns the device for the magic close at a clean
// shutdown (nil when there is none) and the report line.
func runWatchdog(ctx context.Context, dev string, timeout time.Duration, healthy func(context.Context) bool,
	reg prometheus.Registerer, log *slog.Logger) (*watchdog.Device, hal.DriverStatus) {
	st := hal.DriverStatus{Capability: hal.CapWatchdog, Driver: "none"}
	if dev == "" {
		st.Reason = "no -watchdog configured (on the appliance image the init feeds the watchdog)"
		return nil, st
	}
	d, err := watchdog.Open(dev, timeout)
	if err != nil {
		st.Driver, st.Reason = dev, "not used: "+err.Error()
		return nil, st
	}
	f := watchdog.NewFeeder(d, healthy, watchdog.WithLogger(log))
	if reg != nil {
		if err := reg.Register(newWatchdogCollector(f)); err != nil {
			log.Warn("watchdog metrics not registered", "err", err)
		}
	}
	interval := max(d.Timeout()/4, time.Second)
	go f.Run(ctx, interval)
	st.Driver, st.Active = dev, true
	st.Reason = fmt.Sprintf("armed with %v, fed every %v while healthy", d.Timeout(), interval)
	return d, st
}

// watchdogCollector exports the feeder's counters.
type watchdogCollector struct {
	f    *watchdog.Feeder
	desc *prometheus.Desc
}

func newWatchdogCollector(f *watchdog.Feeder) watchdogCollector {
	return watchdogCollector{f: f, desc: prometheus.NewDesc("confab_hal_watchdog_ticks_total",
		"Watchdog feeder ticks by result: fed, skipped (not healthy, so not fed) or failed (the device refused the keepalive).",
		[]string{"result"}, nil)}
}

func (c watchdogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c watchdogCollector) Collect(ch chan<- prometheus.Metric) {
	n := c.f.Counters()
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n.Fed), "fed")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n.Skipped), "skipped")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n.Failed), "failed")
}

// openOffload opens the -dsp coprocessor and returns what the MCU hands
// its codec and mix work to, and how to close it. Without a device, or
// when it does not answer, the offload is empty: the mixer's pure-Go
// engines do the work, and the report says why. With one, the report
// follows the driver: the device active while it is healthy, the Go
// engines active while it is being re-probed after a fault (the mixer
// moves conferences back to Go within the frame of the fault).
func openOffload(target string, report *halselect.Report, reg prometheus.Registerer, log *slog.Logger) (hal.Offload, func()) {
	caps := []hal.Capability{hal.CapCodec, hal.CapMix}
	if target == "" {
		for _, c := range caps {
			report.SetCapability(c, hal.DriverStatus{Capability: c, Driver: "go", Active: true, Reason: "no -dsp configured"})
		}
		return hal.Offload{}, func() {}
	}
	d, err := dsp.Open(target, dsp.WithLogger(log))
	if err != nil {
		why := fmt.Sprintf("-dsp %s did not answer: %v", target, err)
		log.Error("codec and mix stay in Go", "reason", why)
		for _, c := range caps {
			report.SetCapability(c, hal.DriverStatus{Capability: c, Driver: "go", Active: true, Reason: why},
				hal.DriverStatus{Capability: c, Driver: "dsp-spi", Active: false, Reason: why})
		}
		return hal.Offload{}, func() {}
	}
	for _, c := range caps {
		report.Follow(c, func() []hal.DriverStatus {
			var lines []hal.DriverStatus
			for _, l := range d.Status() {
				if l.Capability == c {
					lines = append(lines, l)
				}
			}
			fallback := hal.DriverStatus{Capability: c, Driver: "go", Active: false,
				Reason: "fallback: takes a conference's work within one frame if the device faults"}
			if !d.Healthy() {
				fallback.Active, fallback.Reason = true, "-dsp "+target+" faulted and is being re-probed"
			}
			return append(lines, fallback)
		})
	}
	if err := reg.Register(d.Collector()); err != nil {
		log.Warn("DSP metrics not registered", "err", err)
	}
	log.Info("codec and mix offloaded", "dsp", target, "device", d.Status()[0].Reason)
	return d.Offload(), func() { _ = d.Close() }
}
