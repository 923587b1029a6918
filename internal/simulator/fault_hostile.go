// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// The modes of a hostile workspace: series_churn, echo_request,
// amplified_describe and huge_list (see the FaultMode constants). They let
// the end-to-end suite check that a workspace cannot make the receiver hold
// more than its limits allow, nor make it log a secret.

// churnGaugeName is the family series_churn adds to a body.
const churnGaugeName = "churn_gauge"

// seriesChurnBody appends to body series series of churnGaugeName whose id
// label, "<scrape>-<i>", no other scrape repeats.
func seriesChurnBody(body []byte, series int, scrape, timestampMillis int64) []byte {
	ts := " 1 " + strconv.FormatInt(timestampMillis, 10) + "\n"
	prefix := churnGaugeName + `{id="` + strconv.FormatInt(scrape, 10) + "-"
	out := make([]byte, 0, len(body)+series*(len(prefix)+len(ts)+10)+64)
	out = append(out, body...)
	out = append(out, "# TYPE "+churnGaugeName+" gauge\n"...)
	for i := range series {
		out = append(out, prefix...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `"}`...)
		out = append(out, ts...)
	}
	return out
}

// echoedRequest is what echo_request answers: the request line, the Host
// and every header, sorted by name, and, with withBody, a blank line and
// the first maxEchoedBodyBytes of the body.
func echoedRequest(r *http.Request, withBody bool) []byte {
	var b bytes.Buffer
	b.WriteString("The gateway could not handle this request:\n")
	fmt.Fprintf(&b, "%s %s %s\n", r.Method, r.RequestURI, r.Proto)
	fmt.Fprintf(&b, "Host: %s\n", r.Host)
	for _, name := range slices.Sorted(maps.Keys(r.Header)) {
		for _, value := range r.Header[name] {
			fmt.Fprintf(&b, "%s: %s\n", name, value)
		}
	}
	if withBody && r.Body != nil {
		b.WriteString("\n")
		_, _ = io.Copy(&b, io.LimitReader(r.Body, maxEchoedBodyBytes))
	}
	return b.Bytes()
}

// writeEchoFault answers an echo_request fault. The caller counts the
// answer.
func writeEchoFault(w http.ResponseWriter, r *http.Request, f *activeFault, withBody bool) {
	body := echoedRequest(r, withBody)
	if f.Status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

// countAPIStatus counts a fault's 401 or 404 like the real ones, so that
// stats tell a test what the client saw whatever produced it.
func (s *Server) countAPIStatus(status int) {
	switch status {
	case http.StatusUnauthorized:
		s.counters.unauthorized.Add(1)
	case http.StatusNotFound:
		s.counters.notFound.Add(1)
	}
}

// amplifiedTag pads prefix with fill to length bytes, or returns it as it is
// when it is that long already.
func amplifiedTag(prefix string, fill byte, length int) string {
	if len(prefix) >= length {
		return prefix
	}
	return prefix + strings.Repeat(string(fill), length-len(prefix))
}

// amplifiedDescription is the get answer of amplified_describe for ep: its
// own description, then entities more served entities (copies of its first
// one without traffic, named <entity>-amplified-<i>) and tags more tags whose
// keys and values are tagLength bytes long (amplified_tag_<i>… and
// amplified_value_<i>…, longer when tagLength is shorter than those).
func amplifiedDescription(ep *endpoint, status endpointStatus, entities, tags, tagLength int) ([]byte, error) {
	res := newEndpointResource(ep, status, true)
	if len(ep.entities) > 0 {
		template := ep.entities[0]
		for i := range entities {
			entity := template
			entity.name = template.name + "-amplified-" + strconv.Itoa(i)
			entity.trafficPercentage = 0
			res.Config.ServedEntities = append(res.Config.ServedEntities, newServedEntityResource(&entity, status, true))
			res.Config.TrafficConfig.Routes = append(res.Config.TrafficConfig.Routes, trafficRoute{ServedEntityName: entity.name})
		}
	}
	for i := range tags {
		res.Tags = append(res.Tags, tagResource{
			Key:   amplifiedTag("amplified_tag_"+strconv.Itoa(i)+"_", 'k', tagLength),
			Value: amplifiedTag("amplified_value_"+strconv.Itoa(i)+"_", 'v', tagLength),
		})
	}
	body, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("marshal amplified description of %s: %w", ep.name, err)
	}
	return body, nil
}

// listPaddingName is the name of huge_list's i-th fake endpoint: it sorts
// after every name the simulator gives, in the order of i.
func listPaddingName(i int) string {
	return fmt.Sprintf("zz-listed-only-endpoint-%07d", i)
}

// listPaddingItems renders huge_list's n fake endpoints as list items
// joined by commas: custom model endpoints on CPU, derived like the
// simulator's own, that no other call knows.
func listPaddingItems(cfg Config, n int) []byte {
	var out []byte
	for i := range n {
		if i > 0 {
			out = append(out, ',')
		}
		ep := deriveEndpoint(cfg, kindCPU, listPaddingName(i), i)
		item, err := json.Marshal(newEndpointResource(ep, defaultStatus(), false))
		if err != nil {
			panic(err) // only strings and numbers: cannot fail
		}
		out = append(out, item...)
	}
	return out
}

// paddingItems returns the fault's fake list items, rendered once.
func (f *activeFault) paddingItems(cfg Config) []byte {
	f.listPaddingOnce.Do(func() { f.listPadding = listPaddingItems(cfg, f.Size) })
	return f.listPadding
}

// writePaddedList answers the list call with base, a list body, and the
// fault's fake endpoints after its own, without copying either.
func (s *Server) writePaddedList(w http.ResponseWriter, base []byte, f *activeFault) {
	padding := f.paddingItems(s.cfg)
	const suffix = "]}"
	head := bytes.TrimSuffix(base, []byte(suffix))
	sep := ""
	if !bytes.HasSuffix(head, []byte("[")) {
		sep = ","
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(head)+len(sep)+len(padding)+len(suffix)))
	w.WriteHeader(http.StatusOK)
	for _, part := range [][]byte{head, []byte(sep), padding, []byte(suffix)} {
		if _, err := w.Write(part); err != nil {
			return
		}
	}
}
