package main

import (
	"net/netip"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMediaPathMetricsReachTheRegistryMadeLater(t *testing.T) {
	var l laterRegisterer
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "confab_test_gauge", Help: "test"})
	dropped := prometheus.NewGauge(prometheus.GaugeOpts{Name: "confab_test_dropped", Help: "test"})
	l.MustRegister(g, dropped)
	if !l.Unregister(dropped) {
		t.Fatal("Unregister did not find a held collector")
	}
	reg := prometheus.NewRegistry()
	if err := l.handOver(reg); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || mfs[0].GetName() != "confab_test_gauge" {
		t.Fatalf("the registry holds %v (%v), want only the kept gauge", mfs, err)
	}
}

func TestTheMediaInterfaceIsTheOneHoldingThePublicAddress(t *testing.T) {
	cases := []struct {
		name string
		addr netip.Addr
		want string
	}{
		{"loopback keeps media on sockets", netip.MustParseAddr("127.0.0.1"), ""},
		{"an address no interface holds gives none", netip.MustParseAddr("198.51.100.77"), ""},
		{"no address gives none", netip.Addr{}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := interfaceOf(c.addr); got != c.want {
				t.Fatalf("interfaceOf(%v) = %q, want %q", c.addr, got, c.want)
			}
		})
	}
}
