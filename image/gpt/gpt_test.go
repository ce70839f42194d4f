package gpt

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const mib = 1 << 20 / SectorSize // sectors in a MiB

func sample() Table {
	return Table{Disk: DerivedGUID("disk"), Partitions: []Partition{
		{Type: TypeESP, ID: DerivedGUID("esp"), First: 1 * mib, Last: 9*mib - 1, Name: "confab-esp"},
		{Type: TypeRootAMD64, ID: DerivedGUID("a"), First: 9 * mib, Last: 17*mib - 1, Name: "confab-a"},
		{Type: TypeRootAMD64, ID: DerivedGUID("b"), First: 17 * mib, Last: 25*mib - 1, Name: "confab-b"},
	}}
}

func disk(t *testing.T, sectors uint64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "disk.img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(int64(sectors * SectorSize)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGUID(t *testing.T) {
	tests := []struct {
		name, in string
		wantErr  bool
	}{
		{"the ESP type survives a round trip", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", false},
		{"a lower-case GUID is read", "0fc63daf-8483-4772-8e79-3d69d8477de4", false},
		{"a GUID with a short field is refused", "C12A7328-F81F-11D2-BA4B-00A0C93EC9", true},
		{"a GUID with a non-hex digit is refused", "C12A7328-F81F-11D2-BA4B-00A0C93EC9XX", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := ParseGUID(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ParseGUID(%q) error = %v", tt.in, err)
			}
			if err == nil && g.String() != strings.ToUpper(tt.in) {
				t.Fatalf("String = %s, want %s", g, strings.ToUpper(tt.in))
			}
		})
	}
	t.Run("the first field is stored little endian", func(t *testing.T) {
		if TypeESP[0] != 0x28 || TypeESP[3] != 0xC1 {
			t.Fatalf("ESP GUID bytes % X", TypeESP[:4])
		}
	})
	t.Run("a derived GUID is stable and marked version 4", func(t *testing.T) {
		a, b := DerivedGUID("x"), DerivedGUID("x")
		if a != b || a.String()[14] != '4' {
			t.Fatalf("DerivedGUID = %s, %s", a, b)
		}
	})
}

func TestRoundTrip(t *testing.T) {
	const sectors = 32 * mib
	f := disk(t, sectors)
	want := sample()
	if err := Write(f, sectors, want); err != nil {
		t.Fatal(err)
	}
	t.Run("the table reads back as written", func(t *testing.T) {
		got, err := Read(f, sectors)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Read = %+v, %v", got, err)
		}
	})
	t.Run("partitions are found by name", func(t *testing.T) {
		if n := want.Find("confab-b"); n != 3 {
			t.Fatalf("Find(confab-b) = %d", n)
		}
		if n := want.Find("confab-perm"); n != 0 {
			t.Fatalf("Find(confab-perm) = %d", n)
		}
	})
	t.Run("a damaged primary header falls back to the backup", func(t *testing.T) {
		if _, err := f.WriteAt([]byte("garbage!"), SectorSize+20); err != nil {
			t.Fatal(err)
		}
		got, err := Read(f, sectors)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("Read = %+v, %v", got, err)
		}
	})
	t.Run("a disk without a table says so", func(t *testing.T) {
		if _, err := Read(disk(t, 8*mib), 8*mib); !errors.Is(err, ErrNoTable) {
			t.Fatalf("Read error = %v, want ErrNoTable", err)
		}
	})
}

func TestValidate(t *testing.T) {
	over := sample()
	over.Partitions[1].First = over.Partitions[0].Last
	outside := sample()
	outside.Partitions[2].Last = 40 * mib
	long := sample()
	long.Partitions[0].Name = strings.Repeat("x", 37)
	tests := []struct {
		name string
		t    Table
	}{
		{"overlapping partitions are refused", over},
		{"a partition past the usable end is refused", outside},
		{"a name longer than 36 characters is refused", long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.t.Validate(32 * mib); !errors.Is(err, ErrLayout) {
				t.Fatalf("Validate = %v, want ErrLayout", err)
			}
		})
	}
}

