//go:build linux

package xdppath_test

// Load benchmarks: the MCU on side A of a veth pair, on either driver,
// with N simulated participants on side B in a separate process (the test
// binary again, see TestMain), so that their cost is not counted as the
// MCU's. Each reports the MCU process's CPU (getrusage), the load
// generator's (/proc/PID/stat) and the softirq time of the whole box
// (/proc/stat; other work on the box adds to it), per participant, and the
// packet rates that show the load was carried.
//
//	go test -run '^$' -bench 'ParticipantCPU|JunkFlood' -benchtime 1x ./hal/xdppath/
//
// On a veth pair the receiving side's softirq work runs in the sender's
// context and, without IRQ time accounting, is charged to the sender. So
// the phones' side drops what the MCU sends with an XDP program, before
// its stack: the MCU then pays for sending as it would to a NIC, not for
// the phones' receiving. (The phones pay for the MCU's receive path on
// the same grounds; that is the part XDP moves out of the MCU's way.)
// Both drivers are measured the same way.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"confab/hal"
	"confab/hal/halselect"
	"confab/hal/sockpath"
	"confab/hal/xdppath"
	"confab/hal/xdppath/vethtest"
	"confab/mixer"
	"confab/mixer/sdpneg"
)

const (
	loadWarmup = 3 * time.Second
	loadWindow = 10 * time.Second
	confSize   = 10  // participants per conference
	talkerFrac = 0.1 // share of participants sending a tone
	phonesLow  = 50000
)

// loadResult is one measured run.
type loadResult struct {
	mcu, gen, softirq float64 // share of one core over the window
	rxPPS, txPPS      float64 // at the MCU
	floodPPS          float64 // junk the flooder sent
	late              uint64  // frames the MCU ran late
}

// BenchmarkParticipantCPU runs the whole MCU: conferences of ten, one
// talker in ten, G.711.
func BenchmarkParticipantCPU(b *testing.B) {
	for _, drv := range []string{"xdp", "socket"} {
		for _, n := range []int{500, 1000} {
			b.Run(fmt.Sprintf("driver=%s/N=%d", drv, n), func(b *testing.B) {
				r := runLoad(b, drv, n, 0, true)
				report(b, r, n)
			})
		}
	}
}

// BenchmarkPacketPathCPU runs the packet path alone: every packet read is
// written straight back to its flow's remote, which is the packet I/O of
// an MCU without its mixing.
func BenchmarkPacketPathCPU(b *testing.B) {
	for _, drv := range []string{"xdp", "socket"} {
		for _, n := range []int{500, 1000} {
			b.Run(fmt.Sprintf("driver=%s/N=%d", drv, n), func(b *testing.B) {
				r := runLoad(b, drv, n, 0, false)
				report(b, r, n)
			})
		}
	}
}

func BenchmarkJunkFlood(b *testing.B) {
	const n, rate = 200, 200000
	for _, drv := range []string{"xdp", "socket"} {
		b.Run("driver="+drv, func(b *testing.B) {
			quiet := runLoad(b, drv, n, 0, true)
			flood := runLoad(b, drv, n, rate, true)
			report(b, flood, n)
			b.ReportMetric(100*(flood.mcu-quiet.mcu)/quiet.mcu, "mcu-change-%")
			b.Logf("%s: MCU %.1f%% of a core quiet, %.1f%% under %.0f pps of junk", drv, 100*quiet.mcu, 100*flood.mcu, flood.floodPPS)
		})
	}
}

func report(b *testing.B, r loadResult, n int) {
	b.ReportMetric(100*r.mcu/float64(n), "mcu-%core/participant")
	b.ReportMetric(100*r.gen/float64(n), "phones-%core/participant")
	b.ReportMetric(100*r.softirq/float64(n), "softirq-%core/participant")
	b.ReportMetric(r.rxPPS, "rx-pps")
	b.ReportMetric(r.txPPS, "tx-pps")
	if r.floodPPS > 0 {
		b.ReportMetric(r.floodPPS, "junk-pps")
	}
	b.ReportMetric(float64(r.late), "late-frames")
	// The load must have been carried, about 50 packets a second each way
	// per participant, for the figures to mean anything; a saturated box
	// does not carry it.
	want := 50 * float64(n)
	b.ReportMetric(100*min(r.rxPPS, r.txPPS)/want, "carried-%")
	if r.rxPPS < 0.95*want || r.txPPS < 0.95*want {
		b.Logf("load not carried: %.0f pps in and %.0f out of %.0f; the box is saturated", r.rxPPS, r.txPPS, want)
	}
}

