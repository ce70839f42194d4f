package main

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"confab/hal"
	"confab/hal/dsp"
	"confab/mixer/offload"
)

// TestTheEmulatorServesTheDriverAndRestartsOnSIGUSR1 runs the command on a
// socket, decodes through it with the driver as confabd would, and restarts
// the device with SIGUSR1: the driver sees the reset, falls back, re-probes.
func TestTheEmulatorServesTheDriverAndRestartsOnSIGUSR1(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "dsp.sock")
	done := make(chan error, 1)
	go func() { done <- run([]string{"-listen", sock}) }()
	var drv *dsp.Driver
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		drv, err = dsp.Open("unix:"+sock, dsp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
			dsp.WithTimeout(time.Second), dsp.WithBackoff(10*time.Millisecond, 100*time.Millisecond))
		if err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("dsp.Open: %v", err)
	}
	defer drv.Close()
	off := drv.Offload()
	spec := hal.ChannelSpec{Codec: "PCMA", Rate: 8000, Frame: 20 * time.Millisecond}
	ch, err := off.Codec.Open(spec)
	if err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, 160)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	jobs := []hal.CodecJob{{Channel: ch, Payload: payload, PCM: make([]int16, 160)}}
	if err := off.Codec.Decode(jobs); err != nil || jobs[0].Err != nil {
		t.Fatalf("decode: %v / %v", err, jobs[0].Err)
	}
	ref := offload.New()
	rch, _ := ref.Open(spec)
	want := []hal.CodecJob{{Channel: rch, Payload: payload, PCM: make([]int16, 160)}}
	ref.Decode(want)
	if !slices.Equal(jobs[0].PCM[:jobs[0].N], want[0].PCM[:want[0].N]) {
		t.Error("the emulator decoded unlike the pure-Go engine")
	}

	syscall.Kill(os.Getpid(), syscall.SIGUSR1)
	var ferr error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if ferr = off.Codec.Decode(jobs); ferr != nil {
			break
		}
	}
	// The signal lands between two exchanges (the device answers "not
	// ready": a reset fault) or inside one (its response is lost: a
	// protocol fault or a timeout); a fault either way.
	if !errors.Is(ferr, hal.ErrOffloadFault) {
		t.Fatalf("decode after SIGUSR1: %v, want an offload fault", ferr)
	}
	for deadline := time.Now().Add(5 * time.Second); !off.Healthy(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the driver did not come back")
		}
	}
	if ch, err = off.Codec.Open(spec); err != nil {
		t.Fatalf("reopen after the restart: %v", err)
	}
	jobs[0].Channel = ch
	if err := off.Codec.Decode(jobs); err != nil || !slices.Equal(jobs[0].PCM[:jobs[0].N], want[0].PCM[:want[0].N]) {
		t.Fatalf("decode after the restart: %v", err)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the emulator did not stop on SIGTERM")
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestBadFlagsAreRefused(t *testing.T) {
	for _, args := range [][]string{{"-channels", "0"}, {"-mix-inputs", "300"}, {"-latency", "-1ms"}, {"extra"}} {
		if err := run(args); err == nil {
			t.Errorf("run(%q) accepted", args)
		}
	}
}
