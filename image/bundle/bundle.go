// Package bundle is the appliance's signed update bundle: a new root file
// system, kernel and initramfs with a version, signed with ed25519.
//
// Layout (all integers big endian):
//
//	magic     8 bytes  "CFBUPD01"
//	length    4 bytes  of the manifest
//	manifest  JSON     version, kernel options, and each file's name, size and SHA-256
//	signature 64 bytes ed25519 over sigContext || magic || length || manifest
//	files              the files' bytes, one after the other, in manifest order
//
// The signature covers the manifest and the manifest covers every byte of
// the files through their hashes, so a Reader can verify as it streams: the
// manifest before any file is used, each file as its last byte is read.
// Nothing of a file may be activated before its Reader has reported io.EOF.
package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"time"
)

// Magic opens every bundle.
const Magic = "CFBUPD01"

// sigContext separates bundle signatures from anything else the key might
// ever sign.
const sigContext = "confab update bundle v1\n"

// maxManifest bounds the manifest read before its signature is checked.
const maxManifest = 64 << 10

// The files of a bundle, in order.
const (
	FileRoot   = "root.squashfs"
	FileKernel = "vmlinuz"
	FileInitrd = "initrd"
)

// FileNames lists the files every bundle carries, in order.
func FileNames() []string { return []string{FileRoot, FileKernel, FileInitrd} }

// Errors callers tell apart.
var (
	// ErrFormat means the input is not a bundle.
	ErrFormat = errors.New("bundle: not a Confab update bundle")
	// ErrSignature means the bundle is not signed by the trusted key.
	ErrSignature = errors.New("bundle: signature does not verify with this box's update key")
	// ErrCorrupt means a file's bytes do not match the signed manifest.
	ErrCorrupt = errors.New("bundle: file does not match its signed hash")
)

// Manifest describes a bundle.
type Manifest struct {
	Format  int    `json:"format"`
	Version string `json:"version"`
	// Arch is the machine the bundle's binaries run on (GOARCH: "amd64");
	// a box refuses a bundle for another.
	Arch    string    `json:"arch"`
	Created time.Time `json:"created"`
	// Options are kernel command line options for the new boot entry.
	Options string `json:"options,omitempty"`
	Files   []File `json:"files"`
}

