package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"confab/bench/bridgeproc"
	"confab/bench/loadgen"
	"confab/bench/report"
	"confab/bench/scenario"
)

// errBridge means no bridge was named: neither -bridge nor -confabd.
var errBridge = errors.New("give -bridge ADDRESS (and -pid) or -confabd BINARY")

type options struct {
	bridge   string
	pid      int
	confabd  string
	local    string
	out      string
	jsonOut  string
	title    string
	profiles string
	waitIdle time.Duration
	fromJSON string
	nice     int
	verbose  bool
	files    []string
	log      *slog.Logger
}

// runAll runs every scenario file in turn and writes the report.
func (o *options) runAll(ctx context.Context, stdout io.Writer) error {
	local, err := netip.ParseAddr(o.local)
	if err != nil {
		return fmt.Errorf("-local %q: %w", o.local, err)
	}
	if o.bridge == "" && o.confabd == "" {
		return errBridge
	}
	var scenarios []scenario.Scenario
	for _, f := range o.files {
		s, err := scenario.ParseFile(f)
		if err != nil {
			return err
		}
		scenarios = append(scenarios, s)
	}
	rep := report.New(o.title)
	rep.Env.Nice = o.nice
	var runErr error
	for _, s := range scenarios {
		group, err := o.runScenario(ctx, s, local, stdout)
		rep.Add(group)
		if err != nil {
			runErr = fmt.Errorf("scenario %s: %w", s.Name, err)
			break
		}
	}
	if o.out != "" {
		if err := rep.Write(o.out); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintf(stdout, "report: %s\n", o.out)
	}
	if o.jsonOut != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.jsonOut, b, 0o644); err != nil {
			return errors.Join(runErr, err)
		}
	}
	return runErr
}

// runScenario runs one scenario: once, once per sweep point, or as a
// capacity search.
func (o *options) runScenario(ctx context.Context, s scenario.Scenario, local netip.Addr, stdout io.Writer) (report.Group, error) {
	g := report.Group{Scenario: s.Name, Description: s.Description}
	one := func(confs int) (*loadgen.Result, error) {
		var runs []*loadgen.Result
		for range max(1, s.Repeat) {
			r, err := o.runOnce(ctx, s.WithConferences(confs), local)
			if r != nil {
				fmt.Fprintln(stdout, report.Line(r))
				runs = append(runs, r)
			}
			if err != nil {
				return loadgen.Median(runs), err
			}
		}
		m := loadgen.Median(runs)
		if len(runs) > 1 {
			fmt.Fprintln(stdout, "MEDIAN", report.Line(m))
		}
		return m, nil
	}
	switch {
	case s.Capacity != nil:
		c, err := searchCapacity(s, one)
		g.Runs, g.Capacity = c.runs, &c.found
		return g, err
	case len(s.Sweep) > 0:
		for _, n := range s.Sweep {
			r, err := one(n)
			if r != nil {
				g.Runs = append(g.Runs, r)
			}
			if err != nil {
				return g, err
			}
		}
		return g, nil
	default:
		r, err := one(s.Conferences)
		if r != nil {
			g.Runs = append(g.Runs, r)
		}
		return g, err
	}
}

// runOnce runs a single load: against a confabd of its own with
// -confabd, else against -bridge; with netem, from a namespace behind an
// impaired link (netem.go).
func (o *options) runOnce(ctx context.Context, s scenario.Scenario, local netip.Addr) (*loadgen.Result, error) {
	cfg := loadgen.Config{Scenario: s, Bridge: o.bridge, PID: o.pid, Local: local, Log: o.log}
	waitIdle(ctx, o.waitIdle, o.log)
	if s.Netem != nil {
		return o.runNetem(ctx, s, func(extra ...bridgeproc.Option) (*bridgeproc.Bridge, func(), error) {
			return o.startBridge(ctx, s, extra...)
		})
	}
	if o.confabd == "" {
		return loadgen.Run(ctx, cfg)
	}
	b, stop, err := o.startBridge(ctx, s)
	if err != nil {
		return nil, err
	}
	defer stop()
	cfg.Bridge, cfg.PID = b.SIPAddr().String(), b.PID()
	cfg.BridgeCounters = func(ctx context.Context) (map[string]float64, error) {
		return b.Counters(ctx, "confab_")
	}
	r, err := loadgen.Run(ctx, cfg)
	select {
	case <-b.Exited():
		return r, fmt.Errorf("confabd exited during the run: %s", b.Output())
	default:
	}
	return r, err
}

// startBridge starts -confabd with a fresh data directory and creates the
// scenario's conferences on it; stop stops it and removes the directory.
func (o *options) startBridge(ctx context.Context, s scenario.Scenario, extra ...bridgeproc.Option) (*bridgeproc.Bridge, func(), error) {
	dir, err := os.MkdirTemp("", "confabload-")
	if err != nil {
		return nil, nil, err
	}
	opts := extra
	if o.nice != 0 {
		opts = append(opts, bridgeproc.WithNice(o.nice))
	}
	if o.profiles != "" {
		if err := os.MkdirAll(o.profiles, 0o755); err != nil {
			os.RemoveAll(dir)
			return nil, nil, err
		}
		prof := filepath.Join(o.profiles, fmt.Sprintf("%s-%d.prof", s.Name, s.Participants()))
		opts = append(opts, bridgeproc.WithEnv("CONFAB_CPUPROFILE="+prof))
	}
	b, err := bridgeproc.Start(ctx, o.confabd, dir, opts...)
	if err != nil {
		os.RemoveAll(dir)
		return nil, nil, err
	}
	stop := func() {
		if err := b.Stop(15 * time.Second); err != nil {
			o.log.Warn("stopping confabd", "err", err)
		}
		os.RemoveAll(dir)
	}
	t0 := time.Now()
	if err := createConferences(ctx, b, s); err != nil {
		stop()
		return nil, nil, err
	}
	o.log.Info("conferences created", "count", s.Conferences, "took", time.Since(t0).Round(time.Millisecond))
	return b, stop, nil
}

// createConferences makes the scenario's conferences on a confabd, a few
// requests at a time.
func createConferences(ctx context.Context, b *bridgeproc.Bridge, s scenario.Scenario) error {
	const workers = 4
	numbers := make(chan int)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range numbers {
				conf := bridgeproc.Conference{Number: strconv.Itoa(s.Number + c), PIN: s.PIN, Announcements: s.Announcements}
				if err := b.CreateConference(ctx, conf); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
feed:
	for c := range s.Conferences {
		select {
		case numbers <- c:
		case err = <-errs:
			break feed
		}
	}
	close(numbers)
	wg.Wait()
	close(errs)
	if err != nil {
		return err
	}
	return <-errs
}

// rewrite writes the report of earlier results.
func (o *options) rewrite(stdout io.Writer) error {
	if o.out == "" {
		return errors.New("-from-json needs -out")
	}
	b, err := os.ReadFile(o.fromJSON)
	if err != nil {
		return err
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", o.fromJSON, err)
	}
	if err := rep.Write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "report: %s\n", o.out)
	return nil
}
