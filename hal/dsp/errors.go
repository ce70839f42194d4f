package dsp

import (
	"errors"
	"fmt"
	"sync/atomic"

	"confab/hal"
	"confab/hal/dsp/wire"
)

// Faults: each wraps hal.ErrOffloadFault, so the MCU redoes the batch in Go,
// and names its kind, so tests and metrics can tell them apart.
var (
	ErrCRC         = fmt.Errorf("%w: dsp: CRC error", hal.ErrOffloadFault)
	ErrTimeout     = fmt.Errorf("%w: dsp: timeout waiting for READY", hal.ErrOffloadFault)
	ErrDeviceReset = fmt.Errorf("%w: dsp: the device restarted", hal.ErrOffloadFault)
	ErrSequence    = fmt.Errorf("%w: dsp: sequence number mismatch", hal.ErrOffloadFault)
	ErrProtocol    = fmt.Errorf("%w: dsp: protocol error", hal.ErrOffloadFault)
	ErrBus         = fmt.Errorf("%w: dsp: SPI bus error", hal.ErrOffloadFault)

	// ErrUnhealthy fails batches at once while the device is being
	// re-probed after a fault.
	ErrUnhealthy = fmt.Errorf("%w: dsp: device not healthy, re-probing", hal.ErrOffloadFault)
	// ErrStaleChannel means a channel was opened before the device was
	// reset; it is gone and must be reopened.
	ErrStaleChannel = fmt.Errorf("%w: dsp: channel lost in a device reset", hal.ErrOffloadFault)
	// ErrClosed fails everything after Close.
	ErrClosed = fmt.Errorf("%w: dsp: driver closed", hal.ErrOffloadFault)
)

// Job errors: one job's failure inside a batch that otherwise stands.
var (
	ErrJobNoChannel  = fmt.Errorf("%w: dsp: the device has no such channel", hal.ErrNoChannel)
	ErrJobBadPayload = errors.New("dsp: the device could not decode the payload")
	ErrJobFrameSize  = errors.New("dsp: the device cannot code this frame length")
	ErrJobShort      = errors.New("dsp: result does not fit the job's buffer")
)

// Errors of requests the device refused, not faults.
var (
	errTooBig    = fmt.Errorf("%w: dsp: one job exceeds the device's frame size", hal.ErrUnsupported)
	errMixShape  = fmt.Errorf("%w: dsp: mix job with inputs and outputs of unequal lengths", hal.ErrUnsupported)
	errWrongType = fmt.Errorf("%w: response of the wrong type", ErrProtocol)
	errCounts    = fmt.Errorf("%w: response does not match the request", ErrProtocol)
	errDevBad    = fmt.Errorf("%w: the device refused our request as malformed", ErrProtocol)
	errDevCRC    = fmt.Errorf("%w: the device received our request with a bad CRC", ErrCRC)
	errDevSeq    = fmt.Errorf("%w: the device expected another sequence number", ErrSequence)
	errDevReset  = fmt.Errorf("%w: it waits for HELLO", ErrDeviceReset)
	errDevNoChan = fmt.Errorf("%w: dsp: the device has no free channel", hal.ErrNoChannel)
	errDevUnsup  = fmt.Errorf("%w: dsp: the device refused the channel", hal.ErrUnsupported)
	errDevVer    = fmt.Errorf("%w: no protocol version in common", ErrProtocol)
)

// FaultKind is the kind of a counted fault.
type FaultKind int

// Fault kinds, as Stats counts them.
const (
	FaultCRC FaultKind = iota
	FaultTimeout
	FaultReset
	FaultSequence
	FaultProtocol
	FaultBus
	faultKinds
)

func (k FaultKind) String() string {
	return [...]string{"crc", "timeout", "reset", "sequence", "protocol", "bus"}[k]
}

// kindOf classifies an error; -1 for errors that are not device faults.
func kindOf(err error) FaultKind {
	switch {
	case errors.Is(err, ErrCRC):
		return FaultCRC
	case errors.Is(err, ErrTimeout):
		return FaultTimeout
	case errors.Is(err, ErrDeviceReset):
		return FaultReset
	case errors.Is(err, ErrSequence):
		return FaultSequence
	case errors.Is(err, ErrProtocol):
		return FaultProtocol
	case errors.Is(err, ErrBus):
		return FaultBus
	}
	return -1
}

// errProtocolOf maps a header parse error to a fault.
func errProtocolOf(err error) error {
	switch err {
	case wire.ErrMagic:
		return errMagic
	case wire.ErrVersion:
		return errVersion
	case wire.ErrLength:
		return errLength
	}
	return ErrProtocol
}

var (
	errMagic   = fmt.Errorf("%w: no frame where a response was due", ErrProtocol)
	errVersion = fmt.Errorf("%w: response of another protocol version", ErrProtocol)
	errLength  = fmt.Errorf("%w: response longer than the limit", ErrProtocol)
)

// deviceError turns an ERROR response's payload into an error.
func deviceError(p []byte) error {
	if len(p) != wire.ErrorLen {
		return ErrProtocol
	}
	switch wire.Code(p[0]) {
	case wire.CodeBadFrame:
		return errDevCRC
	case wire.CodeSequence:
		return errDevSeq
	case wire.CodeNotReady:
		return errDevReset
	case wire.CodeNoChannel:
		return errDevNoChan
	case wire.CodeUnsupported:
		return errDevUnsup
	case wire.CodeVersion:
		return errDevVer
	}
	return errDevBad
}

// jobErr is the error of a job's status.
func jobErr(s wire.Status) error {
	switch s {
	case wire.StatusOK:
		return nil
	case wire.StatusNoChannel:
		return ErrJobNoChannel
	case wire.StatusFrameSize:
		return ErrJobFrameSize
	case wire.StatusShort:
		return ErrJobShort
	}
	return ErrJobBadPayload
}

type counters struct {
	transactions, bytesOut, bytesIn atomic.Uint64
	faults                          [faultKinds]atomic.Uint64
	recoveries, probeFailures       atomic.Uint64
	rejected                        atomic.Uint64
}

// Stats are the driver's counters.
type Stats struct {
	Transactions uint64 // request/response exchanges on the bus
	BytesOut     uint64 // frame bytes sent (requests)
	BytesIn      uint64 // frame bytes received (responses)
	// Faults counts device faults by kind (index with FaultKind).
	Faults [faultKinds]uint64
	// Recoveries counts re-probes that brought the device back;
	// ProbeFailures those that did not.
	Recoveries, ProbeFailures uint64
	// Rejected counts batches failed at once while unhealthy.
	Rejected uint64
	Healthy  bool
}

// FaultsTotal is the sum of Faults.
func (s Stats) FaultsTotal() uint64 {
	var n uint64
	for _, f := range s.Faults {
		n += f
	}
	return n
}

// Stats returns the counters; it never waits for the bus.
func (d *Driver) Stats() Stats {
	s := Stats{
		Transactions:  d.st.transactions.Load(),
		BytesOut:      d.st.bytesOut.Load(),
		BytesIn:       d.st.bytesIn.Load(),
		Recoveries:    d.st.recoveries.Load(),
		ProbeFailures: d.st.probeFailures.Load(),
		Rejected:      d.st.rejected.Load(),
		Healthy:       d.Healthy(),
	}
	for i := range s.Faults {
		s.Faults[i] = d.st.faults[i].Load()
	}
	return s
}
