// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The memory the receiver may hold, as docs/reliability.md ("Memory: the worst case the limits allow") bounds it
// at the default limits, which the shipped configuration keeps; TestWorstCaseMemoryStaysWithinTheDocumentedBound
// asserts these figures in process.
const (
	// Per endpoint without series: its description at every cap, its computed series, its share of a cycle's output.
	docBoundPerEndpoint = 512 << 10
	// Per series of the longest labels, with its point in a cycle's output.
	docBoundPerSeries = 8 << 10
	// Per scrape in flight: a body of max_body_bytes read, parsed, converted.
	docBoundPerScrapeInFlight = 16 << 20
	// limits.max_series, the series one endpoint may hold.
	defaultMaxSeries = 2000
	// A discovery refresh holds the list's body (at most 8 KiB a listed endpoint) and the descriptions being
	// fetched (at most max_body_bytes each).
	docListBytesPerEndpoint = 8 << 10
	docMaxDescriptionBytes  = 1 << 20
)

// hostileListPadding is how many fake endpoints the hostile list adds: within limits.max_endpoints (1000), so
// every listed endpoint is taken, and max_endpoints trims nothing.
const hostileListPadding = 100

// TestAHostileEndpointAmongNormalOnes runs the standard stack with one more endpoint that turns hostile: its
// /metrics churns new series past limits.max_series, then sends a body over max_body_bytes, then samples over
// max_labels, then answers 400 echoing the request's headers (its Authorization included); meanwhile every
// description is amplified (a hundred served entities and two hundred long tags more) and the list is padded with
// fake endpoints that are never describable. Every other endpoint's data must equal the truth in both backends,
// the hostile endpoint must show each limit in both, the token must never appear in the collector's output, and
// the collector's heap must stay within what docs/reliability.md documents for a workspace of this size.
func TestAHostileEndpointAmongNormalOnes(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	const hostile = "hostile-endpoint-0"
	rows := readMetricsTable(t)
	// failures.yaml lists and describes every 2 s, so the list and get faults reach the collector within the test.
	s := startStack(t, stackOptions{overlays: []string{"failures.yaml"}, noCollector: true})
	s.control(t, http.MethodPost, "/simulator/endpoints", map[string]any{"name": hostile, "kind": "cpu"}, nil)
	listed := s.listEndpoints(t)
	normal := slices.DeleteFunc(s.scrapedEndpoints(t), func(name string) bool { return name == hostile })
	require.Len(t, normal, 5)

	s.collector = startCollector(t, "otelcol-databricks", s.configs, s.env)
	rss := watchRSS(t, s.collector.cmd.Process.Pid)
	started := time.Now()
	ep := map[string]string{endpointLabel: hostile}
	dd := map[string]string{endpointTag: hostile}

	// The idle baseline: the same stack, the hostile endpoint still behaving.
	time.Sleep(12 * time.Second)
	baselineEnd := time.Now()
	heapMetric := s.heapMetric(t)
	baseline := s.maxHeap(t, heapMetric, started, baselineEnd, 2)
	rssBaseline := rss.peak(started, baselineEnd)
	t.Logf("idle baseline: heap %.1f MiB, RSS %.1f MiB", mib(baseline), mib(rssBaseline))

	hostileStart := time.Now()
	s.control(t, http.MethodPut, "/simulator/faults/list", map[string]any{"fault": map[string]any{"mode": "huge_list", "size": hostileListPadding}}, nil)
	s.control(t, http.MethodPut, "/simulator/faults/get", map[string]any{"fault": map[string]any{
		"mode": "amplified_describe", "size": 100, "labels": 200, "label_value_length": 200,
	}}, nil)
	setFault := func(fault map[string]any) time.Time {
		s.control(t, http.MethodPatch, "/simulator/endpoints/"+hostile, map[string]any{"fault": fault}, nil)
		return time.Now()
	}

	t.Run("series churn past max_series", func(t *testing.T) {
		since := setFault(map[string]any{"mode": "series_churn", "labels": 2500})
		s.waitForPrometheusSample(t, selector("databricks_serving_limit_exceeded", with(ep, "limit", "max_series")), since, positive)
		s.waitForDatadogPoint(t, "databricks.serving.limit.exceeded", with(dd, "limit", "max_series"), since, positive)
		// Every description is amplified past max_served_entities and max_tags (the hostile endpoint's too).
		for _, limit := range []string{"max_served_entities", "max_tags"} {
			s.waitForPrometheusSample(t, selector("databricks_serving_limit_exceeded", with(ep, "limit", limit)), hostileStart, positive)
			s.waitForDatadogPoint(t, "databricks.serving.limit.exceeded", with(dd, "limit", limit), hostileStart, positive)
		}
		time.Sleep(2 * time.Second) // a few more scrapes of new label sets

		churn := s.metricNamed(t, "churn_gauge")
		series, err := s.prometheus.rawSamples(selector(churn, ep))
		require.NoError(t, err)
		assert.NotEmpty(t, series)
		assert.LessOrEqual(t, len(series), defaultMaxSeries, "prometheus: the churning series stop at max_series")
		ids := s.intake.TagValues("databricks.serving.unmapped.churn_gauge", "id")
		assert.NotEmpty(t, ids)
		assert.LessOrEqual(t, len(ids), defaultMaxSeries, "datadog: the churning series stop at max_series")
		t.Logf("%d churning series in Prometheus, %d in Datadog; the simulator offered 2500 new ones a scrape", len(series), len(ids))
	})

	for _, phase := range []struct {
		name, limit string
		fault       map[string]any
	}{
		{"a body over max_body_bytes", "max_body_bytes", map[string]any{"mode": "huge_body", "size": 2 << 20}},
		{"samples over max_labels", "max_labels", map[string]any{"mode": "many_labels", "labels": 20}},
	} {
		t.Run(phase.name, func(t *testing.T) {
			since := setFault(phase.fault)
			s.waitForPrometheusSample(t, selector("databricks_serving_scrape_up", with(ep, "error_type", "limit")), since, zero)
			s.waitForPrometheusSample(t, selector("databricks_serving_limit_exceeded", with(ep, "limit", phase.limit)), since, one)
			s.waitForDatadogPoint(t, "databricks.serving.scrape.up", with(dd, "error.type", "limit"), since, zero)
			s.waitForDatadogPoint(t, "databricks.serving.limit.exceeded", with(dd, "limit", phase.limit), since, one)
		})
	}

	t.Run("answers that echo the request's headers", func(t *testing.T) {
		echo := map[string]any{"mode": "echo_request", "status": http.StatusBadRequest}
		since := setFault(echo)
		// The describe calls echo too: their failures are logged.
		s.control(t, http.MethodPut, "/simulator/faults/get", map[string]any{"fault": echo}, nil)
		s.waitForPrometheusSample(t, selector("databricks_serving_scrape_up", with(ep, "error_type", "server_error")), since, zero)
		s.waitForDatadogPoint(t, "databricks.serving.scrape.up", with(dd, "error.type", "server_error"), since, zero)
		eventually(t, failureTimeout, "the collector logs what the echoing answers said", func() error {
			if out := s.collector.out.String(); !strings.Contains(out, "could not handle this request") {
				return fmt.Errorf("no log line quotes an echoing answer yet")
			}
			return nil
		})
	})

	s.control(t, http.MethodPut, "/simulator/faults/list", map[string]any{"fault": nil}, nil)
	s.control(t, http.MethodPut, "/simulator/faults/get", map[string]any{"fault": nil}, nil)
	setFault(nil)
	time.Sleep(2 * windowLength)
	hostileEnd := time.Now()

	t.Run("the list was taken whole: within max_endpoints", func(t *testing.T) {
		want := float64(len(listed) + hostileListPadding)
		s.waitForPrometheusSample(t, `databricks_serving_workspace_endpoints{selection="discovered"}`, hostileStart,
			func(v float64) bool { return v == want })
		// limit.exceeded{limit=max_endpoints} is written on the workspace every cycle: 0 all along.
		trimmed, err := s.prometheus.rawSamples(`databricks_serving_limit_exceeded{limit="max_endpoints"}`)
		require.NoError(t, err)
		for _, ser := range trimmed {
			for _, smp := range ser.Samples {
				assert.Zero(t, smp.Value, "no endpoint was left out (at %d)", smp.TimestampMs)
			}
		}
		// The fake endpoints were asked about, answered 404, and brought no data.
		series, err := s.prometheus.rawSamples(selector(rows["request_count_total"].PromName, nil))
		require.NoError(t, err)
		var withData []string
		for _, ser := range series {
			withData = append(withData, ser.Labels[endpointLabel])
		}
		assert.Equal(t, sortedUnique(append(slices.Clone(normal), hostile)), sortedUnique(withData))
	})

	t.Run("every other endpoint's data equal the truth in both backends", func(t *testing.T) {
		truth := s.truth(t)
		waitForLastWindows(t, s, rows, truth, normal)
		for _, name := range normal {
			t.Run(name, func(t *testing.T) {
				checkEndpoint(t, s, rows, name, truth.Endpoints[name].Windows, true)
			})
		}
	})

	t.Run("no secret in the collector's output", func(t *testing.T) {
		out := s.collector.out.String()
		assert.NotContains(t, out, simulatorToken)
		assert.NotContains(t, out, datadogAPIKey)
		assert.Contains(t, out, "[REDACTED]", "the echoed credentials were removed, not left out")
		// A hundred endpoints failing to describe on every refresh (every 2 s) make a line when the set of failing
		// endpoints changes, not one per refresh or per endpoint.
		lines := strings.Count(out, "Could not describe some serving endpoints")
		t.Logf("%d log lines about describe failures", lines)
		assert.Positive(t, lines)
		assert.LessOrEqual(t, lines, 6)
	})

	t.Run("the heap stays within the documented bound", func(t *testing.T) {
		// The bound for this workspace at the default limits (docs/reliability.md): every listed endpoint (the
		// standard ones, the hostile one, the fake ones) at most 512 KiB without series, its description at every
		// cap, which the amplified descriptions reach; the hostile endpoint's series up to max_series, 8 KiB each
		// (the normal endpoints' tens of series are in the baseline); one scrape in flight at max_body_bytes,
		// 16 MiB (only the hostile endpoint sends such bodies; the others' are in the baseline); a discovery
		// refresh in flight, the list's body and the describable endpoints' descriptions. That is live heap.
		// otelcol_process_runtime_heap_alloc_bytes also counts garbage not yet collected, which Go lets grow to
		// about the live heap again (GOGC=100, docs/reliability.md "For sizing"), so the bound on it is twice the
		// live heap: the idle baseline's (at most what the baseline's heap_alloc showed) plus the increment.
		endpoints := int64(len(listed) + hostileListPadding)
		describable := int64(len(listed))
		live := endpoints*docBoundPerEndpoint + defaultMaxSeries*docBoundPerSeries + docBoundPerScrapeInFlight +
			endpoints*docListBytesPerEndpoint + describable*docMaxDescriptionBytes
		bound := 2 * (baseline + live)
		peak := s.maxHeap(t, heapMetric, hostileStart, hostileEnd, 3)
		rssPeak := rss.peak(hostileStart, hostileEnd)
		t.Logf("hostile run: heap peak %.1f MiB (baseline %.1f MiB, documented increment %.1f MiB live, bound %.1f MiB); RSS peak %.1f MiB (baseline %.1f MiB)",
			mib(peak), mib(baseline), mib(live), mib(bound), mib(rssPeak), mib(rssBaseline))
		assert.LessOrEqual(t, peak, bound, "otelcol_process_runtime_heap_alloc_bytes")
	})
	t.Logf("hostile phases took %s", hostileEnd.Sub(hostileStart).Round(time.Second))
}

