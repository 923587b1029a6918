// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package discovery

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

func endpoint(name string, tags ...string) workspace.Endpoint {
	ep := workspace.Endpoint{Name: name}
	for i := 0; i+1 < len(tags); i += 2 {
		ep.Tags = append(ep.Tags, workspace.Tag{Key: tags[i], Value: tags[i+1]})
	}
	return ep
}

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		ep   workspace.Endpoint
		want bool
	}{
		{"no filter selects everything", Config{}, endpoint("fraud"), true},
		{"include glob matches", Config{Include: []string{"fraud-*"}}, endpoint("fraud-v2"), true},
		{"include glob does not match", Config{Include: []string{"fraud-*"}}, endpoint("churn"), false},
		{"any include glob suffices", Config{Include: []string{"a*", "c*"}}, endpoint("churn"), true},
		{"exclude glob drops", Config{Exclude: []string{"*-dev"}}, endpoint("fraud-dev"), false},
		{"exclude wins over include", Config{Include: []string{"fraud-*"}, Exclude: []string{"*-dev"}}, endpoint("fraud-dev"), false},
		{"include tag present", Config{IncludeTags: map[string]string{"team": "fr*"}}, endpoint("x", "team", "fraud"), true},
		{"include tag value does not match", Config{IncludeTags: map[string]string{"team": "fr*"}}, endpoint("x", "team", "risk"), false},
		{"include tag missing", Config{IncludeTags: map[string]string{"team": "*"}}, endpoint("x", "env", "prod"), false},
		{"every include tag is needed", Config{IncludeTags: map[string]string{"team": "*", "env": "prod"}}, endpoint("x", "team", "a"), false},
		{"every include tag present", Config{IncludeTags: map[string]string{"team": "*", "env": "prod"}}, endpoint("x", "team", "a", "env", "prod"), true},
		{"exclude tag drops", Config{ExcludeTags: map[string]string{"env": "dev"}}, endpoint("x", "env", "dev"), false},
		{"exclude tag with another value keeps", Config{ExcludeTags: map[string]string{"env": "dev"}}, endpoint("x", "env", "prod"), true},
		{"exclude tag wins over include tag", Config{IncludeTags: map[string]string{"team": "*"}, ExcludeTags: map[string]string{"env": "dev"}},
			endpoint("x", "team", "a", "env", "dev"), false},
		{"tag key is exact", Config{IncludeTags: map[string]string{"team": "*"}}, endpoint("x", "teams", "a"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tc.cfg.Selected(tc.ep))
		})
	}
}

func TestShardsPartitionEveryEndpointExactlyOnce(t *testing.T) {
	names := make([]string, 200)
	for i := range names {
		names[i] = fmt.Sprintf("endpoint-%03d", i)
	}
	for count := 1; count <= 5; count++ {
		t.Run(fmt.Sprint(count), func(t *testing.T) {
			perShard := make([]int, count)
			for _, name := range names {
				owners := 0
				for index := range count {
					if (ShardConfig{Count: count, Index: index}).Owns("ws.example.com", name) {
						owners++
						perShard[index]++
					}
				}
				require.Equal(t, 1, owners, "%s belongs to exactly one shard of %d", name, count)
				// Stable: the same answer every time.
				assert.Equal(t, StableHash("ws.example.com", name), StableHash("ws.example.com", name))
			}
			for index, n := range perShard {
				assert.Positive(t, n, "shard %d of %d owns some of 200 endpoints", index, count)
			}
		})
	}
	// The assignment depends on the workspace too, and on nothing but (host, name).
	assert.NotEqual(t, StableHash("a.example.com", "x"), StableHash("b.example.com", "x"))
	assert.NotEqual(t, StableHash("ab", "c"), StableHash("a", "bc"), "host and name are separated")
}

func TestShardConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		count, index int
		ok           bool
	}{{1, 0, true}, {3, 2, true}, {3, 3, false}, {3, -1, false}, {0, 0, false}} {
		err := (&ShardConfig{Count: tc.count, Index: tc.index}).Validate()
		assert.Equal(t, tc.ok, err == nil, "count %d index %d: %v", tc.count, tc.index, err)
	}
	err := (&ShardConfig{Count: 3, Index: 3}).Validate()
	require.EqualError(t, err, "shard.index must be between 0 and shard.count-1 (2), got 3", "the error says which indexes are valid")
}

