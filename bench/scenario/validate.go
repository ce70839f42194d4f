package scenario

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Validate checks that every setting is in range and that they agree with
// each other. Parse calls it; a program that builds a Scenario in code
// should too.
func (s Scenario) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if s.Name == "" {
		bad("name is empty")
	}
	if !strings.HasPrefix(strings.ToLower(s.Target), "sip:") || strings.ContainsAny(s.Target, " \t<>\"") {
		bad("target %q: want a sip: URI such as sip:{number}@{bridge}", s.Target)
	}
	if s.Number < 0 || s.Number > math.MaxInt32 {
		bad("number %d: want a conference number of 0 or more", s.Number)
	}
	if s.Size < 1 || s.Size > MaxParticipants {
		bad("conference size %d: want 1 to %d", s.Size, MaxParticipants)
	}
	most := s.Conferences
	if s.Conferences < 1 {
		bad("conferences %d: want at least 1", s.Conferences)
	}
	for i, n := range s.Sweep {
		if n < 1 || i > 0 && n <= s.Sweep[i-1] {
			bad("sweep %v: want conference counts of 1 or more, ascending", s.Sweep)
			break
		}
		most = max(most, n)
	}
	if c := s.Capacity; c != nil {
		switch {
		case c.Min < s.Size || c.Max <= c.Min || c.Step < 1:
			bad("capacity %d %d %d: want MIN >= conference size (%d), MAX > MIN and STEP >= 1", c.Min, c.Max, c.Step, s.Size)
		case s.Size > 0:
			most = max(most, (c.Max+s.Size-1)/s.Size)
		}
	}
	if s.Size > 0 && most > MaxParticipants/s.Size {
		bad("%d conferences of %d: more than %d participants", most, s.Size, MaxParticipants)
	}
	errs = append(errs, s.validateMedia()...)
	errs = append(errs, s.validateLoad()...)
	return errors.Join(errs...)
}

func (s Scenario) validateMedia() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if len(s.Codecs) == 0 {
		bad("no codec")
	}
	sum := 0.0
	seen := map[string]bool{}
	for _, c := range s.Codecs {
		if _, ok := codecName(c.Name); !ok {
			bad("codec %q: want PCMU, PCMA, G722 or opus", c.Name)
		}
		if !(c.Share > 0 && c.Share <= 1) {
			bad("codec %s: share %.4g%%: want more than 0 and at most 100", c.Name, 100*c.Share)
		}
		if seen[c.Name] {
			bad("codec %s listed twice", c.Name)
		}
		seen[c.Name] = true
		sum += c.Share
	}
	if len(s.Codecs) > 0 && math.Abs(sum-1) > 1e-6 {
		bad("codec shares add up to %.4g%%, not 100%%", 100*sum)
	}
	switch s.Ptime {
	case 10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond, 60 * time.Millisecond:
	default:
		bad("ptime %v: want 10ms, 20ms, 40ms or 60ms", s.Ptime)
	}
	if !(s.Talkers >= 0 && s.Talkers <= 1) {
		bad("talkers %.4g%%: want 0 to 100", 100*s.Talkers)
	}
	if s.Ptime > 0 {
		switch {
		case s.TalkEach < 2*s.Ptime || s.TalkEach > 10*time.Second || s.TalkEach%s.Ptime != 0:
			bad("talk period %v: want a multiple of ptime (%v) from two frames to 10s", s.TalkEach, s.Ptime)
		case s.TalkOn < s.Ptime || s.TalkOn%s.Ptime != 0 || s.TalkOn >= s.TalkEach:
			bad("talk on-time %v: want a multiple of ptime (%v), shorter than the period %v", s.TalkOn, s.Ptime, s.TalkEach)
		case s.TalkEach-s.TalkOn < 200*time.Millisecond:
			// The receivers find a burst's onset after a quiet stretch;
			// without one there is no latency to measure.
			bad("talk pause %v: want at least 200ms between bursts", s.TalkEach-s.TalkOn)
		}
	}
	for _, r := range s.PIN {
		if r < '0' || r > '9' {
			bad("pin %q: want digits only (the # that ends it is sent anyway)", s.PIN)
			break
		}
	}
	if len(s.PIN) > 16 {
		bad("pin %q: longer than 16 digits", s.PIN)
	}
	if s.AuthUser == "" && s.AuthPassword != "" || strings.ContainsAny(s.AuthUser, "@:;<> \t") {
		bad("auth user %q: want a SIP user part", s.AuthUser)
	}
	return errs
}

func (s Scenario) validateLoad() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if !(s.Rate > 0 && s.Rate <= 10000) {
		bad("rate %g/s: want more than 0 and at most 10000 calls per second", s.Rate)
	}
	if !(s.Churn >= 0 && s.Churn <= 1000) {
		bad("churn %g/s: want 0 to 1000 callers per second", s.Churn)
	}
	if !(s.Loss.Rate >= 0 && s.Loss.Rate <= 0.5) {
		bad("loss %.4g%%: want 0 to 50", 100*s.Loss.Rate)
	}
	if !(s.Loss.Burst == 0 || s.Loss.Burst >= 1 && s.Loss.Burst <= 100) {
		bad("loss burst %g: want a mean run of 1 to 100 packets", s.Loss.Burst)
	}
	if s.Jitter < 0 || s.Jitter > time.Second {
		bad("jitter %v: want 0 to 1s", s.Jitter)
	}
	if s.Warmup < 0 || s.Warmup > 10*time.Minute {
		bad("warmup %v: want 0 to 10m", s.Warmup)
	}
	if s.Window < time.Second || s.Window > time.Hour {
		bad("window %v: want 1s to 1h", s.Window)
	}
	if s.Analyse < 0 || s.Analyse > 1000 {
		bad("analyse %d: want 0 to 1000 receivers", s.Analyse)
	}
	if n := s.Netem; n != nil {
		if n.Loss < 0 || n.Loss > 0.5 || n.Reorder < 0 || n.Reorder > 0.5 {
			bad("netem loss %.1f%%, reorder %.1f%%: want 0 to 50%%", 100*n.Loss, 100*n.Reorder)
		}
		if n.Delay < 0 || n.Delay > time.Second || n.Jitter < 0 || n.Jitter > n.Delay {
			bad("netem delay %v jitter %v: want a delay up to 1s and a jitter no larger than it", n.Delay, n.Jitter)
		}
		if n.Reorder > 0 && n.Delay == 0 {
			bad("netem reorder needs a delay: reordered packets are those sent ahead of the delayed ones")
		}
	}
	if s.Repeat < 1 || s.Repeat > 20 {
		bad("repeat %d: want 1 to 20 runs of each load", s.Repeat)
	}
	if s.Mixed < 1 || s.Mixed > 1000 {
		bad("mixed %d: want 1 or more talkers", s.Mixed)
	}
	return errs
}