// runLoad puts n participants on an MCU (mcu) or a bare echoing packet
// path, with driver "xdp" or "socket", optionally under a junk flood of
// rate packets per second, and measures.
func runLoad(b *testing.B, driver string, n, rate int, mcu bool) loadResult {
	b.Helper()
	p := vethtest.New(b)
	p.DropIPv4(b, &p.B)
	cfg := halselect.Config{Listen: p.A.IPv4, LowPort: low, HighPort: low + uint16(2*n) + 99}
	if driver == "xdp" {
		cfg.Interface = p.A.Ifname
	}
	var path hal.PacketPath
	if err := p.Do(&p.A, func() error {
		var err error
		path, err = halselect.Open(cfg, halselect.WithXDPOptions(xdppath.WithPinDir("")))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if path.Name() != driver {
		b.Fatalf("driver %s, want %s: %s", path.Name(), driver, path.Reason())
	}
	var e *mixer.Engine
	var err error
	if mcu {
		if e, err = mixer.NewEngine(path, p.A.IPv4, mixer.Config{}); err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- e.Run(ctx) }()
		defer func() {
			cancel()
			<-done
		}()
	} else {
		done := make(chan struct{})
		go echo(path, done)
		defer func() {
			_ = path.Shutdown()
			<-done
		}()
	}

	phones := startHelper(b, p, "phones", map[string]string{"CONFAB_N": strconv.Itoa(n)})
	var ports []uint16
	if err := json.Unmarshal([]byte(phones.line()), &ports); err != nil || len(ports) != n {
		b.Fatalf("phone ports: %v (%d of %d)", err, len(ports), n)
	}
	var remotes []string
	var conf *mixer.Conference
	for i, port := range ports {
		if !mcu {
			var f hal.Flow
			if err := p.Do(&p.A, func() error {
				var err error
				f, err = path.Open(netip.AddrPortFrom(p.B.IPv4, port))
				return err
			}); err != nil {
				b.Fatal(err)
			}
			remotes = append(remotes, netip.AddrPortFrom(p.A.IPv4, f.LocalPort).String())
			continue
		}
		if i%confSize == 0 {
			if conf, err = e.NewConference(fmt.Sprint("load", i/confSize)); err != nil {
				b.Fatal(err)
			}
		}
		offer := fmt.Sprintf("v=0\r\no=load %d 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\n"+
			"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=sendrecv\r\n",
			i, p.B.IPv4, p.B.IPv4, port)
		var answer []byte
		if err := p.Do(&p.A, func() error {
			var err error
			_, answer, err = conf.Add([]byte(offer), mixer.AddOptions{})
			return err
		}); err != nil {
			b.Fatal(err)
		}
		o, err := sdpneg.Parse(answer)
		if err != nil {
			b.Fatal(err)
		}
		remotes = append(remotes, o.Remote.String())
	}
	phones.send(remotes)

	var flood *helper
	if rate > 0 {
		flood = startHelper(b, p, "flood", map[string]string{"CONFAB_RATE": strconv.Itoa(rate)})
		// Junk to every participant's ports and to ports with no flow.
		var targets []string
		for _, r := range remotes {
			ap := netip.MustParseAddrPort(r)
			targets = append(targets, r, netip.AddrPortFrom(ap.Addr(), ap.Port()+1).String(),
				netip.AddrPortFrom(ap.Addr(), cfg.HighPort-1).String())
		}
		flood.send(targets)
	}

	stats := func() (hal.Counters, uint64) {
		if e == nil {
			return path.Counters(), 0
		}
		s := e.Stats()
		return s.Path, s.LateFrames
	}
	time.Sleep(loadWarmup)
	s0, l0 := stats()
	c0, g0, q0 := selfCPU(), procCPU(phones.cmd.Process.Pid), softirq()
	t0 := time.Now()
	time.Sleep(loadWindow)
	s1, l1 := stats()
	c1, g1, q1 := selfCPU(), procCPU(phones.cmd.Process.Pid), softirq()
	win := time.Since(t0).Seconds()
	r := loadResult{
		mcu:     (c1 - c0).Seconds() / win,
		gen:     (g1 - g0).Seconds() / win,
		softirq: (q1 - q0).Seconds() / win,
		rxPPS:   float64(s1.RxPackets-s0.RxPackets) / win,
		txPPS:   float64(s1.TxPackets-s0.TxPackets) / win,
		late:    l1 - l0,
	}
	if flood != nil {
		flood.stop()
		if sent, err := strconv.ParseFloat(flood.line(), 64); err == nil {
			r.floodPPS = sent
		}
	}
	return r
}

// echo writes every packet the path reads straight back to its flow.
func echo(path hal.PacketPath, done chan struct{}) {
	defer close(done)
	pkts := make([]hal.Packet, 64)
	for i := range pkts {
		pkts[i].Buf = make([]byte, 1500)
	}
	for {
		n, err := path.Read(pkts)
		if err != nil {
			return
		}
		for i := range pkts[:n] {
			pkts[i].To = netip.AddrPort{}
		}
		_, _ = path.Write(pkts[:n])
	}
}

// selfCPU is this process's user and system time (getrusage(2)).
func selfCPU() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is a process's user and system time from /proc/PID/stat (proc(5)).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// softirq is the box's time in softirq from /proc/stat (proc(5)).
func softirq() time.Duration {
	b, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	v, _ := strconv.ParseUint(f[7], 10, 64)
	return time.Duration(v) * time.Second / 100
}

// helper is the test binary re-run in side B's namespace as a load
// generator; it talks JSON lines over stdin and stdout.
type helper struct {
	cmd  *exec.Cmd
	in   *json.Encoder
	out  *bufio.Scanner
	done bool
}

func startHelper(b *testing.B, p *vethtest.Pair, role string, env map[string]string) *helper {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), helperEnv+"="+role, "CONFAB_NS="+p.B.NS, "CONFAB_ADDR="+p.B.IPv4.String())
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stderr = os.Stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	h := &helper{cmd: cmd, in: json.NewEncoder(stdin), out: bufio.NewScanner(stdout)}
	h.out.Buffer(make([]byte, 1<<20), 1<<20)
	b.Cleanup(func() {
		h.stop()
		_ = cmd.Wait()
	})
	return h
}

