package report

import (
	"fmt"
	"strings"
	"time"

	"confab/bench/loadgen"
)

// Markdown renders the report; chart is the PNG's file name, linked
// relative to the report.
func (r *Report) Markdown(chart string) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# %s, %s\n\n", r.Title, r.Date.Format("2006-01-02"))
	e := r.Env
	w("Machine: %s, %d CPUs, Linux %s; %s, GOMAXPROCS %d. The load generator and the bridge run on the same machine, "+
		"over loopback, so they share its cores: every figure is for the two together, and the generator's own CPU is shown.\n\n",
		orDash(e.CPU), e.CPUs, orDash(e.Kernel), e.Go, e.GOMAXPROCS)
	if e.Nice != 0 {
		w("The generator and the bridge ran at nice %d, ahead of other work on this shared machine.\n\n", e.Nice)
	}
	w("![bridge CPU per participant, late frames and p99 gap against participants](%s)\n\n", chart)
	r.targets(&b)
	r.findings(&b)
	w("\n## How to read the tables\n\n")
	w("- **N**: participants (conferences × size). **calls**: answered of attempted; **SRD**: session request delay " +
		"(RFC 6076 §4.2), INVITE to its final 2xx, p50/p99.\n")
	w("- **bridge CPU**: the bridge process over the measured window, from /proc/PID/stat (user+system, all threads), " +
		"in %% of one core; **/participant** divides by N; **machine** is %% of all cores. **RSS** at the window's end.\n")
	w("- **gen**: the load generator's own CPU; **other**: what the rest of the machine used meanwhile (other work on a shared box); " +
		"**steal**: CPU time the hypervisor took from this virtual machine. All three in %% of one core. " +
		"Other includes the kernel's interrupt and softirq time, which no process is charged for and part of which is this traffic's receive work; the notes give it.\n")
	w("- **loss**: packets the receivers' sequence numbers say were sent but did not arrive (RFC 3550 §6.4.1). " +
		"**late**: frames that arrived more than one packet time after their schedule (the stream's earliest arrival against its RTP timestamps). " +
		"**gap p99/max**: the interval between consecutive packets a receiver got, pooled over all receivers; " +
		"**>25 ms**: the share of intervals over 25 ms. **jitter**: RFC 3550 interarrival jitter, mean over receivers.\n")
	w("- **latency**: the bridge's added latency: from a talker sending the first packet of a tone burst to a listener " +
		"receiving the burst's first sample (detected in the decoded audio), p50/p99 over the analysed receivers.\n")
	w("- **mix**: every analysed receiver heard its conference's other talkers (each tone at least %d dB of the received power, "+
		"up to the bridge's talker cap) and not its own tone (under %d dB).\n", -20, -30)
	w("- **pass**: the capacity criteria: every call set up and kept, p99 gap under 25 ms, loss under 0.1 %%, bridge under 70 %% of the machine.\n")
	for _, g := range r.Groups {
		r.group(&b, g)
	}
	return b.String()
}

