// Command mixload measures the audio MCU under load: it starts the mixer in
// a child process on loopback UDP, puts N simulated G.711 participants into
// conferences of a chosen size (a share of them talking), and reports the
// child's CPU per participant and the late and lost frames.
//
//	go run ./bench/cmd/mixload -n 1000 -size 10 -talkers 0.1 -window 10s
//
// The child's CPU comes from /proc/PID/stat, so the load generator's own
// work (reported separately) is not counted against the mixer.
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"confab/hal"
	"confab/hal/sockpath"
	"confab/mixer/codec/g711"
)

func main() {
	serve := flag.Bool("serve", false, "run as the mixer child (internal)")
	n := flag.Int("n", 1000, "participants")
	size := flag.Int("size", 10, "participants per conference")
	talkers := flag.Float64("talkers", 0.1, "share of participants sending a tone (the rest send silence)")
	window := flag.Duration("window", 10*time.Second, "measured window")
	warm := flag.Duration("warmup", 3*time.Second, "time after the last join before measuring")
	out := flag.String("out", "", "append the result line to this file")
	flag.Parse()
	if *serve {
		if err := runServer(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "mixload server:", err)
			os.Exit(1)
		}
		return
	}
	res, err := runLoad(*n, *size, *talkers, *warm, *window)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mixload:", err)
		os.Exit(1)
	}
	fmt.Println(res)
	if *out != "" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err == nil {
			fmt.Fprintln(f, res)
			f.Close()
		}
	}
}

type serverStats struct {
	Frames, LateFrames, SkippedFrames, RxPackets, TxPackets, RxDropped, TxErrors uint64
}

func runLoad(n, size int, talkers float64, warm, window time.Duration) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	child := exec.Command(exe, "-serve")
	child.Stderr = os.Stderr
	stdin, _ := child.StdinPipe()
	stdout, _ := child.StdoutPipe()
	if err := child.Start(); err != nil {
		return "", err
	}
	defer func() {
		// QUIT lets the child finish its profile; kill it if it does not go.
		_, _ = io.WriteString(stdin, "QUIT\n")
		done := make(chan struct{})
		go func() { _ = child.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			_ = child.Process.Kill()
			<-done
		}
	}()
	rd := bufio.NewReader(stdout)
	ask := func(line string) (string, error) {
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			return "", err
		}
		s, err := rd.ReadString('\n')
		return strings.TrimSpace(s), err
	}

	gen, err := sockpath.New(netip.MustParseAddr("127.0.0.1"), 40000, 49998)
	if err != nil {
		return "", err
	}
	defer gen.Shutdown()
	parts := make([]*caller, n)
	byFlow := map[hal.FlowID]*caller{}
	for i := range parts {
		f, err := gen.Open(netip.AddrPort{})
		if err != nil {
			return "", fmt.Errorf("generator port %d: %w", i, err)
		}
		offer := fmt.Sprintf("v=0\r\no=load %d 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\n"+
			"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\n", i, f.LocalPort)
		resp, err := ask(fmt.Sprintf("ADD conf-%d %s", i/size, base64.StdEncoding.EncodeToString([]byte(offer))))
		if err != nil || !strings.HasPrefix(resp, "OK ") {
			return "", fmt.Errorf("adding participant %d: %q %v", i, resp, err)
		}
		port, _ := strconv.Atoi(strings.TrimPrefix(resp, "OK "))
		_ = gen.SetRemote(f.ID, netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port)))
		c := &caller{flow: f.ID, ssrc: uint32(0x1000 + i), talking: float64(i%100) < talkers*100, hz: 300 + float64(i%17)*50}
		parts[i] = c
		byFlow[f.ID] = c
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); send(gen, parts, stop) }()
	go func() { defer wg.Done(); receive(gen, byFlow, stop) }()

	time.Sleep(warm)
	before, err := stats(ask)
	if err != nil {
		return "", err
	}
	for _, c := range parts {
		c.windowStart()
	}
	u0, s0 := procCPUSplit(child.Process.Pid)
	cpu0 := u0 + s0
	self0 := selfCPU()
	t0 := time.Now()
	time.Sleep(window)
	u1, s1 := procCPUSplit(child.Process.Pid)
	cpu1 := u1 + s1
	self1 := selfCPU()
	elapsed := time.Since(t0)
	after, err := stats(ask)
	if err != nil {
		return "", err
	}
	close(stop)
	_ = gen.Shutdown()
	wg.Wait()

	var got, gaps uint64
	var worstGap time.Duration
	for _, c := range parts {
		g, s, w := c.window()
		got += g
		gaps += s
		if w > worstGap {
			worstGap = w
		}
	}
	expected := float64(n) * elapsed.Seconds() * 50
	bridgeCPU := 100 * (cpu1 - cpu0).Seconds() / elapsed.Seconds()
	genCPU := 100 * (self1 - self0).Seconds() / elapsed.Seconds()
	frames := after.Frames - before.Frames
	return fmt.Sprintf("RESULT mixload N=%d size=%d talkers=%.0f%% window=%.1fs bridge_cpu=%.1f%% (user %.1f%% sys %.1f%%) per_participant=%.4f%% generator_cpu=%.1f%% "+
		"out_pkts=%d expected=%.0f loss=%.3f%% seq_gaps=%d worst_gap=%v conf_frames=%d late_ticks=%d skipped_frames=%d rx_dropped=%d tx_errors=%d gomaxprocs=%d",
		n, size, talkers*100, elapsed.Seconds(), bridgeCPU, 100*(u1-u0).Seconds()/elapsed.Seconds(), 100*(s1-s0).Seconds()/elapsed.Seconds(),
		bridgeCPU/float64(n), genCPU, got, expected,
		math.Max(0, 100*(1-float64(got)/expected)), gaps, worstGap.Round(time.Millisecond), frames,
		after.LateFrames-before.LateFrames, after.SkippedFrames-before.SkippedFrames, after.RxDropped-before.RxDropped,
		after.TxErrors-before.TxErrors, runtime.GOMAXPROCS(0)), nil
}

