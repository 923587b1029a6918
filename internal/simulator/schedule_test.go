// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSchedule(t *testing.T) {
	schedule, err := ParseSchedule("20s=cpu-endpoint-0:add_entity,40s=cpu-endpoint-0:bump_version," +
		"60s=multi-entity-endpoint-0:remove_entity?entity=NAME,90s=cpu-endpoint-1:recreate?gap=5s," +
		"100s=x:add_entity?traffic_percentage=30, 0s=y:hide?gap=1m30s , 1ms=z:remove_entity?entity=a%2Cb%26c")
	require.NoError(t, err)
	assert.Equal(t, []ScheduledEvent{
		{After: 20 * time.Second, Endpoint: "cpu-endpoint-0", Event: Event{Name: EventAddEntity}},
		{After: 40 * time.Second, Endpoint: "cpu-endpoint-0", Event: Event{Name: EventBumpVersion}},
		{After: 60 * time.Second, Endpoint: "multi-entity-endpoint-0", Event: Event{Name: EventRemoveEntity, Entity: "NAME"}},
		{After: 90 * time.Second, Endpoint: "cpu-endpoint-1", Event: Event{Name: EventRecreate, Gap: Duration(5 * time.Second)}},
		{After: 100 * time.Second, Endpoint: "x", Event: Event{Name: EventAddEntity, TrafficPercentage: 30}},
		{After: 0, Endpoint: "y", Event: Event{Name: EventHide, Gap: Duration(90 * time.Second)}},
		{After: time.Millisecond, Endpoint: "z", Event: Event{Name: EventRemoveEntity, Entity: "a,b&c"}},
	}, schedule)

	for _, ev := range schedule {
		again, err := ParseSchedule(ev.String())
		require.NoError(t, err, ev.String())
		assert.Equal(t, []ScheduledEvent{ev}, again, "String is what ParseSchedule reads")
	}

	for _, text := range []string{"", "  "} {
		schedule, err := ParseSchedule(text)
		require.NoError(t, err)
		assert.Empty(t, schedule)
	}
}

func TestParseScheduleRejects(t *testing.T) {
	tests := map[string]struct{ text, message string }{
		"no offset":           {"cpu-endpoint-0:retag", `lifecycle entry 1 "cpu-endpoint-0:retag": want offset=endpoint:event`},
		"bad offset":          {"soon=cpu-endpoint-0:retag", `invalid offset "soon": want a Go duration`},
		"negative offset":     {"-1s=cpu-endpoint-0:retag", `invalid offset "-1s"`},
		"no event":            {"1s=cpu-endpoint-0", "missing :event after the endpoint name"},
		"bad endpoint name":   {"1s=-cpu:retag", `invalid endpoint name "-cpu"`},
		"unknown event":       {"1s=a:retag,2s=a:explode", `lifecycle entry 2 "2s=a:explode": unknown event "explode": want one of add_entity,`},
		"empty entry":         {"1s=a:retag,,2s=a:retag", `lifecycle entry 2 "": want offset=endpoint:event`},
		"unknown parameter":   {"1s=a:add_entity?percent=3", `unknown parameter "percent": want entity, traffic_percentage or gap`},
		"repeated parameter":  {"1s=a:resize?entity=x&entity=y", "parameter entity given 2 times: give it once"},
		"bad percentage":      {"1s=a:add_entity?traffic_percentage=0", `invalid traffic_percentage "0": want 1 to 99`},
		"percentage not int":  {"1s=a:add_entity?traffic_percentage=half", `invalid traffic_percentage "half"`},
		"bad gap":             {"1s=a:recreate?gap=5", `invalid gap "5": want a Go duration such as 5s`},
		"hide without gap":    {"1s=a:hide", "event hide needs a gap > 0"},
		"parameter not taken": {"1s=a:retag?entity=x", "event retag takes no entity: remove it"},
		"empty entity":        {"1s=a:bump_version?entity=", "empty entity"},
		"bad escape":          {"1s=a:bump_version?entity=%zz", `invalid parameters "entity=%zz"`},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSchedule(tt.text)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.message)
			assert.True(t, strings.HasPrefix(err.Error(), "lifecycle entry "), "the error names the entry: %v", err)
		})
	}
}

// scheduleErrors collects the errors RunSchedule reports.
type scheduleErrors struct {
	mu     sync.Mutex
	events []string
}

func (e *scheduleErrors) report(ev ScheduledEvent, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.events = append(e.events, ev.String()+": "+err.Error())
}

func (e *scheduleErrors) at(i int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.events[i]
}

func (e *scheduleErrors) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.events)
}

