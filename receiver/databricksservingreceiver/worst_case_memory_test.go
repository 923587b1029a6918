// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The worst case of every limit at once, with the default limits: the figures of docs/reliability.md
// ("Memory: the worst case the limits allow") come from this test's log, and it fails when the heap exceeds them.
//
// Each endpoint of a hostile workspace is described at every description cap (served entities and tags over
// their caps, tags of the longest key and value, entity fields filling the body), and every scrape serves a body
// as large as limits.max_body_bytes whose samples carry the most labels of the longest names and values, in
// families of the longest names and HELP, each sample a new series, until limits.max_series is reached and
// beyond. A real workspace allows 1000 endpoints; the test drives worstCaseEndpoints of them (all scraped at
// once, as max_concurrency allows up to 32) and measures the live heap (see measureWorstCase): what an endpoint
// holds without series, what a series holds, each with its share of a cycle's output, and the cycle's peak per
// scrape in flight. The first two do not depend on the number of endpoints, the last scales with
// max_concurrency; per workspace: max_endpoints x the first + max_workspace_series x the second +
// max_concurrency x the last.
const (
	worstCaseEndpoints = 8
	// The documented bounds the measured figures must stay under (docs/reliability.md).
	worstCasePerEndpoint = 512 << 10 // an endpoint's description, resources, computed series, output
	worstCasePerSeries   = 8 << 10   // one series of the longest labels, and its point in the output
	// What one scrape in flight holds. The figure is the cycle's peak divided by the scrapes in flight, and it
	// depends on how many of them peak together: 7–9 MiB on an idle machine, 12.3 MiB seen on a loaded one.
	worstCasePeakPerScrape = 16 << 20
	// The workspace at the defaults: 1000 x 512 KiB + 100,000 x 8 KiB + 32 x 16 MiB = 1793 MiB.
	worstCaseWorkspace = 1800 << 20
)

// worstCaseStep is the time between two cycles: short, so that every series made is still held when the last
// cycle runs (series are forgotten idleSeriesLifetime after their last sample); collection_interval may be as
// short as that.
const worstCaseStep = 5 * time.Second

// worstCase builds the hostile workspace's answers for limits.
type worstCase struct {
	limits         LimitsConfig
	linesPerBody   int
	scrapes        int
	bodyPrefix     []byte // HELP and TYPE lines
	describeFormat []byte // with "EPXX" for the endpoint's code
}

// endpointCode is the 4 bytes that make every label value and tag of an endpoint its own.
func endpointCode(i int) string { return fmt.Sprintf("%04d", i) }

func pad(prefix string, n int, fill byte) string {
	if len(prefix) >= n {
		return prefix[:n]
	}
	return prefix + strings.Repeat(string(fill), n-len(prefix))
}

func newWorstCase(limits LimitsConfig) *worstCase {
	w := &worstCase{limits: limits}
	var b bytes.Buffer
	for _, typ := range []string{"gauge", "counter"} {
		name := w.family(typ)
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, pad("h", limits.MaxHelpLength, 'h'), name, typ)
	}
	w.bodyPrefix = b.Bytes()
	line := len(w.line("EPXX", 0, 0))
	w.linesPerBody = min(limits.MaxSamples, (int(limits.MaxBodyBytes)-len(w.bodyPrefix))/line)
	// One without samples, enough to fill max_series, one more whose new series are refused, and the last.
	w.scrapes = 1 + (limits.MaxSeries+w.linesPerBody-1)/w.linesPerBody + 2
	w.describeFormat = w.describe()
	return w
}

// family is the name of the gauge or counter family: limits.max_family_name_length bytes.
func (w *worstCase) family(typ string) string {
	return pad("worst_"+typ+"_", w.limits.MaxFamilyNameLength, 'f')
}

// line is sample i of scrape n of the endpoint code: a new series, with the most labels of the longest names
// and values (the first names a served entity, so that samples go to every entity's resource).
func (w *worstCase) line(code string, n, i int) string { return w.lineAt(code, n, i, n) }

// lineAt is sample i of the series of scrape n, stamped with the window of scrape at.
func (w *worstCase) lineAt(code string, n, i, at int) string {
	typ := []string{"gauge", "counter"}[i%2]
	var b strings.Builder
	b.WriteString(w.family(typ))
	b.WriteByte('{')
	fmt.Fprintf(&b, "served_entity_name=\"entity-%02d\"", i%w.limits.MaxServedEntities)
	for l := 1; l < w.limits.MaxLabels; l++ {
		name := pad(fmt.Sprintf("l%02d_", l), w.limits.MaxLabelNameLength, 'n')
		value := pad(fmt.Sprintf("%s-%03d-%06d-%02d-", code, n, i, l), w.limits.MaxLabelValueLength, 'v')
		fmt.Fprintf(&b, ",%s=\"%s\"", name, value)
	}
	fmt.Fprintf(&b, "} 1 %d\n", bodyTimestamp+int64(at)*worstCaseStep.Milliseconds())
	return b.String()
}

