// Package boot keeps the appliance's boot loader entries on the EFI system
// partition: one Boot Loader Specification type #1 entry per root slot, in
// loader/entries, read by systemd-boot.
//
// A/B updates use systemd-boot's boot counting (systemd's
// docs/AUTOMATIC_BOOT_ASSESSMENT.md): a freshly installed slot's entry is
// named with a "+1" tries-left counter. systemd-boot renames it to "+0-1"
// before it boots it; if the new system is healthy, the init blesses it
// (Bless drops the counter, as systemd-bless-boot does), otherwise the next
// boot finds it with no tries left, sorts it last and boots the other slot.
//
// Entry names carry a generation number that grows with every install
// ("confab-000007-b.conf"), so the newest good entry sorts first whatever its
// version string; loader.conf names no default, which would pin an entry
// even after it went bad.
package boot

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Errors callers tell apart.
var (
	// ErrNoEntry means no entry has the asked-for ID.
	ErrNoEntry = errors.New("boot: no such entry")
	// ErrBadEntry means an entry file or value is not one this package writes.
	ErrBadEntry = errors.New("boot: bad entry")
)

// GPT partition names the image builder writes and the init looks for.
const (
	LabelESP  = "confab-esp"
	LabelPerm = "confab-perm"
)

// SlotLabel is the partition name of a root slot.
func SlotLabel(slot string) string { return "confab-" + slot }

// Slots returns the two root slots.
func Slots() [2]string { return [2]string{"a", "b"} }

// Other returns the slot that is not s.
func Other(s string) string {
	if s == "a" {
		return "b"
	}
	return "a"
}

// Entry is one boot loader entry.
type Entry struct {
	Generation int    // grows with each install; orders entries
	Slot       string // "a" or "b"
	Version    string // the Confab version in the slot
	// Counting is true while boot counting is on (the entry is on trial).
	Counting  bool
	TriesLeft int
	TriesDone int
	Options   string // kernel command line beyond what Entry adds
}

// ID is the entry's name without counters and suffix, e.g. "confab-000002-b".
func (e Entry) ID() string { return fmt.Sprintf("confab-%06d-%s", e.Generation, e.Slot) }

// FileName is the entry's file name in loader/entries.
func (e Entry) FileName() string {
	if !e.Counting {
		return e.ID() + ".conf"
	}
	if e.TriesDone == 0 {
		return fmt.Sprintf("%s+%d.conf", e.ID(), e.TriesLeft)
	}
	return fmt.Sprintf("%s+%d-%d.conf", e.ID(), e.TriesLeft, e.TriesDone)
}

// Bad reports whether systemd-boot will no longer pick the entry.
func (e Entry) Bad() bool { return e.Counting && e.TriesLeft == 0 }

// Kernel and Initrd are where the slot's files live on the ESP.
func Kernel(slot string) string { return "/confab/" + slot + "/vmlinuz" }
func Initrd(slot string) string { return "/confab/" + slot + "/initrd" }

// CommandLine is the kernel command line of the entry.
func (e Entry) CommandLine() string {
	cl := fmt.Sprintf("confab.slot=%s confab.entry=%s confab.version=%s", e.Slot, e.ID(), e.Version)
	if e.Options != "" {
		cl = e.Options + " " + cl
	}
	return cl
}

var versionRE = regexp.MustCompile(`^[0-9A-Za-z][0-9A-Za-z.+~_-]{0,63}$`)

// ValidVersion reports whether v may name a version (in file names, entry
// titles and the kernel command line).
func ValidVersion(v string) bool { return versionRE.MatchString(v) && !strings.Contains(v, "..") }

// Marshal renders the entry file.
func (e Entry) Marshal() ([]byte, error) {
	if e.Slot != "a" && e.Slot != "b" || e.Generation < 1 || e.Generation > 999999 || !ValidVersion(e.Version) ||
		strings.ContainsAny(e.Options, "\r\n") {
		return nil, fmt.Errorf("%w: %+v", ErrBadEntry, e)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "title Confab %s (slot %s)\n", e.Version, e.Slot)
	fmt.Fprintf(&b, "version %s\n", e.Version)
	fmt.Fprintf(&b, "linux %s\n", Kernel(e.Slot))
	fmt.Fprintf(&b, "initrd %s\n", Initrd(e.Slot))
	fmt.Fprintf(&b, "options %s\n", e.CommandLine())
	return b.Bytes(), nil
}

var nameRE = regexp.MustCompile(`^confab-(\d{6})-([ab])(?:\+(\d+)(?:-(\d+))?)?\.conf$`)

