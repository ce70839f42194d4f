package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"confab/hal"
	"confab/hal/dsp"
)

// TestTheBuiltEmulatorAsAProcess builds confab-dspemu, runs it, and drives
// it with the driver over its socket, as an operator's manual run does:
// decode, SIGUSR2 (a CRC fault), recovery, SIGTERM (clean exit, socket
// removed), and a new process the driver finds again.
func TestTheBuiltEmulatorAsAProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the command")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "confab-dspemu")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	sock := filepath.Join(dir, "dsp.sock")
	cmd := exec.Command(bin, "-listen", sock)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
	}()

	var drv *dsp.Driver
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if drv, err = dsp.Open("unix:"+sock, dsp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			dsp.WithTimeout(time.Second), dsp.WithBackoff(10*time.Millisecond, 100*time.Millisecond)); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dsp.Open: %v", err)
	}
	defer drv.Close()
	off := drv.Offload()
	spec := hal.ChannelSpec{Codec: "PCMU", Rate: 16000, Frame: 20 * time.Millisecond}
	ch, err := off.Codec.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	jobs := []hal.CodecJob{{Channel: ch, Payload: make([]byte, 160), PCM: make([]int16, 320)}}
	if err := off.Codec.Decode(jobs); err != nil || jobs[0].N != 320 {
		t.Fatalf("decode: %v, %d samples", err, jobs[0].N)
	}
	cmd.Process.Signal(syscall.SIGUSR2)
	var ferr error
	for deadline := time.Now().Add(5 * time.Second); ferr == nil && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ferr = off.Codec.Decode(jobs)
	}
	if !errors.Is(ferr, dsp.ErrCRC) {
		t.Fatalf("decode after SIGUSR2: %v, want a CRC fault", ferr)
	}
	for deadline := time.Now().Add(5 * time.Second); !off.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no recovery")
		}
	}
	if s := drv.Stats(); s.Faults[dsp.FaultCRC] != 1 || s.Recoveries != 1 {
		t.Errorf("stats %+v", s)
	}
	if jobs[0].Channel, err = off.Codec.Open(spec); err != nil {
		t.Fatalf("reopen after the recovery: %v", err)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left: %v", err)
	}

	// With the emulator gone the next batch faults on the bus; a new
	// emulator process on the same socket is a device that was reset,
	// and the driver's re-probe finds it.
	if err := off.Codec.Decode(jobs); !errors.Is(err, dsp.ErrBus) {
		t.Fatalf("decode with the emulator gone: %v, want a bus fault", err)
	}
	again := exec.Command(bin, "-listen", sock)
	again.Stderr = os.Stderr
	if err := again.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { again.Process.Signal(syscall.SIGTERM); again.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); !off.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no recovery on the new process: %+v", drv.Stats())
		}
	}
	if ch, err = off.Codec.Open(spec); err != nil {
		t.Fatal(err)
	}
	jobs[0].Channel = ch
	if err := off.Codec.Decode(jobs); err != nil || jobs[0].N != 320 {
		t.Fatalf("decode on the new process: %v", err)
	}
}
