// Package scenario reads the load generator's scenario files: a small,
// line-based format that a user writes by hand to say what load to put on a
// SIP conference bridge (which conferences, how many callers, which codecs,
// who talks, how the network misbehaves) and how long to measure.
//
// # Format
//
// One setting per line, a key and its value separated by blanks; '#' starts
// a comment. Keys may appear once, except codec. Unknown keys are errors, so
// that a typo does not silently run a different test.
//
//	name         g711-200x10
//	description  2,000 G.711 callers in 200 conferences of 10, one talker each
//	target       sip:{number}@{bridge}   # {number}: the conference's number; {bridge}: -bridge
//	number       7001                    # the first conference's number; the next count up
//	conferences  200 x 10                # conferences x participants in each
//	sweep        25 50 100 150 200       # run once per conference count (overrides the count above)
//	capacity     1000 4000 250           # search the largest N from min to max, to step
//	codec        PCMU 70%                # repeat for a mix; the shares add up to 100 %
//	codec        G722 20%
//	codec        opus 10%
//	ptime        20ms
//	talkers      10%                     # share of callers that talk
//	talk         400ms / 1s              # each talker's tone burst: on-time / period
//	audio        tone                    # or: audio wav speech.wav
//	dtx          off                     # on: silent Opus frames are not sent (RFC 7587 §3.1.3)
//	pin          1234                    # entered with RFC 4733 digits, then #
//	auth         alice secret            # digest credentials for INVITE challenges
//	rate         200/s                   # call set-up rate
//	churn        5/s                     # callers that leave and are replaced, per second
//	loss         1% burst 3              # upstream loss; burst: mean loss-run length (Gilbert)
//	jitter       30ms                    # upstream delay variation, uniform 0..value
//	netem        loss 2% delay 20ms jitter 10ms reorder 1%   # the kernel impairs instead (see Netem)
//	warmup       3s                      # after the last call is up, before measuring
//	window       10s                     # measured time
//	analyse      40                      # receivers whose audio is decoded and checked
//	mixed        4                       # at most this many talkers are heard (the bridge's cap)
//	repeat       3                       # run each load this many times; figures are the medians
//
// Only conferences is required; Defaults lists what the others default to.
package scenario

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Errors of Parse. Each is wrapped with the line it was found on.
var (
	// ErrSyntax means a line could not be read as a key and a value.
	ErrSyntax = errors.New("scenario: syntax error")
	// ErrUnknownKey means a key is not one the format has.
	ErrUnknownKey = errors.New("scenario: unknown key")
	// ErrDuplicate means a key that may appear once appeared again.
	ErrDuplicate = errors.New("scenario: key given twice")
	// ErrInvalid means a value is out of range or the settings contradict
	// each other (Validate).
	ErrInvalid = errors.New("scenario: invalid value")
)

// Limits of the format, so that a scenario cannot ask for more than one
// generator process can hold.
const (
	MaxParticipants = 20000
	maxLineLen      = 4096
	maxLines        = 1000
)

// codecName returns the SDP encoding name of a codec the generator can
// send, as the format spells it whatever the case it was written in.
func codecName(name string) (string, bool) {
	for _, n := range [...]string{"PCMU", "PCMA", "G722", "opus"} {
		if strings.EqualFold(n, name) {
			return n, true
		}
	}
	return "", false
}

// CodecShare is one codec of the mix and the share of callers using it.
type CodecShare struct {
	Name  string  // SDP encoding name: PCMU, PCMA, G722 or opus
	Share float64 // 0..1
}

// Loss describes upstream packet loss. With Burst > 1 it is a two-state
// Gilbert model whose loss runs average Burst packets; otherwise each
// packet is lost independently.
type Loss struct {
	Rate  float64 // 0..1 of packets
	Burst float64 // mean length of a run of lost packets; <= 1: independent
}

// Capacity is a capacity search over the number of participants.
type Capacity struct {
	Min, Max, Step int
}

