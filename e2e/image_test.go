// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/otelcol-databricks/otelcol-databricks/internal/ddintake"
)

var imageFlag = flag.String("image", os.Getenv("OTELCOL_DATABRICKS_IMAGE"),
	"the container image TestContainerImage runs, e.g. otelcol-databricks:0.1.0 (built by `make image`; default $OTELCOL_DATABRICKS_IMAGE)")

const (
	// imageUID is the user the Dockerfile runs the collector as (ARG USER_UID, like the upstream collector images).
	imageUID = 10001
	// imageConfigDir is where the image keeps the shipped configuration.
	imageConfigDir = "/etc/otelcol-databricks"
	// containerLabel marks the suite's containers, so any left behind by a killed run can be found:
	// podman ps -a --filter label=otelcol-databricks-e2e
	containerLabel = "otelcol-databricks-e2e"
)

// podmanCommand runs podman in a way that works on hosts without systemd or journald, inside the suite's
// loopback-only network namespace as well as outside it:
//   - --runtime runc: crun (podman's first choice when it is installed) fails on some kernels' cgroup layouts;
//   - --cgroup-manager cgroupfs: there may be no systemd to ask for cgroups;
//   - --events-backend file: there may be no journald to log events to.
//
// Storage (/var/lib/containers) and runtime state (/run/containers, /run/libpod) need nothing: `unshare -n` makes
// a new network namespace only, so podman inside it sees the same images and containers as outside.
func podmanCommand(args ...string) *exec.Cmd {
	return exec.Command("podman", append(slices.Clone(podmanGlobalFlags), args...)...)
}

var podmanGlobalFlags = []string{"--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"}

