package boot

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestFileName(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
		want string
	}{
		{"a committed entry has no counter", Entry{Generation: 1, Slot: "a"}, "confab-000001-a.conf"},
		{"a fresh trial entry counts tries left only", Entry{Generation: 2, Slot: "b", Counting: true, TriesLeft: 1}, "confab-000002-b+1.conf"},
		{"a tried entry counts both", Entry{Generation: 2, Slot: "b", Counting: true, TriesDone: 1}, "confab-000002-b+0-1.conf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.FileName(); got != tt.want {
				t.Fatalf("FileName = %s, want %s", got, tt.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	good := Entry{Generation: 3, Slot: "b", Version: "1.4.0", Options: "console=ttyS0 quiet"}
	data, err := good.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		file    string
		data    []byte
		want    Entry
		wantErr bool
	}{
		{name: "a committed entry reads back as written", file: "confab-000003-b.conf", data: data, want: good},
		{name: "systemd-boot's renamed counters are read", file: "confab-000003-b+0-1.conf", data: data,
			want: Entry{Generation: 3, Slot: "b", Version: "1.4.0", Options: "console=ttyS0 quiet", Counting: true, TriesDone: 1}},
		{name: "an entry of another system is refused", file: "debian-6.1.conf", data: data, wantErr: true},
		{name: "an entry for a third slot is refused", file: "confab-000003-c.conf", data: data, wantErr: true},
		{name: "an entry without a version is refused", file: "confab-000003-b.conf", data: []byte("title x\n"), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.file, tt.data)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrBadEntry)) {
				t.Fatalf("Parse error = %v", err)
			}
			if err == nil && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse = %+v, want %+v", got, tt.want)
			}
		})
	}
	t.Run("the command line names slot, entry and version", func(t *testing.T) {
		if !strings.Contains(string(data), "options console=ttyS0 quiet confab.slot=b confab.entry=confab-000003-b confab.version=1.4.0\n") {
			t.Fatalf("entry:\n%s", data)
		}
	})
}

func TestMarshalRefuses(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"a version with a space", Entry{Generation: 1, Slot: "a", Version: "1 2"}},
		{"a version that climbs directories", Entry{Generation: 1, Slot: "a", Version: "1..2"}},
		{"options with a newline", Entry{Generation: 1, Slot: "a", Version: "1", Options: "a\nlinux /evil"}},
		{"generation zero", Entry{Slot: "a", Version: "1"}},
		{"an unknown slot", Entry{Generation: 1, Slot: "c", Version: "1"}},
	}
	for _, tt := range tests {
		t.Run("an entry with "+tt.name+" is refused", func(t *testing.T) {
			if _, err := tt.e.Marshal(); !errors.Is(err, ErrBadEntry) {
				t.Fatalf("Marshal error = %v", err)
			}
		})
	}
}

func TestESP(t *testing.T) {
	esp := ESP{Dir: t.TempDir()}
	write := func(t *testing.T, e Entry) {
		t.Helper()
		if err := esp.Write(e); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("an empty ESP starts at generation one", func(t *testing.T) {
		if g, err := esp.NextGeneration(); g != 1 || err != nil {
			t.Fatalf("NextGeneration = %d, %v", g, err)
		}
	})
	write(t, Entry{Generation: 1, Slot: "a", Version: "1.0"})
	write(t, Entry{Generation: 2, Slot: "b", Version: "1.1", Counting: true, TriesLeft: 1})
	if err := os.WriteFile(filepath.Join(esp.entriesDir(), "other-os.conf"), []byte("title x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Run("entries are listed newest first and foreign files skipped", func(t *testing.T) {
		es, err := esp.Entries()
		if err != nil || len(es) != 2 || es[0].Generation != 2 || es[1].Generation != 1 {
			t.Fatalf("Entries = %+v, %v", es, err)
		}
	})
	t.Run("the next generation follows the newest", func(t *testing.T) {
		if g, _ := esp.NextGeneration(); g != 3 {
			t.Fatalf("NextGeneration = %d", g)
		}
	})
	t.Run("blessing an entry on trial drops its counters", func(t *testing.T) {
		// As systemd-boot does before booting it.
		if err := os.Rename(filepath.Join(esp.entriesDir(), "confab-000002-b+1.conf"),
			filepath.Join(esp.entriesDir(), "confab-000002-b+0-1.conf")); err != nil {
			t.Fatal(err)
		}
		e, err := esp.Bless("confab-000002-b")
		if err != nil || e.Counting {
			t.Fatalf("Bless = %+v, %v", e, err)
		}
		if _, err := os.Stat(filepath.Join(esp.entriesDir(), "confab-000002-b.conf")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("blessing a committed entry changes nothing", func(t *testing.T) {
		if _, err := esp.Bless("confab-000001-a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("blessing an unknown entry says so", func(t *testing.T) {
		if _, err := esp.Bless("confab-000009-a"); !errors.Is(err, ErrNoEntry) {
			t.Fatalf("Bless error = %v", err)
		}
	})
	t.Run("removing a slot removes only its entries", func(t *testing.T) {
		if err := esp.RemoveSlot("a"); err != nil {
			t.Fatal(err)
		}
		es, _ := esp.Entries()
		if len(es) != 1 || es[0].Slot != "b" {
			t.Fatalf("Entries = %+v", es)
		}
	})
}
