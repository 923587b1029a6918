// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Command loadbench is `make bench`: the side-by-side load benchmark of the databricksserving receiver (in the
// otelcol-databricks distribution) and the contrib prometheus receiver (in the comparison build of
// bench/builder-config.yaml), scraping the same simulated workspace with the same interval and pipeline
// (batch → debug exporter at basic verbosity).
//
// For every workspace size it starts the workspace simulator with that many CPU endpoints (60-line bodies) and
// an added response latency, then runs each collector in turn and measures, over the measured cycles after a
// warm-up: whole-process CPU seconds per cycle and resident memory (from /proc), and from the simulator's access
// log the scrape-cycle wall time (first request to last response), requests per endpoint per cycle and the
// longest time any endpoint went unscraped. It prints a comparison table with the performance targets (see
// docs/performance.md, Targets) and writes it into docs/performance.md between the "make bench" markers.
//
// Both collector binaries contain the datadog exporter, so the benchmark must run inside a loopback-only network
// namespace (the Makefile runs it through scripts/in-loopback-namespace.sh).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	collector, comparison, simulator string
	sizes                            []int
	receivers                        []receiverUnderTest
	interval, latency                time.Duration
	warmup, cycles, leakCycles       int
	concurrency                      int
	workdir, report, command         string
	// profile makes each collector run the pprof extension and saves a CPU profile of its measured cycles and
	// a heap profile at their end into the run's directory.
	profile bool
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadbench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	opts, err := parseFlags(args)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.workdir, 0o755); err != nil {
		return err
	}
	var results []result
	for i, n := range opts.sizes {
		for _, r := range opts.receivers {
			spec := runSpec{receiver: r, endpoints: n, cycles: opts.cycles}
			// The first size's run of our receiver is the long one that also measures memory growth.
			if i == 0 && r == ours && opts.leakCycles > opts.cycles {
				spec.cycles = opts.leakCycles
			}
			fmt.Fprintf(os.Stderr, "loadbench: %s, %d endpoints, %d+%d cycles of %s (about %s)\n",
				r.title(), n, opts.warmup, spec.cycles, opts.interval, time.Duration(opts.warmup+spec.cycles+1)*opts.interval+startupGrace)
			res, err := runOne(ctx, opts, spec)
			if err != nil {
				return fmt.Errorf("%s with %d endpoints: %w", r.title(), n, err)
			}
			results = append(results, res)
		}
	}
	report := renderReport(opts, results, describeMachine(), describeCommit())
	fmt.Println(report)
	if opts.report != "" {
		if err := writeReport(opts.report, report); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "loadbench: wrote the table into %s\n", opts.report)
	}
	return nil
}

func parseFlags(args []string) (options, error) {
	var opts options
	var sizes, receivers string
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.StringVar(&opts.collector, "collector", "bin/otelcol-databricks", "the otelcol-databricks distribution")
	fs.StringVar(&opts.comparison, "comparison", ".bench/otelcol-comparison", "the comparison build with the contrib prometheus receiver")
	fs.StringVar(&opts.simulator, "simulator", "bin/workspace-simulator", "the workspace simulator")
	fs.StringVar(&sizes, "endpoints", "1000,5000", "comma-separated numbers of serving endpoints")
	fs.StringVar(&receivers, "receivers", "databricksserving,prometheus", "comma-separated receivers to run: databricksserving, prometheus")
	fs.DurationVar(&opts.interval, "interval", 15*time.Second, "collection (scrape) interval of both receivers")
	fs.DurationVar(&opts.latency, "latency", 50*time.Millisecond, "latency the simulator adds to every /metrics request")
	fs.IntVar(&opts.warmup, "warmup", 2, "cycles before the measurement starts")
	fs.IntVar(&opts.cycles, "cycles", 10, "measured cycles per run")
	fs.IntVar(&opts.leakCycles, "leak-cycles", 50, "measured cycles of the first size's run of our receiver, for memory growth")
	fs.IntVar(&opts.concurrency, "max-concurrency", 32, "max_concurrency of our receiver (its default)")
	fs.StringVar(&opts.workdir, "workdir", ".bench/run", "directory for configurations, logs and access logs")
	fs.StringVar(&opts.report, "report", "docs/performance.md", "markdown file whose \"make bench\" section gets the table (empty: print only)")
	fs.StringVar(&opts.command, "command", "make bench", "the command quoted in the report")
	fs.BoolVar(&opts.profile, "profile", false, "save CPU and heap profiles of each collector (pprof extension) into its run directory")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	for _, field := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return options{}, fmt.Errorf("-endpoints: %q is not a positive number", field)
		}
		opts.sizes = append(opts.sizes, n)
	}
	for _, field := range strings.Split(receivers, ",") {
		switch name := strings.TrimSpace(field); name {
		case ours.name():
			opts.receivers = append(opts.receivers, ours)
		case prometheusReceiver.name():
			opts.receivers = append(opts.receivers, prometheusReceiver)
		default:
			return options{}, fmt.Errorf("-receivers: unknown receiver %q (want %s or %s)", name, ours.name(), prometheusReceiver.name())
		}
	}
	switch {
	case opts.interval <= 0:
		return options{}, errors.New("-interval must be positive")
	case opts.cycles < 1, opts.warmup < 0:
		return options{}, errors.New("-cycles must be at least 1 and -warmup not negative")
	}
	for _, path := range []string{opts.collector, opts.comparison, opts.simulator} {
		if _, err := os.Stat(path); err != nil {
			return options{}, fmt.Errorf("%w (run `make bench`, which builds it)", err)
		}
	}
	return opts, nil
}
