// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// startupGrace is how long a run waits beyond its cycles, for the collector to start and the last cycle to end.
const startupGrace = 10 * time.Second

// benchToken is the simulator's bearer token. It protects nothing: the simulator listens on loopback inside the
// benchmark's own network namespace.
const benchToken = "dapi-loadbench" //nolint:gosec // G101: the simulator's test token, see above

type receiverUnderTest int

const (
	ours receiverUnderTest = iota
	prometheusReceiver
)

// name is the receiver's component type, as -receivers and the run directories name it.
func (r receiverUnderTest) name() string {
	if r == ours {
		return "databricksserving"
	}
	return "prometheus"
}

func (r receiverUnderTest) title() string {
	if r == ours {
		return "databricksserving"
	}
	return "prometheus (contrib)"
}

type runSpec struct {
	receiver  receiverUnderTest
	endpoints int
	cycles    int
}

// runOne runs one collector against a fresh simulator and measures it.
func runOne(ctx context.Context, opts options, spec runSpec) (result, error) {
	dir := filepath.Join(opts.workdir, fmt.Sprintf("%s-%d", spec.receiver.name(), spec.endpoints))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return result{}, err
	}
	accessLog := filepath.Join(dir, "access.log")
	sim, addr, err := startSimulator(ctx, opts, spec.endpoints, accessLog, filepath.Join(dir, "simulator.log"))
	if err != nil {
		return result{}, err
	}
	simStopped := false
	defer func() {
		if !simStopped {
			_ = stopProcess(sim, 10*time.Second)
		}
	}()

	configPath := filepath.Join(dir, "collector.yaml")
	binary := opts.collector
	config := oursConfig(addr, opts)
	if spec.receiver == prometheusReceiver {
		binary = opts.comparison
		config = prometheusConfig(addr, opts, endpointNames(spec.endpoints))
	}
	pprofAddr := ""
	if opts.profile {
		port, portErr := freePort()
		if portErr != nil {
			return result{}, portErr
		}
		pprofAddr = "127.0.0.1:" + strconv.Itoa(port)
		config = withPprof(config, pprofAddr)
	}
	if err = os.WriteFile(configPath, []byte(config), 0o600); err != nil {
		return result{}, err
	}
	logFile, err := os.Create(filepath.Join(dir, "collector.log"))
	if err != nil {
		return result{}, err
	}
	// The collector writes the log; closing our copy of the descriptor has nothing to report.
	defer func() { _ = logFile.Close() }()
	collector := exec.CommandContext(ctx, binary, "--config", configPath)
	collector.Stdout, collector.Stderr = logFile, logFile
	collector.Env = append(os.Environ(), "BENCH_TOKEN="+benchToken)
	if err = collector.Start(); err != nil {
		return result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- collector.Wait() }()
	sampler := startSampling(collector.Process.Pid, 500*time.Millisecond)

	runFor := time.Duration(opts.warmup+spec.cycles+1)*opts.interval + startupGrace
	if pprofAddr != "" {
		go captureProfiles(ctx, pprofAddr, dir, startupGrace+time.Duration(opts.warmup)*opts.interval, time.Duration(spec.cycles)*opts.interval)
	}
	select {
	case <-time.After(runFor):
	case exitErr := <-exited:
		sampler.stop()
		return result{}, fmt.Errorf("the collector exited early (%v); see %s", exitErr, logFile.Name())
	case <-ctx.Done():
		_ = collector.Process.Kill()
		return result{}, ctx.Err()
	}
	samples := sampler.stop()
	if err = writeSamples(filepath.Join(dir, "process.csv"), samples); err != nil {
		return result{}, err
	}
	_ = collector.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited: //nolint:errcheck // how it exits after SIGTERM is in its log; the measurements are taken
	case <-time.After(30 * time.Second):
		_ = collector.Process.Kill()
		<-exited //nolint:errcheck // killed: the error only says so
	}
	simStopped = true
	if err = stopProcess(sim, 10*time.Second); err != nil {
		return result{}, fmt.Errorf("stopping the simulator: %w", err)
	}

	requests, err := readAccessLog(accessLog)
	if err != nil {
		return result{}, err
	}
	return analyze(spec, opts, requests, samples)
}

