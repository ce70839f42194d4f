package bundle

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// files writes three small files and returns their paths.
func files(t testing.TB) map[string]string {
	dir := t.TempDir()
	paths := map[string]string{}
	for i, name := range FileNames() {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bytes.Repeat([]byte{byte('a' + i)}, 1000+i*333), 0o644); err != nil {
			t.Fatal(err)
		}
		paths[name] = p
	}
	return paths
}

func build(t testing.TB, key ed25519.PrivateKey) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, Manifest{Version: "2.0.1", Arch: "amd64", Options: "quiet", Created: time.Unix(1700000000, 0)}, files(t), key); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readAll reads every file of a bundle and returns the first error.
func readAll(data []byte, pub ed25519.PublicKey) (Manifest, map[string][]byte, error) {
	r, err := NewReader(bytes.NewReader(data), pub)
	if err != nil {
		return Manifest{}, nil, err
	}
	got := map[string][]byte{}
	for {
		f, fr, err := r.Next()
		if err == io.EOF {
			return r.Manifest, got, nil
		}
		if err != nil {
			return r.Manifest, got, err
		}
		b, err := io.ReadAll(fr)
		if err != nil {
			return r.Manifest, got, err
		}
		got[f.Name] = b
	}
}

func TestBundle(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	otherPub, _, _ := ed25519.GenerateKey(nil)
	good := build(t, key)
	flip := func(at int) []byte {
		b := bytes.Clone(good)
		b[at] ^= 1
		return b
	}
	t.Run("a signed bundle reads back with its files and version", func(t *testing.T) {
		m, got, err := readAll(good, pub)
		if err != nil {
			t.Fatal(err)
		}
		want := files(t)
		for _, name := range FileNames() {
			w, _ := os.ReadFile(want[name])
			if !bytes.Equal(got[name], w) {
				t.Fatalf("%s: %d bytes, want %d", name, len(got[name]), len(w))
			}
		}
		if m.Version != "2.0.1" || m.Arch != "amd64" || m.Options != "quiet" || m.Size(0) > int64(len(good)) {
			t.Fatalf("manifest %+v", m)
		}
	})
	tests := []struct {
		name string
		data []byte
		pub  ed25519.PublicKey
		err  error
	}{
		{"a bundle signed by another key is refused", good, otherPub, ErrSignature},
		{"a changed manifest is refused", flip(len(Magic) + 10), pub, ErrSignature},
		{"a changed byte in the root file system is caught", flip(len(good) - 3000), pub, ErrCorrupt},
		{"a changed byte in the last file is caught", flip(len(good) - 1), pub, ErrCorrupt},
		{"a bundle cut short is caught", good[:len(good)-10], pub, ErrCorrupt},
		{"a file that is not a bundle is refused", []byte("PK\x03\x04 a zip file, say"), pub, ErrFormat},
		{"an empty upload is refused", nil, pub, ErrFormat},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := readAll(tt.data, tt.pub); !errors.Is(err, tt.err) {
				t.Fatalf("error = %v, want %v", err, tt.err)
			}
		})
	}
}

func TestABundleNamesItsArchitecture(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(nil)
	if err := Write(io.Discard, Manifest{Version: "2.0.1"}, files(t), key); err == nil {
		t.Fatal("a bundle without an architecture was written")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	priv, pubPath := filepath.Join(dir, "update.key"), filepath.Join(dir, "update.pub")
	if err := GenerateKeyFiles(priv, pubPath); err != nil {
		t.Fatal(err)
	}
	key, err := ReadPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(pubPath)
	pub, err := ParsePublicKey(pem)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the stored key pair signs and verifies a bundle", func(t *testing.T) {
		if _, _, err := readAll(build(t, key), pub); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the private key is readable by its owner only", func(t *testing.T) {
		if st, _ := os.Stat(priv); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v", st.Mode().Perm())
		}
	})
	t.Run("a private key file is not taken as a public key", func(t *testing.T) {
		b, _ := os.ReadFile(priv)
		if _, err := ParsePublicKey(b); err == nil {
			t.Fatal("ParsePublicKey accepted a private key")
		}
	})
}

// FuzzNewReader feeds arbitrary uploads to the reader: it must refuse them
// without panicking, and never hand out a file of an unsigned bundle.
func FuzzNewReader(f *testing.F) {
	pub, key, _ := ed25519.GenerateKey(nil)
	good := build(f, key)
	f.Add(good)
	f.Add(good[:40])
	f.Add([]byte(Magic + "\x00\x00\x00\x02{}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, got, err := readAll(data, pub)
		if err == nil && !bytes.Equal(data, good) && len(got) == len(FileNames()) && m.Version != "2.0.1" {
			t.Fatalf("an unsigned bundle was read: %+v", m)
		}
	})
}