// Scenario is one parsed scenario file.
type Scenario struct {
	Name        string
	Description string
	// Target is the SIP URI dialled; {number} and {bridge} are replaced.
	Target string
	// Number is the first conference's number; conference i is Number+i.
	Number      int
	Conferences int
	Size        int // participants in each conference
	// Sweep, when set, runs the scenario once per conference count.
	Sweep    []int
	Capacity *Capacity
	Codecs   []CodecShare
	Ptime    time.Duration
	Talkers  float64 // 0..1
	TalkOn   time.Duration
	TalkEach time.Duration // the burst period
	// WAV, when set, makes talkers send speech from this file instead of a
	// tone.
	WAV          string
	DTX          bool
	PIN          string
	AuthUser     string
	AuthPassword string
	Rate         float64 // calls set up per second
	Churn        float64 // callers replaced per second
	Loss         Loss
	Jitter       time.Duration
	// Netem, when set, runs the callers in a network namespace of their
	// own, joined to the bridge by a veth pair whose callers' end has a
	// tc netem queue: everything the callers send (SIP and RTP) is lost,
	// delayed and reordered by the kernel on its way to the bridge, the
	// way a WAN link would. It needs root and a bridge the run starts
	// itself (confabload -confabd).
	Netem   *Netem `json:",omitempty"`
	Warmup  time.Duration
	Window  time.Duration
	Analyse int // receivers decoded and analysed
	Mixed   int // the most talkers a receiver is expected to hear
	// Repeat runs each load that many times, each against a fresh
	// bridge; the report gives the medians and their range, and judges
	// the criteria on the medians (one run on a shared machine is noise).
	Repeat        int
	Announcements bool
}

// Defaults returns a scenario with every default set and no conferences.
func Defaults() Scenario {
	return Scenario{
		Name:     "scenario",
		Target:   "sip:{number}@{bridge}",
		Number:   7001,
		Codecs:   []CodecShare{{Name: "PCMU", Share: 1}},
		Ptime:    20 * time.Millisecond,
		Talkers:  0.1,
		TalkOn:   400 * time.Millisecond,
		TalkEach: time.Second,
		Rate:     200,
		Warmup:   3 * time.Second,
		Window:   10 * time.Second,
		Analyse:  40,
		Mixed:    4,
		Repeat:   1,
	}
}

// Participants is the number of callers: conferences times size.
func (s Scenario) Participants() int { return s.Conferences * s.Size }

// WithConferences returns a copy of s with n conferences and no sweep or
// capacity search: one run of a sweep or search.
func (s Scenario) WithConferences(n int) Scenario {
	s.Conferences = n
	s.Sweep = nil
	s.Capacity = nil
	s.Codecs = slices.Clone(s.Codecs)
	return s
}

// ParseFile reads the scenario in path.
func ParseFile(path string) (Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return Scenario{}, fmt.Errorf("scenario: %w", err)
	}
	defer f.Close()
	s, err := Parse(f)
	if err != nil {
		return s, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Parse reads a scenario and validates it.
func Parse(r io.Reader) (Scenario, error) {
	s := Defaults()
	seen := map[string]bool{}
	codecs := []CodecShare(nil)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxLineLen)
	line := 0
	for sc.Scan() {
		line++
		if line > maxLines {
			return s, fmt.Errorf("%w: more than %d lines", ErrSyntax, maxLines)
		}
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		key, value := text, ""
		if i := strings.IndexFunc(text, unicode.IsSpace); i >= 0 {
			key, value = text[:i], text[i:]
		}
		key = strings.ToLower(key)
		value = strings.TrimSpace(value)
		if value == "" {
			return s, fmt.Errorf("line %d: %w: %q has no value", line, ErrSyntax, key)
		}
		if key != "codec" {
			if seen[key] {
				return s, fmt.Errorf("line %d: %w: %q", line, ErrDuplicate, key)
			}
			seen[key] = true
		}
		if key == "codec" {
			c, err := parseCodec(value)
			if err != nil {
				return s, fmt.Errorf("line %d: %w", line, err)
			}
			codecs = append(codecs, c)
			continue
		}
		ok, err := s.set(key, value)
		if !ok {
			return s, fmt.Errorf("line %d: %w: %q", line, ErrUnknownKey, key)
		}
		if err != nil {
			return s, fmt.Errorf("line %d: %s: %w", line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return s, fmt.Errorf("line %d: %w: longer than %d bytes", line+1, ErrSyntax, maxLineLen)
		}
		return s, fmt.Errorf("scenario: %w", err)
	}
	if codecs != nil {
		s.Codecs = codecs
	}
	if !seen["conferences"] {
		return s, fmt.Errorf("%w: no conferences line (COUNT x SIZE)", ErrInvalid)
	}
	return s, s.Validate()
}

// set parses the value of a key that appears at most once; ok is false for
// a key the format does not have.
func (s *Scenario) set(key, v string) (ok bool, err error) {
	switch key {
	case "name":
		return true, setName(&s.Name, v)
	case "description":
		s.Description = v
	case "target":
		s.Target = v
	case "number":
		return true, setInt(&s.Number, v)
	case "conferences":
		return true, s.parseConferences(v)
	case "sweep":
		return true, s.parseSweep(v)
	case "capacity":
		return true, s.parseCapacity(v)
	case "ptime":
		return true, setDuration(&s.Ptime, v)
	case "talkers":
		return true, setPercent(&s.Talkers, v)
	case "talk":
		return true, s.parseTalk(v)
	case "audio":
		return true, s.parseAudio(v)
	case "dtx":
		return true, setBool(&s.DTX, v)
	case "pin":
		s.PIN = v
	case "auth":
		return true, s.parseAuth(v)
	case "rate":
		return true, setRate(&s.Rate, v)
	case "churn":
		return true, setRate(&s.Churn, v)
	case "loss":
		return true, s.parseLoss(v)
	case "jitter":
		return true, setDuration(&s.Jitter, v)
	case "netem":
		n, err := parseNetem(v)
		s.Netem = n
		return true, err
	case "warmup":
		return true, setDuration(&s.Warmup, v)
	case "window":
		return true, setDuration(&s.Window, v)
	case "analyse":
		return true, setInt(&s.Analyse, v)
	case "mixed":
		return true, setInt(&s.Mixed, v)
	case "repeat":
		return true, setInt(&s.Repeat, v)
	case "announcements":
		return true, setBool(&s.Announcements, v)
	default:
		return false, nil
	}
	return true, nil
}

func setName(dst *string, v string) error {
	for _, r := range v {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-", r)) {
			return fmt.Errorf("%w: %q: use letters, digits, '.', '_' and '-'", ErrInvalid, v)
		}
	}
	*dst = v
	return nil
}