// targets writes the targets and what was measured against each.
func (r *Report) targets(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Targets\n\n| target | measured | met |\n|---|---|---|\n")
	var all []*loadgen.Result
	for _, g := range r.Groups {
		all = append(all, g.Runs...)
	}
	clean := func(r *loadgen.Result) bool { return r.Impairment == "none" }

	// 2,000 G.711 participants in 200 conferences of 10, < 0.1 % late.
	var t1 *loadgen.Result
	for _, run := range all {
		if clean(run) && run.Codecs == "PCMU" && run.Conferences == 200 && run.Size == 10 {
			t1 = run
		}
	}
	if t1 != nil {
		lateOK, _ := t1.Targets()
		w("| 2,000 G.711 participants in 200 conferences of 10, < 0.1 %% late frames | %d/%d calls, late %.3f %%, loss %.3f %%, gap p99 %s, mix %s | %s |\n",
			t1.Calls.Answered, t1.Participants, t1.Media.LatePct, t1.Media.LossPct, ms(t1.Media.GapP99), t1.Mix.Verdict(), yes(lateOK && t1.Pass))
	} else {
		w("| 2,000 G.711 participants in 200 conferences of 10, < 0.1 %% late frames | not run | - |\n")
	}

	// CPU per participant: the largest clean run of the codec that passed,
	// else the largest in which the bridge kept time (a bridge starved of
	// CPU shows a low figure that means nothing), else the largest, marked;
	// and the marginal cost per participant from the runs that kept time.
	perParticipant := func(target string, limit float64, keep func(*loadgen.Result) bool) {
		run := largest(all, func(r *loadgen.Result) bool { return keep(r) && r.Pass })
		note := ""
		if run == nil {
			run = largest(all, func(r *loadgen.Result) bool { return keep(r) && keptTime(r) })
			note = ", a run that failed the criteria"
		}
		if run == nil {
			run = largest(all, keep)
			note = ", a run in which the bridge fell behind"
		}
		if run == nil {
			return
		}
		marginal := ""
		if slope, n := marginalCPU(all, keep); n >= 2 {
			marginal = fmt.Sprintf("; marginal %.4f %% per added participant over %d runs that kept time", slope, n)
		}
		w("| %s | %.4f %% at N = %d (%.1f %% of one core%s)%s | %s |\n", target, run.Bridge.PerParticipant, run.Participants,
			run.Bridge.CPU, note, marginal, yes(run.Bridge.PerParticipant <= limit && note == ""))
	}
	perParticipant("bridge CPU <= 0.05 % of one core per G.711 participant (socket path)", 0.05, func(r *loadgen.Result) bool {
		return clean(r) && r.Codecs == "PCMU" && r.Bridge.Measured
	})
	perParticipant("Opus 48 kHz at 10 % talkers <= 0.3 % per participant", 0.3, func(r *loadgen.Result) bool {
		return clean(r) && r.Codecs == "opus" && r.Talkers > 0.099 && r.Talkers < 0.101 && r.Bridge.Measured
	})

	// Latency: the worst p99 of the clean runs in which the bridge kept
	// time; once it falls behind, its latency grows with the backlog and
	// says nothing more.
	var worst, behind *loadgen.Result
	for _, run := range all {
		if !clean(run) || run.Latency.Samples == 0 {
			continue
		}
		if keptTime(run) {
			if worst == nil || run.Latency.P99 > worst.Latency.P99 {
				worst = run
			}
		} else if behind == nil || run.Latency.P99 > behind.Latency.P99 {
			behind = run
		}
	}
	if worst != nil {
		_, latOK := worst.Targets()
		tail := ""
		if behind != nil {
			tail = fmt.Sprintf("; in runs where the bridge fell behind, up to p99 %s (%s, N = %d)", ms(behind.Latency.P99),
				behind.Scenario, behind.Participants)
		}
		w("| bridge-added latency <= 60 ms at p99 | worst p99 %s (p50 %s, %d bursts) in %s at N = %d, of the runs that kept time%s | %s |\n",
			ms(worst.Latency.P99), ms(worst.Latency.P50), worst.Latency.Samples, worst.Scenario, worst.Participants, tail, yes(latOK))
	}
	for _, g := range r.Groups {
		if c := g.Capacity; c != nil {
			found := fmt.Sprintf("%d participants", c.Participants)
			switch {
			case c.Participants == 0:
				found = fmt.Sprintf("under %d participants (the smallest load failed)", c.Min)
			case c.AtMax:
				found = fmt.Sprintf("at least %d participants (the largest load tried)", c.Participants)
			}
			w("| capacity (%s) | %s, searched %d-%d in steps of %d | - |\n", g.Scenario, found, c.Min, c.Max, c.Step)
		}
	}
}

