package scenario

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name  string
		input string
		check func(t *testing.T, s Scenario)
	}{
		{
			name:  "a file with only conferences gets every default",
			input: "conferences 200 x 10\n",
			check: func(t *testing.T, s Scenario) {
				want := Defaults()
				want.Conferences, want.Size = 200, 10
				if !reflect.DeepEqual(s, want) {
					t.Errorf("got %+v\nwant %+v", s, want)
				}
			},
		},
		{
			name: "every key is read",
			input: `# a comment line
name         mix-1   # trailing comment
description  a mixed load
target       sip:{number}@bridge.example:5070
number       8000
conferences  20x5
sweep        5 10 20
capacity     100 400 50
codec        PCMU 70%
codec        g722 20%
codec        OPUS 10%
ptime        40ms
talkers      25%
talk         200ms / 800ms
audio        wav speech.wav
dtx          on
pin          4321
auth         alice s3cret
rate         50/s
churn        2/s
loss         3% burst 2.5
jitter       30ms
warmup       2s
window       15s
analyse      8
mixed        3
repeat       3
announcements yes
`,
			check: func(t *testing.T, s Scenario) {
				want := Scenario{
					Name: "mix-1", Description: "a mixed load", Target: "sip:{number}@bridge.example:5070",
					Number: 8000, Conferences: 20, Size: 5, Sweep: []int{5, 10, 20},
					Capacity: &Capacity{Min: 100, Max: 400, Step: 50},
					Codecs:   []CodecShare{{"PCMU", 0.7}, {"G722", 0.2}, {"opus", 0.1}},
					Ptime:    40 * time.Millisecond, Talkers: 0.25, TalkOn: 200 * time.Millisecond, TalkEach: 800 * time.Millisecond,
					WAV: "speech.wav", DTX: true, PIN: "4321", AuthUser: "alice", AuthPassword: "s3cret",
					Rate: 50, Churn: 2, Loss: Loss{Rate: 0.03, Burst: 2.5}, Jitter: 30 * time.Millisecond,
					Warmup: 2 * time.Second, Window: 15 * time.Second, Analyse: 8, Mixed: 3, Repeat: 3, Announcements: true,
				}
				if !reflect.DeepEqual(s, want) {
					t.Errorf("got %+v\nwant %+v", s, want)
				}
			},
		},
		{
			name:  "tabs separate keys from values",
			input: "conferences\t3 x 4\ntalkers\t50%\n",
			check: func(t *testing.T, s Scenario) {
				if s.Conferences != 3 || s.Size != 4 || s.Talkers != 0.5 {
					t.Errorf("got %d x %d, talkers %v; want 3 x 4, 0.5", s.Conferences, s.Size, s.Talkers)
				}
			},
		},
		{
			name:  "a single codec without a share takes everyone",
			input: "conferences 1 x 2\ncodec G722\n",
			check: func(t *testing.T, s Scenario) {
				if want := []CodecShare{{"G722", 1}}; !reflect.DeepEqual(s.Codecs, want) {
					t.Errorf("codecs %v, want %v", s.Codecs, want)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			tt.check(t, s)
		})
	}
}

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  error
		line  string // the error names this line, when set
	}{
		{"a file without conferences", "name x\n", ErrInvalid, ""},
		{"an unknown key", "conferences 1 x 2\nspeakers 3\n", ErrUnknownKey, "line 2"},
		{"a key without a value", "conferences 1 x 2\nwindow\n", ErrSyntax, "line 2"},
		{"a key given twice", "conferences 1 x 2\nwindow 2s\nwindow 3s\n", ErrDuplicate, "line 3"},
		{"a conference line that is not COUNT x SIZE", "conferences 12\n", ErrSyntax, "line 1"},
		{"a count that is not a number", "conferences ten x 2\n", ErrInvalid, "line 1"},
		{"zero conferences", "conferences 0 x 10\n", ErrInvalid, ""},
		{"more participants than one generator holds", "conferences 2001 x 10\n", ErrInvalid, ""},
		{"a sweep that goes down", "conferences 1 x 10\nsweep 5 4\n", ErrInvalid, ""},
		{"a sweep past the limit", "conferences 1 x 10\nsweep 5 3000\n", ErrInvalid, ""},
		{"a capacity search below one conference", "conferences 1 x 10\ncapacity 5 100 5\n", ErrInvalid, ""},
		{"a capacity search without a step", "conferences 1 x 10\ncapacity 10 100\n", ErrSyntax, "line 2"},
		{"an unknown codec", "conferences 1 x 2\ncodec GSM\n", ErrInvalid, "line 2"},
		{"codec shares that do not add up", "conferences 1 x 2\ncodec PCMU 50%\ncodec G722 40%\n", ErrInvalid, ""},
		{"netem without pairs", "conferences 1 x 2\nnetem loss\n", ErrInvalid, "line 2"},
		{"netem with an unknown word", "conferences 1 x 2\nnetem drop 2%\n", ErrInvalid, "line 2"},
		{"netem loss over half", "conferences 1 x 2\nnetem loss 60%\n", ErrInvalid, ""},
		{"netem reorder without a delay", "conferences 1 x 2\nnetem reorder 5%\n", ErrInvalid, ""},
		{"netem jitter over the delay", "conferences 1 x 2\nnetem delay 5ms jitter 10ms\n", ErrInvalid, ""},
		{"no run at all", "conferences 1 x 2\nrepeat 0\n", ErrInvalid, ""},
		{"too many repeats", "conferences 1 x 2\nrepeat 50\n", ErrInvalid, ""},
		{"the same codec twice", "conferences 1 x 2\ncodec PCMU 50%\ncodec pcmu 50%\n", ErrInvalid, ""},
		{"a ptime codecs do not use", "conferences 1 x 2\nptime 25ms\n", ErrInvalid, ""},
		{"more than all callers talking", "conferences 1 x 2\ntalkers 120%\n", ErrInvalid, ""},
		{"bursts without a pause", "conferences 1 x 2\ntalk 900ms / 1s\n", ErrInvalid, ""},
		{"a burst longer than its period", "conferences 1 x 2\ntalk 2s / 1s\n", ErrInvalid, ""},
		{"a talk line without a period", "conferences 1 x 2\ntalk 400ms\n", ErrSyntax, "line 2"},
		{"an audio source that is neither tone nor wav", "conferences 1 x 2\naudio mp3 x.mp3\n", ErrSyntax, "line 2"},
		{"a PIN with letters", "conferences 1 x 2\npin 12a4\n", ErrInvalid, ""},
		{"auth without a password", "conferences 1 x 2\nauth alice\n", ErrSyntax, "line 2"},
		{"a zero set-up rate", "conferences 1 x 2\nrate 0/s\n", ErrInvalid, ""},
		{"an infinite rate", "conferences 1 x 2\nrate Inf\n", ErrInvalid, ""},
		{"a loss rate that is not a number", "conferences 1 x 2\nloss NaN%\n", ErrInvalid, "line 2"},
		{"loss above half the packets", "conferences 1 x 2\nloss 60%\n", ErrInvalid, ""},
		{"a loss burst shorter than one packet", "conferences 1 x 2\nloss 2% burst 0.5\n", ErrInvalid, ""},
		{"negative jitter", "conferences 1 x 2\njitter -5ms\n", ErrInvalid, ""},
		{"a window under a second", "conferences 1 x 2\nwindow 500ms\n", ErrInvalid, ""},
		{"a dtx value that is not on or off", "conferences 1 x 2\ndtx maybe\n", ErrInvalid, "line 2"},
		{"a target that is not a SIP URI", "conferences 1 x 2\ntarget http://x\n", ErrInvalid, ""},
		{"a name with blanks", "conferences 1 x 2\nname two words\n", ErrInvalid, "line 2"},
		{"an overlong line", "conferences 1 x 2\ndescription " + strings.Repeat("x", maxLineLen) + "\n", ErrSyntax, "line 2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.input))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Parse error %v, want %v", err, tt.want)
			}
			if tt.line != "" && !strings.Contains(err.Error(), tt.line) {
				t.Errorf("error %q does not name %s", err, tt.line)
			}
		})
	}
}

