//go:build linux

package xdppath

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"confab/ebpf/rtpfilter"
	"confab/hal/xdppath/vethtest"
)

func TestANetlinkAttachmentOfOursIsReplaced(t *testing.T) {
	p := vethtest.New(t)
	err := p.Do(&p.A, func() error {
		// What an older Confab, or ip link set xdp, would have left.
		old, err := rtpfilter.Load(rtpfilter.Config{MediaLow: 40000, MediaHigh: 40099})
		if err != nil {
			return err
		}
		defer old.Close()
		if err := setXDPFD(p.A.Index, old.Program().FD(), unix.XDP_FLAGS_SKB_MODE); err != nil {
			return err
		}
		if st, err := queryXDP(p.A.Index); err != nil || st.attached != xdpAttachedSKB {
			t.Fatalf("the stale attachment did not take: %+v, %v", st, err)
		}

		path, err := New(p.A.Ifname, p.A.IPv4, 40000, 40099, WithPinDir(""))
		if err != nil {
			return err
		}
		defer path.Shutdown()
		if !strings.Contains(path.Reason(), "through netlink") {
			t.Errorf("reason %q does not tell of the replacement", path.Reason())
		}
		st, err := queryXDP(p.A.Index)
		if err != nil {
			return err
		}
		info, err := path.filter.Program().Info()
		if err != nil {
			return err
		}
		if id, _ := info.ID(); uint32(id) != st.progID || st.attached != xdpAttachedDrv {
			t.Errorf("attached program %d in mode %d, want %d in driver mode", st.progID, st.attached, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
