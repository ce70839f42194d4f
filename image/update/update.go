// Package update installs a signed update bundle (package bundle) into the
// slot the box did not boot from, and arranges a trial boot of it:
//
//  1. the bundle's manifest is verified with the box's update key;
//  2. every boot entry of the inactive slot is removed, so that a half
//     written slot can never be booted;
//  3. the root file system is streamed onto the slot's partition and the
//     kernel and initramfs onto the EFI system partition, each verified
//     against the signed hashes as it is written;
//  4. only then is a boot entry with one try written (package boot).
//
// The next boot tries the new slot once; the init commits it (boot.ESP.Bless)
// when confabd is healthy, or reboots, and systemd-boot returns to the old
// slot. The data partition is not touched.
package update

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"confab/image/boot"
	"confab/image/bundle"
)

// Errors callers tell apart.
var (
	// ErrBusy means another install is running.
	ErrBusy = errors.New("update: an update is already being installed")
	// ErrTooBig means the root file system does not fit the slot.
	ErrTooBig = errors.New("update: the new root file system does not fit the slot")
	// ErrArch means the bundle is for another kind of machine.
	ErrArch = errors.New("update: the bundle is for another architecture")
	// ErrOlder means the bundle was built before the running system and
	// the admin did not ask for an older version (Policy.AllowOlder).
	ErrOlder = errors.New("update: the bundle is older than the running system")
)

// Policy is what the admin allows for one install. The box always refuses
// a bundle for another architecture; one built before the running system
// (by the signed manifest's creation time) only with AllowOlder, so that
// going back to an old version is a deliberate act, never an accident of
// picking the wrong file.
type Policy struct {
	AllowOlder bool
}

// Progress is what the System page's progress bar shows.
type Progress struct {
	State   string    `json:"state"` // idle, installing, installed, failed
	Version string    `json:"version,omitempty"`
	Done    int64     `json:"done"`
	Total   int64     `json:"total"`
	Error   string    `json:"error,omitempty"`
	Updated time.Time `json:"updated"`
}

// Installed says what an install did.
type Installed struct {
	Version string `json:"version"`
	Slot    string `json:"slot"`
	Entry   string `json:"entry"`
}

// Installer installs bundles on a running box.
type Installer struct {
	esp     boot.ESP
	current string // the slot the box booted from
	device  func(slot string) (string, error)
	key     ed25519.PublicKey
	arch    string    // the box's architecture
	built   time.Time // when the running system was built; zero: unknown
	log     *slog.Logger
	now     func() time.Time

	busy sync.Mutex
	mu   sync.Mutex
	prog Progress
}

// Option configures an Installer.
type Option func(*Installer)

// WithLogger sets the logger (component=update).
func WithLogger(l *slog.Logger) Option { return func(in *Installer) { in.log = l } }

// WithRunning says what the box runs: its architecture (GOARCH; the
// default is runtime.GOARCH) and when it was built (zero: unknown, no
// bundle counts as older).
func WithRunning(arch string, built time.Time) Option {
	return func(in *Installer) { in.arch, in.built = arch, built }
}

// New returns an Installer for a box booted from slot current, whose slots'
// block devices device names, with esp mounted, trusting key.
func New(esp boot.ESP, current string, device func(slot string) (string, error), key ed25519.PublicKey, opts ...Option) *Installer {
	in := &Installer{esp: esp, current: current, device: device, key: key, arch: runtime.GOARCH,
		log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(in)
	}
	in.log = in.log.With("component", "update")
	in.prog = Progress{State: "idle", Updated: in.now()}
	return in
}

// Progress returns the state of the current or last install.
func (in *Installer) Progress() Progress {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.prog
}

func (in *Installer) setProgress(f func(*Progress)) {
	in.mu.Lock()
	f(&in.prog)
	in.prog.Updated = in.now()
	in.mu.Unlock()
}

