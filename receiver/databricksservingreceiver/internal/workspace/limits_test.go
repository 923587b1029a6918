// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package workspace

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The list keeps the first MaxEndpoints by name whatever the answer's order, skips the fields it does not know
// and counts every endpoint it held.
func TestDecodeListKeepsTheFirstByName(t *testing.T) {
	var endpoints []map[string]any
	for i := range 500 {
		endpoints = append(endpoints, map[string]any{"name": fmt.Sprintf("ep-%03d", i), "tags": []Tag{{Key: "k", Value: "v"}}})
	}
	rand.Shuffle(len(endpoints), func(i, j int) { endpoints[i], endpoints[j] = endpoints[j], endpoints[i] })
	body, err := json.Marshal(map[string]any{"next_page_token": map[string]any{"x": []int{1}}, "endpoints": endpoints})
	require.NoError(t, err)
	kept, total, err := Limits{MaxEndpoints: 100}.decodeList(body)
	require.NoError(t, err)
	assert.Equal(t, 500, total)
	require.Len(t, kept, 100)
	for i, ep := range kept {
		assert.Equal(t, fmt.Sprintf("ep-%03d", i), ep.Name)
	}
	kept, total, err = Limits{}.decodeList(body)
	require.NoError(t, err)
	assert.Equal(t, 500, total)
	assert.Len(t, kept, 500)
}

func TestDecodeListEdgeCases(t *testing.T) {
	for _, tc := range []struct{ body, err string }{
		{`{}`, ""},
		{`{"endpoints":null}`, ""},
		{`{"endpoints":[]}`, ""},
		{`{"endpoints":{}}`, "not a list"},
		{`[]`, "expected"},
		{`{"endpoints":[{"name":"a"}`, "EOF"},
		{``, "EOF"},
	} {
		_, _, err := Limits{MaxEndpoints: 1}.decodeList([]byte(tc.body))
		if tc.err == "" {
			assert.NoError(t, err, tc.body)
		} else {
			assert.ErrorContains(t, err, tc.err, tc.body)
		}
	}
}

// Tags too long are dropped, then the first MaxTags by key kept; served entities are kept in the answer's order,
// Config's first, up to MaxServedEntities distinct names; what is dropped is counted.
func TestTrimDescription(t *testing.T) {
	ep := Endpoint{
		Tags:          []Tag{{Key: "c", Value: "3"}, {Key: strings.Repeat("k", 9), Value: "v"}, {Key: "a", Value: "1"}, {Key: "b", Value: strings.Repeat("v", 9)}, {Key: "d", Value: "4"}},
		Config:        EndpointConfig{ServedEntities: []ServedEntity{{Name: "x"}, {Name: "y"}}},
		PendingConfig: EndpointConfig{ServedEntities: []ServedEntity{{Name: "y"}, {Name: "z"}, {Name: "w"}}},
	}
	Limits{MaxTags: 2, MaxTagKeyLength: 8, MaxTagValueLength: 8, MaxServedEntities: 3}.trim(&ep)
	assert.Equal(t, []Tag{{Key: "a", Value: "1"}, {Key: "c", Value: "3"}}, ep.Tags)
	assert.Equal(t, []ServedEntity{{Name: "x"}, {Name: "y"}}, ep.Config.ServedEntities)
	assert.Equal(t, []ServedEntity{{Name: "y"}, {Name: "z"}}, ep.PendingConfig.ServedEntities)
	assert.Equal(t, Trimmed{ServedEntities: 1, Tags: 1, TagKeys: 1, TagValues: 1}, ep.Trimmed)
}

// A zero limit is no limit: nothing is dropped from a description, however long or many its parts.
func TestZeroLimitsDropNothing(t *testing.T) {
	long := strings.Repeat("v", 5000)
	var tags []Tag
	var entities []ServedEntity
	for i := range 100 {
		tags = append(tags, Tag{Key: fmt.Sprintf("%s%03d", long, i), Value: long})
		entities = append(entities, ServedEntity{Name: fmt.Sprintf("%s%03d", long, i), EntityVersion: long})
	}
	ep := Endpoint{ID: long, Task: long, Tags: tags, Config: EndpointConfig{ServedEntities: entities}}
	want := ep
	want.Tags, want.Config.ServedEntities = append([]Tag(nil), tags...), append([]ServedEntity(nil), entities...)
	Limits{}.trim(&ep)
	assert.Equal(t, Trimmed{}, ep.Trimmed)
	assert.Equal(t, want, ep)
}
