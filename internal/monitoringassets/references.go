// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package monitoringassets reads the Datadog dashboard and monitors shipped under deploy/datadog and lists
// the metric names and tag keys they reference, so that a test can check each against what the datadog
// exporter really sends.
package monitoringassets

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// DatadogReferences parses a Datadog dashboard (the JSON of POST /api/v1/dashboard) and a JSON array of
// monitor definitions (the JSON of POST /api/v1/monitor, one per element) and returns, sorted and without
// duplicates, every metric name and every tag key they reference.
//
// Metric names come from the metric queries: each `query` string of a dashboard request with data_source
// metrics (or none), each legacy `q` string, and each monitor's `query`. In every query the name is what
// follows a space aggregator (`avg:`, `sum:`, `min:`, `max:`, `count:`, `p50:`, `p99.9:`, ...) up to the
// tag filter, so monitor evaluation prefixes (`max(last_5m):`), arithmetic between queries, thresholds and
// suffix functions (`.as_rate()`, `.as_count()`, `.rollup(...)`, `.fill(...)`) are skipped. Tag keys come
// from the `{...}` filters (the part before `:` of each `key:value`, bare tags, `key IN (...)`), the
// `by {...}` groupings and the `prefix` of each dashboard template variable.
//
// An empty input is skipped. A query that names no metric, an unbalanced brace, a malformed tag key, or a
// `$variable` that is not one of the dashboard's template variables is an error.
func DatadogReferences(dashboardJSON, monitorsJSON []byte) (metrics, tagKeys []string, err error) {
	refs := references{metrics: map[string]bool{}, tagKeys: map[string]bool{}}
	if len(bytes.TrimSpace(dashboardJSON)) > 0 {
		if err := refs.dashboard(dashboardJSON); err != nil {
			return nil, nil, fmt.Errorf("dashboard: %w", err)
		}
	}
	if len(bytes.TrimSpace(monitorsJSON)) > 0 {
		if err := refs.monitors(monitorsJSON); err != nil {
			return nil, nil, fmt.Errorf("monitors: %w", err)
		}
	}
	return sortedKeys(refs.metrics), sortedKeys(refs.tagKeys), nil
}

type references struct {
	metrics map[string]bool
	tagKeys map[string]bool
}

func (r *references) dashboard(data []byte) error {
	var dash map[string]any
	if err := json.Unmarshal(data, &dash); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if _, ok := dash["widgets"].([]any); !ok {
		return errors.New(`no "widgets" array`)
	}
	vars := map[string]bool{}
	if tvs, ok := dash["template_variables"]; ok {
		list, ok := tvs.([]any)
		if !ok {
			return errors.New(`"template_variables" is not an array`)
		}
		for i, tv := range list {
			obj, ok := tv.(map[string]any)
			if !ok {
				return fmt.Errorf("template_variables[%d] is not an object", i)
			}
			name, _ := obj["name"].(string)
			if name == "" {
				return fmt.Errorf("template_variables[%d] has no name", i)
			}
			vars[name] = true
			if prefix, _ := obj["prefix"].(string); prefix != "" {
				if err := r.addTagKey(prefix); err != nil {
					return fmt.Errorf("template variable %q: %w", name, err)
				}
			}
		}
	}
	return r.walk(dash["widgets"], "widgets", vars)
}

