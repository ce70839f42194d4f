//go:build linux

package xdppath_test

import (
	"bufio"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"
	"golang.org/x/sys/unix"

	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
)

// The test binary doubles as a Confab that attaches and is then killed,
// and as the load benchmarks' phones and flooder (load_test.go): TestMain
// runs those instead of the tests when asked to.
const helperEnv = "CONFAB_XDPPATH_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "attach-and-hang":
		attachAndHang()
	case "phones":
		runPhones()
	case "flood":
		runFlood()
	default:
		os.Exit(m.Run())
	}
}

// attachAndHang attaches the XDP path with a pinned link in the namespace
// and on the interface the environment names, says "ready", and waits to
// be killed.
func attachAndHang() {
	runtime.LockOSThread()
	fd, err := unix.Open("/run/netns/"+os.Getenv("CONFAB_NS"), unix.O_RDONLY, 0)
	if err == nil {
		err = unix.Setns(fd, unix.CLONE_NEWNET)
	}
	if err != nil {
		fmt.Println("setns:", err)
		os.Exit(1)
	}
	_, err = xdppath.New(os.Getenv("CONFAB_IF"), netip.MustParseAddr("10.77.0.1"), low, high,
		xdppath.WithPinDir(os.Getenv("CONFAB_PIN")))
	if err != nil {
		fmt.Println("new:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {}
}

// bpffs mounts a private BPF filesystem for the test's pins.
func bpffs(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := unix.Mount("bpf", dir, "bpf", 0, ""); err != nil {
		t.Fatalf("mount a BPF filesystem (needs root): %v", err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
	return filepath.Join(dir, "confab")
}

var xdpProgID = regexp.MustCompile(`prog/xdp id (\d+)`)

// attachedID is the ID of the XDP program ip link reports on side s, ""
// for none.
func attachedID(t *testing.T, p *vethtest.Pair, s *vethtest.Side) string {
	t.Helper()
	m := xdpProgID.FindStringSubmatch(p.IP(t, s, "-d", "link", "show", "dev", s.Ifname))
	if m == nil {
		return ""
	}
	return m[1]
}

func progID(t *testing.T, prog *ebpf.Program) string {
	t.Helper()
	info, err := prog.Info()
	if err != nil {
		t.Fatal(err)
	}
	id, _ := info.ID()
	return fmt.Sprint(id)
}

func TestRestartAfterACrashTakesOverThePinnedLink(t *testing.T) {
	p := vethtest.New(t)
	pin := bpffs(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(exe)
	child.Env = append(os.Environ(), helperEnv+"=attach-and-hang", "CONFAB_NS="+p.A.NS, "CONFAB_IF="+p.A.Ifname, "CONFAB_PIN="+pin)
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		_ = child.Process.Kill()
		_ = child.Wait()
		t.Fatalf("the first instance did not attach: %q", line)
	}
	crashed := attachedID(t, p, &p.A)
	_ = child.Process.Kill() // SIGKILL: no chance to detach
	_ = child.Wait()

	t.Run("the killed instance's program keeps guarding the interface", func(t *testing.T) {
		if got := attachedID(t, p, &p.A); got == "" || got != crashed {
			t.Fatalf("attached program %q, want the crashed instance's %q", got, crashed)
		}
	})

	var s *server
	t.Run("the next instance takes the link over", func(t *testing.T) {
		s = newPinnedServer(t, p, pin)
		if !strings.Contains(s.path.Reason(), "took over link") {
			t.Errorf("reason %q does not tell of the takeover", s.path.Reason())
		}
		if got, want := attachedID(t, p, &p.A), progID(t, s.path.Filter().Program()); got != want {
			t.Errorf("attached program %s, want the new instance's %s", got, want)
		}
	})
	t.Run("a clean shutdown leaves no program and no pin", func(t *testing.T) {
		if s == nil {
			t.Skip("no instance to shut down")
		}
		if err := s.path.Shutdown(); err != nil {
			t.Fatal(err)
		}
		if got := attachedID(t, p, &p.A); got != "" {
			t.Errorf("program %s still attached", got)
		}
		if _, err := os.Stat(filepath.Join(pin, "xdp_"+p.A.Ifname)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("pin still there: %v", err)
		}
	})
}

// newPinnedServer starts an XDP path on side A with its link pinned in pin;
// the test shuts it down.
func newPinnedServer(t *testing.T, p *vethtest.Pair, pin string) *server {
	t.Helper()
	s := &server{pair: p}
	err := p.Do(&p.A, func() error {
		var err error
		s.path, err = xdppath.New(p.A.Ifname, p.A.IPv4, low, high, xdppath.WithPinDir(pin))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOtherProgramsAreLeftAlone(t *testing.T) {
	t.Run("another tool's program is not replaced", func(t *testing.T) {
		p := vethtest.New(t)
		other, err := ebpf.NewProgram(&ebpf.ProgramSpec{
			Name: "other_tool", Type: ebpf.XDP, License: "MIT",
			Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 2), asm.Return()}, // XDP_PASS
		})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		err = p.Do(&p.A, func() error {
			l, err := link.AttachXDP(link.XDPOptions{Program: other, Interface: p.A.Index})
			if err != nil {
				return err
			}
			defer l.Close()
			_, err = xdppath.New(p.A.Ifname, p.A.IPv4, low, high, xdppath.WithPinDir(""))
			return err
		})
		if !errors.Is(err, xdppath.ErrForeignProgram) || !strings.Contains(err.Error(), "other_tool") {
			t.Errorf("err %v, want ErrForeignProgram naming other_tool", err)
		}
	})
	t.Run("a running instance's program is not taken", func(t *testing.T) {
		p := vethtest.New(t)
		newServer(t, p) // unpinned: held only by this live process
		err := p.Do(&p.A, func() error {
			_, err := xdppath.New(p.A.Ifname, p.A.IPv4, low+200, high+200, xdppath.WithPinDir(""))
			return err
		})
		if !errors.Is(err, xdppath.ErrBusy) {
			t.Errorf("err %v, want ErrBusy", err)
		}
	})
}

func TestShutdownDetaches(t *testing.T) {
	p := vethtest.New(t)
	s := newPinnedServer(t, p, "")
	if attachedID(t, p, &p.A) == "" {
		t.Fatal("nothing attached")
	}
	if err := s.path.Shutdown(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	for attachedID(t, p, &p.A) != "" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if id := attachedID(t, p, &p.A); id != "" {
		t.Errorf("program %s still attached after Shutdown", id)
	}
}
