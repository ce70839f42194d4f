package sockpath

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"confab/hal"
)

// benchFlows is the conference the benchmarks model: 500 participants, the
// first row of performance anchors §2.3. Payloads are 172 bytes, a 20 ms
// G.711 frame with its RTP header.
const (
	benchFlows   = 500
	benchPayload = 172
)

// benchPaths opens benchFlows receiving flows on rx and, on tx, one flow
// aimed at each of them. One op of a benchmark is one packet.
func benchPaths(b *testing.B) (rx, tx *Path, out, in []hal.Packet) {
	raiseFileLimit(b, 4*benchFlows+200)
	low, high := freeRange(b, 2*benchFlows)
	mid := low + 2*benchFlows
	rx, tx = newPathOn(b, loopback4, low, mid-1), newPathOn(b, loopback4, mid, high)
	payload := []byte(strings.Repeat("p", benchPayload))
	for range benchFlows {
		r := open(b, rx, netip.AddrPort{})
		s := open(b, tx, netip.AddrPortFrom(loopback4, r.LocalPort))
		out = append(out, hal.Packet{Flow: s.ID, Buf: payload, N: len(payload)})
	}
	return rx, tx, out, makePackets(256, 1500)
}

// cpuMeter sums the process's CPU time (user + system, getrusage(2))
// over the timed sections, so a benchmark can report CPU per packet that
// other load on a shared machine does not inflate the way it inflates wall
// time. On loopback the kernel's delivery work lands in the sender's system
// time, as performance anchors §2.3 notes.
type cpuMeter struct {
	start, total time.Duration
}

func processCPU() time.Duration {
	var ru unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func (m *cpuMeter) begin() { m.start = processCPU() }
func (m *cpuMeter) end()   { m.total += processCPU() - m.start }

func (m *cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(m.total.Nanoseconds())/float64(b.N), "cpu-ns/pkt")
}

// drain reads until n packets have arrived and returns how many Read calls
// that took.
func drain(b *testing.B, p *Path, in []hal.Packet, n int) int {
	calls := 0
	for got := 0; got < n; calls++ {
		k, err := p.Read(in)
		if err != nil {
			b.Fatalf("Read: %v", err)
		}
		got += k
	}
	return calls
}

// BenchmarkRead measures Read alone: epoll_wait plus recvmmsg over 500 flow
// sockets that each hold one packet, as after one 20 ms tick. Sending is
// outside the timer.
func BenchmarkRead(b *testing.B) {
	rx, tx, out, in := benchPaths(b)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu cpuMeter
	calls := 0
	for done := 0; done < b.N; {
		k := min(len(out), b.N-done)
		b.StopTimer()
		if n, err := tx.Write(out[:k]); n != k || err != nil {
			b.Fatalf("Write = %d, %v", n, err)
		}
		b.StartTimer()
		cpu.begin()
		calls += drain(b, rx, in, k)
		cpu.end()
		done += k
	}
	b.ReportMetric(float64(b.N)/float64(calls), "pkts/Read")
	cpu.report(b)
}

// BenchmarkWrite measures Write alone, one packet to each of 500 flows per
// call, so each goes by sendto(2). On loopback the sender's time includes
// the kernel's delivery into the receiving socket (performance anchors
// §2.3). Draining the receivers is outside the timer.
func BenchmarkWrite(b *testing.B) {
	rx, tx, out, in := benchPaths(b)
	b.ReportAllocs()
	b.ResetTimer()
	var cpu cpuMeter
	for done := 0; done < b.N; {
		k := min(len(out), b.N-done)
		cpu.begin()
		if n, err := tx.Write(out[:k]); n != k || err != nil {
			b.Fatalf("Write = %d, %v", n, err)
		}
		cpu.end()
		b.StopTimer()
		drain(b, rx, in, k)
		b.StartTimer()
		done += k
	}
	cpu.report(b)
}

// BenchmarkWriteRuns is BenchmarkWrite with ten consecutive packets per
// flow, which go by sendmmsg(2).
func BenchmarkWriteRuns(b *testing.B) {
	const perFlow = 10
	rx, tx, one, in := benchPaths(b)
	var out []hal.Packet
	for _, pk := range one[:50] {
		for range perFlow {
			out = append(out, pk)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	var cpu cpuMeter
	for done := 0; done < b.N; {
		k := min(len(out), b.N-done)
		cpu.begin()
		if n, err := tx.Write(out[:k]); n != k || err != nil {
			b.Fatalf("Write = %d, %v", n, err)
		}
		cpu.end()
		b.StopTimer()
		drain(b, rx, in, k)
		b.StartTimer()
		done += k
	}
	cpu.report(b)
}
