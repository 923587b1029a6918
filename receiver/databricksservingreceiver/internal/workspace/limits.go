// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"

import (
	"bytes"
	"container/heap"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Limits bound what the workspace's descriptions may bring into memory. The receiver keeps every description
// it scrapes for as long as the endpoint is listed, and builds one resource per served entity, each with every
// tag: without caps, a 41 KiB description became a thousand resources and a million attributes. What is over a
// cap is dropped deterministically and counted in Endpoint.Trimmed, never an error: the endpoint is scraped.
// A zero field is no limit.
type Limits struct {
	// MaxEndpoints bounds the endpoints ListEndpoints keeps: the first by name. Databricks allows 1000.
	MaxEndpoints int
	// MaxListBytes bounds the list's body (MaxBodyBytes bounds every other body).
	MaxListBytes      int64
	MaxServedEntities int // per endpoint, Config and PendingConfig together
	MaxTags           int // per endpoint
	MaxTagKeyLength   int
	// MaxTagValueLength bounds tag values and the description's other text fields (id, task, served entity
	// names and versions...): a longer tag, or a served entity with a longer name, is dropped; another field
	// longer is emptied. Real values are tens of bytes; a Unity Catalog model name at most 767.
	MaxTagValueLength int
}

// Trimmed counts what Limits dropped from one endpoint's description.
type Trimmed struct {
	ServedEntities int // over MaxServedEntities
	Tags           int // over MaxTags
	TagKeys        int // keys longer than MaxTagKeyLength (the tag is dropped)
	TagValues      int // values longer than MaxTagValueLength (the tag is dropped)
	Fields         int // other text fields longer than MaxTagValueLength (emptied)
}

// Any reports whether anything was dropped.
func (t Trimmed) Any() bool { return t != Trimmed{} }

// SetLimits sets the limits of the client's later calls. Call it before the client is used.
func (c *Client) SetLimits(l Limits) { c.limits = l }

func over(n, limit int) bool { return limit > 0 && n > limit }

// trim applies the description limits to ep and records what they dropped in ep.Trimmed.
func (l Limits) trim(ep *Endpoint) {
	ep.Trimmed = Trimmed{}
	kept := ep.Tags[:0]
	for _, tag := range ep.Tags {
		switch {
		case over(len(tag.Key), l.MaxTagKeyLength):
			ep.Trimmed.TagKeys++
		case over(len(tag.Value), l.MaxTagValueLength):
			ep.Trimmed.TagValues++
		default:
			kept = append(kept, tag)
		}
	}
	// The first by key: which tags are kept does not depend on the order of the answer.
	slices.SortStableFunc(kept, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	if over(len(kept), l.MaxTags) {
		ep.Trimmed.Tags = len(kept) - l.MaxTags
		kept = kept[:l.MaxTags]
	}
	// A copy: the dropped tags' strings are not kept alive by the array behind them.
	ep.Tags = slices.Clone(kept)
	ep.Trimmed.Fields += l.emptyLong(&ep.ID, &ep.Task, &ep.EndpointType, &ep.State.Ready, &ep.State.ConfigUpdate)
	// Config's entities first, in the answer's (configuration) order, then the pending update's new ones.
	names := map[string]bool{}
	for _, config := range []*EndpointConfig{&ep.Config, &ep.PendingConfig} {
		entities := config.ServedEntities[:0]
		for _, entity := range config.ServedEntities {
			if over(len(entity.Name), l.MaxTagValueLength) || (!names[entity.Name] && over(len(names)+1, l.MaxServedEntities)) {
				ep.Trimmed.ServedEntities++
				continue
			}
			names[entity.Name] = true
			ep.Trimmed.Fields += l.emptyLong(&entity.EntityName, &entity.EntityVersion, &entity.WorkloadType, &entity.WorkloadSize, &entity.State.Deployment)
			entities = append(entities, entity)
		}
		config.ServedEntities = slices.Clone(entities)
	}
}

// emptyLong empties the fields longer than MaxTagValueLength and returns how many it emptied.
func (l Limits) emptyLong(fields ...*string) int {
	n := 0
	for _, f := range fields {
		if over(len(*f), l.MaxTagValueLength) {
			*f, n = "", n+1
		}
	}
	return n
}

// decodeList decodes the list call's body element by element, trimming each description and keeping only the
// MaxEndpoints first by name (a max-heap of them), so the endpoints in memory never exceed the limit however
// many the body holds. It returns the kept endpoints in name order and how many the body held.
func (l Limits) decodeList(body []byte) ([]Endpoint, int, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := expectDelim(dec, '{'); err != nil {
		return nil, 0, err
	}
	first := &byNameDesc{}
	total := 0
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, 0, err
		}
		if key != "endpoints" {
			var skipped json.RawMessage
			if err = dec.Decode(&skipped); err != nil {
				return nil, 0, err
			}
			continue
		}
		n, err := l.decodeEndpoints(dec, first)
		if err != nil {
			return nil, 0, err
		}
		total += n
	}
	kept := []Endpoint(*first)
	slices.SortFunc(kept, func(a, b Endpoint) int { return strings.Compare(a.Name, b.Name) })
	return kept, total, nil
}

// decodeEndpoints decodes the "endpoints" array (or null) into first, and returns how many it held.
func (l Limits) decodeEndpoints(dec *json.Decoder, first *byNameDesc) (int, error) {
	tok, err := dec.Token()
	if err != nil || tok == nil {
		return 0, err
	}
	if tok != json.Delim('[') {
		return 0, fmt.Errorf("endpoints is %v, not a list", tok)
	}
	n := 0
	for dec.More() {
		var ep Endpoint
		if err := dec.Decode(&ep); err != nil {
			return 0, err
		}
		n++
		l.trim(&ep)
		switch {
		case l.MaxEndpoints <= 0 || first.Len() < l.MaxEndpoints:
			heap.Push(first, ep)
		case ep.Name < (*first)[0].Name:
			(*first)[0] = ep // the last by name leaves
			heap.Fix(first, 0)
		}
	}
	return n, expectDelim(dec, ']')
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	if err != nil {
		return err
	}
	if tok != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}

// byNameDesc is a heap whose top is the last endpoint by name.
type byNameDesc []Endpoint

func (h byNameDesc) Len() int           { return len(h) }
func (h byNameDesc) Less(i, j int) bool { return h[i].Name > h[j].Name }
func (h byNameDesc) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *byNameDesc) Push(x any)        { *h = append(*h, x.(Endpoint)) }
func (h *byNameDesc) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
