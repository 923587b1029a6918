# otelcol-databricks: see README.md. The two commands users need are `make run` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
GO ?= go

TOOLS := .tools
OCB := $(TOOLS)/ocb
MDATAGEN := $(TOOLS)/mdatagen
BENCHSTAT := $(TOOLS)/benchstat
GOLANGCI_LINT := $(TOOLS)/golangci-lint
GREMLINS := $(TOOLS)/gremlins
GOVULNCHECK := $(TOOLS)/govulncheck
PROMETHEUS3 := $(TOOLS)/prometheus3
PROMTOOL3 := $(TOOLS)/promtool3
BIN := bin
DIST := $(BIN)/otelcol-databricks
SIMULATOR := $(BIN)/workspace-simulator
E2E_TEST := $(BIN)/e2e.test
# How long each fuzz target runs in `make test` (crashers are saved under testdata/fuzz and become regression
# tests): budgets in executions (about 20 s each on two cores), not in time. With a duration, Go 1.26's fuzzing
# coordinator can fail a target with a bare "context deadline exceeded" at the end (no input found; fixed in Go
# 1.27, golang/go#75804), and its workers stall for seconds while it does. FUZZ_SCALE multiplies all four.
FUZZ_SCALE ?= 1
FUZZ_PARSE = $$((150000 * $(FUZZ_SCALE)))x
FUZZ_LIFECYCLE = $$((4000 * $(FUZZ_SCALE)))x
FUZZ_FASTPARSE = $$((100000 * $(FUZZ_SCALE)))x
FUZZ_ACCUMULATOR = $$((150000 * $(FUZZ_SCALE)))x
# The end-to-end suite runs this many times in a row; each run must reach the same verdict.
E2E_RUNS ?= 2
E2E_ONCE = ^(TestFailureExportsRefused|TestPrometheusOutageLosesNoWindow|TestDatadogOutageLosesNoWindow)$$
E2E_FLAGS = -test.v -test.timeout=50m -test.parallel=8 -repo-root "$(CURDIR)" -image "$(IMAGE):$(IMAGE_VERSION)" \
	-prometheus3 "$(CURDIR)/$(PROMETHEUS3)" -promtool3 "$(CURDIR)/$(PROMTOOL3)"
IMAGE ?= otelcol-databricks
# Every Go module of the repository (each go.mod, tracked or new and not ignored), so that `make lint` and
# `make test-unit` take in a new module by themselves; the modules under internal/tools only pin tools.
GO_MODULES = $(shell git ls-files --cached --others --exclude-standard '*go.mod' | xargs -n1 dirname | grep -v -E '^internal/tools(/|$$)|(^|/)testdata(/|$$)' | sort -u)
# The build tags of the suites that `make test-unit` does not run, so that lint sees their files too.
LINT_BUILD_TAGS := e2e,ocbimport
IMAGE_VERSION ?= $(shell awk '/^dist:/ {d = 1; next} /^[^ #]/ {d = 0} d && $$1 == "version:" {print $$2; exit}' builder-config.yaml)

.PHONY: all tools generate build image run test test-unit test-ocb-import test-e2e test-deploy fuzz lint check-generated deps clean bench bench-micro bench-smoke comparison

all: build

## tools: build ocb, mdatagen and benchstat at the pinned versions from the internal/tools module (golangci-lint,
## pinned there too, is built by `make lint`).
tools: $(OCB) $(MDATAGEN) $(BENCHSTAT)
$(OCB): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(OCB) go.opentelemetry.io/collector/cmd/builder
$(MDATAGEN): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(MDATAGEN) go.opentelemetry.io/collector/cmd/mdatagen
$(BENCHSTAT): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(BENCHSTAT) golang.org/x/perf/cmd/benchstat
$(GOLANGCI_LINT): internal/tools/go.mod internal/tools/go.sum
	$(GO) -C internal/tools build -o ../../$(GOLANGCI_LINT) github.com/golangci/golangci-lint/v2/cmd/golangci-lint
# gremlins (mutation testing) is pinned in a module of its own: its dependencies would move versions that the
# tools above share.
$(GREMLINS): internal/tools/mutation/go.mod internal/tools/mutation/go.sum
	$(GO) -C internal/tools/mutation build -o ../../../$(GREMLINS) github.com/go-gremlins/gremlins/cmd/gremlins
$(GOVULNCHECK): internal/tools/vulncheck/go.mod internal/tools/vulncheck/go.sum
	$(GO) -C internal/tools/vulncheck build -o ../../../$(GOVULNCHECK) golang.org/x/vuln/cmd/govulncheck