func (h *helper) send(v any) { _ = h.in.Encode(v) }

func (h *helper) line() string {
	if h.out.Scan() {
		return h.out.Text()
	}
	return ""
}

// stop tells the helper (SIGTERM) to report and exit.
func (h *helper) stop() {
	if !h.done {
		h.done = true
		_ = h.cmd.Process.Signal(unix.SIGTERM)
	}
}

func signalNotify(c chan os.Signal) { signal.Notify(c, unix.SIGTERM) }

// enterNamespace moves the calling goroutine's thread into the helper's
// namespace, for good.
func enterNamespace() {
	runtime.LockOSThread()
	fd, err := unix.Open("/run/netns/"+os.Getenv("CONFAB_NS"), unix.O_RDONLY, 0)
	if err == nil {
		err = unix.Setns(fd, unix.CLONE_NEWNET)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "setns:", err)
		os.Exit(1)
	}
}

// runPhones is the "phones" helper: N G.711 phones on one sockpath,
// each sending 20 ms packets (a tenth of them a tone, the rest silence)
// and draining what comes back, until SIGTERM.
func runPhones() {
	enterNamespace()
	n, _ := strconv.Atoi(os.Getenv("CONFAB_N"))
	addr := netip.MustParseAddr(os.Getenv("CONFAB_ADDR"))
	path, err := sockpath.New(addr, phonesLow, phonesLow+uint16(2*n)+1)
	if err != nil {
		fmt.Fprintln(os.Stderr, "phones:", err)
		os.Exit(1)
	}
	flows := make([]hal.Flow, n)
	ports := make([]uint16, n)
	for i := range flows {
		if flows[i], err = path.Open(netip.AddrPort{}); err != nil {
			fmt.Fprintln(os.Stderr, "phones:", err)
			os.Exit(1)
		}
		ports[i] = flows[i].LocalPort
	}
	_ = json.NewEncoder(os.Stdout).Encode(ports)
	var remotes []string
	if err := json.NewDecoder(os.Stdin).Decode(&remotes); err != nil || len(remotes) != n {
		fmt.Fprintln(os.Stderr, "phones: remotes:", err)
		os.Exit(1)
	}
	for i, r := range remotes {
		_ = path.SetRemote(flows[i].ID, netip.MustParseAddrPort(r))
	}
	go func() {
		pkts := make([]hal.Packet, 64)
		for i := range pkts {
			pkts[i].Buf = make([]byte, 1500)
		}
		for {
			if _, err := path.Read(pkts); err != nil {
				return
			}
		}
	}()

	tone, quiet := make([]byte, 160), make([]byte, 160)
	for i := range tone {
		tone[i] = linearToULaw(int16(8000 * math.Sin(2*math.Pi*440*float64(i)/8000)))
		quiet[i] = 0xff
	}
	bufs := make([][]byte, n)
	out := make([]hal.Packet, n)
	for i := range bufs {
		bufs[i] = make([]byte, 12+160)
		bufs[i][0] = 0x80
		binaryBE32(bufs[i][8:], uint32(0x10000+i))
		body := quiet
		if float64(i%confSize) < talkerFrac*confSize {
			body = tone
		}
		copy(bufs[i][12:], body)
		out[i] = hal.Packet{Flow: flows[i].ID, Buf: bufs[i], N: len(bufs[i])}
	}
	stop := make(chan os.Signal, 1)
	signalNotify(stop)
	start := time.Now()
	for k := uint32(0); ; k++ {
		select {
		case <-stop:
			return
		case <-time.After(time.Until(start.Add(time.Duration(k) * 20 * time.Millisecond))):
		}
		for i := range bufs {
			binaryBE16(bufs[i][2:], uint16(k))
			binaryBE32(bufs[i][4:], k*160)
		}
		_, _ = path.Write(out)
	}
}