// writeSamples saves the process readings of a run, for looking at memory over time.
func writeSamples(path string, samples []sample) error {
	var b strings.Builder
	b.WriteString("unix_ms,cpu_seconds,rss_bytes,rss_anon_bytes\n")
	for _, s := range samples {
		fmt.Fprintf(&b, "%d,%.2f,%d,%d\n", s.at.UnixMilli(), s.cpu.Seconds(), s.rssBytes, s.anonBytes)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// startSimulator starts the workspace simulator on a free loopback port and returns it with its address. A port
// taken between choosing and binding it makes it try another.
func startSimulator(ctx context.Context, opts options, endpoints int, accessLog, logPath string) (*exec.Cmd, string, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, "", err
		}
		addr := "127.0.0.1:" + strconv.Itoa(port)
		logFile, err := os.Create(logPath)
		if err != nil {
			return nil, "", err
		}
		cmd := exec.CommandContext(ctx, opts.simulator,
			"-listen", addr, "-access-log", accessLog,
			"-cpu", strconv.Itoa(endpoints), "-gpu", "0", "-multi-entity", "0", "-scale-to-zero", "0", "-fmapi", "0",
			"-response-delay", opts.latency.String())
		cmd.Env = append(os.Environ(), "SIMULATOR_TOKEN="+benchToken)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			_ = logFile.Close()
			return nil, "", err
		}
		cmd.Stderr = logFile
		// The simulator writes the log; closing our copy of the descriptor has nothing to report.
		if err = cmd.Start(); err != nil {
			_ = logFile.Close()
			return nil, "", err
		}
		_ = logFile.Close()
		reader := bufio.NewReader(stdout)
		line, err := reader.ReadString('\n')
		if err == nil && strings.Contains(line, "listening on") {
			go func() { _, _ = io.Copy(io.Discard, reader) }()
			return cmd, addr, nil
		}
		_ = cmd.Wait()
		stderr, _ := os.ReadFile(logPath)
		lastErr = fmt.Errorf("the simulator did not start: %s", strings.TrimSpace(string(stderr)))
		if !strings.Contains(string(stderr), "address already in use") {
			break
		}
	}
	return nil, "", lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// stopProcess sends SIGTERM and waits, killing the process after timeout.
func stopProcess(cmd *exec.Cmd, timeout time.Duration) error {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			return fmt.Errorf("exited with %v", exitErr)
		}
		return err
	case <-time.After(timeout):
		_ = cmd.Process.Kill()
		<-done //nolint:errcheck // killed: the error only says so, and the timeout is what is reported
		return fmt.Errorf("did not stop within %s", timeout)
	}
}

// endpointNames are the simulator's CPU endpoint names, in its list order.
func endpointNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = "cpu-endpoint-" + strconv.Itoa(i)
	}
	return names
}

// withPprof adds the pprof extension on addr to a collector configuration.
func withPprof(config, addr string) string {
	config = strings.Replace(config, "service:\n", "service:\n  extensions: [pprof]\n", 1)
	return "extensions:\n  pprof:\n    endpoint: " + addr + "\n" + config
}

// captureProfiles waits for the measured cycles, records a CPU profile over them, then a heap profile.
func captureProfiles(ctx context.Context, addr, dir string, wait, duration time.Duration) {
	select {
	case <-time.After(wait):
	case <-ctx.Done():
		return
	}
	fetch := func(path, file string, timeout time.Duration) {
		client := http.Client{Timeout: timeout}
		resp, err := client.Get("http://" + addr + path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: profile:", err)
			return
		}
		defer func() { _ = resp.Body.Close() }()
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadbench: profile:", err)
			return
		}
		defer func() { _ = f.Close() }()
		_, _ = io.Copy(f, resp.Body)
	}
	seconds := int(duration.Seconds())
	fetch("/debug/pprof/profile?seconds="+strconv.Itoa(seconds), "cpu.pprof", duration+time.Minute)
	fetch("/debug/pprof/heap", "heap.pprof", time.Minute)
}

// The two collectors' configurations: the same interval, timeout and pipeline. Our receiver runs with its
// defaults except spread_requests, which is off so that a cycle is one burst whose wall time shows the effect of
// max_concurrency and connection reuse (with it on, requests are spread over half the interval by design).
// The collectors' own telemetry is off in both.
const pipeline = `processors:
  batch: {}
exporters:
  debug:
    verbosity: basic
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [%s]
      processors: [batch]
      exporters: [debug]
`

func oursConfig(addr string, opts options) string {
	return fmt.Sprintf(`receivers:
  databricksserving:
    endpoint: http://%s
    token: ${env:BENCH_TOKEN}
    collection_interval: %s
    timeout: %s
    max_concurrency: %d
    spread_requests: false
`, addr, opts.interval, requestTimeout(opts), opts.concurrency) + fmt.Sprintf(pipeline, ours.name())
}

// requestTimeout is 10 s, or the interval when that is shorter (Prometheus refuses a longer timeout).
func requestTimeout(opts options) time.Duration { return min(10*time.Second, opts.interval) }

// prometheusConfig is what Databricks' guide has users write, folded into one scrape job: one static target per
// endpoint, each with its metrics path and an instance label naming the endpoint.
func prometheusConfig(addr string, opts options, names []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `receivers:
  prometheus:
    config:
      scrape_configs:
        - job_name: databricks-serving
          scrape_interval: %s
          scrape_timeout: %s
          authorization:
            credentials: %s
          static_configs:
`, opts.interval, requestTimeout(opts), benchToken)
	for _, name := range names {
		fmt.Fprintf(&b, `            - targets: ["%s"]
              labels: {__metrics_path__: "/api/2.0/serving-endpoints/%s/metrics", instance: "%s"}
`, addr, name, name)
	}
	return b.String() + fmt.Sprintf(pipeline, prometheusReceiver.name())
}