// findings says where the machine went in the largest clean G.711 run in
// which the bridge kept time, and what that predicts.
func (r *Report) findings(b *strings.Builder) {
	var all []*loadgen.Result
	for _, g := range r.Groups {
		all = append(all, g.Runs...)
	}
	g711 := func(x *loadgen.Result) bool {
		return x.Impairment == "none" && x.Codecs == "PCMU" && x.Bridge.Measured && x.Gen.CPUs > 0
	}
	run := largest(all, func(x *loadgen.Result) bool { return g711(x) && keptTime(x) })
	if run == nil {
		return
	}
	n := float64(run.Participants)
	machine := 100 * float64(run.Gen.CPUs)
	per := (run.Bridge.CPU + run.Gen.CPU + run.Gen.Interrupts) / n // the interrupts counted in full: an upper bound
	fmt.Fprintf(b, "\n## Where the machine goes\n\n")
	fmt.Fprintf(b, "In the largest G.711 run in which the bridge kept time (N = %d, %s), of the machine's %.0f %%: "+
		"the bridge %.1f %%, the load generator %.1f %%, interrupts and softirqs %.1f %% (some of it may be inside the processes' figures), "+
		"the hypervisor's steal %.1f %%, other work %.1f %%. "+
		"Per participant that is %.4f %% of one core for the bridge and %.4f %% for the generator: on loopback the kernel's work "+
		"for each packet is charged to the process that sends it, so the generator pays for delivering the callers' audio into the bridge "+
		"and the bridge for delivering the mix back.\n\n",
		run.Participants, run.Scenario, machine, run.Bridge.CPU, run.Gen.CPU, run.Gen.Interrupts, run.Gen.Steal, max(0, run.Gen.Other-run.Gen.Interrupts),
		run.Bridge.PerParticipant, run.Gen.CPU/n)
	fmt.Fprintf(b, "Estimates, not measurements: at that cost the two together fill this machine at about N = %.0f. ", machine/per)
	if slope, k := marginalCPU(all, g711); k >= 2 && slope > 0 {
		fmt.Fprintf(b, "With the generator on another machine, the bridge's marginal %.4f %% per participant (fitted over %d runs) "+
			"would reach 70 %% of this one at about N = %.0f.", slope, k, 0.7*machine/slope)
	}
	fmt.Fprintf(b, "\n")
}

// keptTime says whether the bridge kept real time in a run: nearly all its
// frames on schedule.
func keptTime(r *loadgen.Result) bool { return r.Media.Received > 0 && r.Media.LatePct < 1 }

// marginalCPU is the least-squares slope of the bridge's CPU against N
// over the runs kept that kept time: what one more participant costs, the
// fixed part aside.
func marginalCPU(all []*loadgen.Result, keep func(*loadgen.Result) bool) (slope float64, n int) {
	var sx, sy, sxx, sxy float64
	for _, r := range all {
		if !keep(r) || !keptTime(r) {
			continue
		}
		x, y := float64(r.Participants), r.Bridge.CPU
		sx, sy, sxx, sxy = sx+x, sy+y, sxx+x*x, sxy+x*y
		n++
	}
	d := float64(n)*sxx - sx*sx
	if n < 2 || d == 0 {
		return 0, n
	}
	return (float64(n)*sxy - sx*sy) / d, n
}

func largest(all []*loadgen.Result, keep func(*loadgen.Result) bool) *loadgen.Result {
	var best *loadgen.Result
	for _, r := range all {
		if keep(r) && (best == nil || r.Participants > best.Participants) {
			best = r
		}
	}
	return best
}

