// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRestartsLoseNoWindowAndResetNoCounter restarts the collector three times during a run, with SIGKILL and
// SIGTERM, each time starting the next one at once on the same state directory, and checks, window by window,
// that both backends hold exactly what the simulator served (only the very first window is a baseline), and that
// Prometheus saw no counter reset.
func TestRestartsLoseNoWindowAndResetNoCounter(t *testing.T) {
	requireLoopbackOnly(t)
	rows := readMetricsTable(t)
	state := t.TempDir()
	s := startStack(t, stackOptions{overlays: []string{"state.yaml"}, env: []string{"STATE_DIR=" + state}})
	time.Sleep(3 * windowLength)

	var downtimes []time.Duration
	for i, signal := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL} {
		// A crash loses what is between the receiver and the exporters' queues (docs/reliability.md): stop the
		// collector when everything it scraped has reached both backends and no new window is due for a while,
		// as most moments of a real collector's life are. SIGTERM comes 150 to 450 ms before the next window
		// instead: the collector finishes the cycle in progress, whose requests are spread over 500 ms, so it
		// often scrapes past the window's start while shutting down, and the next collector must still write
		// that window at its own timestamp.
		lead := [2]time.Duration{400 * time.Millisecond, windowLength}
		if signal == syscall.SIGTERM {
			lead = [2]time.Duration{150 * time.Millisecond, 450 * time.Millisecond}
		}
		waitForQuietMoment(t, s, rows, lead)
		stopped := time.Now()
		require.NoError(t, s.collector.cmd.Process.Signal(signal))
		<-s.collector.done
		env := append(append([]string{}, s.env...), "STATE_DIR="+state, "SELF_TELEMETRY_PORT="+strconv.Itoa(freePort(t)))
		s.collector = startCollector(t, fmt.Sprintf("otelcol-databricks-restart-%d", i+1), s.configs, env)
		downtimes = append(downtimes, time.Since(stopped).Round(10*time.Millisecond))
		time.Sleep(2 * windowLength)
	}
	t.Logf("down between the signal and the next collector's health check: %v", downtimes)
	// The scenario is a restart shorter than one window (a Databricks minute, scaled down here): one that lasted
	// longer would have let a window pass unscraped, which no saved state can bring back (it is counted as missed).
	for i, d := range downtimes {
		assert.Less(t, d, windowLength, "restart %d lasted a window or more", i+1)
	}
	time.Sleep(2 * windowLength)
	truth := s.truth(t)
	waitForEveryWindow(t, s, rows, truth)
	checkAllEndpoints(t, s, rows, truth)

	t.Run("no counter was reset", func(t *testing.T) {
		resets, err := s.prometheus.instantSeries(`resets(databricks_serving_request_count_total[1h]) > 0 or resets(databricks_serving_request_latency_milliseconds_count[1h]) > 0`)
		require.NoError(t, err)
		assert.Empty(t, resets)
	})
	t.Run("the restarts were restored from saved state", func(t *testing.T) {
		assert.Contains(t, s.collector.out.String(), "Restored the receiver's saved state")
	})
	t.Run("a second collector on the same state fails to start, saying why", func(t *testing.T) {
		env := append(append([]string{}, s.env...), "STATE_DIR="+state, "SELF_TELEMETRY_PORT="+strconv.Itoa(freePort(t)),
			"HEALTH_CHECK_ENDPOINT=127.0.0.1:"+strconv.Itoa(freePort(t)))
		second := startProcess(t, "otelcol-databricks-second", filepath.Join(*repoRoot, "bin", "otelcol-databricks"), s.configs, env)
		select {
		case <-second.done:
		case <-time.After(30 * time.Second):
			t.Fatal("the second collector is still running")
		}
		assert.Error(t, second.err, "it exits with an error")
		assert.Contains(t, second.out.String(), "two collectors must never share one state")
	})
	t.Run("a corrupt state file never stops the collector", func(t *testing.T) {
		corrupt := t.TempDir()
		// The file file_storage keeps the receiver's state in, filled with what is not a database.
		require.NoError(t, os.WriteFile(filepath.Join(corrupt, "receiver_databricksserving_"), bytes.Repeat([]byte("not a database "), 4096), 0o600))
		env := append(append([]string{}, s.env...), "STATE_DIR="+corrupt, "SELF_TELEMETRY_PORT="+strconv.Itoa(freePort(t)))
		third := startCollector(t, "otelcol-databricks-corrupt-state", s.configs, env)
		assert.Contains(t, third.out.String(), "running without it")
	})
}

// waitForQuietMoment waits until both backends hold the window the simulator serves now, for every endpoint, and
// the next window is between lead[0] and lead[1] away. It looks every 50 ms: the moments it looks for last a few
// hundred.
func waitForQuietMoment(t *testing.T, s *stack, rows map[string]metricRow, lead [2]time.Duration) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		if last = quietNow(t, s, rows, lead); last == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no moment when everything scraped had reached the backends within 30 s: %v", last)
}

func quietNow(t *testing.T, s *stack, rows map[string]metricRow, lead [2]time.Duration) error {
	now := time.Now().UnixMilli()
	window := windowLength.Milliseconds()
	current := now / window * window
	if due := current + window - now; due < lead[0].Milliseconds() || due > lead[1].Milliseconds() {
		return fmt.Errorf("the next window is due in %d ms", due)
	}
	truth := s.truth(t)
	for name, ep := range truth.Endpoints {
		if ep.Windows[len(ep.Windows)-1].TimestampMillis != current {
			return fmt.Errorf("%s: the window of %d is not served yet", name, current)
		}
	}
	if err := lastWindowsArrived(s, rows, truth, nil); err != nil {
		return err
	}
	if time.Now().UnixMilli() >= current+window {
		return errors.New("the next window started while looking")
	}
	return nil
}
