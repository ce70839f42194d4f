package dsp_test

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"confab/hal"
	"confab/hal/dsp"
	"confab/hal/dsp/dspemu"
)

// A driver on the in-process emulator: open a channel, decode a batch, see
// a fault fail the batch at once and the device come back.
func ExampleNew() {
	dev := dspemu.New()
	drv, err := dsp.New(dev.Conn(), dev.Ready(), dev.Reset(),
		dsp.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))), dsp.WithBackoff(time.Hour, time.Hour))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer drv.Close()
	off := drv.Offload()

	ch, _ := off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
	jobs := []hal.CodecJob{{Channel: ch, Payload: make([]byte, 160), PCM: make([]int16, 160)}}
	err = off.Codec.Decode(jobs)
	fmt.Println("decoded", jobs[0].N, "samples:", err)

	dev.CorruptNext(1)
	err = off.Codec.Decode(jobs)
	fmt.Println("fault:", errors.Is(err, hal.ErrOffloadFault), "healthy:", off.Healthy())

	drv.Probe() // what the background re-probe does after its back-off
	ch, _ = off.Codec.Open(hal.ChannelSpec{Codec: "PCMU", Rate: 8000, Frame: 20 * time.Millisecond})
	jobs[0].Channel = ch
	err = off.Codec.Decode(jobs)
	fmt.Println("healthy:", off.Healthy(), "decoded again:", err)
	fmt.Println("CRC faults:", drv.Stats().Faults[dsp.FaultCRC])
	// Output:
	// decoded 160 samples: <nil>
	// fault: true healthy: false
	// healthy: true decoded again: <nil>
	// CRC faults: 1
}
