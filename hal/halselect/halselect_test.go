//go:build linux

package halselect_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"confab/hal"
	"confab/hal/halselect"
	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
)

// info returns the labels of confab_hal_packet_path_info.
func info(t *testing.T, reg *prometheus.Registry) map[string]string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "confab_hal_packet_path_info" && len(mf.Metric) == 1 {
			labels := map[string]string{}
			for _, l := range mf.Metric[0].Label {
				labels[l.GetName()] = l.GetValue()
			}
			return labels
		}
	}
	t.Fatal("no confab_hal_packet_path_info")
	return nil
}

func counter(reg *prometheus.Registry, name, verdict string) (float64, bool) {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if hasLabel(m, "verdict", verdict) {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

func hasLabel(m *dto.Metric, name, value string) bool {
	for _, l := range m.Label {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

func TestWithoutAnInterfaceThePureGoDriverRuns(t *testing.T) {
	reg := prometheus.NewRegistry()
	path, err := halselect.Open(halselect.Config{Listen: netip.MustParseAddr("127.0.0.1"), LowPort: 42000, HighPort: 42099},
		halselect.WithRegisterer(reg))
	if err != nil {
		t.Fatal(err)
	}
	defer path.Shutdown()
	if path.Name() != "socket" || !strings.Contains(path.Reason(), "no media interface") {
		t.Errorf("driver %q, reason %q", path.Name(), path.Reason())
	}
	if l := info(t, reg); l["driver"] != "socket" || l["af_xdp"] != "off" || l["reason"] != path.Reason() {
		t.Errorf("metric labels %v", l)
	}
}

// openIn runs halselect.Open in side s's namespace.
func openIn(t *testing.T, p *vethtest.Pair, s *vethtest.Side, cfg halselect.Config, opts ...halselect.Option) hal.PacketPath {
	t.Helper()
	var path hal.PacketPath
	err := p.Do(s, func() error {
		var err error
		path, err = halselect.Open(cfg, opts...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { path.Shutdown() })
	return path
}

func TestTheLadder(t *testing.T) {
	tests := []struct {
		name            string
		noAFXDP         bool
		foreign         bool
		driver, mode    string
		afxdp, inReason string
	}{
		{"a veth takes XDP in driver mode with AF_XDP", false, false, "xdp", "driver", "copy", "AF_XDP (copy mode"},
		{"with AF_XDP off XDP filters for the kernel's sockets", true, false, "xdp", "driver", "off", "filtering for the kernel's UDP sockets"},
		{"another XDP program on the interface sends media to the pure-Go driver", false, true, "socket", "none", "off", "XDP refused on"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := vethtest.New(t)
			if tt.foreign {
				attachForeign(t, p)
			}
			reg := prometheus.NewRegistry()
			path := openIn(t, p, &p.A, halselect.Config{
				Interface: p.A.Ifname, Listen: p.A.IPv4, LowPort: 40000, HighPort: 40099, NoAFXDP: tt.noAFXDP,
			}, halselect.WithRegisterer(reg), halselect.WithXDPOptions(xdppath.WithPinDir("")))
			if path.Name() != tt.driver || !strings.Contains(path.Reason(), tt.inReason) {
				t.Errorf("driver %q, reason %q; want %q with %q", path.Name(), path.Reason(), tt.driver, tt.inReason)
			}
			l := info(t, reg)
			if l["driver"] != tt.driver || l["mode"] != tt.mode || l["af_xdp"] != tt.afxdp || l["reason"] != path.Reason() {
				t.Errorf("metric labels %v", l)
			}
			_, ok := counter(reg, "confab_hal_xdp_packets_total", "drop_unknown_flow")
			if ok != (tt.driver == "xdp") {
				t.Errorf("verdict metrics exported: %v, want %v", ok, tt.driver == "xdp")
			}
		})
	}
}

// attachForeign puts another tool's XDP program on side A's veth.
func attachForeign(t *testing.T, p *vethtest.Pair) {
	t.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name: "other_tool", Type: ebpf.XDP, License: "MIT",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { prog.Close() })
	err = p.Do(&p.A, func() error {
		l, err := link.AttachXDP(link.XDPOptions{Program: prog, Interface: p.A.Index})
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
