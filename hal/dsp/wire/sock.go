package wire

// The Unix socket transport of cmd/confab-dspemu (docs/dsp-protocol.md §8)
// carries the SPI bus and the two lines: each host message is one op byte
// and its arguments, each reply a status byte, the READY level after the
// op, and for SockTx the MISO bytes. Integers are little-endian.
const (
	// SockTx: u32 write length, u32 read length, the write bytes. One SPI
	// transaction (MOSI past the write is 0x00 filler).
	SockTx = 'T'
	// SockReady: no arguments; reads READY.
	SockReady = 'R'
	// SockWait: u32 microseconds; waits until READY is high or the time
	// has passed.
	SockWait = 'W'
	// SockReset: u8 level; drives RESET (0 holds the device in reset).
	SockReset = 'S'

	// SockOK and SockErr are the reply statuses.
	SockOK  = 0
	SockErr = 1

	// SockMaxTx bounds one transaction's lengths.
	SockMaxTx = 1 << 20
)