// podmanOutput runs a podman command to completion and returns its trimmed standard output.
func podmanOutput(args ...string) (string, error) {
	cmd := podmanCommand(args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("podman %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// podmanRunArgs are the `podman run` options every container of the suite needs:
//   - --network host: the container shares the suite's network namespace (loopback only), so it reaches the
//     simulator, Prometheus and the intake on 127.0.0.1, the suite reaches its health check, and the datadog
//     exporter's cloud metadata probes fail at once as they do for the bare binary;
//   - --ulimit nofile, nproc: podman's default limits (nofile 1048576) can be above the host's hard limits, and runc
//     may not raise them (no CAP_SYS_RESOURCE): "error setting rlimits for ready process ... operation not permitted".
var podmanRunArgs = []string{"--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"}

// requireImage fails (never skips) unless podman is installed and the image exists: `make test-e2e` builds the image
// first and passes -image.
func requireImage(t *testing.T) {
	t.Helper()
	if *imageFlag == "" {
		t.Fatal("no container image given: pass -image otelcol-databricks:0.1.0 (`make test-e2e` builds it with `make image` and passes it)")
	}
	if _, err := exec.LookPath("podman"); err != nil {
		t.Fatal("podman is not installed: run `make image` (scripts/install-podman.sh installs podman and runc from Debian)")
	}
	if err := podmanCommand("image", "exists", *imageFlag).Run(); err != nil {
		t.Fatalf("container image %s does not exist (podman image exists: %v): run `make image`", *imageFlag, err)
	}
}

// startContainer runs image with args in the suite's network namespace, with env passed through podman's own
// environment (`-e NAME`, so no secret is on a command line). Its output goes to the test's artefact folder like a
// process's; it is stopped (podman stop -t 10) and removed when the test ends.
func startContainer(t *testing.T, name string, env []string, mounts []string, args ...string) *process {
	t.Helper()
	podman, err := exec.LookPath("podman")
	require.NoError(t, err)
	runArgs := append(slices.Clone(podmanGlobalFlags), "run", "--rm", "--name", name, "--label", containerLabel+"="+t.Name())
	runArgs = append(runArgs, podmanRunArgs...)
	for _, kv := range env {
		key, _, _ := strings.Cut(kv, "=")
		runArgs = append(runArgs, "-e", key)
	}
	for _, m := range mounts {
		runArgs = append(runArgs, "-v", m)
	}
	runArgs = append(runArgs, *imageFlag)
	runArgs = append(runArgs, args...)

	// startProcess runs `podman run` in the foreground: its output is the container's, and its clean-up (registered
	// first, so run last) saves it once the container has stopped.
	p := startProcess(t, name, podman, runArgs, env)
	t.Cleanup(func() {
		if inspect, err := podmanOutput("container", "inspect", name); err == nil {
			_ = os.WriteFile(filepath.Join(artefactDir(t), name+".inspect.json"), []byte(inspect+"\n"), 0o644)
		}
		start := time.Now()
		if out, err := podmanCommand("stop", "--ignore", "-t", "10", name).CombinedOutput(); err != nil {
			t.Errorf("podman stop %s: %v: %s", name, err, out)
		}
		if took := time.Since(start); took > 9*time.Second {
			t.Errorf("container %s took %s to stop: the collector did not shut down on SIGTERM", name, took.Round(time.Millisecond))
		}
		if out, err := podmanCommand("rm", "--ignore", "-f", name).CombinedOutput(); err != nil {
			t.Errorf("podman rm %s: %v: %s", name, err, out)
		}
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			t.Errorf("podman run %s still running 15 s after the container was removed", name)
		}
	})
	return p
}

// containerPID returns the host PID of the container's main process.
func containerPID(t *testing.T, name string) int {
	t.Helper()
	out, err := podmanOutput("container", "inspect", "--format", "{{.State.Pid}}", name)
	require.NoError(t, err)
	pid, err := strconv.Atoi(out)
	require.NoError(t, err, "container %s: pid %q", name, out)
	require.NotZero(t, pid, "container %s is not running", name)
	return pid
}

// TestContainerImage runs the image built by `make image` with the shipped configuration (Prometheus and Datadog)
// against the suite's stack, and checks that one endpoint's windows reach both backends exactly, as for the bare
// binary, and that the collector runs as the image's non-root user.
func TestContainerImage(t *testing.T) {
	requireLoopbackOnly(t)
	requireImage(t)
	rows := readMetricsTable(t)

	t.Run("image configuration", func(t *testing.T) {
		// One line per field: a Go template cannot index a slice by a computed key, so Env is checked below.
		out, err := podmanOutput("image", "inspect", "--format",
			"{{.Config.User}}\n{{json .Config.Entrypoint}}\n{{json .Config.Cmd}}\n{{json .Config.ExposedPorts}}\n{{json .Config.Env}}", *imageFlag)
		require.NoError(t, err)
		fields := strings.Split(out, "\n")
		require.Len(t, fields, 5, out)
		assert.Equal(t, fmt.Sprintf("%d:%d", imageUID, imageUID), fields[0], "user")
		assert.Equal(t, `["/otelcol-databricks"]`, fields[1], "entrypoint")
		assert.Equal(t, `["--config","`+imageConfigDir+`/config.yaml"]`, fields[2], "command")
		assert.Contains(t, fields[3], `"13133/tcp"`, "exposed ports")
		assert.Contains(t, fields[4], `"HEALTH_CHECK_ENDPOINT=0.0.0.0:13133"`, "environment")
	})

	s := startStack(t, stackOptions{noCollector: true})
	require.NotNil(t, s.intake, "the scenario includes Datadog")

	healthPort := freePort(t)
	// 0.0.0.0 as in the image's default: inside the loopback-only namespace that is 127.0.0.1 alone.
	env := append(append([]string{}, s.env...), fmt.Sprintf("HEALTH_CHECK_ENDPOINT=0.0.0.0:%d", healthPort))
	testdata, err := filepath.Abs(filepath.Join(*repoRoot, "testdata", "e2e"))
	require.NoError(t, err)
	name := fmt.Sprintf("otelcol-databricks-e2e-%d-%d", os.Getpid(), time.Now().UnixNano())
	container := startContainer(t, name, env, []string{testdata + ":/e2e:ro"},
		"--config", imageConfigDir+"/config.yaml",
		"--config", imageConfigDir+"/datadog.yaml",
		"--config", "/e2e/collector.yaml",
		"--config", "/e2e/datadog-intake.yaml",
	)
	waitHTTP200(t, container, localURL(healthPort, "/"), 60*time.Second)

	t.Run("the collector runs as the image's non-root user", func(t *testing.T) {
		pid := containerPID(t, name)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		require.NoError(t, err)
		want := fmt.Sprintf("%d\t%d\t%d\t%d", imageUID, imageUID, imageUID, imageUID) // real, effective, saved, fs
		var uid, gid string
		for _, line := range strings.Split(string(status), "\n") {
			if v, ok := strings.CutPrefix(line, "Uid:\t"); ok {
				uid = v
			}
			if v, ok := strings.CutPrefix(line, "Gid:\t"); ok {
				gid = v
			}
		}
		assert.Equal(t, want, uid, "Uid of the container's main process %d", pid)
		assert.Equal(t, want, gid, "Gid of the container's main process %d", pid)
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		require.NoError(t, err)
		assert.Equal(t, "/otelcol-databricks", strings.Split(string(cmdline), "\x00")[0], "the main process is the collector")
		// podman's own view agrees: user inside the container, huser on the host (no user namespace).
		top, err := podmanOutput("top", name, "user,huser")
		require.NoError(t, err)
		t.Logf("podman top %s user,huser:\n%s", name, top)
		lines := strings.Split(top, "\n")
		require.Len(t, lines, 2, "one process in the container")
		assert.Equal(t, []string{strconv.Itoa(imageUID), strconv.Itoa(imageUID)}, strings.Fields(lines[1]))
	})

	time.Sleep(observedWindows * windowLength)
	truth := s.truth(t)
	const endpoint = "cpu-endpoint-0"
	require.Contains(t, truth.Endpoints, endpoint)
	waitForLastWindows(t, s, rows, truth, []string{endpoint})

	t.Run("one endpoint's windows reach Prometheus and Datadog exactly", func(t *testing.T) {
		checkEndpoint(t, s, rows, endpoint, truth.Endpoints[endpoint].Windows, true)
	})

	t.Run("the datadog exporter validated its key and sent series and sketches", func(t *testing.T) {
		requests := s.intake.Requests()
		assert.Positive(t, requests[ddintake.PathValidate], "validate")
		assert.Positive(t, requests[ddintake.PathSeries], "series")
		assert.Positive(t, requests[ddintake.PathSketches], "sketches")
		assert.Zero(t, requests[ddintake.CountRejected], "payloads refused for their API key")
	})

	t.Run("no secret in the container's output", func(t *testing.T) {
		out := container.out.String()
		assert.NotContains(t, out, simulatorToken)
		assert.NotContains(t, out, datadogAPIKey)
	})
}
