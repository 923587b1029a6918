// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build ocbimport

// Package ocbimport proves the README's "build your own collector" instructions: it takes the ocb manifest block
// out of README.md verbatim, builds it with the pinned ocb next to a link to this checkout (as a user's clone would
// sit next to their manifest), runs the resulting collector against the workspace simulator with the debug
// exporter and finds every simulated endpoint's request counter in its output.
//
// It runs outside the loopback network namespace of the e2e suite because ocb downloads the modules the
// manifest names (the otlp exporter, the providers) that the distribution does not use; the collector it builds
// has no datadog exporter and only talks to 127.0.0.1.
//
//	go test -tags ocbimport ./e2e/ocbimport -repo-root "$PWD" -ocb "$PWD/.tools/ocb"
package ocbimport

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/simulator"
)

var (
	repoRoot = flag.String("repo-root", "../..", "the repository root, where README.md and the receiver are")
	ocbPath  = flag.String("ocb", "../../.tools/ocb", "the ocb binary (make tools)")
)

// manifestMarker precedes the README's ocb manifest block.
const manifestMarker = "<!-- ocb-import-manifest:"

// readmeManifest returns the yaml block that follows the marker in README.md.
func readmeManifest(t *testing.T) string {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join(*repoRoot, "README.md"))
	require.NoError(t, err)
	text := string(readme)
	at := strings.Index(text, manifestMarker)
	require.GreaterOrEqual(t, at, 0, "README.md has no %q marker before its ocb manifest", manifestMarker)
	block := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindStringSubmatch(text[at:])
	require.NotNil(t, block, "no ```yaml block after the ocb manifest marker in README.md")
	return block[1]
}

func TestTheReadmesOCBManifestBuildsACollectorThatCollects(t *testing.T) {
	manifest := readmeManifest(t)
	require.Contains(t, manifest, "receiver/databricksservingreceiver", "the README's manifest does not name the receiver")

	work := t.TempDir()
	root, err := filepath.Abs(*repoRoot)
	require.NoError(t, err)
	// The manifest takes the receiver from ./otelcol-databricks, a clone next to it.
	require.NoError(t, os.Symlink(root, filepath.Join(work, "otelcol-databricks")))
	require.NoError(t, os.WriteFile(filepath.Join(work, "builder-config.yaml"), []byte(manifest), 0o600))

	ocb, err := filepath.Abs(*ocbPath)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	build := exec.CommandContext(ctx, ocb, "--config", "builder-config.yaml")
	build.Dir = work
	// Static like the distribution, so the compiled packages are shared with its build.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	started := time.Now()
	out, err := build.CombinedOutput()
	require.NoError(t, err, "ocb failed on the README's manifest:\n%s", out)
	t.Logf("ocb built the README's manifest in %s", time.Since(started).Round(time.Second))
	binary := filepath.Join(work, "otelcol-custom", "otelcol-custom")
	require.FileExists(t, binary)

	sim := startSimulator(t)
	collector := startCollector(t, binary, work, sim.url)
	for _, name := range sim.endpoints {
		waitFor(t, collector, 90*time.Second, fmt.Sprintf("endpoint %s's request counter", name), func(output string) bool {
			return endpointHasRequestCount(output, name)
		})
	}
}

// endpointHasRequestCount reports whether the debug exporter printed a resource of endpoint name carrying the
// request counter.
func endpointHasRequestCount(output, name string) bool {
	for _, resource := range strings.Split(output, "ResourceMetrics #")[1:] {
		if strings.Contains(resource, "databricks.serving.endpoint.name: Str("+name+")") &&
			strings.Contains(resource, "-> Name: databricks.serving.request.count") {
			return true
		}
	}
	return false
}

type simulatedWorkspace struct {
	url       string
	endpoints []string
}

func startSimulator(t *testing.T) simulatedWorkspace {
	t.Helper()
	cfg := simulator.DefaultConfig()
	cfg.Token = "dapi-ocb-import"
	cfg.Window = 2 * time.Second
	cfg.CPU, cfg.GPU, cfg.MultiEntity, cfg.ScaleToZero, cfg.FoundationModel = 2, 1, 0, 0, 0
	sim, err := simulator.New(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() { srv.Close(); _ = sim.Close() })
	return simulatedWorkspace{url: srv.URL, endpoints: sim.Endpoints()}
}

// collectorConfig is what a user of the custom build writes: the receiver and the debug exporter.
const collectorConfig = `receivers:
  databricksserving:
    endpoint: ${env:DATABRICKS_HOST}
    token: ${env:DATABRICKS_TOKEN}
    collection_interval: 2s
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    metrics:
      receivers: [databricksserving]
      exporters: [debug]
`

type runningCollector struct {
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (c *runningCollector) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *runningCollector) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.String()
}

func startCollector(t *testing.T, binary, dir, workspaceURL string) *runningCollector {
	t.Helper()
	config := filepath.Join(dir, "config.yaml")
	require.NoError(t, os.WriteFile(config, []byte(collectorConfig), 0o600))
	c := &runningCollector{done: make(chan struct{})}
	cmd := exec.Command(binary, "--config", config)
	cmd.Env = append(os.Environ(), "DATABRICKS_HOST="+workspaceURL, "DATABRICKS_TOKEN=dapi-ocb-import")
	cmd.Stdout, cmd.Stderr = c, c
	require.NoError(t, cmd.Start())
	go func() { _ = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the custom collector did not stop within 15 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("----- custom collector output -----\n%s", c.output())
		}
	})
	return c
}

func waitFor(t *testing.T, c *runningCollector, timeout time.Duration, what string, ok func(string) bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if ok(c.output()) {
			return
		}
		select {
		case <-c.done:
			t.Fatalf("the custom collector exited before it printed %s", what)
		case <-time.After(500 * time.Millisecond):
		}
	}
	t.Fatalf("the custom collector printed no %s within %s", what, timeout)
}
