// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package discovery

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// describeServer is a workspace on 127.0.0.1 that lists its endpoints and describes each, or answers a describe
// of a failing endpoint with fail. It counts the describe requests of each endpoint.
type describeServer struct {
	mu      sync.Mutex
	names   []string
	fail    map[string]func(http.ResponseWriter) // by endpoint name; nil: described
	gets    map[string]int
	version string // the description's tag "version", which tells descriptions apart
}

func newDescribeServer(t *testing.T, names ...string) (*describeServer, *workspace.Client) {
	s := &describeServer{names: names, fail: map[string]func(http.ResponseWriter){}, gets: map[string]int{}, version: "1"}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	base, err := url.Parse(srv.URL)
	require.NoError(t, err)
	return s, workspace.NewClient(srv.Client(), base, workspace.StaticToken("dapi-test"), "test", 1<<20)
}

func (s *describeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.URL.Path == "/api/2.0/serving-endpoints" {
		var endpoints []map[string]any
		for _, name := range s.names {
			endpoints = append(endpoints, map[string]any{"name": name})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"endpoints": endpoints})
		return
	}
	name := strings.TrimPrefix(r.URL.Path, "/api/2.0/serving-endpoints/")
	s.gets[name]++
	if fail := s.fail[name]; fail != nil {
		fail(w)
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{
		"name": name, "task": "described", "tags": []map[string]string{{"key": "version", "value": s.version}},
	})
}

// set makes a describe of name answer with fail (nil: the description), whose version is version.
func (s *describeServer) set(name string, fail func(http.ResponseWriter), version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail[name], s.version = fail, version
}

func (s *describeServer) describes(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets[name]
}

