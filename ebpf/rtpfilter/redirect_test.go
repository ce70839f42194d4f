//go:build linux

package rtpfilter_test

import (
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"confab/ebpf/rtpfilter"
	"confab/hal/xdppath/xsk"
)

// inNewNetns runs f on an OS thread moved into a fresh network namespace
// (unshare(2) CLONE_NEWNET), whose only interface is its own loopback. The
// thread dies with the goroutine, so the namespace never leaks.
func inNewNetns(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("a private network namespace needs root (CAP_SYS_ADMIN): %v", err)
			return
		}
		f()
	}()
	<-done
}

func TestRedirectToAnAFXDPSocket(t *testing.T) {
	cfg := testConfig
	cfg.Redirect = true
	f := load(t, cfg)
	if err := f.OpenFlow(40000); err != nil {
		t.Fatal(err)
	}
	pkt := udp4(40000, rtp{}.bytes()).bytes()

	inNewNetns(t, func() {
		// An AF_XDP socket on the namespace's loopback (copy mode), only
		// so that the program's XSKMAP holds a socket for queue 0.
		const lo = 1
		s, err := xsk.Open(lo, 0, xsk.Config{Frames: 64, RingSize: 32})
		if err != nil {
			t.Errorf("AF_XDP socket: %v", err)
			return
		}
		defer s.Close()
		steps := []struct {
			name    string
			do      func() error
			action  uint32
			verdict rtpfilter.Verdict
		}{
			{"a queue without a socket passes its packets to the kernel", func() error { return nil }, xdpPass, rtpfilter.PassFlow},
			{"a queue with a socket redirects them to it", func() error { return f.SetSocket(0, s.FD()) }, xdpRedirect, rtpfilter.RedirectFlow},
			{"once the socket is removed they pass again", func() error { return f.RemoveSocket(0) }, xdpPass, rtpfilter.PassFlow},
		}
		for _, st := range steps {
			t.Run(st.name, func(t *testing.T) {
				if err := st.do(); err != nil {
					t.Fatal(err)
				}
				before := verdicts(t, f)
				act, _ := run(t, f, pkt)
				after := verdicts(t, f)
				if act != st.action {
					t.Errorf("action %s, want %s", actionName(act), actionName(st.action))
				}
				if got := after[st.verdict].Packets - before[st.verdict].Packets; got != 1 {
					t.Errorf("verdict %s counted %d packets, want 1", st.verdict, got)
				}
			})
		}
	})
}