// File is one file of a bundle.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Size is the bundle's total length in bytes.
func (m Manifest) Size(manifestLen int) int64 {
	n := int64(len(Magic) + 4 + manifestLen + ed25519.SignatureSize)
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

func (m Manifest) validate() error {
	if m.Format != 1 {
		return fmt.Errorf("%w: format %d", ErrFormat, m.Format)
	}
	if m.Arch == "" {
		return fmt.Errorf("%w: no architecture", ErrFormat)
	}
	if len(m.Files) != len(FileNames()) {
		return fmt.Errorf("%w: %d files, want %d", ErrFormat, len(m.Files), len(FileNames()))
	}
	for i, f := range m.Files {
		if f.Name != FileNames()[i] || f.Size < 0 || len(f.SHA256) != 64 {
			return fmt.Errorf("%w: file %d is %q", ErrFormat, i, f.Name)
		}
	}
	return nil
}

func signed(head, manifest []byte) []byte {
	return append(append([]byte(sigContext), head...), manifest...)
}

// Write writes a bundle of the files at paths (keyed by FileNames) to w,
// signed with key. It takes the version, architecture, creation time and
// options from m and fills in the rest.
func Write(w io.Writer, m Manifest, paths map[string]string, key ed25519.PrivateKey) error {
	m.Format, m.Created, m.Files = 1, m.Created.UTC(), nil
	if m.Arch == "" {
		return errors.New("bundle: no architecture")
	}
	for _, name := range FileNames() {
		f, err := os.Open(paths[name])
		if err != nil {
			return fmt.Errorf("bundle: %s: %w", name, err)
		}
		h := sha256.New()
		n, err := io.Copy(h, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("bundle: %s: %w", name, err)
		}
		m.Files = append(m.Files, File{Name: name, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	manifest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	head := make([]byte, len(Magic)+4)
	copy(head, Magic)
	binary.BigEndian.PutUint32(head[len(Magic):], uint32(len(manifest)))
	sig := ed25519.Sign(key, signed(head, manifest))
	for _, b := range [][]byte{head, manifest, sig} {
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("bundle: %w", err)
		}
	}
	for _, name := range FileNames() {
		f, err := os.Open(paths[name])
		if err != nil {
			return fmt.Errorf("bundle: %s: %w", name, err)
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("bundle: %s: %w", name, err)
		}
	}
	return nil
}

// Reader reads a bundle, verifying as it goes.
type Reader struct {
	r        io.Reader
	Manifest Manifest
	// Length is the bundle's total size in bytes.
	Length int64
	next   int
	cur    *fileReader
}

// NewReader reads and verifies a bundle's manifest. Nothing is trusted
// before the signature verifies with pub.
func NewReader(r io.Reader, pub ed25519.PublicKey) (*Reader, error) {
	head := make([]byte, len(Magic)+4)
	if _, err := io.ReadFull(r, head); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if string(head[:len(Magic)]) != Magic {
		return nil, ErrFormat
	}
	n := binary.BigEndian.Uint32(head[len(Magic):])
	if n == 0 || n > maxManifest {
		return nil, fmt.Errorf("%w: manifest of %d bytes", ErrFormat, n)
	}
	manifest := make([]byte, n)
	sig := make([]byte, ed25519.SignatureSize)
	if _, err := io.ReadFull(r, manifest); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if _, err := io.ReadFull(r, sig); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if !ed25519.Verify(pub, signed(head, manifest), sig) {
		return nil, ErrSignature
	}
	br := &Reader{r: r}
	dec := json.NewDecoder(bytes.NewReader(manifest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&br.Manifest); err != nil {
		return nil, fmt.Errorf("%w: manifest: %v", ErrFormat, err)
	}
	if err := br.Manifest.validate(); err != nil {
		return nil, err
	}
	br.Length = br.Manifest.Size(len(manifest))
	return br, nil
}

// WithSource continues reading the files from r instead of the reader
// NewReader was given (which r must wrap, e.g. to count bytes). Call it
// before the first Next.
func (b *Reader) WithSource(r io.Reader) *Reader {
	b.r = r
	return b
}

// Next returns the next file and a reader of its bytes, which reports
// ErrCorrupt instead of io.EOF when they do not match the manifest. The
// previous file must have been read to its end.
func (b *Reader) Next() (File, io.Reader, error) {
	if b.cur != nil && b.cur.left > 0 {
		return File{}, nil, errors.New("bundle: previous file not read to its end")
	}
	if b.next >= len(b.Manifest.Files) {
		return File{}, nil, io.EOF
	}
	f := b.Manifest.Files[b.next]
	b.next++
	b.cur = &fileReader{r: b.r, left: f.Size, want: f.SHA256, h: sha256.New(), name: f.Name}
	return f, b.cur, nil
}

type fileReader struct {
	r    io.Reader
	left int64
	want string
	h    hash.Hash
	name string
	done bool
}

func (f *fileReader) Read(p []byte) (int, error) {
	if f.left == 0 {
		if !f.done {
			f.done = true
			if hex.EncodeToString(f.h.Sum(nil)) != f.want {
				return 0, fmt.Errorf("%w: %s", ErrCorrupt, f.name)
			}
		}
		return 0, io.EOF
	}
	if int64(len(p)) > f.left {
		p = p[:f.left]
	}
	n, err := f.r.Read(p)
	f.h.Write(p[:n])
	f.left -= int64(n)
	if err == io.EOF && f.left > 0 {
		return n, fmt.Errorf("%w: %s is cut short", ErrCorrupt, f.name)
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

// Keys are stored as PEM: PKCS #8 for the private key, PKIX for the public.

// GenerateKeyFiles makes a new signing key pair and writes it to priv
// (mode 0600) and pub.
func GenerateKeyFiles(priv, pub string) error {
	pk, sk, err := ed25519.GenerateKey(nil)
	if err != nil {
		return err
	}
	skDER, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return err
	}
	pkDER, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return err
	}
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: skDER}), 0o600); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pkDER}), 0o644); err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	return nil
}

// ReadPrivateKey reads a PEM ed25519 private key.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	der, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("bundle: %s: %w", path, err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("bundle: %s is not an ed25519 key", path)
	}
	return sk, nil
}

// ParsePublicKey reads a PEM ed25519 public key.
func ParsePublicKey(data []byte) (ed25519.PublicKey, error) {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "PUBLIC KEY" {
		return nil, errors.New("bundle: not a PEM public key")
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, errors.New("bundle: not an ed25519 public key")
	}
	return pk, nil
}

func readPEM(path, typ string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	b, _ := pem.Decode(data)
	if b == nil || b.Type != typ {
		return nil, fmt.Errorf("bundle: %s holds no %s", path, typ)
	}
	return b.Bytes, nil
}