// answer fails a describe with status, and Retry-After when retryAfter is set.
func answer(status int, retryAfter string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"error_code":"TEMPORARILY_UNAVAILABLE","message":"try later"}`))
	}
}

// A describe that keeps failing is asked again on the list's schedule, counted in its own failures: with a
// collection interval of 10 s and a refresh interval of 5 minutes, after 10, 20, 40, 80, 160 s and then every
// 5 minutes, each ±20 %; a Retry-After is waited out exactly. The endpoint is asked every second (more often
// than attribution or a refresh ever asks), for ten minutes: 6 or 7 requests instead of 600.
func TestAFailingDescribeBacksOffWithJitter(t *testing.T) {
	backoff := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute}
	for _, tc := range []struct {
		name     string
		fail     func(http.ResponseWriter)
		schedule []time.Duration // the nominal waits between requests; the last repeats
		jitter   bool
		min, max int // requests in the ten minutes
	}{
		{"500 without Retry-After", answer(http.StatusInternalServerError, ""), backoff, true, 6, 7},
		{"429 without Retry-After", answer(http.StatusTooManyRequests, ""), backoff, true, 6, 7},
		{"503 with Retry-After 0", answer(http.StatusServiceUnavailable, "0"), backoff, true, 6, 7},
		{"connection closed without an answer", func(http.ResponseWriter) { panic(http.ErrAbortHandler) }, backoff, true, 6, 7},
		{"429 with Retry-After 30", answer(http.StatusTooManyRequests, "30"), []time.Duration{30 * time.Second}, false, 20, 20},
		{"503 with Retry-After 45", answer(http.StatusServiceUnavailable, "45"), []time.Duration{45 * time.Second}, false, 14, 14},
	} {
		t.Run(tc.name, func(t *testing.T) {
			server, client := newDescribeServer(t, "a")
			server.set("a", tc.fail, "1")
			d := New(client, Config{RefreshInterval: 5 * time.Minute}, ShardConfig{Count: 1}, nil, "ws", 1, 10*time.Second, zap.NewNop())
			t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
			var asked []time.Duration // when each request was sent, since t0
			for elapsed := time.Duration(0); elapsed < 10*time.Minute; elapsed += time.Second {
				before := server.describes("a")
				_, err := d.Describe(context.Background(), "a", t0.Add(elapsed))
				require.Error(t, err)
				if server.describes("a") > before {
					asked = append(asked, elapsed)
				} else {
					require.ErrorAs(t, err, new(*ThrottledError), "at %s: not asked means waiting", elapsed)
				}
			}
			assert.GreaterOrEqual(t, len(asked), tc.min, "asked at %v", asked)
			assert.LessOrEqual(t, len(asked), tc.max, "asked at %v...", asked[:min(len(asked), 10)])
			for i := 1; i < len(asked); i++ {
				nominal := tc.schedule[min(i-1, len(tc.schedule)-1)]
				low, high := nominal, nominal
				if tc.jitter {
					// ±20 %, and the next one-second call after the wait.
					low, high = nominal*8/10, nominal*12/10+time.Second
				}
				gap := asked[i] - asked[i-1]
				if !assert.True(t, gap >= low && gap <= high, "request %d came %s after the one before, not within [%s, %s]", i+1, gap, low, high) {
					break // the first gap out of the schedule says it
				}
			}
		})
	}
}

// The refresh and direct describes (attribution) share an endpoint's backoff: neither asks while it runs, the
// endpoint keeps its last good description meanwhile, a success resets the backoff, and another endpoint is
// described at every refresh all along. Collection interval 10 s, refresh interval 1 minute.
func TestDescribeBackoffKeepsTheLastDescriptionAndResetsOnSuccess(t *testing.T) {
	server, client := newDescribeServer(t, "a", "b")
	d := New(client, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 2, 10*time.Second, zap.NewNop())
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	failing := answer(http.StatusInternalServerError, "")
	refreshes := 0
	for _, step := range []struct {
		at      time.Duration
		refresh bool                      // a refresh (Endpoints), else a describe of a alone (Describe)
		fail    func(http.ResponseWriter) // a's answer from this step on (nil: its description)
		serves  string                    // the version of a's description from this step on
		asked   bool                      // whether a is asked
		kept    string                    // the version of a's description after a refresh
	}{
		{0, true, nil, "1", true, "1"},
		{time.Minute, true, failing, "1", true, "1"},                     // failure 1: 8 to 12 s
		{time.Minute + 7*time.Second, false, failing, "1", false, ""},    // waits
		{time.Minute + 13*time.Second, false, failing, "1", true, ""},    // failure 2: 16 to 24 s
		{time.Minute + 28*time.Second, false, failing, "1", false, ""},   // waits
		{2 * time.Minute, true, failing, "1", true, "1"},                 // failure 3: 32 to 48 s
		{2*time.Minute + 31*time.Second, false, failing, "1", false, ""}, // waits
		{2*time.Minute + 49*time.Second, false, nil, "2", true, ""},      // described (version 2): the backoff ends
		{3 * time.Minute, true, failing, "2", true, "2"},                 // failure 1 again: 8 to 12 s, not 48 to 72
		{3*time.Minute + 13*time.Second, false, failing, "2", true, ""},
	} {
		server.set("a", step.fail, step.serves)
		before, beforeB := server.describes("a"), server.describes("b")
		now := t0.Add(step.at)
		if step.refresh {
			got, refreshed, err := d.Endpoints(context.Background(), now)
			require.NoError(t, err, "at %s: a failed description never fails the refresh", step.at)
			require.True(t, refreshed, "at %s", step.at)
			refreshes++
			require.Equal(t, []string{"a", "b"}, names(got))
			assert.Equal(t, "described", got[0].Task, "at %s: a keeps its last good description", step.at)
			require.Len(t, got[0].Tags, 1)
			assert.Equal(t, step.kept, got[0].Tags[0].Value, "at %s: the newest good description", step.at)
			assert.Equal(t, beforeB+1, server.describes("b"), "at %s: b is described at every refresh", step.at)
		} else {
			desc, err := d.Describe(context.Background(), "a", now)
			if err == nil {
				d.Remember(desc) // as attribution does
			}
		}
		assert.Equal(t, step.asked, server.describes("a") > before, "at %s: a asked", step.at)
	}
	assert.Equal(t, refreshes, server.describes("b"), "b never waits for a")
}