// metrics is the n-th body of the endpoint code: the first without samples, so that what an endpoint costs
// without series is measured apart; the last with a new window of the second's series (held), so that every
// sample of it is a point of the cycle's output.
func (w *worstCase) metrics(code string, n int) []byte {
	body := bytes.NewBuffer(make([]byte, 0, w.limits.MaxBodyBytes))
	body.Write(w.bodyPrefix)
	series := n
	if n == w.scrapes-1 {
		series = 1
	}
	for i := range w.linesPerBody * min(n, 1) {
		body.WriteString(w.lineAt(code, series, i, n))
	}
	return body.Bytes()
}

// describe is the description of every endpoint, as large as limits.max_body_bytes: served entities and tags
// over their caps, tags of the longest key and value, and entity names filling the rest.
func (w *worstCase) describe() []byte {
	l := w.limits
	var tags []map[string]string
	for i := range l.MaxTags + 3 {
		tags = append(tags, map[string]string{
			"key": pad(fmt.Sprintf("EPXX-%03d-", i), l.MaxTagKeyLength, 'k'), "value": pad(fmt.Sprintf("EPXX-%03d-", i), l.MaxTagValueLength, 'v'),
		})
	}
	tagBytes, _ := json.Marshal(tags)
	entities := l.MaxServedEntities + 3
	fill := (int(l.MaxBodyBytes)*9/10 - len(tagBytes)) / entities
	var served []map[string]any
	for i := range entities {
		served = append(served, map[string]any{
			"name": fmt.Sprintf("entity-%02d", i), "entity_name": pad(fmt.Sprintf("EPXX-%02d-", i), fill, 'e'), "entity_version": "1",
			"workload_type": "GPU_LARGE", "workload_size": "Large", "scale_to_zero_enabled": false,
			"state": map[string]string{"deployment": "DEPLOYMENT_READY"},
		})
	}
	body, _ := json.Marshal(map[string]any{
		"name": "ep-EPXX", "id": "EPXX", "task": "llm/v1/chat", "tags": tags,
		"state":  map[string]string{"ready": "READY", "config_update": "NOT_UPDATING"},
		"config": map[string]any{"served_entities": served},
	})
	return body
}

// serve answers the list (endpoints ep-0000... and five more than limits.max_endpoints allows), descriptions
// and bodies. Scrape n of an endpoint is its n-th /metrics request.
func (w *worstCase) serve(endpoints int) http.Handler {
	var names []map[string]any
	for i := range endpoints + 5 {
		names = append(names, map[string]any{"name": "ep-" + endpointCode(i)})
	}
	list, _ := json.Marshal(map[string]any{"endpoints": names})
	var mu sync.Mutex
	scrapes := map[string]int{}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.Path, "/api/2.0/serving-endpoints")
		name, isMetrics := strings.CutSuffix(strings.TrimPrefix(path, "/"), "/metrics")
		code := strings.TrimPrefix(name, "ep-")
		switch {
		case path == "":
			_, _ = rw.Write(list)
		case isMetrics:
			mu.Lock()
			n := scrapes[name]
			scrapes[name]++
			mu.Unlock()
			rw.Header().Set("Content-Type", textFormat)
			_, _ = rw.Write(w.metrics(code, n))
		default:
			_, _ = rw.Write(bytes.ReplaceAll(w.describeFormat, []byte("EPXX"), []byte(code)))
		}
	})
}

