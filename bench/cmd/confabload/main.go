// Command confabload is a SIP and RTP load generator for audio conference
// bridges, Confab or any other: it reads scenario files (package
// bench/scenario), dials thousands of callers into the bridge's
// conferences from one process, sends each caller's tone or speech,
// measures what each caller receives and the bridge's CPU and memory, and
// writes a report (markdown with a PNG chart).
//
//	confabload -bridge 127.0.0.1:5060 -pid $(pidof asterisk) bench/scenarios/g711-sweep.txt
//	confabload -confabd bin/confabd -out bench/results/$(date +%F).md bench/scenarios/*.txt
//
// With -confabd it starts that daemon for every run, on loopback with a
// fresh data directory, creates the scenario's conferences through its
// API and measures it; otherwise the bridge is whatever answers at
// -bridge, with its conferences already set up, and -pid names the
// process to measure. A scenario with a sweep runs once per conference
// count; one with a capacity search looks for the largest number of
// participants that meets the criteria (p99 gap under 25 ms, loss under
// 0.1 %, the bridge under 70 % of the machine, every call set up).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"

	"confab/bench/bridgeproc"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "confabload:", err)
		os.Exit(1)
	}
}

// run is the command, with its arguments and output streams.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == childFlag {
		return runChild(ctx, os.Stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("confabload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.bridge, "bridge", "", "the bridge's SIP address, host:port ({bridge} in scenario targets)")
	fs.IntVar(&o.pid, "pid", 0, "the bridge's process id, to measure its CPU and memory")
	fs.StringVar(&o.confabd, "confabd", "", "start this confabd binary for every run and measure it")
	fs.StringVar(&o.local, "local", "127.0.0.1", "the callers' address for SIP and RTP")
	fs.StringVar(&o.out, "out", "", "write the report to this markdown file, and its chart beside it (.png)")
	fs.StringVar(&o.jsonOut, "json", "", "write every run's result to this JSON file")
	fs.StringVar(&o.title, "title", "Confab capacity benchmark", "the report's title")
	fs.StringVar(&o.profiles, "bridge-profile", "", "with -confabd: write each run's confabd CPU profile into this directory")
	fs.DurationVar(&o.waitIdle, "wait-idle", 0, "before each run, wait up to this long for the machine to be idle (on a shared box)")
	fs.StringVar(&o.fromJSON, "from-json", "", "run nothing: write the report of the results in this JSON file (from -json)")
	fs.IntVar(&o.nice, "nice", 0, "run the generator, and a confabd of its own, at this nice value (negative: ahead of other work on a shared box; needs root)")
	fs.BoolVar(&o.verbose, "v", false, "log progress")
	cpuProfile := fs.String("cpuprofile", "", "write the generator's CPU profile to this file")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: confabload [flags] scenario.txt ...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	o.files = fs.Args()
	if o.fromJSON != "" {
		return o.rewrite(stdout)
	}
	if len(o.files) == 0 {
		fs.Usage()
		return fmt.Errorf("no scenario file given")
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelInfo
	}
	o.log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if o.nice != 0 {
		if err := bridgeproc.Renice(os.Getpid(), o.nice); err != nil {
			return err
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return o.runAll(ctx, stdout)
}
