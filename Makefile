# otelcol-databricks: see README.md. The two commands users need are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

TOOLS := .tools
OCB := $(TOOLS)/ocb
MDATAGEN := $(TOOLS)/mdatagen
BENCHSTAT := $(TOOLS)/benchstat
BIN := bin
DIST := $(BIN)/otelcol-databricks
SIMULATOR := $(BIN)/workspace-simulator
E2E_TEST := $(BIN)/e2e.test
# How long each fuzz target runs in `make test` (crashers are saved under testdata/fuzz and become regression tests).
FUZZTIME ?= 25s
# The end-to-end suite runs this many times in a row; each run must reach the same verdict.
E2E_RUNS ?= 2
IMAGE ?= otelcol-databricks
IMAGE_VERSION ?= $(shell awk '/^dist:/ {d = 1; next} /^[^ #]/ {d = 0} d && $$1 == "version:" {print $$2; exit}' builder-config.yaml)

.PHONY: all tools generate build image run test test-unit test-e2e test-deploy fuzz lint check-generated deps clean bench bench-micro bench-smoke comparison

all: build

## tools: build ocb and mdatagen at the pinned versions from the internal/tools module.
tools: $(OCB) $(MDATAGEN) $(BENCHSTAT)
$(OCB): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(OCB) go.opentelemetry.io/collector/cmd/builder
$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen
$(BENCHSTAT): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(BENCHSTAT) golang.org/x/perf/cmd/benchstat

