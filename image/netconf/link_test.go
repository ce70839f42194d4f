package netconf

import (
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestRtnetlink sets an interface up, gives it an address and a default
// route over rtnetlink in a network namespace of its own. It needs root
// (CAP_SYS_ADMIN and CAP_NET_ADMIN), which CI has.
func TestRtnetlink(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a network namespace of its own")
	}
	type result struct {
		up    bool
		addrs []string
		route string
		err   error
	}
	done := make(chan result)
	go func() {
		// The namespace belongs to this thread only; the thread ends with
		// the goroutine because it is never unlocked.
		runtime.LockOSThread()
		var r result
		defer func() { done <- r }()
		if r.err = unix.Unshare(unix.CLONE_NEWNET); r.err != nil {
			return
		}
		if r.err = LinkUp("lo"); r.err != nil {
			return
		}
		if r.err = SetAddress("lo", netip.MustParsePrefix("10.9.8.7/24")); r.err != nil {
			return
		}
		// Replacing moves the address rather than adding a second one.
		if r.err = SetAddress("lo", netip.MustParsePrefix("10.9.8.6/24")); r.err != nil {
			return
		}
		if r.err = SetDefaultRoute("lo", netip.MustParseAddr("10.9.8.1")); r.err != nil {
			return
		}
		ifi, err := net.InterfaceByName("lo")
		if r.err = err; err != nil {
			return
		}
		r.up = ifi.Flags&net.FlagUp != 0
		addrs, _ := ifi.Addrs()
		for _, a := range addrs {
			r.addrs = append(r.addrs, a.String())
		}
		b, err := os.ReadFile("/proc/thread-self/net/route")
		r.err, r.route = err, string(b)
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Run("the interface is up", func(t *testing.T) {
		if !r.up {
			t.Fatal("lo is down")
		}
	})
	t.Run("the address replaced the previous one", func(t *testing.T) {
		joined := strings.Join(r.addrs, " ")
		if !strings.Contains(joined, "10.9.8.6/24") || strings.Contains(joined, "10.9.8.7/") {
			t.Fatalf("addresses %v", r.addrs)
		}
	})
	t.Run("the default route goes via the gateway", func(t *testing.T) {
		// /proc/net/route: Iface Destination Gateway ... in little-endian hex.
		if !strings.Contains(r.route, "lo\t00000000\t0108090A") {
			t.Fatalf("routes:\n%s", r.route)
		}
	})
}

func TestFirstEthernet(t *testing.T) {
	dir := t.TempDir()
	mk := func(name, typ string, device bool) {
		p := dir + "/" + name
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(p+"/type", []byte(typ+"\n"), 0o644)
		if device {
			_ = os.Mkdir(p+"/device", 0o755)
		}
	}
	t.Run("no Ethernet interface says so", func(t *testing.T) {
		mk("lo", "772", false)
		if _, err := FirstEthernet(dir); err != ErrNoNIC {
			t.Fatalf("FirstEthernet = %v", err)
		}
	})
	t.Run("the first physical Ethernet interface by name is chosen", func(t *testing.T) {
		mk("eth1", "1", true)
		mk("eth0", "1", true)
		mk("br0", "1", false)
		if name, err := FirstEthernet(dir); name != "eth0" || err != nil {
			t.Fatalf("FirstEthernet = %q, %v", name, err)
		}
	})
}