func positive(v float64) bool { return v > 0 }
func zero(v float64) bool     { return v == 0 }
func one(v float64) bool      { return v == 1 }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// with returns a copy of labels with key set to value.
func with(labels map[string]string, key, value string) map[string]string {
	out := map[string]string{key: value}
	for k, v := range labels {
		out[k] = v
	}
	return out
}

// waitForPrometheusSample waits until a series matching sel has a sample at or after since for which ok holds.
func (s *stack) waitForPrometheusSample(t *testing.T, sel string, since time.Time, ok func(float64) bool) {
	t.Helper()
	eventually(t, failureTimeout, "prometheus: "+sel+" since "+since.Format(time.TimeOnly), func() error {
		series, err := s.prometheus.rawSamples(sel)
		if err != nil {
			return err
		}
		var last []sample
		for _, ser := range series {
			for _, smp := range ser.Samples {
				if smp.TimestampMs >= since.UnixMilli() {
					if ok(smp.Value) {
						return nil
					}
					last = append(last, smp)
				}
			}
		}
		return fmt.Errorf("%d series, samples since then: %v", len(series), last[max(0, len(last)-5):])
	})
}

// waitForDatadogPoint waits until a gauge of metric with the tags has a point at or after since (to the second)
// for which ok holds.
func (s *stack) waitForDatadogPoint(t *testing.T, metric string, tags map[string]string, since time.Time, ok func(float64) bool) {
	t.Helper()
	eventually(t, failureTimeout, fmt.Sprintf("datadog: %s%v since %s", metric, tags, since.Format(time.TimeOnly)), func() error {
		n := 0
		for _, p := range s.intake.GaugePoints(metric, tags) {
			if p.Timestamp >= since.Unix() {
				if ok(p.Value) {
					return nil
				}
				n++
			}
		}
		return fmt.Errorf("%d points since then, none as wanted", n)
	})
}