func TestWithConferences(t *testing.T) {
	t.Run("a run of a sweep has the count and neither sweep nor search", func(t *testing.T) {
		s, err := Parse(strings.NewReader("conferences 1 x 10\nsweep 2 4\ncapacity 20 100 10\n"))
		if err != nil {
			t.Fatal(err)
		}
		r := s.WithConferences(4)
		if r.Conferences != 4 || r.Sweep != nil || r.Capacity != nil || r.Participants() != 40 {
			t.Errorf("got %d conferences, sweep %v, capacity %v, %d participants", r.Conferences, r.Sweep, r.Capacity, r.Participants())
		}
		if err := r.Validate(); err != nil {
			t.Errorf("Validate: %v", err)
		}
		r.Codecs[0].Name = "G722"
		if s.Codecs[0].Name != "PCMU" {
			t.Error("the copy shares its codec list with the original")
		}
	})
}

// TestShippedScenarios parses every scenario of the standard matrix, so a
// broken file fails here rather than in the middle of make bench.
func TestShippedScenarios(t *testing.T) {
	files, err := filepath.Glob("../scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files in bench/scenarios")
	}
	for _, f := range files {
		t.Run(filepath.Base(f)+" parses", func(t *testing.T) {
			if _, err := ParseFile(f); err != nil {
				t.Error(err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../scenarios/*.txt")
	for _, p := range seeds {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("conferences 2 x 3\ncodec PCMU 50%\ncodec opus 50%\nloss 1% burst 2\n")
	f.Add("conferences 1x1\ntalk 20ms / 240ms\ncapacity 1 2 1\nsweep 1 2\n")
	f.Fuzz(func(t *testing.T, input string) {
		s, err := Parse(strings.NewReader(input))
		if err != nil {
			return
		}
		// Whatever parses must be valid and within the limits.
		if err := s.Validate(); err != nil {
			t.Fatalf("Parse accepted a scenario Validate rejects: %v", err)
		}
		if s.Participants() < 1 || s.Participants() > MaxParticipants {
			t.Fatalf("Parse accepted %d participants", s.Participants())
		}
		for _, n := range s.Sweep {
			if r := s.WithConferences(n); r.Validate() != nil || r.Participants() > MaxParticipants {
				t.Fatalf("sweep run of %d conferences is not valid", n)
			}
		}
	})
}

func TestNetem(t *testing.T) {
	s, err := Parse(strings.NewReader("conferences 2 x 3\nnetem reorder 1% delay 20ms loss 2.5% jitter 10ms\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := Netem{Loss: 0.025, Delay: 20 * time.Millisecond, Jitter: 10 * time.Millisecond, Reorder: 0.01}
	if s.Netem == nil || *s.Netem != want {
		t.Fatalf("netem %+v, want %+v", s.Netem, want)
	}
	if got := s.Netem.String(); got != "netem loss 2.5% delay 20ms jitter 10ms reorder 1.0%" {
		t.Errorf("String %q", got)
	}
	if s, _ := Parse(strings.NewReader("conferences 2 x 3\n")); s.Netem != nil {
		t.Error("no netem line, yet a netem")
	}
}