// liveHeap is the heap in use after a full collection. Two: the first moves the sync.Pools' contents (the
// bodies and parsers kept for the next scrape) to their victim caches, the second drops them, so that every
// measurement leaves them out alike; they are a scrape's, counted in the cycle's peak.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// peakSampler collects garbage and reads the live heap continuously until stopped, keeping the largest.
func peakSampler() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for {
			select {
			case <-done:
				return
			default:
			}
			if h := liveHeap(); h > peak.Load() {
				peak.Store(h)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return func() uint64 { close(done); <-finished; return peak.Load() }
}

// worstCaseChild marks the test process that measures: the heap is the process's, so the measurement runs in a
// process of its own, where no other test's goroutines allocate.
const worstCaseChild = "DATABRICKSSERVING_WORST_CASE_CHILD"

func TestWorstCaseMemoryStaysWithinTheDocumentedBound(t *testing.T) {
	if os.Getenv(worstCaseChild) == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestWorstCaseMemoryStaysWithinTheDocumentedBound$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), worstCaseChild+"=1")
		out, err := cmd.CombinedOutput()
		t.Logf("measured in a process of its own:\n%s", out)
		require.NoError(t, err)
		return
	}
	endpoints := worstCaseEndpoints
	if n, err := strconv.Atoi(os.Getenv("WORST_CASE_ENDPOINTS")); err == nil && n > 0 {
		endpoints = n
	}
	l := createDefaultConfig().(*Config).Limits
	f := measureWorstCase(t, newWorstCase(l), endpoints)
	endpointBound := f.perEndpoint + f.outputPerEndpoint + uint64(l.MaxSeries)*(f.perSeries+f.outputPerSeries)
	workspaceBound := uint64(l.MaxEndpoints)*(f.perEndpoint+f.outputPerEndpoint) +
		uint64(l.MaxWorkspaceSeries)*(f.perSeries+f.outputPerSeries) + uint64(defaultMaxConcurrency)*f.perScrape
	t.Logf("%d endpoints, %d cycles, %s: per endpoint without series %.0f KiB held + %.0f KiB in a cycle's output; "+
		"per series %d bytes held + %d in a cycle's output; %.1f MiB per concurrent scrape at the cycle's peak; "+
		"worst case per endpoint (max_series %d) %.1f MiB; per workspace (max_endpoints %d, max_workspace_series %d, "+
		"max_concurrency %d) %.0f MiB", endpoints, f.cycles, f.elapsed.Round(time.Second),
		float64(f.perEndpoint)/1024, float64(f.outputPerEndpoint)/1024, f.perSeries, f.outputPerSeries, mib(f.perScrape),
		l.MaxSeries, mib(endpointBound), l.MaxEndpoints, l.MaxWorkspaceSeries, defaultMaxConcurrency, mib(workspaceBound))
	assert.Less(t, f.perEndpoint+f.outputPerEndpoint, uint64(worstCasePerEndpoint), "per endpoint, without series")
	assert.Less(t, f.perSeries+f.outputPerSeries, uint64(worstCasePerSeries), "per series")
	assert.Less(t, f.perScrape, uint64(worstCasePeakPerScrape), "cycle peak per concurrent scrape")
	assert.Less(t, workspaceBound, uint64(worstCaseWorkspace), "per workspace")
}

// worstCaseFigures are what measureWorstCase measures (bytes of live heap).
type worstCaseFigures struct {
	perEndpoint, outputPerEndpoint uint64 // held by an endpoint without series; its share of a cycle's output
	perSeries, outputPerSeries     uint64 // held per series; a point of it in a cycle's output
	perScrape                      uint64 // the cycle's peak above what is held, per scrape in flight
	cycles                         int
	elapsed                        time.Duration
}

// measureWorstCase drives w's workspace of endpoints through its cycles and measures the live heap: after the
// first cycle (no samples yet: descriptions, resources, computed series), after the last (every endpoint at
// max_series), each with and without the cycle's output, and continuously during the cycles (the peak).
func measureWorstCase(t *testing.T, w *worstCase, endpoints int) worstCaseFigures {
	srv := httptest.NewServer(w.serve(endpoints))
	defer srv.Close()
	s := newTestScraper(t, srv.URL, func(c *Config) {
		c.ResourceAttributes.DatabricksServingEndpointTags.Enabled = true // every resource carries every tag
		c.Limits.MaxEndpoints = endpoints                                 // the list is over it by five
		c.ClientConfig.Timeout = time.Minute
	})
	started := time.Now()
	before := liveHeap()
	var held, output [2]uint64 // after the first and the last cycle
	stop := peakSampler()
	for n := range w.scrapes {
		s.now = func() time.Time {
			return time.UnixMilli(bodyTimestamp).Add(time.Duration(n)*worstCaseStep + 30*time.Second)
		}
		md, err := s.scrape(context.Background())
		if n == 0 {
			require.ErrorContains(t, err, "limits.max_served_entities", "trims are reported once")
		}
		for i := range endpoints {
			up, errorType, ok := upOf(md, "ep-"+endpointCode(i))
			require.True(t, ok && up == 1, "scrape %d of endpoint %d failed: %s (%v)", n, i, errorType, err)
		}
		if last := n == w.scrapes-1; n == 0 || last {
			k := min(n, 1)
			withOutput := liveHeap()
			runtime.KeepAlive(md) // md is dead from here: the next collection frees the cycle's output
			held[k] = liveHeap()
			output[k] = withOutput - min(withOutput, held[k])
		}
	}
	peak := stop()
	series := 0
	require.Len(t, s.endpoints, endpoints)
	for _, ep := range s.endpoints {
		// The computed series count towards the cap: the samples' series fill the rest.
		require.GreaterOrEqual(t, len(ep.series), w.limits.MaxSeries, "every endpoint reached max_series")
		require.LessOrEqual(t, sampleSeriesCount(ep), w.limits.MaxSeries)
		require.Len(t, ep.resources.entities, w.limits.MaxServedEntities)
		series += sampleSeriesCount(ep)
	}
	e := uint64(endpoints)
	return worstCaseFigures{
		perEndpoint: (held[0] - before) / e, outputPerEndpoint: output[0] / e,
		perSeries: (held[1] - held[0]) / uint64(series), outputPerSeries: (output[1] - min(output[1], output[0])) / (e * uint64(w.linesPerBody)),
		perScrape: (peak - min(peak, held[1])) / uint64(min(endpoints, defaultMaxConcurrency)),
		cycles:    w.scrapes, elapsed: time.Since(started),
	}
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
