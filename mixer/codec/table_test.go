package codec

import (
	"strings"
	"testing"
)

func TestTableLookup(t *testing.T) {
	table := NewTable(
		Spec{Info: Info{Name: "opus", ClockRate: 48000, SampleRate: 48000}},
		Spec{Info: Info{Name: "G722", ClockRate: 8000, SampleRate: 16000}},
		Spec{Info: Info{Name: "L16", ClockRate: 16000, SampleRate: 16000}},
	)
	tests := []struct {
		name      string
		encoding  string
		clockRate uint32
		wantFound bool
	}{
		{"an exact name and rate are found", "G722", 8000, true},
		{"names compare without regard to case", "OPUS", 48000, true},
		{"a known name at another rate is not found", "L16", 8000, false},
		{"G.722 is not found at its sample rate", "G722", 16000, false},
		{"an unknown name is not found", "GSM", 8000, false},
		{"an empty name is not found", "", 8000, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := table.Lookup(tt.encoding, tt.clockRate)
			if ok != tt.wantFound {
				t.Fatalf("Lookup(%q, %d) found = %v, want %v", tt.encoding, tt.clockRate, ok, tt.wantFound)
			}
			if ok && (s.Info.ClockRate != tt.clockRate || !strings.EqualFold(s.Info.Name, tt.encoding)) {
				t.Fatalf("Lookup(%q, %d) = %+v", tt.encoding, tt.clockRate, s.Info)
			}
		})
	}
}

func TestTableSpecsIsACopy(t *testing.T) {
	table := NewTable(Spec{Info: Info{Name: "PCMU", ClockRate: 8000}}, Spec{Info: Info{Name: "PCMA", ClockRate: 8000}})
	specs := table.Specs()
	specs[0].Info.Name = "changed"
	if got := table.Specs()[0].Info.Name; got != "PCMU" {
		t.Fatalf("first spec after changing the returned slice = %q, want PCMU", got)
	}
	if got := len(table.Specs()); got != 2 {
		t.Fatalf("len(Specs()) = %d, want 2", got)
	}
}

func TestRTPTicks(t *testing.T) {
	tests := []struct {
		name string
		info Info
		n    int
		want uint32
	}{
		{"a 20 ms PCMU frame is 160 ticks", Info{ClockRate: 8000, SampleRate: 8000}, 160, 160},
		{"a 20 ms G.722 frame is 160 ticks although it has 320 samples", Info{ClockRate: 8000, SampleRate: 16000}, 320, 160},
		{"a 20 ms Opus frame at 16 kHz is 960 ticks", Info{ClockRate: 48000, SampleRate: 16000}, 320, 960},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.info.RTPTicks(tt.n); got != tt.want {
				t.Fatalf("RTPTicks(%d) = %d, want %d", tt.n, got, tt.want)
			}
		})
	}
}
