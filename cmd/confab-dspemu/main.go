// Command confab-dspemu runs the emulated DSP coprocessor of
// docs/dsp-protocol.md as a process: the device side of the protocol on the
// mixer's pure-Go engines (hal/dsp/dspemu), served on a Unix socket with
// the socket transport of §8, for manual runs of confabd -dsp unix:PATH.
//
// Signals inject faults: SIGUSR1 restarts the device (a new boot id, every
// channel gone), SIGUSR2 corrupts the CRC of the next response.
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"confab/hal/dsp/dspemu"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "confab-dspemu:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("confab-dspemu", flag.ContinueOnError)
	listen := fs.String("listen", "/run/confab-dspemu.sock", "Unix socket to serve the device on")
	channels := fs.Int("channels", 256, "codec channels the device offers")
	inputs := fs.Int("mix-inputs", 8, "most inputs of one conference's mix")
	latency := fs.Duration("latency", 0, "time the device takes to answer each request (READY rises that late)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *channels < 1 || *channels > 65535 || *inputs < 1 || *inputs > 255 || *latency < 0 {
		return fmt.Errorf("-channels must be 1..65535, -mix-inputs 1..255 and -latency not negative")
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "dspemu")
	lim := dspemu.DefaultLimits()
	lim.MaxChannels, lim.MaxInputs = *channels, *inputs
	// A boot id from the clock, so a restarted process is a new boot.
	dev := dspemu.New(dspemu.WithLimits(lim), dspemu.WithBootID(uint32(time.Now().UnixNano())), dspemu.WithLatency(*latency))

	if fi, err := os.Lstat(*listen); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(*listen) // a socket left by a previous run
	}
	ln, err := net.Listen("unix", *listen)
	if err != nil {
		return err
	}
	defer os.Remove(*listen)

	sig := make(chan os.Signal, 4)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	go func() {
		for s := range sig {
			switch s {
			case syscall.SIGUSR1:
				dev.Restart()
				log.Info("device restarted", "boot", fmt.Sprintf("%08x", dev.BootID()))
			case syscall.SIGUSR2:
				dev.CorruptNext(1)
				log.Info("the next response will fail its CRC")
			default:
				log.Info("stopping", "stats", fmt.Sprintf("%+v", dev.Stats()))
				ln.Close()
				return
			}
		}
	}()
	log.Info("serving", "socket", *listen, "boot", fmt.Sprintf("%08x", dev.BootID()), "channels", lim.MaxChannels, "mix_inputs", lim.MaxInputs)
	return dev.Serve(ln)
}
