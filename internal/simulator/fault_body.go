// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
)

// Names of the series the faults add to a body.
const (
	fillerGaugeName    = "filler_gauge"
	manyLabelsGauge    = "many_labels_gauge"
	longLabelGauge     = "long_label_value_gauge"
	longLabelValueName = "value"
)

// firstSampleLine returns the bounds [start, end) of the first line of body
// that is not a comment, end including its newline. Every body with metrics
// has one: the request families are there even when scaled to zero.
func firstSampleLine(body []byte) (start, end int) {
	for start < len(body) {
		end = start + bytes.IndexByte(body[start:], '\n') + 1
		if end == start { // no newline left
			end = len(body)
		}
		if body[start] != '#' && end > start+1 {
			return start, end
		}
		start = end
	}
	return len(body), len(body)
}

// sampleName is the metric name of a sample line.
func sampleName(line []byte) []byte {
	if i := bytes.IndexAny(line, "{ "); i >= 0 {
		return line[:i]
	}
	return line
}

// insertAfterFirstSample returns body with extra inserted after its first
// sample line and, when alter is given, that line altered.
func insertAfterFirstSample(body []byte, alter func(line []byte) []byte, extra func(line []byte) []byte) []byte {
	start, end := firstSampleLine(body)
	line := body[start:end]
	out := make([]byte, 0, len(body)+2*len(line)+128)
	out = append(out, body[:start]...)
	if alter != nil {
		out = append(out, alter(line)...)
	} else {
		out = append(out, line...)
	}
	if extra != nil {
		out = append(out, extra(line)...)
	}
	return append(out, body[end:]...)
}

// malformedBody breaks the text format three ways right after the first
// sample, so that a parser meets the errors before reading on.
func malformedBody(body []byte, timestampMillis int64) []byte {
	return insertAfterFirstSample(body, nil, func(line []byte) []byte {
		name := string(sampleName(line))
		ts := strconv.FormatInt(timestampMillis, 10)
		return []byte(name + `{served_entity_name="malformed" 1 ` + ts + "\n" +
			name + `{served_entity_name="malformed"} abc ` + ts + "\n" +
			"# TYPE x nonsense\n")
	})
}

func duplicateSeriesBody(body []byte) []byte {
	return insertAfterFirstSample(body, nil, func(line []byte) []byte { return line })
}

// invalidUTF8Body appends 0xff 0xfe to the last label value of the first
// sample line, its served_entity_name.
func invalidUTF8Body(body []byte) []byte {
	return insertAfterFirstSample(body, func(line []byte) []byte {
		i := bytes.Index(line, []byte(`"}`))
		if i < 0 {
			return line
		}
		altered := make([]byte, 0, len(line)+2)
		altered = append(altered, line[:i]...)
		altered = append(altered, 0xff, 0xfe)
		return append(altered, line[i:]...)
	}, nil)
}

// nanInfBody renders wt with non-finite values in three gauge families.
func nanInfBody(wt WindowTruth) []byte {
	replaced := map[string]float64{
		metricCPUUsage:     math.NaN(),
		metricMemUsage:     math.Inf(1),
		metricRequestCount: math.Inf(-1),
	}
	series := make([]SeriesTruth, len(wt.Series))
	copy(series, wt.Series)
	for i := range series {
		if value, ok := replaced[series[i].Name]; ok && series[i].Value != nil {
			series[i].Value = &value
		}
	}
	wt.Series = series
	return renderExposition(wt)
}

// hugeBody appends size bytes of comment lines to body, or size filler
// series when paddingSeries is set.
func hugeBody(body []byte, size int, paddingSeries bool, timestampMillis int64) []byte {
	if !paddingSeries {
		out := make([]byte, 0, len(body)+size)
		out = append(out, body...)
		return appendPadding(out, size)
	}
	ts := " 1 " + strconv.FormatInt(timestampMillis, 10) + "\n"
	out := make([]byte, 0, len(body)+size*(len(fillerGaugeName)+len(ts)+16)+64)
	out = append(out, body...)
	out = append(out, "# TYPE "+fillerGaugeName+" gauge\n"...)
	for i := range size {
		out = append(out, fillerGaugeName+`{i="`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `"}`...)
		out = append(out, ts...)
	}
	return out
}

// manyLabelsBody appends a series with labels labels and one whose label
// value is valueLength bytes long; a zero count leaves its series out.
func manyLabelsBody(body []byte, labels, valueLength int, timestampMillis int64) []byte {
	ts := " 1 " + strconv.FormatInt(timestampMillis, 10) + "\n"
	out := make([]byte, 0, len(body)+labels*24+valueLength+256)
	out = append(out, body...)
	if labels > 0 {
		out = append(out, "# TYPE "+manyLabelsGauge+" gauge\n"+manyLabelsGauge+"{"...)
		for i := range labels {
			if i > 0 {
				out = append(out, ',')
			}
			out = fmt.Appendf(out, `label_%d="value_%d"`, i, i)
		}
		out = append(out, '}')
		out = append(out, ts...)
	}
	if valueLength > 0 {
		out = append(out, "# TYPE "+longLabelGauge+" gauge\n"+longLabelGauge+"{"+longLabelValueName+`="`...)
		out = append(out, bytes.Repeat([]byte{'x'}, valueLength)...)
		out = append(out, `"}`...)
		out = append(out, ts...)
	}
	return out
}

// paddingLineLength is the length of a full padding comment line, newline
// included.
const paddingLineLength = 128

