// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultMode names how a fault changes an endpoint's /metrics answer.
type FaultMode string

// The fault modes. See Fault for the fields each one uses.
const (
	// FaultStatus answers Status with a Databricks JSON error body and, when
	// RetryAfter is set, a Retry-After header.
	FaultStatus FaultMode = "status"
	// FaultSlowHeaders waits Delay before answering normally.
	FaultSlowHeaders FaultMode = "slow_headers"
	// FaultSlowBody sends the headers and the first half of the normal
	// body, waits Delay, then sends the rest.
	FaultSlowBody FaultMode = "slow_body"
	// FaultTruncated declares the normal body's Content-Length, sends half
	// of it and closes the connection: the client reads an unexpected EOF.
	FaultTruncated FaultMode = "truncated"
	// FaultMalformed inserts lines no text-format parser accepts into the
	// normal body: an unbalanced "{", a value "abc" and "# TYPE x nonsense".
	FaultMalformed FaultMode = "malformed"
	// FaultDuplicateSeries repeats the first sample line of the normal body
	// right after it: same name, labels and timestamp.
	FaultDuplicateSeries FaultMode = "duplicate_series"
	// FaultNaNInf serves the normal body with cpu_usage_percentage NaN,
	// mem_usage_percentage +Inf and request_count_total -Inf.
	FaultNaNInf FaultMode = "nan_inf"
	// FaultHugeBody appends Size bytes of comment lines to the normal body,
	// or, with PaddingSeries, Size series filler_gauge{i="N"} 1 <timestamp>.
	FaultHugeBody FaultMode = "huge_body"
	// FaultGzipBomb answers Content-Encoding: gzip with a small gzip stream
	// that inflates to Size bytes of comment lines.
	FaultGzipBomb FaultMode = "gzip_bomb"
	// FaultInvalidUTF8 appends the bytes 0xff 0xfe to the
	// served_entity_name value of the first sample line of the normal body.
	FaultInvalidUTF8 FaultMode = "invalid_utf8"
	// FaultHTMLLogin answers 200 with a text/html sign-in page, as a
	// workspace behind Private Link does to a client outside it.
	FaultHTMLLogin FaultMode = "html_login"
	// FaultRedirect answers 302 with Location.
	FaultRedirect FaultMode = "redirect"
	// FaultManyLabels appends to the normal body one series
	// many_labels_gauge with Labels labels (label_0="value_0", ...) and one
	// series long_label_value_gauge whose label "value" is LabelValueLength
	// bytes long; either is left out when its count is 0.
	FaultManyLabels FaultMode = "many_labels"
	// FaultSeriesChurn appends to the normal body Labels series
	// churn_gauge{id="<scrape>-<i>"} 1 <timestamp> whose label values never
	// repeat: <scrape> counts the requests the fault answered, so every
	// scrape brings Labels new label sets, as an endpoint that puts a
	// request id in a label does.
	FaultSeriesChurn FaultMode = "series_churn"
	// FaultEchoRequest answers Status with a text/plain body that echoes the
	// request line, every request header (Authorization included, and Host)
	// and, for the token call, the start of the request body (the form with
	// the client secret), as a misbehaving gateway or a debug page does.
	// It applies to /metrics and to the list, get and token calls.
	FaultEchoRequest FaultMode = "echo_request"
	// FaultAmplifiedDescribe, for the get call only, answers each existing
	// endpoint's description with Size more served entities (copies of its
	// first one, named <entity>-amplified-<i>, with no traffic) after its
	// own and Labels more tags after its own, each tag's key and value
	// LabelValueLength bytes long (default 128). Endpoints that do not
	// exist still answer 404.
	FaultAmplifiedDescribe FaultMode = "amplified_describe"
	// FaultHugeList, for the list call only, answers the list with Size
	// fake endpoints after the real ones: valid names that sort after the
	// simulator's own (zz-listed-only-endpoint-0000000, ...), a custom
	// model endpoint each, which neither get nor /metrics knows (404).
	FaultHugeList FaultMode = "huge_list"
)