## generate: regenerate the receiver's mdatagen code and the distribution's ocb sources.
# mdatagen writes next to the file it is given and names the package after that folder, hence the symlink
# receiver/databricksservingreceiver/metadata.yaml -> ../../metadata.yaml.
generate: tools
	$(MDATAGEN) receiver/databricksservingreceiver/metadata.yaml
	$(OCB) --config builder-config.yaml --skip-compilation
	gofmt -w cmd/otelcol-databricks/*.go
	scripts/sync-configmap.sh

## check-generated: fail when the committed generated files differ from what `make generate` writes.
check-generated: generate
	@if ! git diff --exit-code --stat -- . || [ -n "$$(git status --porcelain --untracked-files=all -- receiver cmd/otelcol-databricks deploy/kubernetes)" ]; then \
		echo "generated files are out of date: run 'make generate' and commit the result" >&2; exit 1; fi

## build: compile the distribution (bin/otelcol-databricks) and the workspace simulator.
build:
	cd cmd/otelcol-databricks && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o ../../$(DIST) .
	CGO_ENABLED=0 $(GO) build -trimpath -o $(SIMULATOR) ./cmd/workspace-simulator

## image: the container image of bin/otelcol-databricks (FROM scratch, uid 10001), built with podman and tagged
## $(IMAGE):$(IMAGE_VERSION) and $(IMAGE):latest (see Dockerfile).
image: build
	IMAGE=$(IMAGE) VERSION=$(IMAGE_VERSION) scripts/build-image.sh

## deps: install what the tests and `make run` need from Debian (Prometheus, iproute2, util-linux).
deps:
	scripts/install-deps.sh

## lint: gofmt and go vet over every Go package, the generated distribution included.
lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-clean: $$unformatted" >&2; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags e2e ./e2e/...
	cd cmd/otelcol-databricks && $(GO) vet ./...
	$(GO) -C deploy/kubernetes vet ./...

## run: the main job. Starts the workspace simulator (unless DATABRICKS_HOST and DATABRICKS_TOKEN are set), a
## local Prometheus and the collector; with DD_API_KEY set, Datadog joins the pipeline.
run: build deps
	scripts/run.sh

## test: everything: generated code in sync, lint, unit tests, micro-benchmarks once, deployment assets,
## end-to-end suite.
test: check-generated lint test-unit bench-smoke fuzz test-deploy test-e2e

test-unit:
	$(GO) test -race -count=1 ./...

## fuzz: the fuzz targets, each for FUZZTIME: parsing and conversion of arbitrary bodies, the lifecycle property
## (random workspace changes, failures and restarts against a model with its own truth), the fast parser against
## expfmt, and the accumulator.
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzParseAndConvert$$' -fuzztime $(FUZZTIME) ./receiver/databricksservingreceiver/
	$(GO) test -run '^$$' -fuzz '^FuzzLifecycle$$' -fuzztime $(FUZZTIME) ./receiver/databricksservingreceiver/
	$(GO) test -run '^$$' -fuzz '^FuzzFastParserMatchesExpfmt$$' -fuzztime $(FUZZTIME) ./receiver/databricksservingreceiver/internal/exposition/
	$(GO) test -run '^$$' -fuzz '^FuzzAccumulator$$' -fuzztime $(FUZZTIME) ./receiver/databricksservingreceiver/internal/accumulator/

## test-deploy: Prometheus rules (promtool check and unit tests), the Grafana dashboard's queries, and the
## Kubernetes manifests strictly decoded into the Kubernetes API types (their own Go module).
test-deploy: deps
	scripts/check-monitoring-assets.sh
	$(GO) -C deploy/kubernetes test -count=1 ./...

## test-e2e: the end-to-end suite, wholly inside one loopback-only network namespace (the datadog exporter probes
## cloud metadata addresses at start-up; that traffic must never leave the machine).
test-e2e: build deps image
	$(GO) test -c -tags e2e -o $(E2E_TEST) ./e2e
	scripts/in-loopback-namespace.sh $(E2E_TEST) -test.v -test.count=$(E2E_RUNS) -test.timeout=50m -test.parallel=8 -repo-root "$(CURDIR)" -image "$(IMAGE):$(IMAGE_VERSION)"

clean:
	rm -rf $(BIN) $(TOOLS) .run .bench

## bench-smoke: every micro-benchmark once, so that they keep compiling and working (part of `make test`).
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...

## bench-micro: the micro-benchmarks of the hot path, BENCH_COUNT times each, into .bench/micro-new.txt; compared
## with benchstat against BENCH_BASE when that file exists (e.g. a copy of an earlier micro-new.txt).
BENCH_COUNT ?= 8
BENCH_BASE ?= .bench/micro-base.txt
bench-micro: $(BENCHSTAT)
	mkdir -p .bench
	# Benchmark lines only (their names are unique across packages), so files of different runs compare line by line.
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./receiver/databricksservingreceiver/... | grep -E '^(Benchmark|goos|goarch|cpu)' | tee .bench/micro-new.txt
	if [ -f "$(BENCH_BASE)" ]; then $(BENCHSTAT) "$(BENCH_BASE)" .bench/micro-new.txt; else $(BENCHSTAT) .bench/micro-new.txt; fi

## comparison: the comparison build of `make bench` (bench/builder-config.yaml: the distribution's components
## plus the contrib prometheus receiver), generated by ocb into .bench/comparison and compiled to
## .bench/otelcol-comparison.
COMPARISON := .bench/otelcol-comparison
comparison: tools
	mkdir -p .bench
	cd bench && ../$(OCB) --config builder-config.yaml --skip-compilation
	cd .bench/comparison && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o ../otelcol-comparison .

## bench: the side-by-side load benchmark (not part of `make test`; about 25 minutes): our distribution and the
## comparison build scrape the same simulated workspace of 1000 and then 5000 endpoints (50 ms added latency),
## one after the other, inside a loopback-only network namespace. Prints the comparison table and writes it into
## docs/performance.md. BENCH_FLAGS passes more flags to bench/loadbench (e.g. -profile).
BENCH_FLAGS ?=
bench: build comparison deps
	$(GO) build -o $(BIN)/loadbench ./bench/loadbench
	scripts/in-loopback-namespace.sh $(BIN)/loadbench -collector $(DIST) -comparison $(COMPARISON) -simulator $(SIMULATOR) -command "make bench" $(BENCH_FLAGS)

## screenshot: regenerate docs/images/p99-latency.png (the README's picture): `make run` against the simulator on
## ports 19090/18181, then headless Chromium (installed from Debian when missing) on Prometheus' P99 graph.
.PHONY: screenshot
screenshot: build deps
	scripts/screenshot.sh
