# Confab — conference-bridge appliance. `make run` starts the daemon with
# embedded defaults; `make test` runs every test. Both install what they need
# on Debian (as root) or stop with a clear message.

SHELL      := /bin/bash
GO         ?= go
export GOFLAGS ?= -tags=nolibopusfile
APT_PKGS   := libopus-dev libopusfile-dev pkg-config sip-tester baresip ffmpeg espeak-ng sox bc tshark iproute2 clang llvm libbpf-dev linux-libc-dev chromium \
	qemu-system-x86 ovmf squashfs-tools dosfstools mtools fdisk systemd-boot-efi e2fsprogs cpio gcc libc6-dev git
BIN        := bin

.PHONY: all build run test test-short bench generate check-generated deps vet fmt clean image image-test

all: build

deps:
	@./scripts/deps.sh $(APT_PKGS)

build: deps
	$(GO) build -o $(BIN)/ ./cmd/...

run: build
	./$(BIN)/confabd

vet:
	$(GO) vet ./...

fmt:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }

# test ends with the appliance image's test (image-test): it builds the
# image and its update bundles as `make image` does and boots them under
# qemu, about seven minutes under TCG on two cores. It runs after the other
# tests, never beside them, so that a loaded machine does not slow the
# emulated boots towards their time limits.
test: deps fmt vet check-generated
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 15m ./mixer/... ./hal/... ./focus/...
	$(MAKE) --no-print-directory image-test IMAGE_TEST_TIMEOUT=20m

# The standard matrix of the end-to-end benchmark: confabload starts a
# freshly built confabd for every run and writes bench/results/<date>.md
# with its chart (<date>.png) and the raw results (<date>.json). Each
# scenario file says how long it runs; the whole matrix takes about ten
# minutes (the G.711 sweep runs each point three times). BENCH_SCENARIOS picks others, e.g. one file for a quick look;
# BENCH_FLAGS adds confabload flags, e.g. -wait-idle 60s on a shared box.
BENCH_FLAGS ?=
BENCH_SCENARIOS ?= bench/scenarios/g711-sweep.txt bench/scenarios/opus-sweep.txt bench/scenarios/g722.txt \
	bench/scenarios/mixed-codecs.txt bench/scenarios/impaired.txt bench/scenarios/churn.txt bench/scenarios/capacity-g711.txt

bench: deps
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchmem ./mixer/... ./hal/sockpath/ | tee bench/results/engine-$$(date +%F).txt
	$(GO) run ./bench/cmd/mixload -n 1000 -size 10 -talkers 0.1 -out bench/results/mixload.txt
	$(GO) build -o $(BIN)/ ./cmd/confabd ./bench/cmd/confabload
	./$(BIN)/confabload -v $(BENCH_FLAGS) -confabd $(BIN)/confabd -out bench/results/$$(date +%F).md -json bench/results/$$(date +%F).json $(BENCH_SCENARIOS)

# The appliance image (image/README.md): a raw GPT disk image, its gzip copy
# and a signed update bundle in image/out/. The bundle is signed with
# image/keys/update.key; a development key pair is made there on first use
# and is never committed. The kernel package is downloaded once into
# image/.cache.
IMAGE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | tr -c 'A-Za-z0-9.+~_\n-' '-')

image: deps
	$(GO) run ./image/cmd/mkimage -version $(or $(IMAGE_VERSION),dev) -out image/out -cache image/.cache -keys image/keys

# image-test builds the image and three update bundles and boots them
# under qemu (KVM where it runs the firmware, TCG otherwise): first boot,
# HTTPS, SIP OPTIONS, a call with mixed audio, a power cut, an update
# through the System page that commits, one that rolls back and one that
# the watchdog ends. Minutes under KVM, about seven under TCG.
IMAGE_TEST_TIMEOUT ?= 30m
image-test: deps
	CONFAB_IMAGE_TEST=1 $(GO) test -count=1 -timeout $(IMAGE_TEST_TIMEOUT) -run TestImage -v ./image/qemutest

generate:
	$(GO) generate ./...

# check-generated fails when the committed eBPF objects and bindings under
# ebpf/ differ from what `make generate` builds from the C sources.
check-generated: deps
	./ebpf/check-generated.sh

clean:
	rm -rf $(BIN) data