// group writes one scenario's table and what failed.
func (r *Report) group(b *strings.Builder, g Group) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("\n## %s\n\n", g.Scenario)
	if g.Description != "" {
		w("%s. ", strings.TrimSuffix(g.Description, "."))
	}
	if len(g.Runs) > 0 {
		run := g.Runs[0]
		dtx := ""
		if run.DTX {
			dtx = " with DTX"
		}
		w("Codecs %s%s, %.0f %% talkers, impairment: %s; %v measured after the calls were up.", run.Codecs, dtx, 100*run.Talkers,
			run.Impairment, run.Window)
	}
	w("\n\n")
	if len(g.Runs) == 0 {
		w("No run completed.\n")
		return
	}
	w("| N | conf. × size | calls | SRD p50/p99 | bridge CPU | /participant | machine | RSS | gen | other | steal | loss | late | gap p99/max | >25 ms | jitter | latency p50/p99 | mix | pass |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, run := range g.Runs {
		bridge, per, machine, rss := "-", "-", "-", "-"
		if run.Bridge.Measured {
			bridge = fmt.Sprintf("%.1f %%", run.Bridge.CPU)
			per = fmt.Sprintf("%.4f %%", run.Bridge.PerParticipant)
			machine = fmt.Sprintf("%.0f %%", run.Bridge.Machine)
			rss = mib(run.Bridge.RSS)
		}
		w("| %d | %d × %d | %d/%d | %s / %s | %s | %s | %s | %s | %.1f %% | %.1f %% | %.1f %% | %.3f %% | %.3f %% | %s / %s | %.3f %% | %s | %s / %s | %s | %s |\n",
			run.Participants, run.Conferences, run.Size, run.Calls.Answered, run.Calls.Attempted,
			ms(run.Calls.SRDp50), ms(run.Calls.SRDp99), bridge, per, machine, rss, run.Gen.CPU, run.Gen.Other, run.Gen.Steal,
			run.Media.LossPct, run.Media.LatePct, ms(run.Media.GapP99), ms(run.Media.GapMax), run.Media.GapsOverPct,
			ms(run.Media.JitterMean), ms(run.Latency.P50), ms(run.Latency.P99), run.Mix.Verdict(), yes(run.Pass))
	}
	if c := g.Capacity; c != nil {
		w("\nCapacity search from %d to %d participants in steps of %d: ", c.Min, c.Max, c.Step)
		switch {
		case c.Participants == 0:
			w("even %d participants failed.\n", c.Min)
		case c.AtMax:
			w("%d participants passed, the most tried.\n", c.Participants)
		default:
			w("**%d participants** is the largest load that passed.\n", c.Participants)
		}
	}
	var notes []string
	for _, run := range g.Runs {
		if sp := run.Spread; sp != nil {
			notes = append(notes, fmt.Sprintf("N = %d: the medians of %d runs (%d passed on their own); over the runs bridge CPU per participant "+
				"%.4f-%.4f %%, p99 gap %s-%s, late %.3f-%.3f %%, latency p99 %s-%s. The counters below are the median-CPU run's.",
				run.Participants, sp.Runs, sp.PassedRuns, sp.PerParticipant[0], sp.PerParticipant[1], ms(sp.GapP99[0]), ms(sp.GapP99[1]),
				sp.LatePct[0], sp.LatePct[1], ms(sp.LatencyP99[0]), ms(sp.LatencyP99[1])))
		}
		if !run.Pass {
			notes = append(notes, fmt.Sprintf("N = %d failed: %s.", run.Participants, strings.Join(run.Failed, "; ")))
		}
		if len(run.Calls.Failures) > 0 {
			notes = append(notes, fmt.Sprintf("N = %d call failures: %v.", run.Participants, run.Calls.Failures))
		}
		for _, f := range run.Mix.Failures {
			notes = append(notes, fmt.Sprintf("N = %d mix: %s.", run.Participants, f))
		}
		if c := run.BridgeCounters; c != nil {
			frames := c["confab_mixer_frames_total"]
			notes = append(notes, fmt.Sprintf("N = %d, the bridge's own counters over the window: %.0f conference frames mixed "+
				"(%.0f at 20 ms frames), %.0f ticks late, %.0f frames skipped.", run.Participants, frames,
				float64(run.Conferences)*run.Window.Seconds()/0.02, c["confab_mixer_late_ticks_total"], c["confab_mixer_skipped_frames_total"]))
		}
		if run.Gen.Interrupts > 0 {
			notes = append(notes, fmt.Sprintf("N = %d: interrupt and softirq time, within other: %.1f %% of one core.", run.Participants, run.Gen.Interrupts))
		}
		if run.Gen.SendLateP99 > 5*time.Millisecond || run.Gen.Skipped > 0 {
			notes = append(notes, fmt.Sprintf("N = %d: the generator's send loop woke late (p99 %s, max %s, %d frames skipped): "+
				"the machine was short of CPU, and part of the gaps may be the generator's.",
				run.Participants, ms(run.Gen.SendLateP99), ms(run.Gen.SendLateMax), run.Gen.Skipped))
		}
	}
	if len(notes) > 0 {
		w("\n")
		for _, n := range notes {
			w("- %s\n", n)
		}
	}
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