// Bounds on the sizes a fault may ask for, so that a typo cannot exhaust
// the test machine's memory.
const (
	maxHugeBodyBytes      = 1 << 30
	maxPaddingSeries      = 1 << 22
	maxGzipBombBytes      = 1 << 30
	maxFaultLabels        = 1 << 16
	maxFaultLabelValueLen = 1 << 26
	// maxChurnSeries series of about 40 bytes: 40 MiB a scrape.
	maxChurnSeries = 1 << 20
	// maxAmplifiedEntities served entities of about 500 bytes: 32 MiB.
	maxAmplifiedEntities = 1 << 16
	// maxAmplifiedTagBytes bounds the tags of an amplified description:
	// labels × 2 × label_value_length.
	maxAmplifiedTagBytes = 1 << 30
	// maxListPadding fake endpoints of about 450 bytes: 450 MiB.
	maxListPadding = 1 << 20
	// maxEchoedBodyBytes is how much of a request body echo_request
	// echoes.
	maxEchoedBodyBytes = 64 << 10
	// defaultAmplifiedTagLength is the key and value length of an
	// amplified description's tags when label_value_length is 0.
	defaultAmplifiedTagLength = 128
)

// Fault describes how an endpoint's /metrics answers until the fault is
// changed or cleared: PATCH /simulator/endpoints/{name} {"fault": {...}}
// ({"fault": null} clears it) or Server.SetFault. Only /metrics is affected;
// the list and get APIs answer normally. Fields a mode does not use must be
// left zero.
//
// The same description changes a whole call with Server.SetAPIFault (list,
// get) or Server.SetTokenFault: modes status, slow_headers and echo_request
// for every call, amplified_describe for the get call and huge_list for the
// list call. Those two apply to no /metrics.
//
// Faults that replace the answer (status, html_login, redirect, gzip_bomb,
// echo_request) apply to every endpoint; the others alter the normal body,
// so an endpoint that has none (pay-per-token, or metrics_status 404)
// answers its 404.
//
// The truth records a window only when the answer carries the window's
// normal samples: slow_headers, slow_body, duplicate_series, nan_inf,
// huge_body, many_labels and series_churn record it; the other modes never
// do.
type Fault struct {
	// Mode is required.
	Mode FaultMode `json:"mode"`
	// Status is the HTTP status of modes status and echo_request, 400 to
	// 599.
	Status int `json:"status,omitempty"`
	// RetryAfter, optional in mode status, is sent verbatim as the
	// Retry-After header: delay seconds ("5") or an HTTP date.
	RetryAfter string `json:"retry_after,omitempty"`
	// Delay is the wait of modes slow_headers and slow_body.
	Delay Duration `json:"delay,omitempty"`
	// Size is the padding of mode huge_body (bytes, or series with
	// PaddingSeries), the inflated size of mode gzip_bomb (bytes), the
	// extra served entities of amplified_describe and the fake endpoints
	// of huge_list.
	Size int `json:"size,omitempty"`
	// PaddingSeries makes huge_body add Size series instead of Size bytes.
	PaddingSeries bool `json:"padding_series,omitempty"`
	// Location is the absolute http(s) URL of mode redirect.
	Location string `json:"location,omitempty"`
	// Labels is the label count of many_labels' many_labels_gauge series,
	// the new series per scrape of series_churn and the extra tags of
	// amplified_describe.
	Labels int `json:"labels,omitempty"`
	// LabelValueLength is the length of many_labels' long label value and
	// of the keys and values of amplified_describe's tags.
	LabelValueLength int `json:"label_value_length,omitempty"`
}

// Duration is a time.Duration that JSON encodes as a Go duration string,
// such as "200ms".
type Duration time.Duration

// MarshalJSON encodes d as a Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a Go duration string.
func (d *Duration) UnmarshalJSON(data []byte) error {
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return fmt.Errorf("invalid duration %s: want a Go duration string such as \"200ms\"", data)
	}
	parsed, err := time.ParseDuration(text)
	if err != nil {
		return fmt.Errorf("invalid duration %q: want a Go duration string such as \"200ms\"", text)
	}
	*d = Duration(parsed)
	return nil
}

// faultModes lists every mode with the fields besides mode it may set.
var faultModes = map[FaultMode][]string{
	FaultStatus:          {"status", "retry_after"},
	FaultSlowHeaders:     {"delay"},
	FaultSlowBody:        {"delay"},
	FaultTruncated:       nil,
	FaultMalformed:       nil,
	FaultDuplicateSeries: nil,
	FaultNaNInf:          nil,
	FaultHugeBody:        {"size", "padding_series"},
	FaultGzipBomb:        {"size"},
	FaultInvalidUTF8:     nil,
	FaultHTMLLogin:       nil,
	FaultRedirect:        {"location"},
	FaultManyLabels:      {"labels", "label_value_length"},
	FaultSeriesChurn:     {"labels"},
	FaultEchoRequest:     {"status"},
	// Call-only modes: see workspaceFaultModes.
	FaultAmplifiedDescribe: {"size", "labels", "label_value_length"},
	FaultHugeList:          {"size"},
}

