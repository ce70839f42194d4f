package prompt

import (
	"embed"
	"fmt"
	"path"
	"strconv"
	"strings"
)

//go:embed wav/*.wav
var wavFS embed.FS

// Library is the set of prompts confabd plays, loaded once at start.
type Library struct {
	byName map[string]*Prompt
}

// Names of the synthesised tones.
const (
	JoinTone  = "join-tone"
	LeaveTone = "leave-tone"
	Beep      = "beep"
)

// Load parses the embedded prompts and synthesises the tones.
func Load() (*Library, error) {
	l := &Library{byName: make(map[string]*Prompt)}
	entries, err := wavFS.ReadDir("wav")
	if err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	for _, e := range entries {
		b, err := wavFS.ReadFile(path.Join("wav", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		rate, pcm, err := ParseWAV(b)
		if err != nil {
			return nil, fmt.Errorf("prompt %s: %w", e.Name(), err)
		}
		name := strings.TrimSuffix(e.Name(), ".wav")
		// A quarter second of silence first: a prompt often starts the moment
		// a call is answered, before the phone has its audio path open.
		lead := make([]int16, rate/4, rate/4+len(pcm))
		l.byName[name] = New(name, rate, append(lead, pcm...))
	}
	// Rising two-note chime for a join, falling for a leave (the usual
	// bridge convention, so callers tell them apart without words).
	l.byName[JoinTone] = Tone(JoinTone, 16000, 0.25, 120, 30, 660, 880)
	l.byName[LeaveTone] = Tone(LeaveTone, 16000, 0.25, 120, 30, 880, 660)
	l.byName[Beep] = Tone(Beep, 16000, 0.25, 150, 150, 1000)
	return l, nil
}

// Prompt returns the prompt called name, or nil if there is none.
func (l *Library) Prompt(name string) *Prompt {
	return l.byName[name]
}

// Names lists the prompts in the library.
func (l *Library) Names() []string {
	out := make([]string, 0, len(l.byName))
	for n := range l.byName {
		out = append(out, n)
	}
	return out
}

// CountPrompt says "N participants in this conference" from the digit
// prompts, digit by digit ("one two" for 12), at the library's rate.
func (l *Library) CountPrompt(n int) *Prompt {
	tail := l.byName["participants"]
	if n < 0 || tail == nil {
		return nil
	}
	var pcm []int16
	rate := tail.Rate
	for _, d := range strconv.Itoa(n) {
		p := l.byName["digit-"+string(d)]
		if p == nil || p.Rate != rate {
			return nil
		}
		pcm = append(pcm, trimLead(p, rate)...)
	}
	pcm = append(pcm, trimLead(tail, rate)...)
	lead := make([]int16, rate/4, rate/4+len(pcm))
	return New(fmt.Sprintf("count-%d", n), rate, append(lead, pcm...))
}

// trimLead drops the quarter second of silence Load put before a prompt,
// so that joined prompts run together.
func trimLead(p *Prompt, rate int) []int16 {
	if len(p.PCM) <= rate/4 {
		return p.PCM
	}
	return p.PCM[rate/4:]
}