// Parse reads an entry from its file name and contents.
func Parse(name string, data []byte) (Entry, error) {
	m := nameRE.FindStringSubmatch(name)
	if m == nil {
		return Entry{}, fmt.Errorf("%w: file name %q", ErrBadEntry, name)
	}
	var e Entry
	e.Generation, _ = strconv.Atoi(m[1])
	e.Slot = m[2]
	if m[3] != "" {
		e.Counting = true
		e.TriesLeft, _ = strconv.Atoi(m[3])
		if m[4] != "" {
			e.TriesDone, _ = strconv.Atoi(m[4])
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		key, val, _ := strings.Cut(strings.TrimSpace(sc.Text()), " ")
		val = strings.TrimSpace(val)
		switch key {
		case "version":
			e.Version = val
		case "options":
			e.Options = stripOwn(val)
		}
	}
	if !ValidVersion(e.Version) {
		return Entry{}, fmt.Errorf("%w: %s has no valid version line", ErrBadEntry, name)
	}
	return e, nil
}

// stripOwn removes the confab.* parameters CommandLine adds.
func stripOwn(cl string) string {
	var keep []string
	for _, f := range strings.Fields(cl) {
		if !strings.HasPrefix(f, "confab.slot=") && !strings.HasPrefix(f, "confab.entry=") && !strings.HasPrefix(f, "confab.version=") {
			keep = append(keep, f)
		}
	}
	return strings.Join(keep, " ")
}

// LoaderConf is loader/loader.conf: boot the first good entry at once (a key
// held at power-on still shows the menu), and no default entry.
func LoaderConf() []byte {
	return []byte("timeout 0\nconsole-mode keep\neditor no\nauto-entries no\nauto-firmware no\n")
}

// ESP is a mounted (or staged) EFI system partition.
type ESP struct{ Dir string }

func (p ESP) entriesDir() string { return filepath.Join(p.Dir, "loader", "entries") }

// Entries returns the entries, newest generation first. Files that are not
// Confab entries are skipped.
func (p ESP) Entries() ([]Entry, error) {
	des, err := os.ReadDir(p.entriesDir())
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("boot: %w", err)
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || !nameRE.MatchString(de.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(p.entriesDir(), de.Name()))
		if err != nil {
			return nil, fmt.Errorf("boot: %w", err)
		}
		e, err := Parse(de.Name(), data)
		if err != nil {
			continue
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Generation > out[j].Generation })
	return out, nil
}

// Find returns the entry with the given ID.
func (p ESP) Find(id string) (Entry, error) {
	es, err := p.Entries()
	if err != nil {
		return Entry{}, err
	}
	for _, e := range es {
		if e.ID() == id {
			return e, nil
		}
	}
	return Entry{}, fmt.Errorf("%w: %s", ErrNoEntry, id)
}

// NextGeneration is one more than the highest generation on the ESP.
func (p ESP) NextGeneration() (int, error) {
	es, err := p.Entries()
	if err != nil {
		return 0, err
	}
	if len(es) == 0 {
		return 1, nil
	}
	return es[0].Generation + 1, nil
}

// Write writes e's file: to a temporary name first, flushed, then renamed,
// so systemd-boot never reads half an entry.
func (p ESP) Write(e Entry) error {
	data, err := e.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p.entriesDir(), 0o755); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	return WriteFileSync(filepath.Join(p.entriesDir(), e.FileName()), data)
}

// RemoveSlot deletes every entry of slot: before a slot is overwritten, no
// entry may point at it.
func (p ESP) RemoveSlot(slot string) error {
	es, err := p.Entries()
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Slot == slot {
			if err := os.Remove(filepath.Join(p.entriesDir(), e.FileName())); err != nil {
				return fmt.Errorf("boot: %w", err)
			}
		}
	}
	return syncDir(p.entriesDir())
}

// Bless turns boot counting off for the entry id: the slot is committed.
// Blessing a good entry does nothing.
func (p ESP) Bless(id string) (Entry, error) {
	e, err := p.Find(id)
	if err != nil {
		return Entry{}, err
	}
	if !e.Counting {
		return e, nil
	}
	old := filepath.Join(p.entriesDir(), e.FileName())
	e.Counting, e.TriesLeft, e.TriesDone = false, 0, 0
	if err := os.Rename(old, filepath.Join(p.entriesDir(), e.FileName())); err != nil {
		return Entry{}, fmt.Errorf("boot: bless %s: %w", id, err)
	}
	return e, syncDir(p.entriesDir())
}

// WriteFileSync writes a file through a temporary name, flushing both it
// and its directory, so that a power cut leaves the old file or the new.
func WriteFileSync(path string, data []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("boot: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("boot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, os.ErrInvalid) {
		return fmt.Errorf("boot: sync %s: %w", dir, err)
	}
	return nil
}