// fakeAPI is a workspace whose list the test changes between refreshes.
type fakeAPI struct {
	mu      sync.Mutex
	list    []workspace.Endpoint
	listErr error
	lists   int
}

func (f *fakeAPI) ListEndpoints(context.Context) ([]workspace.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	return f.list, f.listErr
}

func (f *fakeAPI) GetEndpoint(_ context.Context, name string) (workspace.Endpoint, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ep := range f.list {
		if ep.Name == name {
			ep.Task = "described"
			return ep, nil
		}
	}
	return workspace.Endpoint{}, &workspace.APIError{StatusCode: http.StatusNotFound}
}

func (f *fakeAPI) set(list []workspace.Endpoint, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list, f.listErr = list, err
}

func names(eps []workspace.Endpoint) []string {
	out := []string{}
	for _, ep := range eps {
		out = append(out, ep.Name)
	}
	return out
}

func TestEndpointsFollowChurnBetweenRefreshes(t *testing.T) {
	api := &fakeAPI{}
	api.set([]workspace.Endpoint{endpoint("b"), endpoint("a")}, nil)
	d := New(api, Config{RefreshInterval: time.Minute, Exclude: []string{"*-dev"}}, ShardConfig{Count: 1}, nil, "ws", 2, time.Second, zap.NewNop())
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	for _, step := range []struct {
		at        time.Duration
		list      []workspace.Endpoint
		want      []string
		refreshed bool
	}{
		{0, nil, []string{"a", "b"}, true},
		// Within the refresh interval the list is not asked again: a new endpoint waits for the refresh.
		{30 * time.Second, []workspace.Endpoint{endpoint("a"), endpoint("b"), endpoint("c")}, []string{"a", "b"}, false},
		{time.Minute, nil, []string{"a", "b", "c"}, true},
		// One disappears, one appears, one is filtered out.
		{2 * time.Minute, []workspace.Endpoint{endpoint("c"), endpoint("d"), endpoint("x-dev")}, []string{"c", "d"}, true},
		{3 * time.Minute, []workspace.Endpoint{}, []string{}, true},
	} {
		if step.list != nil {
			api.set(step.list, nil)
		}
		got, refreshed, err := d.Endpoints(context.Background(), t0.Add(step.at))
		require.NoError(t, err)
		assert.Equal(t, step.refreshed, refreshed, "at %s", step.at)
		assert.Equal(t, step.want, names(got), "at %s", step.at)
		for _, ep := range got {
			assert.Equal(t, "described", ep.Task, "%s is described", ep.Name)
		}
	}
	listed, selected := d.Counts()
	assert.Equal(t, 0, listed)
	assert.Equal(t, 0, selected)
}

func TestAThrottledListKeepsTheLastList(t *testing.T) {
	api := &fakeAPI{}
	api.set([]workspace.Endpoint{endpoint("a"), endpoint("b")}, nil)
	d := New(api, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 1, 10*time.Second, zap.NewNop())
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	_, _, err := d.Endpoints(context.Background(), t0)
	require.NoError(t, err)

	throttled := &workspace.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: 5 * time.Minute}
	api.set(nil, throttled)
	got, refreshed, err := d.Endpoints(context.Background(), t0.Add(time.Minute))
	require.ErrorAs(t, err, new(*workspace.APIError))
	assert.False(t, refreshed)
	assert.Equal(t, []string{"a", "b"}, names(got), "the last good list is scraped meanwhile")
	assert.Equal(t, 2, api.lists)

	// Not asked again before Retry-After.
	got, _, err = d.Endpoints(context.Background(), t0.Add(time.Minute+5*time.Minute-time.Second))
	var throttledErr *ThrottledError
	require.ErrorAs(t, err, &throttledErr)
	assert.Equal(t, t0.Add(6*time.Minute), throttledErr.RetryAt)
	assert.Equal(t, []string{"a", "b"}, names(got))
	assert.Equal(t, 2, api.lists, "the list is not asked while throttled")

	api.set([]workspace.Endpoint{endpoint("c")}, nil)
	got, refreshed, err = d.Endpoints(context.Background(), t0.Add(6*time.Minute))
	require.NoError(t, err)
	assert.True(t, refreshed)
	assert.Equal(t, []string{"c"}, names(got))
}

