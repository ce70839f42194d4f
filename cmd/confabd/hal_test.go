package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"confab/hal/dsp/dspemu"
)

// halReport returns confab_hal_driver_info's lines from /metrics.
func halReport(t *testing.T, d *daemon) string {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.http+"/metrics", nil)
	req.SetBasicAuth("admin", adminPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "confab_hal_driver_info{") {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// TestDaemonHALReport starts confabd with a panel pin this machine lacks,
// a watchdog device that is not there and a DSP it cannot reach: it runs,
// on the Go engines, and says why in its log and metrics.
func TestDaemonHALReport(t *testing.T) {
	dir := t.TempDir()
	d := startDaemon(t, "-panel", "status=GPIO5,mute=GPIO13", "-watchdog", filepath.Join(dir, "watchdog"),
		"-dsp", "spidev:"+filepath.Join(dir, "spidev0.0")+"?ready=GPIO17&reset=GPIO27")
	report := halReport(t, d)
	for _, want := range []string{
		`active="true",capability="packet-path",driver="socket"`,
		`active="false",capability="packet-path",driver="xdp"`,
		`active="true",capability="codec",driver="go",reason="-dsp spidev:`,
		`active="true",capability="mix",driver="go",reason="-dsp spidev:`,
		`active="false",capability="panel",driver="gpio",reason="not used: status pin:`,
		`active="false",capability="watchdog",driver="` + filepath.Join(dir, "watchdog") + `",reason="not used: watchdog: no device`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("no %s in\n%s", want, report)
		}
	}
	if !strings.Contains(d.out.String(), "hal driver") {
		t.Error("the report is not in the log")
	}
}

// TestDaemonOnTheDSPEmulator runs confabd with -dsp on the DSP emulator
// (the device side of docs/dsp-protocol.md on a Unix socket, as
// cmd/confab-dspemu serves it): the report says the device answers, and
// that the MCU of this build keeps the work in Go.
func TestDaemonOnTheDSPEmulator(t *testing.T) {
	sockDir, err := os.MkdirTemp("", "dsp") // short: a socket path has at most 107 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(sockDir)
	sock := filepath.Join(sockDir, "dsp.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	dev := dspemu.New()
	served := make(chan error, 1)
	go func() { served <- dev.Serve(ln) }()
	defer func() { ln.Close(); <-served }()

	d := startDaemon(t, "-dsp", "unix:"+sock)
	report := halReport(t, d)
	for _, want := range []string{
		`active="true",capability="codec",driver="go",reason="-dsp unix:` + sock + ` answers (`,
		`active="false",capability="codec",driver="dsp-spi"`,
		`active="true",capability="mix",driver="go"`,
		`active="false",capability="mix",driver="dsp-spi"`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("no %s in\n%s", want, report)
		}
	}
	if dev.Stats().Requests == 0 {
		t.Error("the device was never asked")
	}
}