// TestSfdiskReadsTable checks the table with an independent reader, util-
// linux's sfdisk (Debian package fdisk), including the first-boot case: a
// table rewritten for a bigger disk with one more partition.
func TestSfdiskReadsTable(t *testing.T) {
	if _, err := exec.LookPath("sfdisk"); err != nil {
		t.Skip("needs sfdisk (Debian package fdisk)")
	}
	type sfPart struct {
		Node  string `json:"node"`
		Start uint64 `json:"start"`
		Size  uint64 `json:"size"`
		Type  string `json:"type"`
		UUID  string `json:"uuid"`
		Name  string `json:"name"`
	}
	var dump struct {
		Table struct {
			Label      string   `json:"label"`
			ID         string   `json:"id"`
			LastLBA    uint64   `json:"lastlba"`
			Partitions []sfPart `json:"partitions"`
		} `json:"partitiontable"`
	}
	read := func(t *testing.T, path string) {
		t.Helper()
		out, err := exec.Command("sfdisk", "--json", path).Output()
		if err != nil {
			t.Fatalf("sfdisk --json: %v", err)
		}
		if err := json.Unmarshal(out, &dump); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command("sfdisk", "--verify", path).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "No errors detected") {
			t.Fatalf("sfdisk --verify: %v\n%s", err, out)
		}
	}
	const small, big = 32 * mib, 64 * mib
	f := disk(t, small)
	tab := sample()
	if err := Write(f, small, tab); err != nil {
		t.Fatal(err)
	}
	t.Run("sfdisk sees the partitions as written", func(t *testing.T) {
		read(t, f.Name())
		if dump.Table.Label != "gpt" || dump.Table.ID != tab.Disk.String() || len(dump.Table.Partitions) != 3 {
			t.Fatalf("sfdisk: %+v", dump.Table)
		}
		for i, p := range dump.Table.Partitions {
			w := tab.Partitions[i]
			if p.Start != w.First || p.Size != w.Last-w.First+1 || p.Type != w.Type.String() || p.UUID != w.ID.String() || p.Name != w.Name {
				t.Fatalf("partition %d: sfdisk %+v, wrote %+v", i+1, p, w)
			}
		}
	})
	t.Run("a table grown onto a bigger disk has its backup at the new end", func(t *testing.T) {
		if err := f.Truncate(big * SectorSize); err != nil {
			t.Fatal(err)
		}
		got, err := Read(f, big)
		if err != nil {
			t.Fatal(err)
		}
		got.Partitions = append(got.Partitions, Partition{Type: TypeLinuxData, ID: DerivedGUID("perm"),
			First: 25 * mib, Last: LastUsable(big), Name: "confab-perm"})
		if err := Write(f, big, got); err != nil {
			t.Fatal(err)
		}
		read(t, f.Name())
		if n := len(dump.Table.Partitions); n != 4 || dump.Table.LastLBA != LastUsable(big) {
			t.Fatalf("sfdisk: %d partitions, last LBA %d", n, dump.Table.LastLBA)
		}
	})
}

// FuzzRead reads arbitrary first and last sectors as a table: whatever was
// on a disk before the image was flashed must be refused without a panic,
// and a table that is read must be one Write accepts.
func FuzzRead(f *testing.F) {
	const sectors = 2*(2+entrySectors) + 1
	f.Add(make([]byte, 3*SectorSize))
	var buf sectorBuf
	buf.b = make([]byte, sectors*SectorSize)
	if err := Write(&buf, sectors, Table{Disk: DerivedGUID("x")}); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.b[:(2+entrySectors)*SectorSize])
	f.Fuzz(func(t *testing.T, head []byte) {
		d := sectorBuf{b: make([]byte, sectors*SectorSize)}
		copy(d.b, head)
		tab, err := Read(&d, sectors)
		if err != nil {
			return
		}
		for _, p := range tab.Partitions {
			if p.Type != (GUID{}) && len(p.Name) > 36*3 {
				t.Fatalf("name of %d bytes", len(p.Name))
			}
		}
	})
}

// sectorBuf is a disk in memory.
type sectorBuf struct{ b []byte }

func (s *sectorBuf) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s.b)) {
		return 0, errors.New("read past the end of the disk")
	}
	return copy(p, s.b[off:]), nil
}

func (s *sectorBuf) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(s.b)) {
		return 0, errors.New("write past the end of the disk")
	}
	return copy(s.b[off:], p), nil
}