// Install reads a bundle from r and installs it into the inactive slot if
// the policy lets it.
func (in *Installer) Install(ctx context.Context, r io.Reader, p Policy) (Installed, error) {
	if !in.busy.TryLock() {
		return Installed{}, ErrBusy
	}
	defer in.busy.Unlock()
	in.setProgress(func(p *Progress) { *p = Progress{State: "installing"} })
	res, err := in.install(ctx, r, p)
	if err != nil {
		in.log.Error("update failed", "err", err)
		in.setProgress(func(p *Progress) { p.State, p.Error = "failed", err.Error() })
		return res, err
	}
	in.log.Info("update installed; it is tried at the next boot", "version", res.Version, "slot", res.Slot)
	in.setProgress(func(p *Progress) { p.State = "installed" })
	return res, nil
}

func (in *Installer) install(ctx context.Context, r io.Reader, p Policy) (Installed, error) {
	br, err := bundle.NewReader(r, in.key)
	if err != nil {
		return Installed{}, err
	}
	m := br.Manifest
	if !boot.ValidVersion(m.Version) {
		return Installed{}, fmt.Errorf("%w: version %q", bundle.ErrFormat, m.Version)
	}
	if m.Arch != in.arch {
		return Installed{}, fmt.Errorf("%w: version %s is for %s machines and this box is %s", ErrArch, m.Version, m.Arch, in.arch)
	}
	if !p.AllowOlder && !in.built.IsZero() && m.Created.Before(in.built) {
		return Installed{}, fmt.Errorf("%w: version %s was built %s, before the running system (%s)", ErrOlder, m.Version,
			m.Created.UTC().Format("2006-01-02 15:04"), in.built.UTC().Format("2006-01-02 15:04"))
	}
	slot := boot.Other(in.current)
	res := Installed{Version: m.Version, Slot: slot}
	var files int64
	for _, f := range m.Files {
		files += f.Size
	}
	in.setProgress(func(p *Progress) { p.Version, p.Total, p.Done = m.Version, br.Length, br.Length-files })
	br.WithSource(&counter{r: r, add: func(n int) { in.setProgress(func(p *Progress) { p.Done += int64(n) }) }})

	// Nothing may boot the slot while it is being written.
	if err := in.esp.RemoveSlot(slot); err != nil {
		return res, err
	}
	dev, err := in.device(slot)
	if err != nil {
		return res, err
	}
	slotDir := filepath.Join(in.esp.Dir, "confab", slot)
	// The old slot's kernel and initramfs go first: the ESP holds one pair
	// per slot, not three.
	for _, name := range []string{bundle.FileKernel, bundle.FileInitrd} {
		if err := os.Remove(filepath.Join(slotDir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return res, fmt.Errorf("update: %w", err)
		}
	}
	if err := os.MkdirAll(slotDir, 0o755); err != nil {
		return res, fmt.Errorf("update: %w", err)
	}
	for {
		f, fr, err := br.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		switch f.Name {
		case bundle.FileRoot:
			err = writeDevice(ctx, dev, f.Size, fr)
		default:
			err = writeFile(filepath.Join(slotDir, f.Name), fr)
		}
		if err != nil {
			return res, err
		}
	}
	gen, err := in.esp.NextGeneration()
	if err != nil {
		return res, err
	}
	e := boot.Entry{Generation: gen, Slot: slot, Version: m.Version, Options: m.Options, Counting: true, TriesLeft: 1}
	if err := in.esp.Write(e); err != nil {
		return res, err
	}
	res.Entry = e.ID()
	return res, nil
}

type counter struct {
	r   io.Reader
	add func(int)
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(n)
	}
	return n, err
}

// writeDevice streams size bytes onto the block device (or file) at path
// and flushes it.
func writeDevice(ctx context.Context, path string, size int64, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	defer f.Close()
	capacity, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if size > capacity {
		return fmt.Errorf("%w: %d MiB into %d MiB", ErrTooBig, size>>20, capacity>>20)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	buf := make([]byte, 1<<20)
	for {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := f.Write(buf[:n]); err != nil {
				return fmt.Errorf("update: write %s: %w", path, err)
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr // ErrCorrupt when the bytes do not match the signed hash
		}
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update: flush %s: %w", path, err)
	}
	return nil
}

// writeFile writes a file through a temporary name that is renamed only
// after the bytes verified.
func writeFile(path string, r io.Reader) error {
	tmp := path + ".new"
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	_, cerr := io.Copy(f, r)
	serr := f.Sync()
	f.Close()
	if err := errors.Join(cerr, serr); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("update: %s: %w", filepath.Base(path), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	return nil
}
