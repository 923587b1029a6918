// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package main

import (
	"bufio"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// request is one line of the simulator's access log.
type request struct {
	arrival, done time.Time
	status        int
	endpoint      string
}

func readAccessLog(path string) ([]request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	var out []request
	scanner := bufio.NewScanner(f)
	for line := 1; scanner.Scan(); line++ {
		r, err := parseAccessLine(scanner.Text())
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, r)
	}
	return out, scanner.Err()
}

func parseAccessLine(line string) (request, error) {
	fields := strings.Fields(line)
	if len(fields) != 4 {
		return request{}, fmt.Errorf("want 4 fields, got %q", line)
	}
	arrival, err1 := strconv.ParseInt(fields[0], 10, 64)
	done, err2 := strconv.ParseInt(fields[1], 10, 64)
	status, err3 := strconv.Atoi(fields[2])
	if err1 != nil || err2 != nil || err3 != nil {
		return request{}, fmt.Errorf("malformed line %q", line)
	}
	return request{arrival: time.Unix(0, arrival), done: time.Unix(0, done), status: status, endpoint: fields[3]}, nil
}

// result is what one run measured.
type result struct {
	spec runSpec
	// cpuPerCycle is the collector's whole-process CPU time per collection interval in the measured cycles.
	cpuPerCycle time.Duration
	// steadyRSS is the mean resident memory over the measured cycles; peakRSS the process's high-water mark.
	steadyRSS, peakRSS int64
	// steadyAnon is the mean anonymous resident memory (heap and stacks) over the measured cycles.
	steadyAnon int64
	// rssGrowth and anonGrowth compare the mean (anonymous) resident memory of the last growthCycles measured
	// cycles with that of the first (only for runs of at least twice growthCycles measured cycles).
	rssGrowth, anonGrowth float64
	growthCycles          int
	// cycleWall are the measured cycles' wall times, first request to last response (see cycleWallTimes).
	cycleWall []time.Duration
	// requestsPerEndpoint is per endpoint and cycle; failed counts answers other than 200.
	requestsPerEndpoint float64
	failed              int
	// maxGap is the longest time any endpoint went without a request during the measured cycles (window edges
	// included); unscraped counts endpoints with no request at all in them.
	maxGap     time.Duration
	unscraped  int
	measuredAt time.Time
}

func analyze(spec runSpec, opts options, requests []request, samples []sample) (result, error) {
	if len(requests) == 0 {
		return result{}, fmt.Errorf("the simulator saw no /metrics request")
	}
	byEndpoint := map[string][]request{}
	first := requests[0].arrival
	for _, r := range requests {
		byEndpoint[r.endpoint] = append(byEndpoint[r.endpoint], r)
		if r.arrival.Before(first) {
			first = r.arrival
		}
	}
	for _, rs := range byEndpoint {
		slices.SortFunc(rs, func(a, b request) int { return a.arrival.Compare(b.arrival) })
	}
	// The measured window: the cycles after the warm-up, counted from the first request.
	start := first.Add(time.Duration(opts.warmup) * opts.interval)
	end := start.Add(time.Duration(spec.cycles) * opts.interval)
	res := result{spec: spec, measuredAt: first}

	before, ok1 := sampleAtOrBefore(samples, start)
	after, ok2 := sampleAtOrAfter(samples, end)
	if !ok1 || !ok2 {
		return result{}, fmt.Errorf("the process samples do not cover the measured cycles (%d samples)", len(samples))
	}
	res.cpuPerCycle = (after.cpu - before.cpu) / time.Duration(spec.cycles)
	res.steadyRSS = meanOf(samples, start, end, func(s sample) int64 { return s.rssBytes })
	res.steadyAnon = meanOf(samples, start, end, func(s sample) int64 { return s.anonBytes })
	res.peakRSS = samples[len(samples)-1].hwmBytes
	if n := growthCycles(opts.interval); spec.cycles >= 2*n {
		window := time.Duration(n) * opts.interval
		growth := func(value func(sample) int64) float64 {
			first := meanOf(samples, start, start.Add(window), value)
			last := meanOf(samples, end.Add(-window), end, value)
			return float64(last-first) / float64(first)
		}
		res.rssGrowth = growth(func(s sample) int64 { return s.rssBytes })
		res.anonGrowth = growth(func(s sample) int64 { return s.anonBytes })
		res.growthCycles = n
	}

	measured := 0
	for _, r := range requests {
		if !r.arrival.Before(start) && r.arrival.Before(end) {
			measured++
			if r.status != 200 {
				res.failed++
			}
		}
	}
	res.requestsPerEndpoint = float64(measured) / float64(spec.endpoints) / float64(spec.cycles)
	res.cycleWall = cycleWallTimes(byEndpoint, opts.warmup, spec.cycles)
	res.maxGap, res.unscraped = longestGap(byEndpoint, endpointNames(spec.endpoints), start, end)
	return res, nil
}

// growthCycles is how many cycles are averaged at each end of a run to measure memory growth: at least ten, and
// whole minutes when the interval divides a minute, so that both ends hold as many new Databricks windows (the
// cycles that emit the most).
func growthCycles(interval time.Duration) int {
	if interval <= 0 || time.Minute%interval != 0 {
		return 10
	}
	perMinute := int(time.Minute / interval)
	return (10 + perMinute - 1) / perMinute * perMinute
}

// cycleWallTimes returns, for each measured cycle k, the time from the first arrival to the last response among
// the k-th requests of all endpoints. Numbering each endpoint's requests, rather than cutting time into
// intervals, keeps a cycle together when the receiver spreads its requests over the interval, as Prometheus
// does.
func cycleWallTimes(byEndpoint map[string][]request, warmup, cycles int) []time.Duration {
	var out []time.Duration
	for k := warmup; k < warmup+cycles; k++ {
		var first, last time.Time
		for _, rs := range byEndpoint {
			if k >= len(rs) {
				continue
			}
			if first.IsZero() || rs[k].arrival.Before(first) {
				first = rs[k].arrival
			}
			if rs[k].done.After(last) {
				last = rs[k].done
			}
		}
		if !first.IsZero() {
			out = append(out, last.Sub(first))
		}
	}
	return out
}

// longestGap returns the longest stretch of [start, end) in which some endpoint got no request, and how many
// endpoints got none at all.
func longestGap(byEndpoint map[string][]request, names []string, start, end time.Time) (time.Duration, int) {
	var longest time.Duration
	unscraped := 0
	for _, name := range names {
		previous := start
		seen := false
		for _, r := range byEndpoint[name] {
			if r.arrival.Before(start) || !r.arrival.Before(end) {
				continue
			}
			seen = true
			longest = max(longest, r.arrival.Sub(previous))
			previous = r.arrival
		}
		longest = max(longest, end.Sub(previous))
		if !seen {
			unscraped++
		}
	}
	return longest, unscraped
}

func sampleAtOrBefore(samples []sample, t time.Time) (sample, bool) {
	for i := len(samples) - 1; i >= 0; i-- {
		if !samples[i].at.After(t) {
			return samples[i], true
		}
	}
	return sample{}, false
}

func sampleAtOrAfter(samples []sample, t time.Time) (sample, bool) {
	for _, s := range samples {
		if !s.at.Before(t) {
			return s, true
		}
	}
	return sample{}, false
}

func meanOf(samples []sample, from, to time.Time, value func(sample) int64) int64 {
	var sum, n int64
	for _, s := range samples {
		if !s.at.Before(from) && s.at.Before(to) {
			sum += value(s)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}
