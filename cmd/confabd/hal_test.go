package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
// cmd/confab-dspemu serves it): the report names the device as active, two
// callers hear each other with their decodes, mix and encodes done on the
// device, and when the device restarts mid-call the conference falls back
// to Go, the callers keep hearing each other, and it moves back.
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
		`active="true",capability="codec",driver="dsp-spi"`,
		`active="false",capability="codec",driver="go"`,
		`active="true",capability="mix",driver="dsp-spi"`,
		`active="false",capability="mix",driver="go"`,
	} {
		if !strings.Contains(report, want) {
			t.Errorf("no %s in\n%s", want, report)
		}
	}

	d.createConference(t, "7001", nil)
	alice := d.dial(t, "7001", "Alice", toneA)
	bob := d.dial(t, "7001", "Bob", toneB)
	alice.hears(t, toneB)
	bob.hears(t, toneA)
	m := metricSamples(t, d, "confab_mixer_offload_")
	if m[`confab_mixer_offload_frames_total{where="device"}`] == 0 || m[`confab_mixer_offload_codec_jobs_total{where="device"}`] == 0 {
		t.Fatalf("the device did no work:\n%v", m)
	}
	if m["confab_mixer_offload_conferences"] != 1 {
		t.Errorf("conferences on the device: %v, want 1", m["confab_mixer_offload_conferences"])
	}

	// The device restarts: its channels are gone. The conference goes on
	// in Go, then back on the device once the driver has probed it again.
	dev.Restart()
	waitFor(t, "the fallback and the recovery", 15*time.Second, func() bool {
		m := metricSamples(t, d, "confab_mixer_offload_")
		return m["confab_mixer_offload_fallbacks_total"] >= 1 && m["confab_mixer_offload_recoveries_total"] >= 1 &&
			m["confab_mixer_offload_conferences"] == 1
	})
	alice.hears(t, toneB)
	bob.hears(t, toneA)
	if dev.Stats().Boots < 2 {
		t.Errorf("the emulator says it booted %d times", dev.Stats().Boots)
	}
}

// metricSamples reads the daemon's /metrics samples whose names start with
// prefix, keyed by name and labels as exposed.
func metricSamples(t *testing.T, d *daemon, prefix string) map[string]float64 {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+d.http+"/metrics", nil)
	req.SetBasicAuth("admin", adminPassword)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	out := map[string]float64{}
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, prefix) {
			continue
		}
		i := strings.LastIndexByte(l, ' ')
		if v, err := strconv.ParseFloat(l[i+1:], 64); err == nil {
			out[l[:i]] = v
		}
	}
	return out
}