func TestListBackoffWithoutRetryAfter(t *testing.T) {
	api := &fakeAPI{}
	api.set(nil, fmt.Errorf("boom"))
	d := New(api, Config{RefreshInterval: time.Hour}, ShardConfig{Count: 1}, nil, "ws", 1, 10*time.Second, zap.NewNop())
	now := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	for failures, base := range []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second} {
		_, _, err := d.Endpoints(context.Background(), now)
		require.Error(t, err, "failure %d", failures+1)
		wait := d.listRetryAt.Sub(now)
		assert.GreaterOrEqual(t, wait, time.Duration(float64(base)*0.8), "failure %d", failures+1)
		assert.LessOrEqual(t, wait, time.Duration(float64(base)*1.2), "failure %d", failures+1)
		now = d.listRetryAt
	}
}

// failingDescribe is a workspace whose descriptions fail while failing is set (with a 500, or describeErr).
type failingDescribe struct {
	fakeAPI
	failing     bool
	describeErr error
	describes   int
}

func (f *failingDescribe) GetEndpoint(ctx context.Context, name string) (workspace.Endpoint, error) {
	f.describes++
	switch {
	case f.describeErr != nil:
		return workspace.Endpoint{}, f.describeErr
	case f.failing:
		return workspace.Endpoint{}, &workspace.APIError{StatusCode: http.StatusInternalServerError}
	}
	return f.fakeAPI.GetEndpoint(ctx, name)
}

func observed(level zapcore.Level) (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(level)
	return zap.New(core), logs
}