func setInt(dst *int, v string) error {
	n, err := strconv.Atoi(v)
	if err != nil {
		return fmt.Errorf("%w: %q is not a whole number", ErrInvalid, v)
	}
	*dst = n
	return nil
}

func setDuration(dst *time.Duration, v string) error {
	d, err := time.ParseDuration(v)
	if err != nil {
		return fmt.Errorf("%w: %q is not a duration such as 20ms or 3s", ErrInvalid, v)
	}
	*dst = d
	return nil
}

// Netem is the kernel's impairment of what the callers send (tc-netem(8)).
type Netem struct {
	Loss    float64       // share of packets dropped, 0..1
	Delay   time.Duration // added to every packet
	Jitter  time.Duration // the delay varies by up to this much either way
	Reorder float64       // share of packets sent at once, ahead of delayed ones (needs a delay)
}

// String is the impairment as the report names it.
func (n Netem) String() string {
	return fmt.Sprintf("netem loss %.1f%% delay %v jitter %v reorder %.1f%%", 100*n.Loss, n.Delay, n.Jitter, 100*n.Reorder)
}

// parseNetem reads "loss 2% delay 20ms jitter 10ms reorder 1%", any of
// the four, in any order.
func parseNetem(v string) (*Netem, error) {
	f := strings.Fields(v)
	if len(f) == 0 || len(f)%2 != 0 {
		return nil, fmt.Errorf("%w: netem %q: want pairs such as loss 2%% delay 20ms jitter 10ms reorder 1%%", ErrInvalid, v)
	}
	n := &Netem{}
	seen := map[string]bool{}
	for i := 0; i < len(f); i += 2 {
		k, val := f[i], f[i+1]
		if seen[k] {
			return nil, fmt.Errorf("%w: netem %s given twice", ErrInvalid, k)
		}
		seen[k] = true
		var err error
		switch k {
		case "loss":
			err = setPercent(&n.Loss, val)
		case "reorder":
			err = setPercent(&n.Reorder, val)
		case "delay":
			err = setDuration(&n.Delay, val)
		case "jitter":
			err = setDuration(&n.Jitter, val)
		default:
			err = fmt.Errorf("%w: netem %q: know loss, delay, jitter and reorder", ErrInvalid, k)
		}
		if err != nil {
			return nil, err
		}
	}
	return n, nil
}

// setPercent reads "10%" (or "10") as 0.1.
func setPercent(dst *float64, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
	if err != nil || f != f {
		return fmt.Errorf("%w: %q is not a percentage", ErrInvalid, v)
	}
	*dst = f / 100
	return nil
}

