// Package netns puts the load generator's callers behind an impaired link:
// a network namespace of their own, joined to the host by a veth pair,
// with a tc netem queue (tc-netem(8)) on the callers' end, so that what
// they send to the bridge is lost, delayed and reordered by the kernel as
// a WAN link would, not by the generator. The bridge's answers come back
// unimpaired.
//
// It drives iproute2's ip and tc, and needs root (CAP_NET_ADMIN).
// Namespaces are named confabload-<pid>; Create first removes those whose
// process is gone, so a run that was killed leaves nothing behind for long.
package netns

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"confab/bench/scenario"
)

// ErrNoNetem means the kernel has no netem queue (CONFIG_NET_SCH_NETEM,
// module sch_netem).
var ErrNoNetem = errors.New("netns: this kernel has no netem queueing discipline (CONFIG_NET_SCH_NETEM, module sch_netem)")

// ErrPrivilege means the caller may not create namespaces and links.
var ErrPrivilege = errors.New("netns: netem impairment needs root (CAP_NET_ADMIN) and iproute2 (ip, tc)")

const prefix = "confabload-"

// Link is a namespace and the veth pair that joins it to the host.
type Link struct {
	NS       string     // the callers' namespace, for `ip netns exec`
	HostIf   string     // the host's end of the veth pair
	NSIf     string     // the callers' end, with the netem queue
	HostAddr netip.Addr // the bridge listens here
	NSAddr   netip.Addr // the callers' address
}

// Create makes the namespace and the link, with netem set as n says (no
// queue at all when n asks for nothing).
func Create(n scenario.Netem) (*Link, error) {
	if os.Geteuid() != 0 {
		return nil, ErrPrivilege
	}
	for _, tool := range []string{"ip", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPrivilege, err)
		}
	}
	CleanStale()
	pid := os.Getpid()
	// A /30 of 10.213.0.0/16 per process: .1 the host, .2 the callers.
	base := 4 * (pid % 16384)
	host := netip.AddrFrom4([4]byte{10, 213, byte(base >> 8), byte(base&0xff) + 1})
	peer := netip.AddrFrom4([4]byte{10, 213, byte(base >> 8), byte(base&0xff) + 2})
	l := &Link{NS: prefix + strconv.Itoa(pid), HostIf: "cflh" + strconv.Itoa(pid), NSIf: "cfln" + strconv.Itoa(pid),
		HostAddr: host, NSAddr: peer}
	steps := [][]string{
		{"ip", "netns", "add", l.NS},
		{"ip", "link", "add", l.HostIf, "type", "veth", "peer", "name", l.NSIf, "netns", l.NS},
		{"ip", "addr", "add", host.String() + "/30", "dev", l.HostIf},
		{"ip", "link", "set", l.HostIf, "up"},
		{"ip", "-n", l.NS, "addr", "add", peer.String() + "/30", "dev", l.NSIf},
		{"ip", "-n", l.NS, "link", "set", l.NSIf, "up"},
		{"ip", "-n", l.NS, "link", "set", "lo", "up"},
	}
	if q := netemArgs(n); q != nil {
		_ = exec.Command("modprobe", "sch_netem").Run() // built in, or a module not loaded yet
		steps = append(steps, append([]string{"ip", "netns", "exec", l.NS, "tc", "qdisc", "add", "dev", l.NSIf, "root", "netem"}, q...))
	}
	for _, s := range steps {
		if err := run(s...); err != nil {
			l.Close()
			if slices.Contains(s, "netem") && strings.Contains(err.Error(), "qdisc kind is unknown") {
				return nil, fmt.Errorf("%w: %v", ErrNoNetem, err)
			}
			return nil, err
		}
	}
	return l, nil
}

// netemArgs are tc's words for n; nil when n impairs nothing.
func netemArgs(n scenario.Netem) []string {
	if n == (scenario.Netem{}) {
		return nil
	}
	ms := func(d time.Duration) string {
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64) + "ms"
	}
	pct := func(f float64) string { return strconv.FormatFloat(100*f, 'f', -1, 64) + "%" }
	// The default queue of 1000 packets would itself drop packets at a few
	// thousand callers with a delay of tens of milliseconds.
	a := []string{"limit", "200000"}
	if n.Delay > 0 || n.Jitter > 0 {
		a = append(a, "delay", ms(n.Delay))
		if n.Jitter > 0 {
			a = append(a, ms(n.Jitter))
		}
	}
	if n.Loss > 0 {
		a = append(a, "loss", pct(n.Loss))
	}
	if n.Reorder > 0 {
		a = append(a, "reorder", pct(n.Reorder))
	}
	return a
}

// Close removes the namespace; its end of the veth pair goes with it, and
// the host's end with that.
func (l *Link) Close() error {
	err := run("ip", "netns", "del", l.NS)
	_ = run("ip", "link", "del", l.HostIf) // gone already unless the namespace never got its end
	return err
}

// CleanStale removes the namespaces of confabload processes that are gone.
func CleanStale() {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(out), "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		pidText, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		pid, err := strconv.Atoi(pidText)
		if err != nil || pid == os.Getpid() || alive(pid) {
			continue
		}
		(&Link{NS: name, HostIf: "cflh" + pidText}).Close()
	}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func run(args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("netns: %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
