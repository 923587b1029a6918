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

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	opts, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	serverOpts := []simulator.Option{simulator.WithScheduleErrors(func(ev simulator.ScheduledEvent, err error) {
		_, _ = fmt.Fprintf(stderr, "workspace-simulator: lifecycle event %s: %v\n", ev, err)
	})}
	if opts.accessLog != "" {
		f, createErr := os.Create(opts.accessLog)
		if createErr != nil {
			return fmt.Errorf("creating the access log: %w", createErr)
		}
		defer func() { _ = f.Close() }()
		serverOpts = append(serverOpts, simulator.WithAccessLog(f))
	}
	server, err := simulator.New(opts.cfg, serverOpts...)
	if err != nil {
		return err
	}
	addr, err := server.Start(opts.listen)
	if err != nil {
		return err
	}
	_, _ = fmt.Fprintf(stdout, "workspace simulator listening on http://%s (%d endpoints, window %s)\n", addr, len(server.Endpoints()), opts.cfg.Window)
	scheduleDone := make(chan struct{})
	go func() {
		defer close(scheduleDone)
		server.RunSchedule(ctx, opts.schedule, opts.repeatSchedule)
	}()
	<-ctx.Done()
	err = server.Close()
	<-scheduleDone
	return err
}
