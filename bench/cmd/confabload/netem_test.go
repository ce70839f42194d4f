package main

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"confab/bench/bridgeproc"
	"confab/bench/netns"
	"confab/bench/scenario"
)

// TestMain lets the test binary stand in for confabload when a netem run
// re-executes it inside the callers' namespace.
func TestMain(m *testing.M) {
	if len(os.Args) == 2 && os.Args[1] == childFlag {
		if err := runChild(context.Background(), os.Stdin, os.Stdout, os.Stderr); err != nil {
			os.Stderr.WriteString("confabload: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestNetemImpairsWhatTheCallersSend runs six callers from a namespace
// behind a veth pair, once with a clean link and once with netem dropping
// 10 % of what they send, and reads the loss the bridge itself counts on
// the callers' streams: none on the clean link, about a tenth behind netem.
func TestNetemImpairsWhatTheCallersSend(t *testing.T) {
	if testing.Short() {
		t.Skip("builds confabd and runs two loads of a few seconds")
	}
	if os.Geteuid() != 0 {
		t.Skip("netem needs root (CAP_NET_ADMIN) to make a namespace and a veth pair")
	}
	if _, err := exec.LookPath("tc"); err != nil {
		t.Skip("tc (iproute2) is not installed")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "confabd")
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	if err := bridgeproc.Build(ctx, "../../..", bin); err != nil {
		t.Fatal(err)
	}
	lost := func(netem string) (float64, string) {
		t.Helper()
		s, err := scenario.Parse(strings.NewReader("name netem\nconferences 2 x 3\ntalkers 100%\nrate 20/s\nwarmup 2s\nwindow 4s\nanalyse 0\nnetem " + netem + "\n"))
		if err != nil {
			t.Fatal(err)
		}
		o := &options{confabd: bin, log: testLogger(t)}
		r, err := o.runOnce(ctx, s, mustAddr("127.0.0.1"))
		if errors.Is(err, netns.ErrNoNetem) {
			t.Skipf("the namespace, the veth pair and a clean run work; netem itself cannot be tested here: %v", err)
		}
		if err != nil {
			t.Fatalf("netem %s: %v", netem, err)
		}
		if r.Calls.Answered != 6 {
			t.Fatalf("netem %s: %d of 6 calls answered", netem, r.Calls.Answered)
		}
		got, ok := r.BridgeCounters["confab_rtp_lost_packets"]
		if !ok {
			t.Fatalf("the bridge's counters lack confab_rtp_lost_packets: %v", r.BridgeCounters)
		}
		return got, r.Impairment
	}
	// Six callers at 50 packets a second for the 4 s window: 1,200 packets.
	clean, _ := lost("loss 0%")
	if clean > 6 {
		t.Errorf("the bridge counted %.0f packets lost on a clean link", clean)
	}
	// Nothing is left behind: no namespace of this process.
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), "confabload-"+strconv.Itoa(os.Getpid())) {
		t.Errorf("the namespace outlived its run:\n%s", out)
	}
	impaired, name := lost("loss 10%")
	if impaired < 60 || impaired > 240 {
		t.Errorf("behind netem loss 10%% the bridge counted %.0f of about 1200 packets lost, want about 120", impaired)
	}
	if !strings.Contains(name, "netem loss 10.0%") {
		t.Errorf("the result names its impairment %q", name)
	}
	t.Logf("lost in the window: %.0f on the clean link, %.0f behind netem loss 10%%", clean, impaired)

}

func TestNetemNeedsABridgeOfItsOwn(t *testing.T) {
	s, err := scenario.Parse(strings.NewReader("conferences 1 x 2\nnetem loss 1%\n"))
	if err != nil {
		t.Fatal(err)
	}
	o := &options{bridge: "192.0.2.1:5060", log: testLogger(t)}
	if _, err := o.runOnce(context.Background(), s, mustAddr("127.0.0.1")); !errors.Is(err, errNetemBridge) {
		t.Fatalf("got %v, want %v", err, errNetemBridge)
	}
}

func testLogger(t *testing.T) *slog.Logger { return slog.New(slog.NewTextHandler(t.Output(), nil)) }

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