# Prometheus 3, the second Prometheus of the end-to-end suite and of `make run PROMETHEUS=3` (Debian's 2.42 from
# `make deps` is the first), pinned in a module of its own: its dependencies would move the other tools' versions.
# Built headless (no web UI assets, which its Go module does not ship; the API, TSDB, remote-write and OTLP
# receivers are all there). The version is stamped in from go.mod's v0.3XY.Z, which is Prometheus 3.XY.Z.
PROMETHEUS3_VERSION = $(shell awk '$$1 == "github.com/prometheus/prometheus" {split(substr($$2, 2), v, "."); print int(v[2] / 100) "." v[2] % 100 "." v[3]}' internal/tools/prometheus/go.mod)
$(PROMETHEUS3): internal/tools/prometheus/go.mod internal/tools/prometheus/go.sum
	CGO_ENABLED=0 $(GO) -C internal/tools/prometheus build -trimpath -ldflags='-X github.com/prometheus/common/version.Version=$(PROMETHEUS3_VERSION)' -o ../../../$(PROMETHEUS3) github.com/prometheus/prometheus/cmd/prometheus
# Its promtool checks the documentation's Prometheus examples with 3.x too (e2e/examples_test.go).
$(PROMTOOL3): internal/tools/prometheus/go.mod internal/tools/prometheus/go.sum
	CGO_ENABLED=0 $(GO) -C internal/tools/prometheus build -trimpath -ldflags='-X github.com/prometheus/common/version.Version=$(PROMETHEUS3_VERSION)' -o ../../../$(PROMTOOL3) github.com/prometheus/prometheus/cmd/promtool

