// Command mkimage builds the Confab appliance's disk image and update
// bundle (package confab/image/build). `make image` runs it:
//
//	mkimage -version 1.2.0 -out image/out -keys image/keys
//
// It signs the bundle with the key in -keys (update.key, update.pub),
// generating a development key pair there on first use; release builds
// pass the release key instead. Keys are never committed.
package main

import (
	"errors"
	"flag"
	"fmt"
	iofs "io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"confab/image/build"
	"confab/image/bundle"
	"confab/image/rootconf"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	version := fs.String("version", "", "version of the image (required)")
	out := fs.String("out", "image/out", "output directory")
	cache := fs.String("cache", "image/.cache", "download cache (the kernel package)")
	keys := fs.String("keys", "image/keys", "directory of update.key and update.pub (a development pair is made if absent)")
	kernel := fs.String("kernel", "", "Debian kernel package (default: what linux-image-amd64 depends on)")
	options := fs.String("kernel-options", "", "extra kernel command line options")
	bundleOnly := fs.Bool("bundle-only", false, "build only the update bundle")
	rev := fs.String("confabd-rev", "", "build confabd from this git revision (e.g. HEAD) instead of the working tree")
	var extra multiFlag
	fs.Var(&extra, "confabd-arg", "extra confabd argument (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *version == "" {
		return errors.New("-version is required")
	}
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	for _, d := range []string{*out, *cache, *keys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	priv, pub := filepath.Join(*keys, "update.key"), filepath.Join(*keys, "update.pub")
	if _, err := os.Stat(priv); errors.Is(err, iofs.ErrNotExist) {
		log.Warn("no signing key; generating a development key pair (never ship it)", "dir", *keys)
		if err := bundle.GenerateKeyFiles(priv, pub); err != nil {
			return err
		}
	}
	key, err := bundle.ReadPrivateKey(priv)
	if err != nil {
		return err
	}
	pubPEM, err := os.ReadFile(pub)
	if err != nil {
		return err
	}
	binDir := filepath.Join(*out, "bin")
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return err
	}
	start := time.Now()
	initBin, confabd, err := build.Binaries(root, binDir, *version, *rev)
	if err != nil {
		return err
	}
	sys := rootconf.Default(*version)
	sys.ConfabdArgs = append(sys.ConfabdArgs, extra...)
	res, err := build.Build(build.Config{
		Version: *version, OutDir: *out, CacheDir: *cache, Init: initBin, Confabd: confabd,
		Key: key, PublicKey: pubPEM, System: sys, KernelPackage: *kernel, KernelOptions: *options,
		SkipImage: *bundleOnly, Log: log,
	})
	if err != nil {
		return err
	}
	for _, p := range []string{res.Image, res.Compressed, res.Bundle} {
		if p == "" {
			continue
		}
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		fmt.Printf("%-48s %7.1f MB\n", p, float64(st.Size())/1e6)
	}
	fmt.Printf("%-48s %7.1f MB\n", "squashfs root", float64(res.RootSize)/1e6)
	fmt.Printf("kernel %s, %d modules, built in %s\n", res.KernelRelease, res.ModulesLoaded, time.Since(start).Round(time.Second))
	return nil
}

// moduleRoot finds the directory of go.mod from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module confab\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run mkimage inside the confab module")
		}
		dir = parent
	}
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
