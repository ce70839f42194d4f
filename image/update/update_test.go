package update

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"confab/image/boot"
	"confab/image/bundle"
)

type box struct {
	esp     boot.ESP
	devices map[string]string
	in      *Installer
}

// newBox is a box booted from slot a, with a 1 MiB file for each slot's
// partition.
func newBox(t *testing.T, pub ed25519.PublicKey) *box {
	t.Helper()
	dir := t.TempDir()
	b := &box{esp: boot.ESP{Dir: filepath.Join(dir, "esp")}, devices: map[string]string{}}
	for _, s := range boot.Slots() {
		p := filepath.Join(dir, "slot-"+s)
		if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
			t.Fatal(err)
		}
		b.devices[s] = p
	}
	if err := b.esp.Write(boot.Entry{Generation: 1, Slot: "a", Version: "1.0"}); err != nil {
		t.Fatal(err)
	}
	b.in = New(b.esp, "a", func(s string) (string, error) { return b.devices[s], nil }, pub,
		WithRunning("amd64", runningBuilt))
	return b
}

// runningBuilt is when the test box's running system was built.
var runningBuilt = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// makeBundle returns a bundle for amd64, built after the running system,
// whose root is rootSize bytes.
func makeBundle(t *testing.T, key ed25519.PrivateKey, version string, rootSize int) ([]byte, map[string][]byte) {
	t.Helper()
	return makeBundleAs(t, key, bundle.Manifest{Version: version, Arch: "amd64", Created: runningBuilt.Add(time.Hour)}, rootSize)
}

func makeBundleAs(t *testing.T, key ed25519.PrivateKey, m bundle.Manifest, rootSize int) ([]byte, map[string][]byte) {
	t.Helper()
	version := m.Version
	dir := t.TempDir()
	contents := map[string][]byte{
		bundle.FileRoot:   bytes.Repeat([]byte("R"), rootSize),
		bundle.FileKernel: []byte("kernel " + version),
		bundle.FileInitrd: []byte("initrd " + version),
	}
	paths := map[string]string{}
	for name, data := range contents {
		paths[name] = filepath.Join(dir, name)
		if err := os.WriteFile(paths[name], data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	m.Options = "quiet"
	if err := bundle.Write(&buf, m, paths, key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), contents
}

func TestInstall(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	ctx := context.Background()

	t.Run("a signed bundle lands in the other slot with an entry on trial", func(t *testing.T) {
		b := newBox(t, pub)
		data, contents := makeBundle(t, key, "2.0", 300<<10)
		res, err := b.in.Install(ctx, bytes.NewReader(data), Policy{})
		if err != nil {
			t.Fatal(err)
		}
		if res.Slot != "b" || res.Version != "2.0" || res.Entry != "confab-000002-b" {
			t.Fatalf("Install = %+v", res)
		}
		dev, _ := os.ReadFile(b.devices["b"])
		if !bytes.HasPrefix(dev, contents[bundle.FileRoot]) {
			t.Fatal("slot b does not start with the new root")
		}
		for _, name := range []string{bundle.FileKernel, bundle.FileInitrd} {
			got, _ := os.ReadFile(filepath.Join(b.esp.Dir, "confab", "b", name))
			if !bytes.Equal(got, contents[name]) {
				t.Fatalf("%s on the ESP = %q", name, got)
			}
		}
		e, err := b.esp.Find("confab-000002-b")
		if err != nil || !e.Counting || e.TriesLeft != 1 || e.Options != "quiet" {
			t.Fatalf("entry %+v, %v", e, err)
		}
		if p := b.in.Progress(); p.State != "installed" || p.Done != p.Total || p.Total != int64(len(data)) {
			t.Fatalf("progress %+v", p)
		}
	})

	failures := []struct {
		name string
		data func(t *testing.T) []byte
		err  error
	}{
		{"a bundle signed by another key is refused", func(t *testing.T) []byte {
			d, _ := makeBundle(t, otherKey, "2.0", 1000)
			return d
		}, bundle.ErrSignature},
		{"a bundle with a damaged root is refused", func(t *testing.T) []byte {
			d, _ := makeBundle(t, key, "2.0", 100<<10)
			d[len(d)-50<<10] ^= 0xff
			return d
		}, bundle.ErrCorrupt},
		{"a bundle for another architecture is refused", func(t *testing.T) []byte {
			d, _ := makeBundleAs(t, key, bundle.Manifest{Version: "2.0", Arch: "arm64", Created: runningBuilt.Add(time.Hour)}, 1000)
			return d
		}, ErrArch},
		{"a bundle built before the running system is refused", func(t *testing.T) []byte {
			d, _ := makeBundleAs(t, key, bundle.Manifest{Version: "0.9", Arch: "amd64", Created: runningBuilt.Add(-time.Hour)}, 1000)
			return d
		}, ErrOlder},
		{"a root bigger than the slot is refused", func(t *testing.T) []byte {
			d, _ := makeBundle(t, key, "2.0", 2<<20)
			return d
		}, ErrTooBig},
	}
	for _, tt := range failures {
		t.Run(tt.name+" and leaves no entry for the slot", func(t *testing.T) {
			b := newBox(t, pub)
			if _, err := b.in.Install(ctx, bytes.NewReader(tt.data(t)), Policy{}); !errors.Is(err, tt.err) {
				t.Fatalf("Install = %v, want %v", err, tt.err)
			}
			es, _ := b.esp.Entries()
			if len(es) != 1 || es[0].Slot != "a" {
				t.Fatalf("entries %+v", es)
			}
			if p := b.in.Progress(); p.State != "failed" || p.Error == "" {
				t.Fatalf("progress %+v", p)
			}
		})
	}

	t.Run("a second install while one runs is refused", func(t *testing.T) {
		b := newBox(t, pub)
		data, _ := makeBundle(t, key, "2.0", 1000)
		pr, pw := io.Pipe()
		done := make(chan error)
		go func() { _, err := b.in.Install(ctx, pr, Policy{}); done <- err }()
		_, _ = pw.Write(data[:100]) // the first install is now reading
		if _, err := b.in.Install(ctx, bytes.NewReader(data), Policy{}); !errors.Is(err, ErrBusy) {
			t.Fatalf("second Install = %v, want ErrBusy", err)
		}
		_, _ = pw.Write(data[100:])
		pw.Close()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an older version goes in when the admin asks for it", func(t *testing.T) {
		b := newBox(t, pub)
		data, _ := makeBundleAs(t, key, bundle.Manifest{Version: "0.9", Arch: "amd64", Created: runningBuilt.Add(-time.Hour)}, 1000)
		res, err := b.in.Install(ctx, bytes.NewReader(data), Policy{AllowOlder: true})
		if err != nil || res.Version != "0.9" || res.Slot != "b" {
			t.Fatalf("Install = %+v, %v", res, err)
		}
	})

	t.Run("a second update replaces the earlier trial entry of the slot", func(t *testing.T) {
		b := newBox(t, pub)
		for _, v := range []string{"2.0", "2.1"} {
			data, _ := makeBundle(t, key, v, 1000)
			if _, err := b.in.Install(ctx, bytes.NewReader(data), Policy{}); err != nil {
				t.Fatal(err)
			}
		}
		es, _ := b.esp.Entries()
		if len(es) != 2 || es[0].Version != "2.1" || es[0].Generation != 2 || es[1].Slot != "a" {
			t.Fatalf("entries %+v", es)
		}
	})
}
