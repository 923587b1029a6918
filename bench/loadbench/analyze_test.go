// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCycleWallTimeSpansTheKthRequestOfEveryEndpoint(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	// Two endpoints, three cycles of 15 s. Endpoint b is scraped late in each cycle, as a receiver that spreads
	// its requests does; cycle 1 of a is slow to answer.
	byEndpoint := map[string][]request{
		"a": {{arrival: at(0), done: at(0.1)}, {arrival: at(15), done: at(17.5)}, {arrival: at(30), done: at(30.1)}},
		"b": {{arrival: at(10), done: at(10.2)}, {arrival: at(25), done: at(25.2)}, {arrival: at(40), done: at(40.2)}},
	}
	got := cycleWallTimes(byEndpoint, 1, 2)
	want := []time.Duration{10200 * time.Millisecond, 10200 * time.Millisecond}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("cycle wall times %v, want %v (first arrival to last response of cycles 1 and 2)", got, want)
	}
}

func TestLongestGapCountsTheWindowEdgesAndUnscrapedEndpoints(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	byEndpoint := map[string][]request{
		"cpu-endpoint-0": {{arrival: t0.Add(5 * time.Second)}, {arrival: t0.Add(20 * time.Second)}},
	}
	gap, unscraped := longestGap(byEndpoint, endpointNames(2), t0, t0.Add(60*time.Second))
	if gap != 60*time.Second || unscraped != 1 {
		t.Fatalf("longest gap %s with %d unscraped endpoints; want 60s (cpu-endpoint-1 never scraped) and 1", gap, unscraped)
	}
	gap, _ = longestGap(map[string][]request{
		"cpu-endpoint-0": {{arrival: t0.Add(5 * time.Second)}, {arrival: t0.Add(20 * time.Second)}},
		"cpu-endpoint-1": {{arrival: t0.Add(1 * time.Second)}, {arrival: t0.Add(59 * time.Second)}},
	}, endpointNames(2), t0, t0.Add(60*time.Second))
	if gap != 58*time.Second {
		t.Fatalf("longest gap %s, want 58s (cpu-endpoint-1 between its requests)", gap)
	}
}

func TestProcParsing(t *testing.T) {
	// The command name may hold spaces and parentheses.
	stat := []byte("4242 (otelcol (x) y) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 12 0 300 0 0\n")
	cpu, err := parseStatCPU(stat)
	if err != nil || cpu != 3250*time.Millisecond {
		t.Fatalf("parseStatCPU = %s, %v; want 3.25s (325 ticks of utime+stime)", cpu, err)
	}
	kb, err := statusKB([]byte("Name:\totelcol\nVmHWM:\t  2048 kB\nVmRSS:\t  1024 kB\n"), "VmRSS:")
	if err != nil || kb != 1024 {
		t.Fatalf("statusKB = %d, %v; want 1024", kb, err)
	}
	self, err := readProc(os.Getpid())
	if err != nil || self.rssBytes <= 0 || self.anonBytes <= 0 || self.hwmBytes < self.rssBytes {
		t.Fatalf("readProc(self) = %+v, %v; want positive RSS, anonymous RSS and a high-water mark at least RSS", self, err)
	}
}

func TestWriteReportReplacesOnlyTheMarkedSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "performance.md")
	doc := "# Performance\n\nHand-written.\n\n" + reportBegin + "\nold table\n" + reportEnd + "\n\nMore prose.\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "new table\n"); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	want := "# Performance\n\nHand-written.\n\n" + reportBegin + "\nnew table\n" + reportEnd + "\n\nMore prose.\n"
	if string(got) != want {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want)
	}
	if err := os.WriteFile(path, []byte("no markers"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeReport(path, "x"); err == nil || !strings.Contains(err.Error(), "lacks the markers") {
		t.Fatalf("writeReport without markers: %v, want an error naming the markers", err)
	}
}

func TestPrometheusConfigHasOneTargetPerEndpoint(t *testing.T) {
	opts := options{interval: 15 * time.Second}
	config := prometheusConfig("127.0.0.1:9", opts, endpointNames(3))
	for _, name := range endpointNames(3) {
		if !strings.Contains(config, `__metrics_path__: "/api/2.0/serving-endpoints/`+name+`/metrics", instance: "`+name+`"`) {
			t.Errorf("no target for %s in:\n%s", name, config)
		}
	}
	if !strings.Contains(withPprof(config, "127.0.0.1:1777"), "service:\n  extensions: [pprof]\n") {
		t.Error("withPprof does not enable the extension")
	}
}

func TestGrowthIsMeasuredOverWholeMinutes(t *testing.T) {
	for interval, want := range map[time.Duration]int{15 * time.Second: 12, 30 * time.Second: 10, time.Minute: 10, 7 * time.Second: 10, 5 * time.Second: 12} {
		if got := growthCycles(interval); got != want {
			t.Errorf("growthCycles(%s) = %d, want %d", interval, got, want)
		}
	}
}
