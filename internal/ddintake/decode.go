// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package ddintake

import (
	"compress/gzip"
	"compress/zlib"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/DataDog/agent-payload/v5/gogen"
)

const (
	// maxBodyBytes bounds a request body as sent. The agent forwarder splits payloads well below this.
	maxBodyBytes = 32 << 20
	// maxDecodedBytes bounds a body once decompressed, so a corrupt or hostile stream cannot exhaust memory.
	maxDecodedBytes = 256 << 20
)

var (
	errUnsupportedEncoding = errors.New("unsupported Content-Encoding")
	errTooLarge            = errors.New("payload too large")
)

// readBody returns the decompressed request body. Datadog's "deflate" is a zlib stream (RFC 1950), which is what
// compress/zlib reads, not the raw RFC 1951 stream of compress/flate.
func readBody(r *http.Request) ([]byte, error) {
	var body io.Reader = r.Body
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("deflate: %w", err)
		}
		defer func() { _ = zr.Close() }()
		body = zr
	case "gzip", "x-gzip":
		gr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer func() { _ = gr.Close() }()
		body = gr
	default:
		return nil, fmt.Errorf("%w: %q", errUnsupportedEncoding, enc)
	}

	data, err := io.ReadAll(io.LimitReader(body, maxDecodedBytes+1))
	var maxErr *http.MaxBytesError
	switch {
	case errors.As(err, &maxErr):
		return nil, fmt.Errorf("%w: %w", errTooLarge, err)
	case err != nil:
		return nil, fmt.Errorf("reading body: %w", err)
	case len(data) > maxDecodedBytes:
		return nil, fmt.Errorf("%w: more than %d bytes once decompressed", errTooLarge, maxDecodedBytes)
	}
	return data, nil
}

// decodeSeries decodes a series payload: protobuf from the agent serializer (the exporter's default path), JSON
// from datadog-api-client (the exporter's native path, when the serializer feature gate is off).
func decodeSeries(data []byte, contentType string) ([]Series, error) {
	if mediaType, _, _ := mime.ParseMediaType(contentType); mediaType == "application/json" {
		return decodeSeriesJSON(data)
	}
	return decodeSeriesProto(data)
}

// jsonSeriesPayload is datadog-api-client's v2 MetricPayload as JSON; type is the same enum as the protobuf's.
type jsonSeriesPayload struct {
	Series []struct {
		Metric    string   `json:"metric"`
		Type      int32    `json:"type"`
		Tags      []string `json:"tags"`
		Unit      string   `json:"unit"`
		Interval  int64    `json:"interval"`
		Resources []struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"resources"`
		Points []struct {
			Timestamp int64   `json:"timestamp"`
			Value     float64 `json:"value"`
		} `json:"points"`
	} `json:"series"`
}

func decodeSeriesJSON(data []byte) ([]Series, error) {
	var payload jsonSeriesPayload
	if err := json.Unmarshal(data, &payload); err != nil {
		return nil, fmt.Errorf("decoding JSON series: %w", err)
	}
	out := make([]Series, 0, len(payload.Series))
	for _, js := range payload.Series {
		ps := &gogen.MetricPayload_MetricSeries{Metric: js.Metric, Type: gogen.MetricPayload_MetricType(js.Type), Tags: js.Tags, Unit: js.Unit, Interval: js.Interval}
		for _, r := range js.Resources {
			ps.Resources = append(ps.Resources, &gogen.MetricPayload_Resource{Name: r.Name, Type: r.Type})
		}
		for _, p := range js.Points {
			ps.Points = append(ps.Points, &gogen.MetricPayload_MetricPoint{Timestamp: p.Timestamp, Value: p.Value})
		}
		out = append(out, seriesFromProto(ps))
	}
	return out, nil
}

// decodeSeriesProto decodes a MetricPayload. The agent serializer streams series one by one into the payload's
// repeated field, which is still a valid MetricPayload, so the generated Unmarshal reads it as a whole.
func decodeSeriesProto(data []byte) ([]Series, error) {
	var payload gogen.MetricPayload
	if err := payload.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("decoding MetricPayload: %w", err)
	}
	out := make([]Series, 0, len(payload.Series))
	for _, ps := range payload.Series {
		if ps == nil {
			continue
		}
		out = append(out, seriesFromProto(ps))
	}
	return out, nil
}

func seriesFromProto(ps *gogen.MetricPayload_MetricSeries) Series {
	ser := Series{
		Metric:   ps.Metric,
		Type:     metricTypeName(ps.Type),
		Tags:     ps.Tags,
		Unit:     ps.Unit,
		Interval: ps.Interval,
		Points:   make([]Point, 0, len(ps.Points)),
	}
	for _, res := range ps.Resources {
		if res == nil {
			continue
		}
		if ser.Resources == nil {
			ser.Resources = make(map[string]string, len(ps.Resources))
		}
		ser.Resources[res.Type] = res.Name
		if res.Type == "host" {
			ser.Host = res.Name
		}
	}
	for _, pt := range ps.Points {
		if pt == nil {
			continue
		}
		ser.Points = append(ser.Points, Point{Timestamp: pt.Timestamp, Value: pt.Value})
	}
	return ser
}

func metricTypeName(t gogen.MetricPayload_MetricType) string {
	switch t {
	case gogen.MetricPayload_COUNT:
		return "count"
	case gogen.MetricPayload_RATE:
		return "rate"
	case gogen.MetricPayload_GAUGE:
		return "gauge"
	case gogen.MetricPayload_UNSPECIFIED:
		return "unspecified"
	default:
		// Keep values from a newer schema visible instead of folding them into a known type.
		return strings.ToLower(t.String())
	}
}

// decodeSketches decodes a SketchPayload. Only Dogsketches are kept: the legacy Distributions field is not
// written by any current agent or exporter.
func decodeSketches(data []byte) ([]Sketch, error) {
	var payload gogen.SketchPayload
	if err := payload.Unmarshal(data); err != nil {
		return nil, fmt.Errorf("decoding SketchPayload: %w", err)
	}
	out := make([]Sketch, 0, len(payload.Sketches))
	for i := range payload.Sketches {
		ps := &payload.Sketches[i]
		sk := Sketch{
			Metric: ps.Metric,
			Tags:   ps.Tags,
			Host:   ps.Host,
			Points: make([]SketchPoint, 0, len(ps.Dogsketches)),
		}
		for _, d := range ps.Dogsketches {
			sk.Points = append(sk.Points, SketchPoint{
				Timestamp: d.Ts,
				Count:     d.Cnt,
				Sum:       d.Sum,
				Min:       d.Min,
				Max:       d.Max,
				Avg:       d.Avg,
				Keys:      d.K,
				Counts:    d.N,
			})
		}
		out = append(out, sk)
	}
	return out, nil
}

// decodeHostMetadata checks that a host metadata body is one JSON document.
func decodeHostMetadata(data []byte) (json.RawMessage, error) {
	var doc json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("decoding host metadata: %w", err)
	}
	return doc, nil
}
