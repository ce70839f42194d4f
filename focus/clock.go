package focus

import "time"

// Clock is where a Focus reads the time and sets its timers (PIN entry, the
// waiting-room prompt, the fallback for prompts whose end the MCU never
// reports), so that tests can run them without waiting.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has elapsed.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call.
type Timer interface {
	// Stop cancels the call and reports whether it did: false means it has
	// already run or been stopped.
	Stop() bool
}

// SystemClock is the Clock of the running appliance: time.Now and
// time.AfterFunc.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// AfterFunc calls time.AfterFunc.
func (SystemClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
