// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package kubernetes

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// The Kubernetes YAML of the documentation: every ```yaml block of README.md, docs/*.md and deploy/*/README.md
// that e2e/examples_test.go classifies as Kubernetes (rule 2 there: top-level apiVersion and kind, or a first
// line `# <Kind> (excerpt)`). A whole manifest is decoded strictly into its k8s.io/api type, as the manifests of
// this folder are. An excerpt is decoded strictly into the type of its kind, and must be part of the manifest of
// that kind in this folder: every field it shows has the value the manifest has (list items are matched by
// their fields, e.g. a container by its name and what the excerpt shows of it).

var (
	docFenceRE        = regexp.MustCompile("^([ \t]*)(```+|~~~+)[ \t]*([^ \t`]*)")
	kubernetesExcerpt = regexp.MustCompile(`^# (StatefulSet|Deployment|ConfigMap|Secret|Service|Namespace) \(excerpt\)$`)
	kindAPIVersion    = map[string]string{"StatefulSet": "apps/v1", "Deployment": "apps/v1", "ConfigMap": "v1", "Secret": "v1", "Service": "v1", "Namespace": "v1"}
)

type docBlock struct {
	where string
	text  string
}

// docYAMLBlocks returns the ```yaml blocks of the documentation, paths relative to the repository root.
func docYAMLBlocks(t *testing.T) []docBlock {
	t.Helper()
	root := filepath.Join("..", "..")
	files := []string{filepath.Join(root, "README.md")}
	for _, pattern := range []string{"docs/*.md", "deploy/*/README.md"} {
		m, err := filepath.Glob(filepath.Join(root, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	sort.Strings(files)
	var blocks []docBlock
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		lines := strings.Split(string(raw), "\n")
		for i := 0; i < len(lines); i++ {
			m := docFenceRE.FindStringSubmatch(lines[i])
			if m == nil {
				continue
			}
			indent, fence, lang := m[1], m[2], strings.ToLower(m[3])
			start := i + 1
			var body []string
			closed := false
			for i++; i < len(lines); i++ {
				trimmed := strings.TrimSpace(lines[i])
				if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
					closed = true
					break
				}
				body = append(body, strings.TrimPrefix(lines[i], indent))
			}
			if !closed {
				t.Fatalf("%s:%d: the code block is not closed", rel, start)
			}
			if lang == "yaml" || lang == "yml" {
				blocks = append(blocks, docBlock{fmt.Sprintf("%s:%d", rel, start), strings.Join(body, "\n") + "\n"})
			}
		}
	}
	return blocks
}

func TestDocumentationKubernetesSnippets(t *testing.T) {
	byKind := map[string][]any{}
	for _, file := range mustGlob(t, "*.yaml") {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, doc := range splitDocuments(data) {
			var generic map[string]any
			if err := yaml.Unmarshal(doc, &generic); err != nil {
				t.Fatal(err)
			}
			kind, _ := generic["kind"].(string)
			byKind[kind] = append(byKind[kind], generic)
		}
	}
	checked := 0
	for _, b := range docYAMLBlocks(t) {
		var top map[string]any
		if err := yaml.Unmarshal([]byte(b.text), &top); err != nil {
			continue // not a mapping: e2e/examples_test.go reports it
		}
		firstLine, _, _ := strings.Cut(strings.TrimSpace(b.text), "\n")
		_, hasAPIVersion := top["apiVersion"]
		_, hasKind := top["kind"]
		excerpt := kubernetesExcerpt.FindStringSubmatch(strings.TrimSpace(firstLine))
		switch {
		case hasAPIVersion && hasKind:
			checked++
			if _, err := decodeStrict([]byte(b.text)); err != nil {
				t.Errorf("%s: %v", b.where, err)
			}
		case excerpt != nil:
			checked++
			kind := excerpt[1]
			typed := "apiVersion: " + kindAPIVersion[kind] + "\nkind: " + kind + "\n" + b.text
			if _, err := decodeStrict([]byte(typed)); err != nil {
				t.Errorf("%s: the %s excerpt does not decode strictly: %v", b.where, kind, err)
				continue
			}
			if len(byKind[kind]) == 0 {
				t.Errorf("%s: an excerpt of a %s, and there is no %s in deploy/kubernetes", b.where, kind, kind)
				continue
			}
			found := false
			for _, manifest := range byKind[kind] {
				if partOf(top, manifest) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: the %s excerpt is not part of the %s in deploy/kubernetes (a field it shows differs, or is not there)", b.where, kind, kind)
			}
		}
	}
	if checked == 0 {
		t.Error("no Kubernetes snippet found in the documentation (docs/configuration.md has a StatefulSet excerpt): is the extraction broken?")
	}
	t.Logf("%d Kubernetes snippets checked", checked)
}

// partOf reports whether every field of excerpt is in whole with the same value: maps key by key, lists item by
// item (each excerpt item part of some item of the list), scalars equal.
func partOf(excerpt, whole any) bool {
	switch e := excerpt.(type) {
	case map[string]any:
		w, ok := whole.(map[string]any)
		if !ok {
			return false
		}
		for k, v := range e {
			if wv, ok := w[k]; !ok || !partOf(v, wv) {
				return false
			}
		}
		return true
	case []any:
		w, ok := whole.([]any)
		if !ok {
			return false
		}
		for _, item := range e {
			matched := false
			for _, wi := range w {
				if partOf(item, wi) {
					matched = true
					break
				}
			}
			if !matched {
				return false
			}
		}
		return true
	default:
		return reflect.DeepEqual(excerpt, whole)
	}
}

func TestPartOf(t *testing.T) {
	whole := map[string]any{"spec": map[string]any{"replicas": float64(3), "containers": []any{
		map[string]any{"name": "a", "env": []any{map[string]any{"name": "X", "value": "1"}, map[string]any{"name": "Y", "value": "2"}}},
	}}}
	for _, c := range []struct {
		excerpt any
		want    bool
	}{
		{map[string]any{"spec": map[string]any{"replicas": float64(3)}}, true},
		{map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "env": []any{map[string]any{"name": "Y", "value": "2"}}}}}}, true},
		{map[string]any{"spec": map[string]any{"replicas": float64(2)}}, false},
		{map[string]any{"spec": map[string]any{"containers": []any{map[string]any{"name": "a", "env": []any{map[string]any{"name": "Y", "value": "3"}}}}}}, false},
		{map[string]any{"spec": map[string]any{"paused": true}}, false},
	} {
		if got := partOf(c.excerpt, whole); got != c.want {
			t.Errorf("partOf(%v) = %v, want %v", c.excerpt, got, c.want)
		}
	}
}

func mustGlob(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(pattern)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
