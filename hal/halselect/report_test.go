package halselect_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"confab/hal"
	"confab/hal/halselect"
)

func TestReport(t *testing.T) {
	r := halselect.NewReport()
	path, err := halselect.Open(halselect.Config{Listen: netip.MustParseAddr("127.0.0.1"), LowPort: 42100, HighPort: 42199},
		halselect.WithReport(r))
	if err != nil {
		t.Fatal(err)
	}
	defer path.Shutdown()
	r.SetCapability(hal.CapCodec, hal.DriverStatus{Capability: hal.CapCodec, Driver: "go", Active: true, Reason: "no -dsp configured"})
	r.Set(hal.DriverStatus{Capability: hal.CapWatchdog, Driver: "none", Reason: "no -watchdog configured"})
	r.Set(hal.DriverStatus{Capability: hal.CapWatchdog, Driver: "none", Reason: "replaced"})

	t.Run("the packet path says what runs and why XDP does not", func(t *testing.T) {
		l := r.List()
		if len(l) != 4 {
			t.Fatalf("report %+v", l)
		}
		if l[0].Capability != hal.CapPacketPath || l[0].Driver != "socket" || !l[0].Active || l[0].Reason != path.Reason() {
			t.Errorf("first line %+v", l[0])
		}
		if l[1].Capability != hal.CapPacketPath || l[1].Driver != "xdp" || l[1].Active || !strings.Contains(l[1].Reason, "no media interface") {
			t.Errorf("second line %+v", l[1])
		}
		if l[2].Capability != hal.CapCodec || l[3].Capability != hal.CapWatchdog || l[3].Reason != "replaced" {
			t.Errorf("order or replacement wrong: %+v", l)
		}
	})
	t.Run("a followed driver is asked each time", func(t *testing.T) {
		r := halselect.NewReport()
		healthy := true
		status := func() []hal.DriverStatus {
			return []hal.DriverStatus{
				{Capability: hal.CapCodec, Driver: "dsp-spi", Active: healthy},
				{Capability: hal.CapMix, Driver: "dsp-spi", Active: healthy},
			}
		}
		r.SetCapability(hal.CapCodec, hal.DriverStatus{Capability: hal.CapCodec, Driver: "go", Active: true})
		r.Follow(hal.CapCodec, status)
		r.Follow(hal.CapMix, status)
		if l := r.List(); len(l) != 2 || !l[0].Active || l[0].Capability != hal.CapCodec || l[1].Capability != hal.CapMix {
			t.Fatalf("report %+v", l)
		}
		healthy = false
		if c, ok := r.Active(hal.CapCodec); ok {
			t.Fatalf("codec still active after a fault: %+v", c)
		}
	})
	t.Run("each line is a metric", func(t *testing.T) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(r)
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, mf := range mfs {
			if mf.GetName() != "confab_hal_driver_info" {
				continue
			}
			for _, m := range mf.Metric {
				labels := map[string]string{}
				for _, lp := range m.Label {
					labels[lp.GetName()] = lp.GetValue()
				}
				lines = append(lines, labels["capability"]+"/"+labels["driver"]+"/"+labels["active"])
			}
		}
		slices.Sort(lines)
		want := "codec/go/true packet-path/socket/true packet-path/xdp/false watchdog/none/false"
		if got := strings.Join(lines, " "); got != want {
			t.Fatalf("metrics %q, want %q", got, want)
		}
	})
}