// walk visits every object under v and parses its metric query strings.
func (r *references) walk(v any, path string, vars map[string]bool) error {
	switch v := v.(type) {
	case map[string]any:
		ds, hasDS := v["data_source"].(string)
		isMetrics := !hasDS || strings.EqualFold(ds, "metrics")
		for _, key := range sortedKeys(v) {
			child := v[key]
			if s, ok := child.(string); ok && (key == "q" || (key == "query" && isMetrics)) {
				if err := r.query(s, vars); err != nil {
					return fmt.Errorf("%s.%s: %w", path, key, err)
				}
				continue
			}
			if err := r.walk(child, path+"."+key, vars); err != nil {
				return err
			}
		}
	case []any:
		for i, child := range v {
			if err := r.walk(child, fmt.Sprintf("%s[%d]", path, i), vars); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *references) monitors(data []byte) error {
	var monitors []map[string]any
	if err := json.Unmarshal(data, &monitors); err != nil {
		return fmt.Errorf("not a JSON array of objects: %w", err)
	}
	for i, m := range monitors {
		name, _ := m["name"].(string)
		q, ok := m["query"].(string)
		if !ok || q == "" {
			return fmt.Errorf("monitor %d (%q) has no query", i, name)
		}
		if err := r.query(q, nil); err != nil {
			return fmt.Errorf("monitor %d (%q): %w", i, name, err)
		}
	}
	return nil
}

var (
	// metricRE finds `<space aggregator>:<metric name>` outside braces. The aggregator must not follow a
	// word character or a dot, so that `max(last_5m):` (an evaluation window) and tag values do not match.
	metricRE = regexp.MustCompile(`(?i)(?:^|[^\w.])(?:avg|sum|min|max|count|p\d{1,2}(?:\.\d+)?)\s*:\s*([A-Za-z][\w.]*)(\s*\()?`)
	// inRE rewrites `key IN (a, b)` and `key NOT IN (a, b)` to `key:` so the list's values are not read as keys.
	inRE = regexp.MustCompile(`(?i)([^\s,()!]+)\s+(?:not\s+)?in\s*\([^)]*\)`)
	// tagKeyRE is what a Datadog tag key may look like.
	tagKeyRE = regexp.MustCompile(`^[A-Za-z][\w.\-/]*$`)
	// byRE matches a `by` keyword right before a brace.
	byRE = regexp.MustCompile(`(?i)(?:^|[^\w.])by\s*$`)
)

// query extracts the metric names and tag keys of one query string. vars holds the template variables a
// `$name` in a filter may refer to.
func (r *references) query(q string, vars map[string]bool) error {
	var outside strings.Builder
	for i := 0; i < len(q); {
		switch q[i] {
		case '}':
			return fmt.Errorf("unbalanced '}' in %q", q)
		case '{':
			end := strings.IndexByte(q[i+1:], '}')
			if end < 0 {
				return fmt.Errorf("unbalanced '{' in %q", q)
			}
			content := q[i+1 : i+1+end]
			if strings.ContainsRune(content, '{') {
				return fmt.Errorf("nested '{' in %q", q)
			}
			var err error
			if byRE.MatchString(outside.String()) {
				err = r.groupBy(content)
			} else {
				err = r.filter(content, vars)
			}
			if err != nil {
				return fmt.Errorf("%w in %q", err, q)
			}
			outside.WriteString(" {} ")
			i += end + 2
		default:
			outside.WriteByte(q[i])
			i++
		}
	}
	matches := metricRE.FindAllStringSubmatch(outside.String(), -1)
	if len(matches) == 0 {
		return fmt.Errorf("no metric in %q", q)
	}
	for _, m := range matches {
		name := m[1]
		if m[2] != "" {
			// No tag filter: `sum:name.as_count()`: the last segment is a function, not part of the name.
			dot := strings.LastIndexByte(name, '.')
			if dot <= 0 {
				return fmt.Errorf("no metric in %q", q)
			}
			name = name[:dot]
		}
		name = strings.TrimSuffix(name, ".")
		if name == "" || strings.Contains(name, "..") {
			return fmt.Errorf("malformed metric name %q in %q", name, q)
		}
		r.metrics[name] = true
	}
	return nil
}

// groupBy reads the tag keys of a `by {a,b}` grouping.
func (r *references) groupBy(content string) error {
	for _, key := range strings.Split(content, ",") {
		key = strings.TrimSpace(key)
		if key == "" {
			continue
		}
		if err := r.addTagKey(key); err != nil {
			return err
		}
	}
	return nil
}

// filter reads the tag keys of a `{...}` filter: `*`, `key:value`, `!key:value`, bare tags, `$variable`,
// boolean operators and `key IN (...)`.
func (r *references) filter(content string, vars map[string]bool) error {
	content = inRE.ReplaceAllString(content, "$1:")
	fields := strings.FieldsFunc(content, func(c rune) bool {
		return c == ',' || c == '(' || c == ')' || c == ' ' || c == '\t' || c == '\n'
	})
	for _, f := range fields {
		switch strings.ToUpper(f) {
		case "*", "AND", "OR", "NOT":
			continue
		}
		f = strings.TrimLeft(f, "!-")
		if strings.HasPrefix(f, "$") {
			name := strings.TrimPrefix(f, "$")
			name, _, _ = strings.Cut(name, ".") // $var.value
			if !vars[name] {
				return fmt.Errorf("undefined template variable $%s", name)
			}
			continue
		}
		key, _, _ := strings.Cut(f, ":")
		if err := r.addTagKey(key); err != nil {
			return err
		}
	}
	return nil
}

func (r *references) addTagKey(key string) error {
	if !tagKeyRE.MatchString(key) {
		return fmt.Errorf("malformed tag key %q", key)
	}
	r.tagKeys[key] = true
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
