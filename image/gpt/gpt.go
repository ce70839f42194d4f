// Package gpt reads and writes GUID partition tables (UEFI 2.10 §5.3) on
// disks with 512-byte logical blocks: the protective MBR, the primary
// header and entry array at the start of the disk and their backup copies
// at its end.
//
// The image builder writes the appliance's table with it, and the init
// rewrites it on first boot: it adds the data partition in the space the
// image did not use and moves the backup copy to the real end of the disk,
// which is bigger than the image that was flashed onto it.
package gpt

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// SectorSize is the logical block size this package supports.
const SectorSize = 512

// Layout constants of the table this package writes: 128 entries of 128
// bytes, i.e. 32 sectors of entries (UEFI 2.10 §5.3.2 minimum).
const (
	numEntries   = 128
	entrySize    = 128
	entrySectors = numEntries * entrySize / SectorSize
	headerSize   = 92
)

// Errors callers tell apart.
var (
	// ErrNoTable means neither the primary nor the backup header is valid.
	ErrNoTable = errors.New("gpt: no valid GUID partition table")
	// ErrLayout means partitions overlap, lie outside the usable area or
	// are too many.
	ErrLayout = errors.New("gpt: bad partition layout")
)

// GUID is a GUID in its on-disk byte order (the first three fields little
// endian, UEFI 2.10 Appendix A).
type GUID [16]byte

// Well-known partition types.
var (
	TypeESP       = MustParseGUID("C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
	TypeRootAMD64 = MustParseGUID("4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709") // Discoverable Partitions Specification
	TypeLinuxData = MustParseGUID("0FC63DAF-8483-4772-8E79-3D69D8477DE4")
)

// ParseGUID reads the textual form XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	parts := strings.Split(s, "-")
	if len(parts) != 5 || len(parts[0]) != 8 || len(parts[1]) != 4 || len(parts[2]) != 4 || len(parts[3]) != 4 || len(parts[4]) != 12 {
		return g, fmt.Errorf("gpt: %q is not a GUID", s)
	}
	raw, err := hex.DecodeString(strings.Join(parts, ""))
	if err != nil {
		return g, fmt.Errorf("gpt: %q is not a GUID", s)
	}
	// Mixed endianness: the first three fields are stored little endian.
	g[0], g[1], g[2], g[3] = raw[3], raw[2], raw[1], raw[0]
	g[4], g[5] = raw[5], raw[4]
	g[6], g[7] = raw[7], raw[6]
	copy(g[8:], raw[8:])
	return g, nil
}

// MustParseGUID is ParseGUID for constants.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

func (g GUID) String() string {
	return fmt.Sprintf("%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%X",
		g[3], g[2], g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10:])
}

// DerivedGUID makes a version 4-shaped GUID from seed, so that images built
// from the same inputs are byte for byte the same.
func DerivedGUID(seed string) GUID {
	sum := sha256.Sum256([]byte(seed))
	var g GUID
	copy(g[:], sum[:16])
	g[7] = g[7]&0x0f | 0x40 // version 4 (stored little endian: high byte of field 3)
	g[8] = g[8]&0x3f | 0x80 // RFC 4122 variant
	return g
}

// Partition is one entry of the table.
type Partition struct {
	Type  GUID
	ID    GUID
	First uint64 // first sector
	Last  uint64 // last sector, inclusive
	Attrs uint64
	Name  string // at most 36 UTF-16 code units
}

// Size is the partition's size in bytes.
func (p Partition) Size() uint64 { return (p.Last - p.First + 1) * SectorSize }

// Table is a disk's partitions. Partition n of the kernel (/dev/sda<n>) is
// Partitions[n-1]; an entry with a zero Type is unused.
type Table struct {
	Disk       GUID
	Partitions []Partition
}

// FirstUsable is the first sector a partition may use.
func FirstUsable() uint64 { return 2 + entrySectors }

// LastUsable is the last sector a partition may use on a disk of sectors.
func LastUsable(sectors uint64) uint64 { return sectors - 2 - entrySectors }