// callOnlyModes change a workspace call's answer and no /metrics one: the
// call they apply to.
var callOnlyModes = map[FaultMode]string{
	FaultAmplifiedDescribe: faultCallGet,
	FaultHugeList:          faultCallList,
}

// setFields names the fields of f, besides mode, that are not zero.
func (f *Fault) setFields() []string {
	var set []string
	add := func(name string, isSet bool) {
		if isSet {
			set = append(set, name)
		}
	}
	add("status", f.Status != 0)
	add("retry_after", f.RetryAfter != "")
	add("delay", f.Delay != 0)
	add("size", f.Size != 0)
	add("padding_series", f.PaddingSeries)
	add("location", f.Location != "")
	add("labels", f.Labels != 0)
	add("label_value_length", f.LabelValueLength != 0)
	return set
}

// validate reports every problem of f, each naming its field.
func (f *Fault) validate() error {
	allowed, ok := faultModes[f.Mode]
	if !ok {
		if f.Mode == "" {
			return errors.New("fault.mode is required")
		}
		modes := make([]string, 0, len(faultModes))
		for mode := range faultModes {
			modes = append(modes, string(mode))
		}
		slices.Sort(modes)
		return fmt.Errorf("fault.mode: unknown mode %q: want one of %s", f.Mode, strings.Join(modes, ", "))
	}
	var errs []error
	for _, field := range f.setFields() {
		if !slices.Contains(allowed, field) {
			errs = append(errs, fmt.Errorf("fault.%s does not apply to mode %s", field, f.Mode))
		}
	}
	requirePositive := func(field string, value, maxValue int) {
		switch {
		case value == 0:
			errs = append(errs, fmt.Errorf("fault.%s is required for mode %s", field, f.Mode))
		case value < 0 || value > maxValue:
			errs = append(errs, fmt.Errorf("fault.%s %d is out of range: want 1 to %d", field, value, maxValue))
		}
	}
	switch f.Mode {
	case FaultStatus, FaultEchoRequest:
		if f.Status == 0 {
			errs = append(errs, fmt.Errorf("fault.status is required for mode %s", f.Mode))
		} else if f.Status < 400 || f.Status > 599 {
			errs = append(errs, fmt.Errorf("fault.status %d is out of range: want 400 to 599", f.Status))
		}
		if strings.ContainsFunc(f.RetryAfter, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("fault.retry_after %q contains control characters", f.RetryAfter))
		}
	case FaultSlowHeaders, FaultSlowBody:
		if f.Delay == 0 {
			errs = append(errs, fmt.Errorf("fault.delay is required for mode %s", f.Mode))
		} else if f.Delay < 0 {
			errs = append(errs, fmt.Errorf("fault.delay %s is negative", time.Duration(f.Delay)))
		}
	case FaultHugeBody:
		if f.PaddingSeries {
			requirePositive("size", f.Size, maxPaddingSeries)
		} else {
			requirePositive("size", f.Size, maxHugeBodyBytes)
		}
	case FaultGzipBomb:
		requirePositive("size", f.Size, maxGzipBombBytes)
	case FaultRedirect:
		if f.Location == "" {
			errs = append(errs, errors.New("fault.location is required for mode redirect"))
		} else if u, err := url.Parse(f.Location); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("fault.location %q is not an absolute http or https URL", f.Location))
		}
	case FaultManyLabels:
		if f.Labels == 0 && f.LabelValueLength == 0 {
			errs = append(errs, errors.New("fault.labels or fault.label_value_length is required for mode many_labels"))
		}
		if f.Labels < 0 || f.Labels > maxFaultLabels {
			errs = append(errs, fmt.Errorf("fault.labels %d is out of range: want 0 to %d", f.Labels, maxFaultLabels))
		}
		if f.LabelValueLength < 0 || f.LabelValueLength > maxFaultLabelValueLen {
			errs = append(errs, fmt.Errorf("fault.label_value_length %d is out of range: want 0 to %d", f.LabelValueLength, maxFaultLabelValueLen))
		}
	case FaultSeriesChurn:
		requirePositive("labels", f.Labels, maxChurnSeries)
	case FaultAmplifiedDescribe:
		errs = append(errs, f.validateAmplified()...)
	case FaultHugeList:
		requirePositive("size", f.Size, maxListPadding)
	}
	return errors.Join(errs...)
}

