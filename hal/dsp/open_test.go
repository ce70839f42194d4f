package dsp_test

import (
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
)

// serveEmu serves an emulated device on a Unix socket in a temporary
// directory, as cmd/confab-dspemu does.
func serveEmu(t *testing.T) (*dspemu.Device, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dsp.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	dev := dspemu.NewDevice(engines())
	done := make(chan struct{})
	go func() { dev.Serve(ln); close(done) }()
	t.Cleanup(func() { ln.Close(); <-done })
	return dev, path
}

func TestOpenUnixReachesTheEmulatorProcessAndDecodes(t *testing.T) {
	dev, path := serveEmu(t)
	drv, err := dsp.Open("unix:"+path, dsp.WithLogger(quiet()), dsp.WithTimeout(time.Second))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer drv.Close()
	off := drv.Offload()
	ch, err := off.Codec.Open(hal.ChannelSpec{Codec: "G722", Rate: 16000, Frame: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	payload := goEncode(t, "G722", 16000, tone(320, 16000, 440, 8000))
	jobs := []hal.CodecJob{{Channel: ch, Payload: payload, PCM: make([]int16, 320)}}
	if err := off.Codec.Decode(jobs); err != nil || jobs[0].Err != nil {
		t.Fatalf("decode: %v / %v", err, jobs[0].Err)
	}
	if want := goDecode(t, "G722", 16000, payload, 320); !slices.Equal(jobs[0].PCM[:jobs[0].N], want) {
		t.Error("decoded over the socket unlike the Go decoder")
	}
	if dev.OpenChannels() != 1 {
		t.Errorf("emulator has %d channels open, want 1", dev.OpenChannels())
	}
	dev.Restart()
	if err := off.Codec.Decode(jobs); !errors.Is(err, dsp.ErrDeviceReset) {
		t.Errorf("decode after the emulator restarted: %v, want ErrDeviceReset", err)
	}
}

func TestOpenRefusesBadTargetsClearly(t *testing.T) {
	for _, tc := range []struct{ target, want string }{
		{"spidev0.0", "want spidev:"},
		{"i2c:/dev/i2c-1", "unknown scheme"},
		{"spidev:/dev/spidev0.0", "needs ready=PIN and reset=PIN"},
		{"spidev:/dev/spidev0.0?ready=GPIO17&reset=GPIO27&hz=fast", "hz=fast"},
		{"spidev:/dev/spidev0.0?ready=GPIO17&reset=GPIO27&speed=1", "unknown parameter"},
		{"spidev:/tmp/x?ready=GPIO17&reset=GPIO27", "must be /dev/spidev"},
		{"unix:", "no socket path"},
		{"unix:/nonexistent/dsp.sock", "no such file"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			_, err := dsp.Open(tc.target, dsp.WithLogger(quiet()))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) = %v, want an error saying %q", tc.target, err, tc.want)
			}
		})
	}
}

func TestOpenSpidevThatIsNotThereSaysSo(t *testing.T) {
	_, err := dsp.Open("spidev:/dev/spidev9.9?ready=GPIO17&reset=GPIO27", dsp.WithLogger(quiet()))
	if err == nil {
		t.Fatal("opened a spidev that does not exist")
	}
	if !strings.Contains(err.Error(), "spidev9.9") && !strings.Contains(err.Error(), "periph") {
		t.Errorf("error does not name the device: %v", err)
	}
	t.Logf("as expected: %v", err)
}
