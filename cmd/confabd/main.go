// Command confabd is the Confab appliance daemon: it wires the conferencing
// database, the audio MCU on the HAL packet path, the Focus Factory, the SIP
// front and the HTTP API, and runs them until SIGTERM.
//
// Every flag has a CONFAB_* environment variable; `confabd -h` lists them.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"time"

	"confab/focus"
	"confab/focus/httpapi"
	"confab/focus/serverfactory"
	"confab/focus/sipfront"
	"confab/focus/store"
	"confab/hal/halselect"
	"confab/hal/panel"
	"confab/mixer"
	"confab/mixer/prompt"
)

func main() {
	cfg, err := parseConfig(os.Args[1:], getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "confabd: %v\n", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if path := os.Getenv("CONFAB_CPUPROFILE"); path != "" {
		// For performance work: a CPU profile of the whole run.
		if f, err := os.Create(path); err == nil {
			_ = pprof.StartCPUProfile(f)
			defer pprof.StopCPUProfile()
		}
	}
	err = run(ctx, cfg, os.Stdout)
	if errors.Is(err, errFactoryReset) {
		pprof.StopCPUProfile()
		if err := wipeData(cfg.Data); err != nil {
			fmt.Fprintf(os.Stderr, "confabd: %v\n", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stderr, "confabd: factory reset: the configuration is wiped; starting afresh")
		stop()
		err = reexec()
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintf(os.Stderr, "confabd: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config, console *os.File) error {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	log, logs := newLogger(console, level)

	// The conferencing database.
	if err := os.MkdirAll(cfg.Data, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	db, err := store.Open(ctx, filepath.Join(cfg.Data, "confab.db"), store.WithLogger(log))
	if err != nil {
		return fmt.Errorf("conferencing database: %w", err)
	}
	defer db.Close()
	setupToken, err := ensureAdmin(ctx, db, console)
	if err != nil {
		return err
	}
	pinned := pinnedSettings(os.Args[1:], os.Getenv)
	cfg, settings := applySettings(ctx, db, cfg, pinned, log)

	// The audio MCU on the packet path.
	if cfg.MediaIf == "none" {
		cfg.MediaIf = ""
	}
	pathMetrics := &laterRegisterer{}
	report := halselect.NewReport() // the HAL's drivers: log, metric, Settings page
	pathMetrics.MustRegister(report)
	path, err := openMediaPath(cfg, log, pathMetrics, report)
	if err != nil {
		return fmt.Errorf("media ports %d-%d: %w", cfg.RTPLow, cfg.RTPHigh, err)
	}
	offload, closeOffload := openOffload(cfg.DSP, report, pathMetrics, log)
	defer closeOffload()
	mcfg := mixerConfig(cfg, settings)
	mcfg.Offload = offload
	engine, err := mixer.NewEngine(path, cfg.PublicIP, mcfg, mixer.WithLogger(log))
	if err != nil {
		return err
	}
	prompts, err := prompt.Load()
	if err != nil {
		return err
	}

	// The control plane: Conferencing Server Factory, Focus Factory, SIP front.
	servers := serverfactory.NewLocal(func(id string) (focus.MCU, error) { return engine.NewConference(id) },
		serverfactory.WithMover(engine.Move))
	factory := focus.NewFactory(db, servers, prompts, focus.WithLogger(log), focus.WithDomain(cfg.Domain))
	dir := sipDirectory{db}
	front, err := sipfront.New(factory, sipfront.WithLogger(log), sipfront.WithPublicAddr(cfg.PublicIP),
		sipfront.WithDomain(cfg.Domain), sipfront.WithAuth(dir), sipfront.WithRegistrar(dir), sipfront.WithTrunks(dir),
		sipfront.WithSessionTimer(cfg.SessionTimer),
		sipfront.WithConferencing(focus.NewControl(factory))) // C3P, RFC 4575 events, RFC 4579 REFER and ad-hoc
	if err != nil {
		return err
	}

	// The front panel: LEDs and buttons on GPIO (-panel).
	resetc := make(chan struct{}, 1)
	panelConfs := newPanelConferences(factory, log)
	pnl, panelStatus := openPanel(cfg.Panel, (&gpioLookup{}).pin, panelConfs, func() error {
		select {
		case resetc <- struct{}{}:
		default:
		}
		return nil
	}, log)
	report.Set(panelStatus)
	if pnl == nil && len(cfg.Panel) > 0 {
		log.Error("front panel", "reason", panelStatus.Reason)
	}

	api := httpapi.New(factory, newLive(factory), db, httpapi.WithLogger(log), httpapi.WithDirectory(db, cfg.Domain),
		httpapi.WithErrorStatus(focus.ErrForbidden, http.StatusForbidden),
		httpapi.WithErrorStatus(focus.ErrUnknownMember, http.StatusNotFound))
	var engineRunning atomic.Bool
	engineRunning.Store(true)
	hc := newHealthChecker(
		healthCheck{"mixer", (&mixerCheck{stats: engine.Stats, running: engineRunning.Load, stall: 3 * time.Second, now: time.Now}).run},
		healthCheck{"sip", sipCheck(cfg.SIP)},
		healthCheck{"database", (&dbCheck{db: db, now: time.Now, every: heartbeatEvery}).run},
	)
	wf, err := newWebFront(webDeps{cfg: cfg, db: db, factory: factory, engine: engine, front: front, api: api, log: log,
		logs: logs, inUse: settings, pinned: pinned, setupToken: setupToken, pathMetrics: pathMetrics, health: hc, hal: report})
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 4)
	go func() {
		err := engine.Run(runCtx)
		engineRunning.Store(false)
		errc <- wrap("mixer", err)
	}()
	go func() {
		for ev := range engine.Events() {
			factory.HandleMCUEvent(ev)
		}
	}()
	go func() { errc <- wrap("sip", front.ListenAndServe(runCtx, cfg.SIP)) }()
	go keepTrunksRegistered(runCtx, db, front, log)
	if pnl != nil {
		go pnl.Run(runCtx)
		go panelConfs.run(runCtx)
	}
	wf.serve(runCtx, errc)
	select {
	case <-front.Ready():
	case err := <-errc:
		return err
	case <-time.After(10 * time.Second):
		return errors.New("sip front did not start within 10 s")
	}
	// Ready: from here on health counts. The watchdog is armed only now,
	// so that a slow start cannot starve it.
	healthy := func(ctx context.Context) bool { return hc.Check(ctx).Healthy }
	dog, dogStatus := runWatchdog(runCtx, cfg.Watchdog, cfg.WatchdogTimeout, healthy, wf.metrics.Registerer(), log)
	report.Set(dogStatus)
	if dog == nil && cfg.Watchdog != "" {
		log.Error("watchdog", "reason", dogStatus.Reason)
	}
	if pnl != nil {
		go showHealth(runCtx, pnl, hc, 2*time.Second)
	}
	report.Log(log)
	fmt.Fprintf(console, "confabd ready: SIP udp+tcp %s, HTTP %s, RTP %d-%d on %s (media path: %s), data %s\n",
		cfg.SIP, wf.urls(), cfg.RTPLow, cfg.RTPHigh, cfg.PublicIP, path.Name(), cfg.Data)

	var runErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case runErr = <-errc:
		log.Error("component failed", "err", runErr)
	case <-resetc:
		log.Warn("factory reset from the front panel: stopping, wiping the configuration, starting afresh")
		runErr = errFactoryReset
	}
	// Orderly end: BYE to every call, stop serving, stop mixing, close the
	// database (deferred) so every call record is written.
	shutCtx, done := context.WithTimeout(context.Background(), 5*time.Second)
	defer done()
	_ = front.Shutdown(shutCtx)
	wf.shutdown(shutCtx)
	factory.Close()
	cancel()
	if dog != nil {
		if err := dog.Close(); err != nil { // the magic close: a clean stop does not reset the box
			log.Warn("watchdog", "err", err)
		}
	}
	return runErr
}

// showHealth sets the status LED from health: ready or fault.
func showHealth(ctx context.Context, p *panel.Panel, hc *healthChecker, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		rep := hc.Check(ctx)
		if rep.Healthy {
			p.SetStatus(panel.Ready)
		} else if ctx.Err() == nil {
			p.SetStatus(panel.Fault)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