// validateAmplified checks the fields of amplified_describe: at least one
// of size and labels, each in range, and tags of at most
// maxAmplifiedTagBytes in all.
func (f *Fault) validateAmplified() []error {
	var errs []error
	if f.Size == 0 && f.Labels == 0 {
		errs = append(errs, errors.New("fault.size or fault.labels is required for mode amplified_describe"))
	}
	if f.Size < 0 || f.Size > maxAmplifiedEntities {
		errs = append(errs, fmt.Errorf("fault.size %d is out of range: want 0 to %d", f.Size, maxAmplifiedEntities))
	}
	if f.Labels < 0 || f.Labels > maxFaultLabels {
		errs = append(errs, fmt.Errorf("fault.labels %d is out of range: want 0 to %d", f.Labels, maxFaultLabels))
	}
	if f.LabelValueLength < 0 || f.LabelValueLength > maxFaultLabelValueLen {
		errs = append(errs, fmt.Errorf("fault.label_value_length %d is out of range: want 0 to %d", f.LabelValueLength, maxFaultLabelValueLen))
	} else if tagBytes := int64(f.Labels) * 2 * int64(f.amplifiedTagLength()); f.Labels > 0 && tagBytes > maxAmplifiedTagBytes {
		errs = append(errs, fmt.Errorf("fault.labels × 2 × fault.label_value_length is %d bytes of tags: want at most %d", tagBytes, maxAmplifiedTagBytes))
	}
	return errs
}

// amplifiedTagLength is the key and value length of amplified_describe's
// tags.
func (f *Fault) amplifiedTagLength() int {
	if f.LabelValueLength > 0 {
		return f.LabelValueLength
	}
	return defaultAmplifiedTagLength
}

// faultChange is the fault part of a status patch: absent, a new fault, or
// a clear (JSON null, or a nil *Fault).
type faultChange struct {
	set   bool
	fault *Fault
}

// UnmarshalJSON decodes the "fault" member of a PATCH body strictly, as
// the rest of the control API does. Encoding/json calls it for null too.
func (c *faultChange) UnmarshalJSON(data []byte) error {
	c.set = true
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		c.fault = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f Fault
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("fault: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("fault: trailing data after the object")
	}
	c.fault = &f
	return nil
}

// activeFault is a validated fault set on an endpoint. The Fault is a copy
// the caller cannot change; the cache holds the last body derived from a
// normal one, so that a large padded body is built once per window.
type activeFault struct {
	Fault

	mu          sync.Mutex
	cachedEp    *endpoint
	cachedIndex int64
	cachedBody  []byte

	// scrapes counts the requests a series_churn fault answered.
	scrapes atomic.Int64
	// listPadding is huge_list's fake endpoints, rendered once.
	listPaddingOnce sync.Once
	listPadding     []byte
}

func newActiveFault(f *Fault) (*activeFault, error) {
	if err := f.validate(); err != nil {
		return nil, err
	}
	if f.Mode == FaultGzipBomb {
		// Compressed once per size when the fault is set, not in the first request that asks for it: compressing
		// tens of MiB takes seconds under the race detector on a busy machine, which a client's request timeout
		// would report as a timeout instead of the body limit the fault is there to test.
		gzipBombBody(f.Size)
	}
	return &activeFault{Fault: *f}, nil
}

// replacesAnswer reports whether the mode answers without the endpoint's
// normal body.
func (f *activeFault) replacesAnswer() bool {
	switch f.Mode {
	case FaultStatus, FaultHTMLLogin, FaultRedirect, FaultGzipBomb, FaultEchoRequest:
		return true
	}
	return false
}

// recordsTruth reports whether the answer carries the window's normal
// samples, so that the window belongs in the truth.
func (f *activeFault) recordsTruth() bool {
	switch f.Mode {
	case FaultSlowHeaders, FaultSlowBody, FaultDuplicateSeries, FaultNaNInf, FaultHugeBody, FaultManyLabels, FaultSeriesChurn:
		return true
	}
	return false
}

// derivedBody returns the body the mode derives from the window's normal
// one, building it once per (endpoint, window).
func (f *activeFault) derivedBody(ep *endpoint, index int64, build func() []byte) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.cachedBody == nil || f.cachedEp != ep || f.cachedIndex != index {
		f.cachedBody = build()
		f.cachedEp, f.cachedIndex = ep, index
	}
	return f.cachedBody
}