// limits.max_endpoints keeps the first endpoints by name and counts the others; a list within it is kept whole.
func TestMaxEndpointsKeepsTheFirstByNameAndCountsTheRest(t *testing.T) {
	logger, logs := observed(zap.WarnLevel)
	api := &fakeAPI{}
	d := New(api, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 2, time.Second, logger)
	d.SetMaxEndpoints(3)
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	for i, step := range []struct {
		list        []string
		want        []string
		trimmed     int
		warningsNow int
	}{
		{[]string{"e", "d", "c", "b", "a"}, []string{"a", "b", "c"}, 2, 1},
		{[]string{"e", "d", "c", "b", "a"}, []string{"a", "b", "c"}, 2, 0}, // the same trim is not logged again
		{[]string{"f", "e", "d", "c", "b", "a"}, []string{"a", "b", "c"}, 3, 1},
		{[]string{"c", "b", "a"}, []string{"a", "b", "c"}, 0, 0}, // exactly max_endpoints
		{[]string{"b", "a"}, []string{"a", "b"}, 0, 0},
	} {
		list := make([]workspace.Endpoint, len(step.list))
		for j, name := range step.list {
			list[j] = endpoint(name)
		}
		api.set(list, nil)
		before := logs.Len()
		got, refreshed, err := d.Endpoints(context.Background(), t0.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		require.True(t, refreshed)
		assert.Equal(t, step.want, names(got), "step %d", i)
		assert.Equal(t, step.trimmed, d.Trimmed(), "step %d", i)
		listed, selected := d.Counts()
		assert.Equal(t, len(step.list), listed, "step %d: every listed endpoint counts as discovered", i)
		assert.Equal(t, len(step.want), selected, "step %d", i)
		assert.Equal(t, step.warningsNow, logs.Len()-before, "step %d", i)
	}
}

// An endpoint whose description fails keeps the description of the last refresh, or, when there is none, what
// the list said; the failure is logged as a warning when the set of failing endpoints changes, else at debug.
func TestAFailedDescriptionKeepsTheLastOne(t *testing.T) {
	logger, logs := observed(zap.DebugLevel)
	api := &failingDescribe{}
	api.set([]workspace.Endpoint{endpoint("a", "team", "fraud")}, nil)
	d := New(api, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 1, time.Second, logger)
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	got, _, err := d.Endpoints(context.Background(), t0)
	require.NoError(t, err)
	require.Equal(t, "described", got[0].Task)

	api.failing = true
	api.set([]workspace.Endpoint{endpoint("a"), endpoint("b")}, nil)
	for i, level := range []zapcore.Level{zapcore.WarnLevel, zapcore.DebugLevel} {
		got, _, err = d.Endpoints(context.Background(), t0.Add(time.Duration(i+1)*time.Minute))
		require.NoError(t, err, "a failed description never fails the list")
		require.Len(t, got, 2)
		assert.Equal(t, "described", got[0].Task, "a keeps its last description")
		assert.Equal(t, "team", got[0].Tags[0].Key)
		assert.Equal(t, "", got[1].Task, "b has only what the list said")
		entries := logs.FilterMessageSnippet("Could not describe").All()
		_ = logs.TakeAll()
		require.Len(t, entries, 1, "refresh %d", i+1)
		assert.Equal(t, level, entries[0].Level, "refresh %d: warned when the failing set changes, else debug", i+1)
	}
	api.failing = false
	_, _, err = d.Endpoints(context.Background(), t0.Add(3*time.Minute))
	require.NoError(t, err)
	assert.Zero(t, logs.FilterMessageSnippet("Could not describe").Len(), "nothing fails: nothing logged")
}

// Names that are not serving endpoint names are skipped and logged once while they stay listed.
func TestInvalidNamesAreSkippedAndLoggedOnce(t *testing.T) {
	logger, logs := observed(zap.WarnLevel)
	api := &fakeAPI{}
	api.set([]workspace.Endpoint{endpoint("a"), endpoint("bad name/x")}, nil)
	d := New(api, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 1, time.Second, logger)
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	for i := range 2 {
		got, _, err := d.Endpoints(context.Background(), t0.Add(time.Duration(i)*time.Minute))
		require.NoError(t, err)
		assert.Equal(t, []string{"a"}, names(got))
	}
	assert.Equal(t, 1, logs.FilterMessageSnippet("not valid endpoint names").Len())
}

// A list that fails without Retry-After (a 500, a network error, a 429 or 503 that names no time) backs off
// exponentially from the retry base, ±20 %; a 429 or 503 waits exactly its Retry-After.
func TestListBackoffFollowsRetryAfterOnlyWhenThrottled(t *testing.T) {
	d := New(&fakeAPI{}, Config{RefreshInterval: time.Hour}, ShardConfig{Count: 1}, nil, "ws", 1, 10*time.Second, zap.NewNop())
	for _, err := range []error{
		&workspace.APIError{StatusCode: http.StatusInternalServerError},
		&workspace.APIError{StatusCode: http.StatusTooManyRequests},
		&workspace.APIError{StatusCode: http.StatusServiceUnavailable},
	} {
		for range 200 { // the jitter's whole range
			wait := d.backoff(1, err)
			require.GreaterOrEqual(t, wait, 8*time.Second, "%v", err)
			require.LessOrEqual(t, wait, 12*time.Second, "%v", err)
		}
	}
	for _, code := range []int{http.StatusTooManyRequests, http.StatusServiceUnavailable} {
		assert.Equal(t, 30*time.Second, d.backoff(1, &workspace.APIError{StatusCode: code, RetryAfter: 30 * time.Second}), "status %d", code)
	}
}

// A throttled description (429 with Retry-After) stops every description until Retry-After has passed: the
// scrapes keep the descriptions they have, and Databricks is not asked meanwhile.
func TestAThrottledDescriptionWaitsOutRetryAfter(t *testing.T) {
	api := &failingDescribe{describeErr: &workspace.APIError{StatusCode: http.StatusTooManyRequests, RetryAfter: time.Minute}}
	d := New(api, Config{RefreshInterval: time.Minute}, ShardConfig{Count: 1}, nil, "ws", 1, time.Second, zap.NewNop())
	t0 := time.Date(2026, 9, 6, 12, 0, 0, 0, time.UTC)
	_, err := d.Describe(context.Background(), "a", t0)
	require.ErrorAs(t, err, new(*workspace.APIError))
	_, err = d.Describe(context.Background(), "b", t0.Add(time.Minute-time.Millisecond))
	var throttled *ThrottledError
	require.ErrorAs(t, err, &throttled)
	assert.Equal(t, t0.Add(time.Minute), throttled.RetryAt)
	assert.Equal(t, 1, api.describes, "not asked while throttled")
	api.describeErr = nil
	api.set([]workspace.Endpoint{endpoint("b")}, nil)
	got, err := d.Describe(context.Background(), "b", t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, "described", got.Task)
	assert.Equal(t, 2, api.describes)
}
