# Confab — conference-bridge appliance. `make run` starts the daemon with
# embedded defaults; `make test` runs every test. Both install what they need
# on Debian (as root) or stop with a clear message.

SHELL      := /bin/bash
GO         ?= go
export GOFLAGS ?= -tags=nolibopusfile
APT_PKGS   := libopus-dev libopusfile-dev pkg-config sip-tester baresip ffmpeg espeak-ng sox bc tshark iproute2 clang llvm libbpf-dev linux-libc-dev chromium
BIN        := bin

.PHONY: all build run test test-short bench generate check-generated deps vet fmt clean

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

test: deps fmt vet
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 15m ./mixer/... ./hal/... ./focus/...

bench: deps
	@mkdir -p bench/results
	$(GO) test -run '^$$' -bench . -benchmem ./mixer/... ./hal/sockpath/ | tee bench/results/engine-$$(date +%F).txt
	$(GO) run ./bench/cmd/mixload -n 1000 -size 10 -talkers 0.1 -out bench/results/mixload.txt

generate:
	$(GO) generate ./...

# check-generated fails when the committed eBPF objects and bindings under
# ebpf/ differ from what `make generate` builds from the C sources.
check-generated: deps
	./ebpf/check-generated.sh

clean:
	rm -rf $(BIN) data