// setRate reads "200/s" (or "200") as 200 per second.
func setRate(dst *float64, v string) error {
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "/s")), 64)
	if err != nil || f != f {
		return fmt.Errorf("%w: %q is not a rate such as 200/s", ErrInvalid, v)
	}
	*dst = f
	return nil
}

func setBool(dst *bool, v string) error {
	switch strings.ToLower(v) {
	case "on", "yes", "true":
		*dst = true
	case "off", "no", "false":
		*dst = false
	default:
		return fmt.Errorf("%w: %q: want on or off", ErrInvalid, v)
	}
	return nil
}

// parseConferences reads "200 x 10", "200x10" or "200 10".
func (s *Scenario) parseConferences(v string) error {
	f := strings.Fields(strings.ReplaceAll(strings.ToLower(v), "x", " "))
	if len(f) != 2 {
		return fmt.Errorf("%w: %q: want COUNT x SIZE, e.g. 200 x 10", ErrSyntax, v)
	}
	if err := setInt(&s.Conferences, f[0]); err != nil {
		return err
	}
	return setInt(&s.Size, f[1])
}

func (s *Scenario) parseSweep(v string) error {
	for _, f := range strings.Fields(v) {
		var n int
		if err := setInt(&n, f); err != nil {
			return err
		}
		s.Sweep = append(s.Sweep, n)
	}
	return nil
}

func (s *Scenario) parseCapacity(v string) error {
	f := strings.Fields(v)
	if len(f) != 3 {
		return fmt.Errorf("%w: %q: want MIN MAX STEP participants", ErrSyntax, v)
	}
	var c Capacity
	for i, dst := range []*int{&c.Min, &c.Max, &c.Step} {
		if err := setInt(dst, f[i]); err != nil {
			return err
		}
	}
	s.Capacity = &c
	return nil
}

func parseCodec(v string) (CodecShare, error) {
	f := strings.Fields(v)
	if len(f) < 1 || len(f) > 2 {
		return CodecShare{}, fmt.Errorf("%w: codec %q: want NAME [SHARE%%]", ErrSyntax, v)
	}
	c := CodecShare{Share: 1}
	name, ok := codecName(f[0])
	if !ok {
		return c, fmt.Errorf("codec: %w: %q: want PCMU, PCMA, G722 or opus", ErrInvalid, f[0])
	}
	c.Name = name
	if len(f) == 2 {
		if err := setPercent(&c.Share, f[1]); err != nil {
			return c, fmt.Errorf("codec: %w", err)
		}
	}
	return c, nil
}

// parseTalk reads "400ms / 1s": on-time and period of the tone bursts.
func (s *Scenario) parseTalk(v string) error {
	on, each, ok := strings.Cut(v, "/")
	if !ok {
		return fmt.Errorf("%w: %q: want ON / PERIOD, e.g. 400ms / 1s", ErrSyntax, v)
	}
	if err := setDuration(&s.TalkOn, strings.TrimSpace(on)); err != nil {
		return err
	}
	return setDuration(&s.TalkEach, strings.TrimSpace(each))
}

func (s *Scenario) parseAudio(v string) error {
	f := strings.Fields(v)
	switch {
	case len(f) == 1 && f[0] == "tone":
		s.WAV = ""
	case len(f) == 2 && f[0] == "wav":
		s.WAV = f[1]
	default:
		return fmt.Errorf("%w: %q: want tone or wav FILE", ErrSyntax, v)
	}
	return nil
}

func (s *Scenario) parseAuth(v string) error {
	f := strings.Fields(v)
	if len(f) != 2 {
		return fmt.Errorf("%w: want USER PASSWORD", ErrSyntax)
	}
	s.AuthUser, s.AuthPassword = f[0], f[1]
	return nil
}

// parseLoss reads "2%" or "2% burst 3".
func (s *Scenario) parseLoss(v string) error {
	f := strings.Fields(v)
	if len(f) != 1 && (len(f) != 3 || f[1] != "burst") {
		return fmt.Errorf("%w: %q: want RATE%% [burst LENGTH]", ErrSyntax, v)
	}
	if err := setPercent(&s.Loss.Rate, f[0]); err != nil {
		return err
	}
	if len(f) == 3 {
		b, err := strconv.ParseFloat(f[2], 64)
		if err != nil || b != b {
			return fmt.Errorf("%w: burst %q is not a number", ErrInvalid, f[2])
		}
		s.Loss.Burst = b
	}
	return nil
}