// paddingBlock is 512 full padding lines (64 KiB).
var paddingBlock = func() []byte {
	line := appendPaddingLine(nil, paddingLineLength)
	return bytes.Repeat(line, 512)
}()

// appendPaddingLine appends one padding line of n ≥ 1 bytes: "# xxx…\n",
// "#\n" or an empty line, all of which the text format ignores.
func appendPaddingLine(buf []byte, n int) []byte {
	switch n {
	case 1:
		return append(buf, '\n')
	case 2:
		return append(buf, "#\n"...)
	}
	buf = append(buf, "# "...)
	buf = append(buf, bytes.Repeat([]byte{'x'}, n-3)...)
	return append(buf, '\n')
}

// appendPadding appends exactly n bytes of padding lines.
func appendPadding(buf []byte, n int) []byte {
	for n >= len(paddingBlock) {
		buf = append(buf, paddingBlock...)
		n -= len(paddingBlock)
	}
	for n >= paddingLineLength {
		buf = append(buf, paddingBlock[:paddingLineLength]...)
		n -= paddingLineLength
	}
	if n > 0 {
		buf = appendPaddingLine(buf, n)
	}
	return buf
}

// bombLine is the line of gzip bombs: long runs of one byte are what
// DEFLATE compresses best, about 1000 to 1.
var bombLine = appendPaddingLine(nil, 64<<10)

// writeBombPadding writes exactly n bytes of long padding lines to w
// without holding them in memory.
func writeBombPadding(w io.Writer, n int) error {
	for n >= len(bombLine) {
		if _, err := w.Write(bombLine); err != nil {
			return err
		}
		n -= len(bombLine)
	}
	if n == 0 {
		return nil
	}
	_, err := w.Write(appendPaddingLine(nil, n))
	return err
}

// gzipBombs caches the gzip bombs by inflated size: they cost a pass of the
// compressor over every inflated byte, and tests ask for the same few sizes.
var gzipBombs struct {
	mu     sync.Mutex
	bySize map[int]*gzipBomb
}

type gzipBomb struct {
	once sync.Once
	body []byte
}

// gzipBombBody returns a gzip stream that inflates to size bytes of comment
// lines of 64 KiB, about a thousandth of that on the wire.
func gzipBombBody(size int) []byte {
	gzipBombs.mu.Lock()
	if gzipBombs.bySize == nil {
		gzipBombs.bySize = make(map[int]*gzipBomb)
	}
	bomb := gzipBombs.bySize[size]
	if bomb == nil {
		bomb = &gzipBomb{}
		gzipBombs.bySize[size] = bomb
	}
	gzipBombs.mu.Unlock()

	bomb.once.Do(func() {
		var buf bytes.Buffer
		zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		if err != nil {
			panic(err) // only for an invalid level
		}
		// Writing to a bytes.Buffer cannot fail.
		_ = writeBombPadding(zw, size)
		_ = zw.Close()
		bomb.body = buf.Bytes()
	})
	return bomb.body
}

// htmlLoginPage is what a workspace reachable only through Private Link
// answers a client outside the private network: a sign-in page, status 200.
const htmlLoginPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Databricks - Sign In</title>
</head>
<body>
<div id="login-page">
<h1>Sign in to Databricks</h1>
<form method="post" action="/login.html">
<label>Email <input type="email" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</div>
</body>
</html>
`

// faultErrors are the Databricks error codes and messages of the statuses
// a status fault is most often given.
var faultErrors = map[int]apiError{
	http.StatusBadRequest:          {ErrorCode: errorCodeInvalidParameter, Message: "The request is invalid."},
	http.StatusUnauthorized:        {ErrorCode: errorCodeUnauthenticated, Message: invalidTokenMessage},
	http.StatusForbidden:           {ErrorCode: "PERMISSION_DENIED", Message: "User does not have permission to query this serving endpoint."},
	http.StatusNotFound:            {ErrorCode: errorCodeNotFound},
	http.StatusConflict:            {ErrorCode: "RESOURCE_CONFLICT", Message: "The request conflicts with the current state of the serving endpoint."},
	http.StatusTooManyRequests:     {ErrorCode: "REQUEST_LIMIT_EXCEEDED", Message: "The request rate limit was exceeded. Please retry after some time."},
	http.StatusInternalServerError: {ErrorCode: errorCodeInternal, Message: "An internal error occurred. Please try again later."},
	http.StatusNotImplemented:      {ErrorCode: "NOT_IMPLEMENTED", Message: "This API is not implemented."},
	http.StatusServiceUnavailable:  {ErrorCode: errorCodeUnavailable, Message: "The service is temporarily unavailable. Please retry after some time."},
	http.StatusGatewayTimeout:      {ErrorCode: "DEADLINE_EXCEEDED", Message: "The request timed out."},
}

// faultError is the error body of a status fault on the named endpoint.
func faultError(status int, endpoint string) apiError {
	e, ok := faultErrors[status]
	switch {
	case status == http.StatusNotFound:
		e.Message = endpointNotFoundMessage(endpoint)
	case !ok && status < 500:
		e = apiError{ErrorCode: "BAD_REQUEST", Message: http.StatusText(status)}
	case !ok:
		e = apiError{ErrorCode: errorCodeInternal, Message: http.StatusText(status)}
	}
	if e.Message == "" {
		e.Message = fmt.Sprintf("Error %d", status)
	}
	return e
}