func stats(ask func(string) (string, error)) (serverStats, error) {
	var s serverStats
	line, err := ask("STATS")
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal([]byte(line), &s)
}

// caller is one simulated participant's counters.
type caller struct {
	flow    hal.FlowID
	ssrc    uint32
	seq     uint16
	ts      uint32
	talking bool
	hz      float64
	phase   float64

	received atomic.Uint64
	gaps     atomic.Uint64
	lastSeq  atomic.Uint32
	lastAt   atomic.Int64
	maxGap   atomic.Int64
	base     [2]uint64
}

func (c *caller) windowStart() {
	c.base = [2]uint64{c.received.Load(), c.gaps.Load()}
	c.maxGap.Store(0)
}

func (c *caller) window() (got, gaps uint64, worst time.Duration) {
	return c.received.Load() - c.base[0], c.gaps.Load() - c.base[1], time.Duration(c.maxGap.Load())
}

// send paces one 20 ms PCMU packet per participant, all in one batch per tick.
func send(gen *sockpath.Path, parts []*caller, stop chan struct{}) {
	enc := g711.NewPCMUEncoder()
	pcm := make([]int16, 160)
	bufs := make([]byte, len(parts)*(12+160))
	batch := make([]hal.Packet, len(parts))
	start := time.Now()
	timer := time.NewTimer(time.Hour)
	for k := int64(1); ; k++ {
		timer.Reset(time.Until(start.Add(time.Duration(k) * 20 * time.Millisecond)))
		select {
		case <-stop:
			return
		case <-timer.C:
		}
		for i, c := range parts {
			b := bufs[i*172 : (i+1)*172]
			b[0], b[1] = 0x80, 0
			binary.BigEndian.PutUint16(b[2:], c.seq)
			binary.BigEndian.PutUint32(b[4:], c.ts)
			binary.BigEndian.PutUint32(b[8:], c.ssrc)
			for j := range pcm {
				v := 0.0
				if c.talking {
					v = 8000 * math.Sin(c.phase)
					c.phase += 2 * math.Pi * c.hz / 8000
				}
				pcm[j] = int16(v)
			}
			_, _ = enc.Encode(pcm, b[12:])
			c.seq++
			c.ts += 160
			batch[i] = hal.Packet{Flow: c.flow, Buf: b, N: 172}
		}
		_, _ = gen.Write(batch)
	}
}

func receive(gen *sockpath.Path, byFlow map[hal.FlowID]*caller, stop chan struct{}) {
	pkts := make([]hal.Packet, 64)
	for i := range pkts {
		pkts[i].Buf = make([]byte, 1500)
	}
	for {
		n, err := gen.Read(pkts)
		if err != nil {
			return
		}
		now := time.Now().UnixNano()
		for _, p := range pkts[:n] {
			c := byFlow[p.Flow]
			if c == nil || p.RTCP || p.N < 12 {
				continue
			}
			seq := binary.BigEndian.Uint16(p.Buf[2:])
			if c.received.Add(1) > 1 {
				if uint16(seq-uint16(c.lastSeq.Load())) != 1 {
					c.gaps.Add(1)
				}
				if g := now - c.lastAt.Load(); g > c.maxGap.Load() {
					c.maxGap.Store(g)
				}
			}
			c.lastSeq.Store(uint32(seq))
			c.lastAt.Store(now)
		}
	}
}

// procCPUSplit is a process's user and system CPU time.
func procCPUSplit(pid int) (user, sys time.Duration) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut) * time.Second / 100, time.Duration(st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
