package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"time"

	"confab/bench/bridgeproc"
	"confab/bench/loadgen"
	"confab/bench/netns"
	"confab/bench/scenario"
)

// childFlag runs confabload as the generator half of a netem run, inside
// the callers' namespace: it reads a childJob on stdin and writes the
// loadgen.Result as JSON on stdout.
const childFlag = "-netns-child"

// childJob is what the parent tells the generator in the namespace.
type childJob struct {
	Scenario scenario.Scenario
	Bridge   string // SIP host:port
	PID      int
	Local    netip.Addr
	Metrics  bridgeproc.MetricsSource
	Verbose  bool
}

// errNetemBridge means a netem run was asked of a bridge the run does not
// start: its address would have to be reachable from the namespace.
var errNetemBridge = errors.New("a scenario with netem needs -confabd: the bridge is started on the host's end of the impaired link")

// runNetem runs one load with the callers in a namespace of their own
// behind netem: the bridge on the host's end of the veth pair, the
// generator re-executed inside the namespace.
func (o *options) runNetem(ctx context.Context, s scenario.Scenario, start func(...bridgeproc.Option) (*bridgeproc.Bridge, func(), error)) (*loadgen.Result, error) {
	if o.confabd == "" {
		return nil, errNetemBridge
	}
	link, err := netns.Create(*s.Netem)
	if err != nil {
		return nil, err
	}
	defer link.Close()
	b, stop, err := start(bridgeproc.WithAddress(link.HostAddr))
	if err != nil {
		return nil, err
	}
	defer stop()
	job, _ := json.Marshal(childJob{Scenario: s, Bridge: b.SIPAddr().String(), PID: b.PID(), Local: link.NSAddr,
		Metrics: b.Metrics(), Verbose: o.verbose})
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", link.NS, self, childFlag)
	cmd.Stdin = bytes.NewReader(job)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	cmd.WaitDelay = 10 * time.Second
	runErr := cmd.Run()
	var res *loadgen.Result
	if out.Len() > 0 {
		res = new(loadgen.Result)
		if err := json.Unmarshal(out.Bytes(), res); err != nil {
			return nil, fmt.Errorf("the generator in %s: %w", link.NS, err)
		}
	}
	if runErr != nil {
		return res, fmt.Errorf("the generator in %s: %w", link.NS, runErr)
	}
	select {
	case <-b.Exited():
		return res, fmt.Errorf("confabd exited during the run: %s", b.Output())
	default:
	}
	return res, nil
}

// runChild is the generator half of a netem run.
func runChild(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer) error {
	var job childJob
	if err := json.NewDecoder(stdin).Decode(&job); err != nil {
		return fmt.Errorf("%s: reading the job: %w", childFlag, err)
	}
	level := slog.LevelWarn
	if job.Verbose {
		level = slog.LevelInfo
	}
	cfg := loadgen.Config{Scenario: job.Scenario, Bridge: job.Bridge, PID: job.PID, Local: job.Local,
		Log: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
		BridgeCounters: func(ctx context.Context) (map[string]float64, error) {
			return job.Metrics.Counters(ctx, "confab_")
		}}
	res, err := loadgen.Run(ctx, cfg)
	if res != nil {
		if e := json.NewEncoder(stdout).Encode(res); e != nil {
			return errors.Join(err, e)
		}
	}
	return err
}