## generate: regenerate the receiver's mdatagen code (internal/metadata, documentation.md, generated tests, the
## status table of its README.md) and the distribution's ocb sources.
RECEIVER := receiver/databricksservingreceiver
generate: tools
	cd $(RECEIVER) && ../../$(MDATAGEN) metadata.yaml
	$(OCB) --config builder-config.yaml --skip-compilation
	gofmt -w cmd/otelcol-databricks/*.go
	scripts/sync-configmap.sh

## check-generated: fail when the committed generated files differ from what `make generate` writes.
# GENERATED is exactly what `make generate` writes, as git pathspecs (quoted where they are globs, so that git
# matches them and not the shell): mdatagen's code, documentation and README status table of the receiver, ocb's
# sources of the distribution, and the ConfigMap scripts/sync-configmap.sh copies the shipped configuration into.
# Only these paths are compared: an uncommitted edit anywhere else never fails the check.
GENERATED := \
	receiver/databricksservingreceiver/internal/metadata/ \
	receiver/databricksservingreceiver/documentation.md \
	'receiver/databricksservingreceiver/generated_*.go' \
	receiver/databricksservingreceiver/README.md \
	cmd/otelcol-databricks/main.go \
	cmd/otelcol-databricks/main_others.go \
	cmd/otelcol-databricks/main_windows.go \
	cmd/otelcol-databricks/components.go \
	cmd/otelcol-databricks/go.mod \
	cmd/otelcol-databricks/go.sum \
	deploy/kubernetes/configmap.yaml
check-generated: generate
	@if ! git diff --exit-code --stat -- $(GENERATED) || [ -n "$$(git status --porcelain --untracked-files=all -- $(GENERATED))" ]; then \
		echo "generated files are out of date: run 'make generate' and commit the result" >&2; exit 1; fi

## build: compile the distribution (bin/otelcol-databricks) and the workspace simulator.
# The distribution's go.mod is generated by ocb and carries no toolchain line, so the Go that builds it is checked
# here: MIN_GO is the oldest Go 1.26 with the fixes of the HTTP/2 client loop and the TLS 1.3 denial of service
# (docs/development.md). GOTOOLCHAIN=go1.26.8 fetches a newer one through the module proxy.
MIN_GO := 1.26.6
build: go-version
	cd cmd/otelcol-databricks && CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o ../../$(DIST) .
	@v=$$($(GO) version $(DIST) | sed 's/.*: go//'); \
	if ! printf '%s\n%s\n' "$(MIN_GO)" "$$v" | sort -V -C; then \
		echo "$(DIST) was built with Go $$v, older than $(MIN_GO)" >&2; rm -f $(DIST); exit 1; fi
	CGO_ENABLED=0 $(GO) build -trimpath -o $(SIMULATOR) ./cmd/workspace-simulator

.PHONY: go-version
# The version is asked in the distribution's own directory: its generated go.mod has no toolchain line, so with
# GOTOOLCHAIN=auto the root module's toolchain line would report a Go the distribution is not built with.
go-version:
	@v=$$(cd cmd/otelcol-databricks && $(GO) env GOVERSION | sed 's/^go//'); \
	if ! printf '%s\n%s\n' "$(MIN_GO)" "$$v" | sort -V -C; then \
		echo "Go $$v is older than $(MIN_GO), which the distribution needs; run with GOTOOLCHAIN=go1.26.8 (or newer)" >&2; exit 1; fi

## image: the container image of bin/otelcol-databricks (FROM scratch, uid 10001), built with podman and tagged
## $(IMAGE):$(IMAGE_VERSION) and $(IMAGE):latest (see Dockerfile).
image: build
	IMAGE=$(IMAGE) VERSION=$(IMAGE_VERSION) scripts/build-image.sh

## deps: install what the tests and `make run` need from Debian (Prometheus, iproute2, util-linux).
deps:
	scripts/install-deps.sh

## lint: gofmt, go vet and golangci-lint (.golangci.yml) over every Go module but the generated distribution, the
## e2e suites included. golangci-lint skips the files mdatagen generates (their "Code generated ... DO NOT
## EDIT." header) and lints the hand-written ones beside them.
lint: $(GOLANGCI_LINT)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-clean: $$unformatted" >&2; exit 1; fi
	# Not the distribution's module: it is ocb's output but for featuregates.go (which the build compiles and
	# e2e/featuregates_test.go runs), and vet or golangci-lint would analyse its whole dependency graph, some 600
	# packages, for that one file: minutes of every cold `make test`.
	for m in $(filter-out cmd/otelcol-databricks,$(GO_MODULES)); do echo "go vet: $$m"; \
		$(GO) -C $$m vet -tags $(LINT_BUILD_TAGS) ./...; \
	done
	for m in $(filter-out cmd/otelcol-databricks,$(GO_MODULES)); do echo "golangci-lint: $$m"; \
		(cd $$m && $(CURDIR)/$(GOLANGCI_LINT) run --build-tags $(LINT_BUILD_TAGS) ./...); \
	done

## run: the main job. Starts the workspace simulator (unless DATABRICKS_HOST and DATABRICKS_TOKEN are set), a
## local Prometheus (Debian's 2.42; PROMETHEUS=3 for Prometheus 3) and the collector; with DD_API_KEY set, Datadog
## joins the pipeline.
# Prometheus 3 is built only when PROMETHEUS=3 asks for it.
run: build deps $(if $(filter 3,$(PROMETHEUS)),$(PROMETHEUS3))
	scripts/run.sh

## test: everything: generated code in sync, lint, unit tests, micro-benchmarks once, deployment assets,
## end-to-end suite.
test: check-generated lint test-unit bench-smoke fuzz mutation-smoke test-deploy test-ocb-import test-e2e

## test-unit: the quick loop: the unit tests of every Go module with the race detector, in a few minutes; needs
## only Go (no root, apt, podman or network namespace). The distribution's module has no tests of its own.
test-unit:
	for m in $(filter-out cmd/otelcol-databricks,$(GO_MODULES)); do echo "go test: $$m"; \
		$(GO) -C $$m test -race -count=1 ./...; \
	done

## fuzz: the fuzz targets, each for its budget of executions (see FUZZ_SCALE): parsing and conversion of
## arbitrary bodies, the lifecycle property (random workspace changes, failures and restarts against a model with
## its own truth), the fast parser against expfmt, and the accumulator.
fuzz:
	$(GO) -C $(RECEIVER) test -run '^$$' -fuzz '^FuzzParseAndConvert$$' -fuzztime $(FUZZ_PARSE) .
	$(GO) -C $(RECEIVER) test -run '^$$' -fuzz '^FuzzLifecycle$$' -fuzztime $(FUZZ_LIFECYCLE) .
	$(GO) -C $(RECEIVER) test -run '^$$' -fuzz '^FuzzFastParserMatchesExpfmt$$' -fuzztime $(FUZZ_FASTPARSE) ./internal/exposition/
	$(GO) -C $(RECEIVER) test -run '^$$' -fuzz '^FuzzAccumulator$$' -fuzztime $(FUZZ_ACCUMULATOR) ./internal/accumulator/

## test-deploy: Prometheus rules (promtool check and unit tests), the Grafana dashboard's queries, and the
## Kubernetes manifests strictly decoded into the Kubernetes API types (their own Go module).
test-deploy: deps
	scripts/check-monitoring-assets.sh
	$(GO) -C deploy/kubernetes test -count=1 ./...

## test-ocb-import: the README's ocb manifest, taken verbatim, built with the pinned ocb against this checkout and
## run against the workspace simulator (e2e/ocbimport). Outside the loopback namespace: ocb downloads the modules
## the manifest names; the collector it builds has no datadog exporter and talks to 127.0.0.1 only.
test-ocb-import: $(OCB)
	$(GO) test -count=1 -tags ocbimport -timeout 30m ./e2e/ocbimport -repo-root "$(CURDIR)" -ocb "$(CURDIR)/$(OCB)"

## test-e2e: the end-to-end suite, wholly inside one loopback-only network namespace (the datadog exporter probes
## cloud metadata addresses at start-up; that traffic must never leave the machine).
## The suite runs E2E_RUNS times, to catch what fails only sometimes; the long outage scenarios (E2E_ONCE, about
## five minutes of outage each) run in the first pass only, which keeps `make test` within its time budget.
test-e2e: build deps image $(PROMETHEUS3) $(PROMTOOL3)
	$(GO) test -c -tags e2e -o $(E2E_TEST) ./e2e
	scripts/in-loopback-namespace.sh $(E2E_TEST) $(E2E_FLAGS) -test.count=1
	if [ "$(E2E_RUNS)" -gt 1 ]; then \
		scripts/in-loopback-namespace.sh $(E2E_TEST) $(E2E_FLAGS) -test.count=$$(($(E2E_RUNS) - 1)) -test.skip '$(E2E_ONCE)'; fi

clean:
	rm -rf $(BIN) $(TOOLS) .run .bench

## bench-smoke: every micro-benchmark once, so that they keep compiling and working (part of `make test`).
bench-smoke:
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
	$(GO) -C $(RECEIVER) test -run '^$$' -bench . -benchtime 1x ./...
	$(GO) -C internal/simulator test -run '^$$' -bench . -benchtime 1x ./...

## bench-micro: the micro-benchmarks of the hot path, BENCH_COUNT times each, into .bench/micro-new.txt; compared
## with benchstat against BENCH_BASE when that file exists (e.g. a copy of an earlier micro-new.txt).
BENCH_COUNT ?= 8
BENCH_BASE ?= .bench/micro-base.txt
bench-micro: $(BENCHSTAT)
	mkdir -p .bench
	# Benchmark lines only (their names are unique across packages), so files of different runs compare line by line.
	$(GO) -C $(RECEIVER) test -run '^$$' -bench . -benchmem -count $(BENCH_COUNT) ./... | grep -E '^(Benchmark|goos|goarch|cpu)' | tee .bench/micro-new.txt
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

## mutation: mutation testing (gremlins) of the receiver's core packages; prints the survivors and the efficacy of
## each, and fails when one is below its threshold: 90 % for accumulator and exposition, 80 % for the others (see
## docs/development.md, "Mutation testing"). Slow: minutes per package. MUTATION_PACKAGES picks packages.
# gremlins copies the module into $TMPDIR/gremlins-*/wd-*: the receiver's relative replace of
# ../../internal/simulator must resolve from there, hence a TMPDIR whose internal/simulator is the repository's.
# "." is the receiver's own package, where only conversion and limits are mutated (MUTATION_ROOT_FILES): the
# rest of it is wiring whose tests run a whole scrape per mutant. scripts/mutation.sh holds the thresholds and
# writes each package's report and full output to bin/mutation.
MUTATION_PACKAGES ?= internal/accumulator internal/exposition internal/workspace internal/discovery .
MUTATION_ROOT_FILES ?= convert.go limits.go
MUTATION_TMP := $(CURDIR)/$(TOOLS)/mutation-tmp
MUTATION_FLAGS ?= --workers 2 --timeout-coefficient 5
.PHONY: mutation mutation-smoke

