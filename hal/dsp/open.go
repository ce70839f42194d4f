package dsp

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"
)

// Open reaches a device by target and probes it (see New):
//
//	spidev:/dev/spidev0.0?ready=GPIO17&reset=GPIO27&hz=8000000&mode=0
//	unix:/run/confab-dspemu.sock
//
// spidev targets use periph.io's host drivers: the spidev character device
// and the GPIO character device lines named as the board names them
// (hz defaults to 8 MHz, mode to 0). unix targets reach cmd/confab-dspemu;
// their READY timeout defaults to 20 ms, as a process on a busy host
// answers slower than a DSP.
func Open(target string, opts ...Option) (*Driver, error) {
	scheme, rest, ok := strings.Cut(target, ":")
	if !ok {
		return nil, fmt.Errorf("dsp: target %q: want spidev:/dev/spidevB.C?ready=PIN&reset=PIN or unix:/path", target)
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return nil, fmt.Errorf("dsp: target %q: no socket path", target)
		}
		timeout := 20 * time.Millisecond
		var probe options
		for _, f := range opts {
			f(&probe)
		}
		if probe.timeout > 0 {
			timeout = probe.timeout
		}
		s, err := dialSock(rest, 2*timeout+100*time.Millisecond)
		if err != nil {
			return nil, err
		}
		opts = append([]Option{WithTimeout(timeout), withCloser(s.Close)}, opts...)
		d, err := New(s, sockPin{s: s}, sockPin{s: s, reset: true}, opts...)
		if err != nil {
			s.Close()
			return nil, err
		}
		return d, nil
	case "spidev":
		return openSPIDev(target, rest, opts)
	}
	return nil, fmt.Errorf("dsp: target %q: unknown scheme %q (spidev or unix)", target, scheme)
}

// spidevTarget is a parsed spidev target.
type spidevTarget struct {
	dev          string
	ready, reset string
	hz           int64
	mode         spi.Mode
}

func parseSPIDev(target, rest string) (spidevTarget, error) {
	path, query, _ := strings.Cut(rest, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return spidevTarget{}, fmt.Errorf("dsp: target %q: %w", target, err)
	}
	t := spidevTarget{dev: path, ready: q.Get("ready"), reset: q.Get("reset"), hz: 8_000_000}
	if !strings.HasPrefix(path, "/dev/spidev") {
		return t, fmt.Errorf("dsp: target %q: the device must be /dev/spidevB.C", target)
	}
	if t.ready == "" || t.reset == "" {
		return t, fmt.Errorf("dsp: target %q: needs ready=PIN and reset=PIN", target)
	}
	if s := q.Get("hz"); s != "" {
		if t.hz, err = strconv.ParseInt(s, 10, 64); err != nil || t.hz <= 0 || t.hz > 100_000_000 {
			return t, fmt.Errorf("dsp: target %q: hz=%s: want 1..100000000", target, s)
		}
	}
	if s := q.Get("mode"); s != "" {
		m, err := strconv.Atoi(s)
		if err != nil || m < 0 || m > 3 {
			return t, fmt.Errorf("dsp: target %q: mode=%s: want 0..3", target, s)
		}
		t.mode = spi.Mode(m)
	}
	for k := range q {
		switch k {
		case "ready", "reset", "hz", "mode":
		default:
			return t, fmt.Errorf("dsp: target %q: unknown parameter %q", target, k)
		}
	}
	return t, nil
}

func openSPIDev(target, rest string, opts []Option) (*Driver, error) {
	t, err := parseSPIDev(target, rest)
	if err != nil {
		return nil, err
	}
	if _, err := host.Init(); err != nil {
		return nil, fmt.Errorf("dsp: periph host drivers: %w", err)
	}
	if _, err := os.Stat(t.dev); err != nil {
		return nil, fmt.Errorf("dsp: %s: %w (is the SPI controller enabled and spidev loaded?)", t.dev, err)
	}
	port, err := spireg.Open(t.dev)
	if err != nil {
		return nil, fmt.Errorf("dsp: %s: %w", t.dev, err)
	}
	c, err := port.Connect(physic.Frequency(t.hz)*physic.Hertz, t.mode, 8)
	if err != nil {
		port.Close()
		return nil, fmt.Errorf("dsp: %s: %w", t.dev, err)
	}
	pin := func(name string) (gpio.PinIO, error) {
		if p := gpioreg.ByName(name); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("dsp: no GPIO line %q (gpioinfo lists them)", name)
	}
	ready, err := pin(t.ready)
	if err != nil {
		port.Close()
		return nil, err
	}
	reset, err := pin(t.reset)
	if err != nil {
		port.Close()
		return nil, err
	}
	d, err := New(c, ready, reset, append(opts, withCloser(port.Close))...)
	if err != nil {
		port.Close()
		return nil, err
	}
	return d, nil
}
