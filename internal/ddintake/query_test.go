// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"bytes"
	"net/http"
	"testing"

	"github.com/DataDog/agent-payload/v5/gogen"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestQueries(t *testing.T) {
	ti := newTestIntake(t)
	const (
		count = gogen.MetricPayload_COUNT
		gauge = gogen.MetricPayload_GAUGE
		rate  = gogen.MetricPayload_RATE
	)
	ti.postSeries(t,
		protoSeries("requests", count, "h1", []string{"endpoint:a", "status:200", "canary"}, Point{10, 1}, Point{20, 2}),
		protoSeries("requests", count, "h2", []string{"endpoint:b", "status:200"}, Point{10, 5}),
		protoSeries("requests", rate, "h1", []string{"endpoint:a", "status:200"}, Point{10, 100}),
		protoSeries("load", gauge, "h1", []string{"endpoint:a"}, Point{10, 1}, Point{30, 3}),
	)
	ti.postSeries(t,
		protoSeries("requests", count, "h1", []string{"endpoint:a", "status:500", "url:http://x/y"}, Point{30, 7}),
		protoSeries("load", gauge, "h2", []string{"endpoint:b"}, Point{20, 2}, Point{30, 4}),
	)
	ti.postSketches(t, gogen.SketchPayload_Sketch{
		Metric: "latency", Host: "h3", Tags: []string{"endpoint:c"},
		Dogsketches: []gogen.SketchPayload_Sketch_Dogsketch{dogsketch(10, []float64{1})},
	})

	t.Run("SumCount", func(t *testing.T) {
		assert.Equal(t, 15.0, ti.SumCount("requests", nil), "rate series are not counts")
		assert.Equal(t, 10.0, ti.SumCount("requests", map[string]string{"endpoint": "a"}))
		assert.Equal(t, 3.0, ti.SumCount("requests", map[string]string{"endpoint": "a", "status": "200"}))
		assert.Equal(t, 5.0, ti.SumCount("requests", map[string]string{"host": "h2"}), "the host resource matches as a tag")
		assert.Equal(t, 3.0, ti.SumCount("requests", map[string]string{"canary": ""}), "an empty value matches a bare tag")
		assert.Equal(t, 7.0, ti.SumCount("requests", map[string]string{"url": "http://x/y"}))
		assert.Zero(t, ti.SumCount("requests", map[string]string{"endpoint": "z"}))
		assert.Zero(t, ti.SumCount("load", nil), "gauges are not counts")
		assert.Zero(t, ti.SumCount("missing", nil))
	})

	t.Run("gauges", func(t *testing.T) {
		assert.Equal(t, []Point{{10, 1}, {30, 3}, {20, 2}, {30, 4}}, ti.GaugePoints("load", nil))
		assert.Equal(t, []Point{{20, 2}, {30, 4}}, ti.GaugePoints("load", map[string]string{"endpoint": "b"}))

		v, ok := ti.LastGauge("load", nil)
		assert.True(t, ok)
		assert.Equal(t, 4.0, v, "latest timestamp wins, then the latest arrival")
		v, ok = ti.LastGauge("load", map[string]string{"host": "h1"})
		assert.True(t, ok)
		assert.Equal(t, 3.0, v)
		_, ok = ti.LastGauge("load", map[string]string{"endpoint": "z"})
		assert.False(t, ok)
		_, ok = ti.LastGauge("requests", nil)
		assert.False(t, ok, "counts are not gauges")
	})

	t.Run("names and tag values", func(t *testing.T) {
		assert.Equal(t, []string{"latency", "load", "requests"}, ti.MetricNames())
		assert.Equal(t, []string{"a", "b"}, ti.TagValues("requests", "endpoint"))
		assert.Equal(t, []string{"200", "500"}, ti.TagValues("requests", "status"))
		assert.Equal(t, []string{"h1", "h2"}, ti.TagValues("requests", "host"))
		assert.Equal(t, []string{"c"}, ti.TagValues("latency", "endpoint"))
		assert.Equal(t, []string{"h3"}, ti.TagValues("latency", "host"))
		assert.Empty(t, ti.TagValues("requests", "missing"))
	})

	t.Run("copies", func(t *testing.T) {
		got := ti.Series()
		got[0].Tags[0] = "mutated"
		got[0].Points[0].Value = 1e9
		got[0].Resources["host"] = "mutated"
		sk := ti.Sketches()
		sk[0].Points[0].Counts[0] = 1e9
		assert.Equal(t, 10.0, ti.SumCount("requests", map[string]string{"endpoint": "a"}))
		assert.Equal(t, "h1", ti.Series()[0].Resources["host"])
		assert.Equal(t, int64(1), ti.SketchCount("latency", nil))
		assert.Equal(t, uint32(1), ti.Sketches()[0].Points[0].Counts[0])
	})

	t.Run("Reset", func(t *testing.T) {
		ti.Reset()
		assert.Empty(t, ti.Series())
		assert.Empty(t, ti.Sketches())
		assert.Empty(t, ti.MetricNames())
		assert.Empty(t, ti.Requests())
	})
}

func TestConcurrentUse(t *testing.T) {
	ti := newTestIntake(t)
	const writers, perWriter = 4, 10
	payloads := make([][]byte, writers)
	for w := range payloads {
		payloads[w] = compress(t, "gzip", marshalSeries(t,
			protoSeries("hits", gogen.MetricPayload_COUNT, "h", []string{"writer:" + string(rune('a'+w))}, Point{1, 1})))
	}

	// The writers report through a channel: only the test goroutine may stop the test.
	codes := make(chan int, writers*perWriter)
	errs := make(chan error, writers*perWriter)
	for _, payload := range payloads {
		go func() {
			for range perWriter {
				req, err := http.NewRequest(http.MethodPost, ti.url+PathSeries, bytes.NewReader(payload))
				if err != nil {
					errs <- err
					continue
				}
				req.Header.Set("DD-API-KEY", testAPIKey)
				req.Header.Set("Content-Encoding", "gzip")
				resp, err := ti.client.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_ = resp.Body.Close()
				codes <- resp.StatusCode
			}
		}()
	}
	for range writers * perWriter {
		_ = ti.SumCount("hits", nil)
		_ = ti.Series()
		select {
		case code := <-codes:
			assert.Equal(t, http.StatusAccepted, code)
		case err := <-errs:
			require.NoError(t, err)
		}
	}
	assert.Equal(t, float64(writers*perWriter), ti.SumCount("hits", nil))
	assert.Equal(t, float64(perWriter), ti.SumCount("hits", map[string]string{"writer": "c"}))
	assert.Equal(t, writers*perWriter, ti.Requests()[PathSeries])
}