// runFlood is the "flood" helper: junk (not RTP, version 0) at
// CONFAB_RATE packets a second, round-robin to the targets it is given,
// until SIGTERM; then it prints the rate it achieved.
func runFlood() {
	enterNamespace()
	rate, _ := strconv.Atoi(os.Getenv("CONFAB_RATE"))
	addr := netip.MustParseAddr(os.Getenv("CONFAB_ADDR"))
	var targets []string
	if err := json.NewDecoder(os.Stdin).Decode(&targets); err != nil || len(targets) == 0 {
		fmt.Fprintln(os.Stderr, "flood: targets:", err)
		os.Exit(1)
	}
	path, err := sockpath.New(addr, 60000, 60001, sockpath.WithSocketBuffers(0, 4<<20))
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
	f, err := path.Open(netip.AddrPort{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "flood:", err)
		os.Exit(1)
	}
	junk := make([]byte, 172) // version 0: cannot be RTP or RTCP
	const batch = 64
	pkts := make([]hal.Packet, batch)
	for i := range pkts {
		pkts[i] = hal.Packet{Flow: f.ID, Buf: junk, N: len(junk)}
	}
	dests := make([]netip.AddrPort, len(targets))
	for i, t := range targets {
		dests[i] = netip.MustParseAddrPort(t)
	}
	stop := make(chan os.Signal, 1)
	signalNotify(stop)
	var sent atomic.Uint64
	start := time.Now()
	next := 0
	for {
		select {
		case <-stop:
			fmt.Println(float64(sent.Load()) / time.Since(start).Seconds())
			return
		default:
		}
		// Keep up with the rate: send what is due, a batch at a time.
		due := uint64(time.Since(start).Seconds() * float64(rate))
		if sent.Load() >= due {
			time.Sleep(200 * time.Microsecond)
			continue
		}
		for i := range pkts {
			pkts[i].To = dests[next]
			next = (next + 1) % len(dests)
		}
		k, _ := path.Write(pkts)
		sent.Add(uint64(k))
	}
}

func linearToULaw(s int16) byte {
	// G.711 µ-law (ITU-T G.711 §A.2), for the talkers' tone.
	const bias, clip = 0x84, 32635
	sign := byte(0)
	v := int(s)
	if v < 0 {
		v, sign = -v, 0x80
	}
	v = min(v, clip) + bias
	exp := 7
	for mask := 0x4000; v&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (v >> (exp + 3)) & 0x0f
	return ^(sign | byte(exp<<4) | byte(mant))
}

func binaryBE16(b []byte, v uint16) { b[0], b[1] = byte(v>>8), byte(v) }

func binaryBE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
}
