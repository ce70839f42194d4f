package jitter

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidConfig is returned by New and Config.Validate for a Config that
// cannot work; the wrapped message names the field.
var ErrInvalidConfig = errors.New("jitter: invalid config")

// Defaults and limits of Config.
const (
	DefaultMinDelay   = 20 * time.Millisecond
	DefaultMaxDelay   = 200 * time.Millisecond
	DefaultSlots      = 64
	DefaultMaxPayload = 1500

	// MinClockRate and MaxClockRate bound Config.ClockRate: no audio codec
	// runs below 8 kHz, and RFC 7587 §4.1 fixes Opus at 48 kHz; 384 kHz
	// leaves room for L16 at any rate in use.
	MinClockRate = 1000
	MaxClockRate = 384000

	// MinSlots keeps room for reordering around a lost packet; MaxSlots stays
	// well inside the 1000-packet jump window, so the ring never spans a resync.
	MinSlots = 4
	MaxSlots = 512

	// MaxMaxDelay stays inside the 10 s timestamp jump window.
	MaxMaxDelay = 5 * time.Second

	// maxUDPPayload bounds MaxPayload: no RTP payload can exceed a UDP datagram.
	maxUDPPayload = 65535
)

// Config sets up a Buffer. A zero field takes its default; ClockRate has none.
type Config struct {
	ClockRate  uint32        // RTP clock rate (8000 for PCMU/PCMA/G722, 48000 for Opus)
	MinDelay   time.Duration // lower bound of the target delay (default 20ms)
	MaxDelay   time.Duration // upper bound (default 200ms)
	Slots      int           // ring capacity in packets (default 64); bounded memory
	MaxPayload int           // largest payload stored (default 1500 bytes); larger packets are dropped and counted
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.MinDelay == 0 {
		c.MinDelay = DefaultMinDelay
	}
	if c.MaxDelay == 0 {
		c.MaxDelay = DefaultMaxDelay
	}
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	if c.MaxPayload == 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	return c
}

// Validate reports whether New would accept c, after defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	switch {
	case c.ClockRate < MinClockRate || c.ClockRate > MaxClockRate:
		return fmt.Errorf("%w: ClockRate %d Hz outside [%d, %d]", ErrInvalidConfig, c.ClockRate, MinClockRate, MaxClockRate)
	case c.MinDelay < 0:
		return fmt.Errorf("%w: MinDelay %v is negative", ErrInvalidConfig, c.MinDelay)
	case c.MaxDelay < c.MinDelay:
		return fmt.Errorf("%w: MaxDelay %v below MinDelay %v", ErrInvalidConfig, c.MaxDelay, c.MinDelay)
	case c.MaxDelay > MaxMaxDelay:
		return fmt.Errorf("%w: MaxDelay %v above %v", ErrInvalidConfig, c.MaxDelay, MaxMaxDelay)
	case c.Slots < MinSlots || c.Slots > MaxSlots:
		return fmt.Errorf("%w: Slots %d outside [%d, %d]", ErrInvalidConfig, c.Slots, MinSlots, MaxSlots)
	case c.MaxPayload < 1 || c.MaxPayload > maxUDPPayload:
		return fmt.Errorf("%w: MaxPayload %d outside [1, %d]", ErrInvalidConfig, c.MaxPayload, maxUDPPayload)
	}
	return nil
}