// metricNamed returns the one Prometheus metric name that contains part.
func (s *stack) metricNamed(t *testing.T, part string) string {
	t.Helper()
	var found []string
	eventually(t, failureTimeout, "a metric named *"+part+"*", func() error {
		names, err := s.prometheus.metricNames()
		if err != nil {
			return err
		}
		found = slices.DeleteFunc(names, func(n string) bool { return !strings.Contains(n, part) })
		if len(found) == 0 {
			return fmt.Errorf("none yet")
		}
		return nil
	})
	require.Len(t, found, 1, "metrics named *%s*", part)
	return found[0]
}

// heapMetric is the Prometheus name of the collector's otelcol_process_runtime_heap_alloc_bytes, which the shipped
// configuration scrapes from the collector's telemetry into the same backend.
func (s *stack) heapMetric(t *testing.T) string {
	return s.metricNamed(t, "otelcol_process_runtime_heap_alloc")
}

// maxHeap waits until Prometheus holds at least n samples of the heap metric between from and to and a sample
// after to (so none of the interval is still on its way), and returns the largest between from and to.
func (s *stack) maxHeap(t *testing.T, metric string, from, to time.Time, n int) int64 {
	t.Helper()
	var peak int64
	eventually(t, failureTimeout, fmt.Sprintf("%d samples of %s between %s and %s", n, metric, from.Format(time.TimeOnly), to.Format(time.TimeOnly)), func() error {
		series, err := s.prometheus.rawSamples(metric)
		if err != nil {
			return err
		}
		count, after := 0, false
		peak = 0
		for _, ser := range series {
			for _, smp := range ser.Samples {
				switch {
				case smp.TimestampMs > to.UnixMilli():
					after = true
				case smp.TimestampMs >= from.UnixMilli():
					count++
					peak = max(peak, int64(smp.Value))
				}
			}
		}
		if count < n || !after {
			return fmt.Errorf("%d samples in the interval, one after it: %v", count, after)
		}
		t.Logf("%s: %d samples from %s to %s, the largest %.1f MiB", metric, count, from.Format(time.TimeOnly), to.Format(time.TimeOnly), mib(peak))
		return nil
	})
	return peak
}

// rssWatch samples a process's resident set size every 200 ms until the test ends.
type rssWatch struct {
	mu      sync.Mutex
	samples []rssSample
}

type rssSample struct {
	at    time.Time
	bytes int64
}

func watchRSS(t *testing.T, pid int) *rssWatch {
	w := &rssWatch{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(200 * time.Millisecond)
		defer ticker.Stop()
		for {
			if rss, err := readRSS(pid); err == nil {
				w.mu.Lock()
				w.samples = append(w.samples, rssSample{at: time.Now(), bytes: rss})
				w.mu.Unlock()
			}
			select {
			case <-stop:
				return
			case <-ticker.C:
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return w
}

// peak is the largest RSS sampled between from and to.
func (w *rssWatch) peak(from, to time.Time) int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var largest int64
	for _, smp := range w.samples {
		if !smp.at.Before(from) && !smp.at.After(to) {
			largest = max(largest, smp.bytes)
		}
	}
	return largest
}

// readRSS reads VmRSS from /proc/<pid>/status.
func readRSS(pid int) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, parseErr := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10, parseErr
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