MUTATION_RUN = GREMLINS=$(CURDIR)/$(GREMLINS) MUTATION_TMP=$(MUTATION_TMP) MUTATION_OUT=$(CURDIR)/$(BIN)/mutation \
	MUTATION_FLAGS="$(MUTATION_FLAGS)" MUTATION_ROOT_FILES="$(MUTATION_ROOT_FILES)" scripts/mutation.sh

mutation: $(GREMLINS)
	@mkdir -p $(MUTATION_TMP)/internal && ln -sfn $(CURDIR)/internal/simulator $(MUTATION_TMP)/internal/simulator
	@$(MUTATION_RUN) $(MUTATION_PACKAGES)

## mutation-smoke: mutation testing of internal/accumulator alone, failing under its 90 % efficacy (part of
## `make test`, about 2 minutes).
mutation-smoke: $(GREMLINS)
	@mkdir -p $(MUTATION_TMP)/internal && ln -sfn $(CURDIR)/internal/simulator $(MUTATION_TMP)/internal/simulator
	@$(MUTATION_RUN) internal/accumulator

## vulncheck: govulncheck over every Go module, the distribution included: the known vulnerabilities of the Go
## version and of the dependencies that the code can reach. It reads the vulnerability database at vuln.go.dev,
## so it needs the network and is not part of `make test`; run it before a release and when advisories appear.
.PHONY: vulncheck
vulncheck: $(GOVULNCHECK)
	for m in $(GO_MODULES); do echo "govulncheck: $$m"; (cd $$m && $(CURDIR)/$(GOVULNCHECK) ./...) || status=1; done; exit $${status:-0}