// Find returns the number (1-based) of the partition named name, or 0.
func (t Table) Find(name string) int {
	for i, p := range t.Partitions {
		if p.Type != (GUID{}) && p.Name == name {
			return i + 1
		}
	}
	return 0
}

// Validate checks that the partitions fit a disk of sectors and do not
// overlap.
func (t Table) Validate(sectors uint64) error {
	if len(t.Partitions) > numEntries {
		return fmt.Errorf("%w: %d partitions, at most %d", ErrLayout, len(t.Partitions), numEntries)
	}
	if sectors < 2*(2+entrySectors)+1 {
		return fmt.Errorf("%w: a disk of %d sectors is too small", ErrLayout, sectors)
	}
	for i, p := range t.Partitions {
		if p.Type == (GUID{}) {
			continue
		}
		if p.First < FirstUsable() || p.Last > LastUsable(sectors) || p.Last < p.First {
			return fmt.Errorf("%w: partition %d (%s) spans sectors %d-%d, outside %d-%d",
				ErrLayout, i+1, p.Name, p.First, p.Last, FirstUsable(), LastUsable(sectors))
		}
		if len(utf16.Encode([]rune(p.Name))) > 36 {
			return fmt.Errorf("%w: partition %d name %q is longer than 36 characters", ErrLayout, i+1, p.Name)
		}
		for j, q := range t.Partitions[:i] {
			if q.Type != (GUID{}) && p.First <= q.Last && q.First <= p.Last {
				return fmt.Errorf("%w: partitions %d and %d overlap", ErrLayout, j+1, i+1)
			}
		}
	}
	return nil
}

// Write writes the protective MBR, the primary table and the backup table
// of a disk of sectors. The backup goes first, so that a power cut leaves
// either a valid old or a valid new primary table, which is what firmware
// and the kernel read.
func Write(w io.WriterAt, sectors uint64, t Table) error {
	if err := t.Validate(sectors); err != nil {
		return err
	}
	entries := make([]byte, numEntries*entrySize)
	for i, p := range t.Partitions {
		if p.Type == (GUID{}) {
			continue
		}
		e := entries[i*entrySize:]
		copy(e[0:16], p.Type[:])
		copy(e[16:32], p.ID[:])
		binary.LittleEndian.PutUint64(e[32:], p.First)
		binary.LittleEndian.PutUint64(e[40:], p.Last)
		binary.LittleEndian.PutUint64(e[48:], p.Attrs)
		for k, u := range utf16.Encode([]rune(p.Name)) {
			binary.LittleEndian.PutUint16(e[56+2*k:], u)
		}
	}
	entriesCRC := crc32.ChecksumIEEE(entries)
	last := sectors - 1
	header := func(my, alternate, entriesAt uint64) []byte {
		h := make([]byte, SectorSize)
		copy(h[0:8], "EFI PART")
		binary.LittleEndian.PutUint32(h[8:], 0x00010000)
		binary.LittleEndian.PutUint32(h[12:], headerSize)
		binary.LittleEndian.PutUint64(h[24:], my)
		binary.LittleEndian.PutUint64(h[32:], alternate)
		binary.LittleEndian.PutUint64(h[40:], FirstUsable())
		binary.LittleEndian.PutUint64(h[48:], LastUsable(sectors))
		copy(h[56:72], t.Disk[:])
		binary.LittleEndian.PutUint64(h[72:], entriesAt)
		binary.LittleEndian.PutUint32(h[80:], numEntries)
		binary.LittleEndian.PutUint32(h[84:], entrySize)
		binary.LittleEndian.PutUint32(h[88:], entriesCRC)
		binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:headerSize]))
		return h
	}
	writes := []struct {
		at   uint64
		data []byte
	}{
		{last - entrySectors, entries},
		{last, header(last, 1, last-entrySectors)},
		{0, protectiveMBR(sectors)},
		{2, entries},
		{1, header(1, last, 2)},
	}
	for _, wr := range writes {
		if _, err := w.WriteAt(wr.data, int64(wr.at*SectorSize)); err != nil {
			return fmt.Errorf("gpt: write sector %d: %w", wr.at, err)
		}
	}
	return nil
}