// runSchedule runs RunSchedule in the background; the returned function
// stops it and waits for it.
func runSchedule(t *testing.T, ts *testServer, text string, repeat bool) (stop func(), done <-chan struct{}) {
	t.Helper()
	schedule, err := ParseSchedule(text)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(t.Context())
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ts.sim.RunSchedule(ctx, schedule, repeat)
	}()
	stop = func() {
		cancel()
		<-finished
	}
	t.Cleanup(stop)
	return stop, finished
}

func TestRunScheduleAppliesInOrderAndRepeats(t *testing.T) {
	errs := &scheduleErrors{}
	ts := newTestServer(t, testConfig(), WithScheduleErrors(errs.report))
	original := ts.detail(t, "cpu-endpoint-0")
	// Given out of order: the schedule sorts by offset and keeps the order
	// of events at the same offset, so remove_entity removes the added
	// entity instead of failing on the only one.
	stop, _ := runSchedule(t, ts, "20s=cpu-endpoint-0:bump_version,0s=cpu-endpoint-0:retag,"+
		"10s=cpu-endpoint-0:add_entity,10s=cpu-endpoint-0:remove_entity,10s=no-such-endpoint:flip_type", true)
	rollout := func() string { return tagsOf(ts.detail(t, "cpu-endpoint-0"))["rollout"] }

	require.Eventually(t, func() bool { return rollout() == "r1" }, 5*time.Second, time.Millisecond, "offset 0 applies at once")
	assert.Equal(t, configVersion(original), configVersion(ts.detail(t, "cpu-endpoint-0")), "the clock has not moved")

	ts.clock.Advance(10 * time.Second)
	require.Eventually(t, func() bool { return errs.count() == 1 }, 5*time.Second, time.Millisecond)
	detail := ts.detail(t, "cpu-endpoint-0")
	assert.Equal(t, configVersion(original)+2, configVersion(detail), "added, then removed")
	assert.Equal(t, entityNames(original), entityNames(detail))
	assert.Contains(t, errs.at(0), "10s=no-such-endpoint:flip_type: simulator: apply flip_type to no-such-endpoint: endpoint not found")

	ts.clock.Advance(10 * time.Second)
	require.Eventually(t, func() bool { return rollout() == "r2" }, 5*time.Second, time.Millisecond, "the schedule starts again after its last event")
	assert.NotEqual(t, entityField(original, 0, "entity_version"), entityField(ts.detail(t, "cpu-endpoint-0"), 0, "entity_version"), "bump_version at 20s")

	ts.clock.Advance(10 * time.Second)
	require.Eventually(t, func() bool { return errs.count() == 2 }, 5*time.Second, time.Millisecond)
	detail = ts.detail(t, "cpu-endpoint-0")
	assert.Equal(t, []string{"cpu-endpoint-0-model-1"}, entityNames(detail), "entity-2 added and removed")
	assert.Equal(t, configVersion(original)+5, configVersion(detail))
	stop()
	assert.Equal(t, 2, errs.count())
}

func TestRunScheduleEndsAfterTheLastEvent(t *testing.T) {
	ts := newTestServer(t, testConfig())
	_, done := runSchedule(t, ts, "0s=cpu-endpoint-0:retag,1s=cpu-endpoint-0:retag", false)
	// The first retag tells that the schedule has read its start time.
	require.Eventually(t, func() bool { return tagsOf(ts.detail(t, "cpu-endpoint-0"))["rollout"] == "r1" }, 5*time.Second, time.Millisecond)
	ts.clock.Advance(time.Second)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSchedule did not return after its last event")
	}
	assert.Equal(t, "r2", tagsOf(ts.detail(t, "cpu-endpoint-0"))["rollout"])
}

func TestRunScheduleStopsWhenTheServerCloses(t *testing.T) {
	ts := newTestServer(t, testConfig())
	_, done := runSchedule(t, ts, "1h=cpu-endpoint-0:retag", true)
	require.NoError(t, ts.sim.Close())
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSchedule did not return after Close")
	}
	assert.NotContains(t, tagsOf(ts.detail(t, "cpu-endpoint-0")), "rollout")
}

func TestRunScheduleAtZeroRunsOnce(t *testing.T) {
	errs := &scheduleErrors{}
	ts := newTestServer(t, testConfig(), WithScheduleErrors(errs.report))
	_, done := runSchedule(t, ts, "0s=cpu-endpoint-0:retag", true)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunSchedule did not return")
	}
	assert.Equal(t, "r1", tagsOf(ts.detail(t, "cpu-endpoint-0"))["rollout"])
	require.Equal(t, 1, errs.count())
	assert.Contains(t, errs.at(0), "a repeating schedule needs its last event after 0s")

	ts.sim.RunSchedule(t.Context(), nil, true) // returns at once
}
