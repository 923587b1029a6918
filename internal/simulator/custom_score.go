// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import "math"

// metricCustomScore is a family the receiver does not know. The lifecycle
// event flip_type exposes it and changes its type at each flip, so tests can
// check how a scraper copes with unknown families and with a family whose
// type changes between scrapes.
const metricCustomScore = "custom_score"

// The Prometheus types custom_score cycles through, in flip order.
const (
	typeGauge     = "gauge"
	typeCounter   = "counter"
	typeHistogram = "histogram"
)

var customScoreTypes = []string{typeGauge, typeCounter, typeHistogram}

const (
	// maxCustomScoreCount bounds the per-window counter value and the
	// number of histogram observations.
	maxCustomScoreCount = 100
	// customScoreMedianMillis and latencySigma shape the histogram
	// observations like request latencies, so they spread over the buckets.
	customScoreMedianMillis = 50
)

// customScoreType is the type custom_score has on ep, "" when ep does not
// expose it: gauge after the first flip, then counter, histogram, gauge...
func (ep *endpoint) customScoreType() string {
	if ep.customScoreFlips == 0 {
		return ""
	}
	return customScoreTypes[(ep.customScoreFlips-1)%len(customScoreTypes)]
}

// customScoreSeries returns one custom_score series per served entity, or
// none when ep does not expose the family. Values come from their own
// stream, so exposing the family changes no other value. While the endpoint
// is scaled to zero nothing was scored: zero, or an empty histogram.
func customScoreSeries(seed int64, ep *endpoint, entities []entityWindowValues, windowIndex int64) []SeriesTruth {
	metricType := ep.customScoreType()
	if metricType == "" {
		return nil
	}
	series := make([]SeriesTruth, 0, len(entities))
	for i := range entities {
		s := SeriesTruth{Name: metricCustomScore, Labels: entityLabels(&entities[i]), Type: metricType}
		rng := seededRand(seed, ep.name, customScoreStream+entities[i].entity.name, windowIndex)
		running := entities[i].running
		switch metricType {
		case typeGauge:
			value := 0.0
			if running {
				value = percentBetween(rng, 0, 100)
			}
			s.Value = &value
		case typeCounter:
			value := 0.0
			if running {
				value = float64(rng.IntN(maxCustomScoreCount + 1))
			}
			s.Value = &value
		case typeHistogram:
			hist := newHistogramValues()
			if running {
				for range rng.IntN(maxCustomScoreCount + 1) {
					millis := customScoreMedianMillis * math.Exp(latencySigma*rng.NormFloat64())
					hist.observe(max(1, int64(math.Round(10*millis))))
				}
			}
			s.Histogram = newHistogramTruth(hist)
		}
		series = append(series, s)
	}
	return series
}