// protectiveMBR marks the whole disk as one partition of type 0xEE so that
// MBR-only tools leave it alone (UEFI 2.10 §5.2.3).
func protectiveMBR(sectors uint64) []byte {
	b := make([]byte, SectorSize)
	e := b[446:]
	e[1], e[2], e[3] = 0x00, 0x02, 0x00 // CHS of LBA 1
	e[4] = 0xEE
	e[5], e[6], e[7] = 0xFF, 0xFF, 0xFF
	binary.LittleEndian.PutUint32(e[8:], 1)
	size := sectors - 1
	if size > 0xFFFFFFFF {
		size = 0xFFFFFFFF
	}
	binary.LittleEndian.PutUint32(e[12:], uint32(size))
	b[510], b[511] = 0x55, 0xAA
	return b
}

// Read reads the table of a disk of sectors: the primary copy, or the
// backup at the end of the disk when the primary is damaged.
func Read(r io.ReaderAt, sectors uint64) (Table, error) {
	t, errPrimary := readAt(r, 1)
	if errPrimary == nil {
		return t, nil
	}
	if sectors > 1 {
		if t, err := readAt(r, sectors-1); err == nil {
			return t, nil
		}
	}
	return Table{}, fmt.Errorf("%w (%v)", ErrNoTable, errPrimary)
}

func readAt(r io.ReaderAt, lba uint64) (Table, error) {
	h := make([]byte, SectorSize)
	if _, err := r.ReadAt(h, int64(lba*SectorSize)); err != nil {
		return Table{}, err
	}
	if !bytes.Equal(h[0:8], []byte("EFI PART")) {
		return Table{}, errors.New("no GPT signature")
	}
	size := binary.LittleEndian.Uint32(h[12:])
	if size < headerSize || size > SectorSize {
		return Table{}, fmt.Errorf("header size %d", size)
	}
	want := binary.LittleEndian.Uint32(h[16:])
	binary.LittleEndian.PutUint32(h[16:], 0)
	if crc32.ChecksumIEEE(h[:size]) != want {
		return Table{}, errors.New("header checksum mismatch")
	}
	if my := binary.LittleEndian.Uint64(h[24:]); my != lba {
		return Table{}, fmt.Errorf("header at sector %d says it is at %d", lba, my)
	}
	n := binary.LittleEndian.Uint32(h[80:])
	esize := binary.LittleEndian.Uint32(h[84:])
	if n == 0 || n > 1024 || esize < entrySize || esize > 1024 || esize%8 != 0 {
		return Table{}, fmt.Errorf("entry array of %d entries of %d bytes", n, esize)
	}
	entries := make([]byte, int(n)*int(esize))
	if _, err := r.ReadAt(entries, int64(binary.LittleEndian.Uint64(h[72:])*SectorSize)); err != nil {
		return Table{}, err
	}
	if crc32.ChecksumIEEE(entries) != binary.LittleEndian.Uint32(h[88:]) {
		return Table{}, errors.New("entry array checksum mismatch")
	}
	var t Table
	copy(t.Disk[:], h[56:72])
	used := 0
	parts := make([]Partition, n)
	for i := range parts {
		e := entries[i*int(esize):]
		p := &parts[i]
		copy(p.Type[:], e[0:16])
		if p.Type == (GUID{}) {
			continue
		}
		used = i + 1
		copy(p.ID[:], e[16:32])
		p.First = binary.LittleEndian.Uint64(e[32:])
		p.Last = binary.LittleEndian.Uint64(e[40:])
		p.Attrs = binary.LittleEndian.Uint64(e[48:])
		var name []uint16
		for k := 0; k < 36; k++ {
			u := binary.LittleEndian.Uint16(e[56+2*k:])
			if u == 0 {
				break
			}
			name = append(name, u)
		}
		p.Name = string(utf16.Decode(name))
	}
	t.Partitions = parts[:used]
	return t, nil
}
