#!/usr/bin/env bash
# check-generated.sh regenerates the eBPF objects and their Go bindings from
# the C sources with Debian's clang (go generate runs bpf2go) and fails when
# the committed files under ebpf/ differ: a C change was committed without
# `make generate`, or the other way round. CI runs it on a clean checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

want_clang=14 # Debian 12 (bookworm); another version emits other bytes
if ! command -v clang >/dev/null || ! command -v llvm-strip >/dev/null; then
	echo "check-generated: clang and llvm-strip are needed (apt-get install clang llvm libbpf-dev)" >&2
	exit 1
fi
have_clang=$(clang -dumpversion | cut -d. -f1)
if [[ $have_clang != "$want_clang" ]]; then
	echo "check-generated: clang $have_clang found; the committed objects come from Debian's clang $want_clang" >&2
	exit 1
fi

go generate ./ebpf/...

if ! git diff --exit-code --stat -- ebpf/; then
	echo "check-generated: generated files under ebpf/ are stale; run 'make generate' and commit them" >&2
	exit 1
fi
untracked=$(git ls-files --others --exclude-standard -- 'ebpf/*_bpfel.go' 'ebpf/*_bpfel.o')
if [[ -n $untracked ]]; then
	echo "check-generated: generated files not committed:" >&2
	echo "$untracked" >&2
	exit 1
fi
echo "check-generated: ebpf/ is up to date"
