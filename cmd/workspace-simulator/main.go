// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Command workspace-simulator serves a fake Databricks workspace's
// serving-endpoint APIs on a local address, for `make run`, end-to-end tests
// and load benchmarks.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

// tokenEnv supplies the token when -token is not given, so it need not
// appear in process listings.
const tokenEnv = "SIMULATOR_TOKEN"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "workspace-simulator:", err)
		os.Exit(1)
	}
}

// errUsage marks flag errors, which the flag package has already reported.
var errUsage = errors.New("usage error")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg := simulator.DefaultConfig()
	flags := flag.NewFlagSet("workspace-simulator", flag.ContinueOnError)
	flags.SetOutput(stderr)
	listen := flags.String("listen", "127.0.0.1:18080", "address to listen on")
	flags.StringVar(&cfg.Token, "token", cfg.Token, "bearer token the /api/ paths require (default from $"+tokenEnv+" when set)")
	flags.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every generated value")
	flags.DurationVar(&cfg.Window, "window", cfg.Window, "length of one metrics window")
	flags.IntVar(&cfg.CPU, "cpu", cfg.CPU, "number of CPU endpoints")
	flags.IntVar(&cfg.GPU, "gpu", cfg.GPU, "number of GPU endpoints")
	flags.IntVar(&cfg.MultiEntity, "multi-entity", cfg.MultiEntity, "number of endpoints with two served entities")
	flags.IntVar(&cfg.ScaleToZero, "scale-to-zero", cfg.ScaleToZero, "number of scale-to-zero endpoints")
	flags.IntVar(&cfg.FoundationModel, "fmapi", cfg.FoundationModel, "number of pay-per-token Foundation Model API endpoints (no metrics)")
	flags.IntVar(&cfg.GPUsPerEndpoint, "gpus", cfg.GPUsPerEndpoint, "GPUs per GPU endpoint")
	flags.DurationVar(&cfg.ResponseDelay, "response-delay", cfg.ResponseDelay, "latency added to every /metrics request")
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", flags.Args())
		flags.Usage()
		return errUsage
	}
	if !isFlagSet(flags, "token") {
		if token := getenv(tokenEnv); token != "" {
			cfg.Token = token
		}
	}

	server, err := simulator.New(cfg)
	if err != nil {
		return err
	}
	addr, err := server.Start(*listen)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "workspace simulator listening on http://%s (%d endpoints, window %s)\n", addr, len(server.Endpoints()), cfg.Window)
	<-ctx.Done()
	return server.Close()
}

func isFlagSet(flags *flag.FlagSet, name string) bool {
	set := false
	flags.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}
