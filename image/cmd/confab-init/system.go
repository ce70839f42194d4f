package main

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"confab/image/boot"
	"confab/image/bundle"
	"confab/image/control"
	"confab/image/health"
	"confab/image/netconf"
	"confab/image/rootconf"
	"confab/image/supervise"
	"confab/image/update"
	"confab/image/watchdog"
)

// Where the init keeps things.
const (
	espDir    = "/boot"
	permDir   = "/perm"
	dataDir   = "/perm/confab"
	pubKey    = "/etc/confab/update.pub"
	ringBytes = 256 << 10
)

// system is the running box: what the control API shows and changes.
type system struct {
	log     *slog.Logger
	cfg     rootconf.Config
	slot    string
	entry   string
	booted  time.Time
	esp     boot.ESP
	reaper  *supervise.Reaper
	ring    *supervise.Ring
	sup     *supervise.Supervisor
	health  *supervise.Health
	net     *netconf.Manager
	inst    *update.Installer
	stop    context.CancelFunc // stops confabd and the rest
	stopped chan struct{}      // closed when the supervisor has returned

	mu             sync.Mutex
	committed      bool
	commitDeadline time.Time
	rolledBack     string
	watchdog       string
	rebooting      bool
}

func runSystem(log *slog.Logger, start time.Time) error {
	for _, m := range []struct{ dst, fstype, data string }{{"/run", "tmpfs", "mode=0755"}, {"/tmp", "tmpfs", "mode=1777"}} {
		if err := unix.Mount("tmpfs", m.dst, m.fstype, unix.MS_NOSUID|unix.MS_NODEV, m.data); err != nil {
			return fmt.Errorf("mount %s: %w", m.dst, err)
		}
	}
	params := cmdline()
	cfg, err := rootconf.Load(rootconf.Path)
	if err != nil {
		return err
	}
	s := &system{log: log, cfg: cfg, slot: params["confab.slot"], entry: params["confab.entry"], booted: start,
		esp: boot.ESP{Dir: espDir}, reaper: supervise.NewReaper("/proc"), ring: supervise.NewRing(ringBytes),
		stopped: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	// Made before anything runs that might use them; started below.
	s.sup = supervise.New("confabd", s.confabdCommand, s.reaper, s.ring, supervise.WithLogger(log),
		supervise.WithOutput(supervise.Lossy(os.Stdout, 256)))
	s.health = supervise.NewHealth(health.All(
		func(ctx context.Context) error { return health.SIPOptions(ctx, cfg.HealthSIP) },
		func(ctx context.Context) error { return health.Healthz(ctx, cfg.HealthURL) },
	), 2*time.Second, 5*time.Second, nil) // a round may take 2 s of confabd's own checks under load
	go s.reaper.Loop(context.Background(), 30*time.Second)

	esp, err := waitPartition(boot.LabelESP, 5*time.Second)
	if err != nil {
		return err
	}
	if err := unix.Mount(esp.node(), espDir, "vfat", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "umask=0077,shortname=mixed"); err != nil {
		return fmt.Errorf("mount the EFI system partition %s: %w", esp.node(), err)
	}
	perm, err := ensurePerm(s.reaper, os.Stdout)
	if err == nil {
		err = unix.Mount(perm.node(), permDir, "ext4", unix.MS_NOATIME|unix.MS_NODEV|unix.MS_NOSUID, "")
	}
	if err != nil {
		// Without /perm nothing would be kept; a tmpfs lets the admin at
		// least see what is wrong on the page.
		log.Error("the data partition is not usable; settings will NOT be kept", "err", err)
		_ = unix.Mount("tmpfs", permDir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755")
	}
	if err := os.MkdirAll(dataDir, 0o750); err != nil {
		return err
	}

	s.openWatchdog(ctx, start)

	netCfg, err := netconf.Load(netconf.Path)
	if err != nil {
		log.Error("network settings unreadable; using DHCP", "err", err)
		netCfg = netconf.Default()
	}
	s.net = netconf.NewManager(netCfg, netconf.Kernel{SysClassNet: "/sys/class/net", RunDir: "/run"}, netconf.WithLogger(log))
	netUp := make(chan struct{})
	var once sync.Once
	go func() {
		_ = s.net.Run(ctx, func(st netconf.State) {
			fmt.Printf("confab-init: network %s: %s %s %s\n", st.Interface, st.Source, st.Address, st.Error)
			select {
			case <-netUp: // a later change: a running confabd needs the new address
				if st.Address.IsValid() && s.sup.Status().Starts > 0 {
					s.sup.Restart()
				}
			default:
			}
			if st.Address.IsValid() || st.Source == "none" {
				once.Do(func() { close(netUp) })
			}
		})
	}()
	select {
	case <-netUp:
	case <-time.After(time.Duration(netCfg.DHCPTimeout) + 5*time.Second):
	}

	go func() { s.sup.Run(ctx); close(s.stopped) }()
	go s.health.Run(ctx)

	pub, err := os.ReadFile(pubKey)
	if err != nil {
		return fmt.Errorf("update key: %w", err)
	}
	key, err := bundle.ParsePublicKey(pub)
	if err != nil {
		return fmt.Errorf("update key %s: %w", pubKey, err)
	}
	arch := s.cfg.Arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	s.inst = update.New(s.esp, s.slot, slotDevice, key, update.WithLogger(log), update.WithRunning(arch, s.cfg.Created))
	if err := s.serveControl(); err != nil {
		log.Error("control API", "err", err)
	}
	go s.commit(ctx)
	go s.announceReady(ctx)
	return nil
}

// confabdCommand is confabd's command line for its next start.
func (s *system) confabdCommand() supervise.Command {
	args := []string{"-data", dataDir}
	if st := s.net.State(); st.Address.IsValid() {
		args = append(args, "-public-ip", st.Address.Addr().String())
	}
	args = append(args, s.cfg.ConfabdArgs...)
	env := append([]string{"PATH=/usr/bin:/usr/sbin", "HOME=" + dataDir}, s.cfg.ConfabdEnv...)
	return supervise.Command{Path: s.cfg.ConfabdPath, Args: args, Env: env, Dir: dataDir}
}

func slotDevice(slot string) (string, error) {
	p, ok := findPartition(boot.SlotLabel(slot))
	if !ok {
		return "", fmt.Errorf("no partition %s", boot.SlotLabel(slot))
	}
	return p.node(), nil
}

// openWatchdog arms the hardware watchdog and feeds it while confabd is
// healthy (after a grace period for the boot).
func (s *system) openWatchdog(ctx context.Context, start time.Time) {
	timeout := time.Duration(s.cfg.WatchdogTimeout)
	if timeout == 0 {
		s.setWatchdog("off (system.json)")
		return
	}
	dog, err := watchdog.Open("/dev/watchdog", timeout)
	if err != nil {
		s.setWatchdog("none: " + err.Error())
		s.log.Warn("no hardware watchdog", "err", err)
		return
	}
	got, _ := dog.Timeout()
	s.setWatchdog(fmt.Sprintf("armed, %v", got))
	fmt.Printf("confab-init: watchdog armed (%v), fed while confabd is healthy\n", got)
	p := watchdog.Policy{Interval: got / 4, Grace: time.Duration(s.cfg.BootGrace), Start: start,
		Healthy: func() bool { return s.health.State(10 * time.Second).Healthy }}
	t := time.NewTicker(max(got/4, time.Second))
	var lastSkip time.Time
	go watchdog.Feed(ctx, dog, p, t.C, func(err error) {
		if time.Since(lastSkip) > 10*time.Second {
			lastSkip = time.Now()
			fmt.Printf("confab-init: %v\n", err)
		}
	})
}

func (s *system) setWatchdog(st string) {
	s.mu.Lock()
	s.watchdog = st
	s.mu.Unlock()
}

// announceReady prints the ready line on the console once confabd first
// answers its probes.
func (s *system) announceReady(ctx context.Context) {
	for {
		ch := s.health.Changed()
		if st := s.health.State(10 * time.Second); st.Healthy {
			n := s.net.State()
			fmt.Printf("confab ready: version %s, slot %s, %s address %s, SIP %s:5060, up %s after the kernel\n",
				s.cfg.Version, s.slot, n.Source, n.Address, n.Address.Addr(), uptime())
			if fp, err := certFingerprint(filepath.Join(dataDir, certFile)); err == nil {
				fmt.Printf("confab: web page https://%s/ — certificate SHA-256 fingerprint %s\n", n.Address.Addr(), fp)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// certFile is confabd's HTTPS certificate in its data directory
// (web.CertFile; not imported, to keep the web page out of the init).
const certFile = "https-cert.pem"

// certFingerprint is the SHA-256 fingerprint of the PEM certificate at
// path, as browsers show it, so that the admin can check the warning the
// browser gives for a self-signed certificate.
func certFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", errors.New("no certificate")
	}
	sum := sha256.Sum256(blk.Bytes)
	parts := make([]string, len(sum))
	for i, c := range sum {
		parts[i] = fmt.Sprintf("%02X", c)
	}
	return strings.Join(parts, ":"), nil
}

// uptime is the time since the kernel started, from /proc/uptime.
func uptime() time.Duration {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	secs, _ := strconv.ParseFloat(f[0], 64)
	return time.Duration(secs * float64(time.Second)).Round(10 * time.Millisecond)
}

func (s *system) serveControl() error {
	ln, err := control.Listen(control.Socket)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: control.Handler(s, s.log), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// Status implements control.Box.
func (s *system) Status() control.Status {
	s.mu.Lock()
	st := control.Status{Version: s.cfg.Version, Arch: s.cfg.Arch, Built: s.cfg.Created, Slot: s.slot, Entry: s.entry, Committed: s.committed,
		CommitDeadline: s.commitDeadline, Watchdog: s.watchdog, RolledBack: s.rolledBack, BootedAt: s.booted}
	s.mu.Unlock()
	st.Health = s.health.State(10 * time.Second)
	st.Confabd = s.sup.Status()
	st.Network = s.net.State()
	st.Update = s.inst.Progress()
	return st
}

// Log implements control.Box.
func (s *system) Log() []byte { return s.ring.Bytes() }

// Install implements control.Box.
func (s *system) Install(ctx context.Context, r io.Reader, p update.Policy) (update.Installed, error) {
	s.mu.Lock()
	trial := !s.committed
	s.mu.Unlock()
	if trial {
		return update.Installed{}, control.ErrOnTrial
	}
	return s.inst.Install(ctx, r, p)
}

// Progress implements control.Box.
func (s *system) Progress() update.Progress { return s.inst.Progress() }

// Reboot implements control.Box: it answers at once and reboots in the
// background after confabd has ended its calls.
func (s *system) Reboot() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rebooting {
		return nil
	}
	s.rebooting = true
	go func() {
		time.Sleep(500 * time.Millisecond) // let the answer go out
		s.shutdown("reboot requested")
	}()
	return nil
}

// shutdown stops confabd (it hangs up its calls and closes its database),
// unmounts /perm and /boot, and reboots.
func (s *system) shutdown(why string) {
	fmt.Printf("confab-init: %s: stopping confabd and rebooting\n", why)
	s.stop()
	select {
	case <-s.stopped:
	case <-time.After(15 * time.Second):
	}
	unix.Sync()
	for _, m := range []string{permDir, espDir} {
		if err := unix.Unmount(m, 0); err != nil {
			_ = unix.Mount("", m, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
	}
	reboot()
}

// Network implements control.Box.
func (s *system) Network() (netconf.Config, netconf.State, error) {
	cfg, err := netconf.Load(netconf.Path)
	return cfg, s.net.State(), err
}

// SetNetwork implements control.Box.
func (s *system) SetNetwork(c netconf.Config) error { return netconf.Save(netconf.Path, c) }

// RestartConfabd implements control.Box.
func (s *system) RestartConfabd() { s.sup.Restart() }
