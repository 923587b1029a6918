// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The YAML examples of the documentation are checked like code: a reader copies them. Every ```yaml (or ```yml)
// block of README.md, docs/*.md, receiver/*/README.md and deploy/*/README.md is classified by the rules below, in this order, and a
// block that matches none fails the test, naming its file and line:
//
//  1. ocb manifest: a top-level `dist:`, or a top-level list whose items have `gomod:`. Recognised and skipped
//     here: ocb manifests are built by their own tests (the README's by e2e/ocbimport).
//  2. Kubernetes: top-level `apiVersion:` and `kind:`, or a first line `# <Kind> (excerpt)`. Checked by
//     deploy/kubernetes/docs_test.go (`make test-deploy`), which decodes it strictly into its k8s.io/api type and
//     requires an excerpt to be part of the shipped manifest of that kind.
//  3. Prometheus rules: the only top-level key is `groups:`. Checked with `promtool check rules` of Prometheus 2.42
//     and of Prometheus 3.
//  4. Prometheus server configuration: every top-level key is one of prometheus.yml's (`global:`,
//     `scrape_configs:`, `rule_files:`, `alerting:`, ...). Checked with `promtool check config` of both versions
//     (of Prometheus 3 alone when it has a key 2.42 does not know, `otlp:`), with the YAML files of the Markdown
//     file's folder next to it (`rule_files: [alerts.yaml]` in deploy/prometheus).
//  5. Datadog Agent check configuration: top-level `instances:` (and `init_config:`) only. Recognised and not
//     checked: the Databricks recipe the migration guide starts from; there is no Datadog Agent here.
//  6. Collector configuration: every top-level key is one of `receivers:`, `processors:`, `exporters:`,
//     `extensions:`, `connectors:`, `service:`. It must pass `otelcol-databricks validate`, either
//     - alone: a complete configuration that a reader can start as it is, or
//     - when its first line is exactly
//     `# with the shipped config: otelcol-databricks --config config.yaml --config <this file>` (or
//     `# with the shipped configs: ... --config config.yaml --config datadog.yaml --config <this file>`),
//     after those shipped files of cmd/otelcol-databricks, in that order: a fragment that says how to use it.
//     There is no other way to be partial: a lone `receivers:` block without the marker fails validation.
//     Beyond `validate`, every extension a component refers to (`storage:`, `authenticator:`) must be enabled in
//     the resolved `service::extensions`: the collector checks that only at start, and an overlay that replaces
//     the shipped list of extensions would otherwise validate and then fail to start.
//     Every ${env:NAME} (or ${NAME}) the configuration reads without a default must have a dummy value in
//     exampleEnv, so a new variable is a conscious addition.

// exampleFiles lists the Markdown files whose YAML blocks are examples, relative to the repository root.
func exampleFiles(t *testing.T) []string {
	t.Helper()
	files := []string{"README.md"}
	for _, pattern := range []string{"docs/*.md", "receiver/*/README.md", "deploy/*/README.md"} {
		matches, err := filepath.Glob(filepath.Join(*repoRoot, pattern))
		require.NoError(t, err)
		for _, m := range matches {
			rel, err := filepath.Rel(*repoRoot, m)
			require.NoError(t, err)
			files = append(files, rel)
		}
	}
	sort.Strings(files)
	return files
}

// fencedBlock is one fenced code block of a Markdown file.
type fencedBlock struct {
	File string // relative to the repository root
	Line int    // of the opening fence, 1-based
	Lang string
	Text string // without the fence's indentation
}

func (b fencedBlock) where() string { return fmt.Sprintf("%s:%d", b.File, b.Line) }

var fenceRE = regexp.MustCompile("^([ \t]*)(```+|~~~+)[ \t]*([^ \t`]*)")

// fencedBlocks returns the fenced code blocks of a Markdown file (also those indented in a list item).
func fencedBlocks(t *testing.T, file string) []fencedBlock {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(*repoRoot, file))
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	var blocks []fencedBlock
	for i := 0; i < len(lines); i++ {
		m := fenceRE.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		indent, fence := m[1], m[2]
		block := fencedBlock{File: file, Line: i + 1, Lang: strings.ToLower(m[3])}
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
		require.True(t, closed, "%s: the code block is not closed", block.where())
		block.Text = strings.Join(body, "\n") + "\n"
		blocks = append(blocks, block)
	}
	return blocks
}

type exampleKind string

const (
	kindOCB              exampleKind = "ocb manifest"
	kindKubernetes       exampleKind = "Kubernetes"
	kindPrometheusRules  exampleKind = "Prometheus rules"
	kindPrometheusConfig exampleKind = "Prometheus configuration"
	kindDatadogCheck     exampleKind = "Datadog Agent check"
	kindCollector        exampleKind = "collector configuration"
)

var (
	collectorKeys        = []string{"receivers", "processors", "exporters", "extensions", "connectors", "service"}
	prometheusConfigKeys = []string{"global", "scrape_configs", "scrape_config_files", "rule_files", "alerting", "remote_write", "remote_read", "storage", "tracing", "otlp", "runtime"}
	datadogCheckKeys     = []string{"init_config", "instances"}
	kubernetesExcerptRE  = regexp.MustCompile(`^# (StatefulSet|Deployment|ConfigMap|Secret|Service|Namespace) \(excerpt\)$`)
	// overlayRE is the first line of a collector configuration that goes after shipped ones (rule 6).
	overlayRE = regexp.MustCompile(`^# with the shipped configs?: otelcol-databricks((?: --config (?:config|datadog)\.yaml)+) --config <this file>$`)
)

// classifyExample applies the rules above to one YAML block. For a collector configuration it also returns the
// shipped files it goes after (paths relative to the repository root; none for a complete configuration).
func classifyExample(text string) (exampleKind, []string, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return "", nil, fmt.Errorf("not a YAML mapping: %w", err)
	}
	if len(doc) == 0 {
		return "", nil, fmt.Errorf("an empty YAML block")
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	within := func(allowed []string) bool {
		for _, k := range keys {
			if !slices.Contains(allowed, k) {
				return false
			}
		}
		return true
	}
	firstLine, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
	firstLine = strings.TrimSpace(firstLine)

	if _, ok := doc["dist"]; ok {
		return kindOCB, nil, nil
	}
	for _, v := range doc {
		if items, ok := v.([]any); ok && len(items) > 0 {
			if item, ok := items[0].(map[string]any); ok {
				if _, ok := item["gomod"]; ok {
					return kindOCB, nil, nil
				}
			}
		}
	}
	_, hasAPIVersion := doc["apiVersion"]
	_, hasKind := doc["kind"]
	if (hasAPIVersion && hasKind) || kubernetesExcerptRE.MatchString(firstLine) {
		return kindKubernetes, nil, nil
	}
	if slices.Equal(keys, []string{"groups"}) {
		return kindPrometheusRules, nil, nil
	}
	if within(prometheusConfigKeys) {
		return kindPrometheusConfig, nil, nil
	}
	if within(datadogCheckKeys) && slices.Contains(keys, "instances") {
		return kindDatadogCheck, nil, nil
	}
	if within(collectorKeys) {
		if m := overlayRE.FindStringSubmatch(firstLine); m != nil {
			var bases []string
			for _, f := range strings.Fields(m[1]) {
				if f != "--config" {
					bases = append(bases, filepath.Join("cmd", "otelcol-databricks", f))
				}
			}
			return kindCollector, bases, nil
		}
		if strings.HasPrefix(firstLine, "#") && strings.Contains(firstLine, "--config") {
			return "", nil, fmt.Errorf("a collector configuration whose first line names --config files is not in the form %q", overlayRE.String())
		}
		return kindCollector, nil, nil
	}
	return "", nil, fmt.Errorf("unclassified YAML block (top-level keys %v): make it one of the kinds of e2e/examples_test.go, or extend the rules there", keys)
}

// exampleEnv holds the dummy value of every environment variable the collector examples read without a default.
// STATE_DIR is set even though it has one, so that nothing is created under /var/lib.
var exampleEnv = map[string]string{
	"DATABRICKS_HOST":                  "https://example.cloud.databricks.com",
	"DATABRICKS_TOKEN":                 "dapi-example-token",
	"DATABRICKS_ACCOUNT_ID":            "0d3c1f8e-0000-4a5b-8c9d-1234567890ab",
	"DATABRICKS_CLIENT_ID":             "example-client-id",
	"DATABRICKS_CLIENT_SECRET":         "example-client-secret",
	"RESEARCH_CLIENT_ID":               "example-research-client-id",
	"RESEARCH_CLIENT_SECRET":           "example-research-client-secret",
	"AZURE_TENANT_ID":                  "00000000-0000-0000-0000-000000000000",
	"AZURE_CLIENT_ID":                  "00000000-0000-0000-0000-000000000001",
	"AZURE_CLIENT_SECRET":              "example-azure-secret",
	"PROMETHEUS_REMOTE_WRITE_ENDPOINT": "http://127.0.0.1:9090/api/v1/write",
	"DD_API_KEY":                       "0123456789abcdef0123456789abcdef",
	"SHARD_INDEX":                      "0",
	"OTLP_ENDPOINT":                    "http://127.0.0.1:9090/api/v1/otlp",
	// A JSON map, as otlp.yaml documents it: the value must decode into the exporter's headers.
	"OTLP_HEADERS": `{"api-key": "example-otlp-key"}`,
}

var envRefRE = regexp.MustCompile(`\$\{(?:env:)?([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// envReferences returns the environment variables the string values of a configuration read (comments are not
// read), and whether every reference to each has a default.
func envReferences(text string) (map[string]bool, error) {
	var doc any
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		return nil, err
	}
	refs := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			for _, m := range envRefRE.FindAllStringSubmatch(v, -1) {
				hasDefault, seen := refs[m[1]]
				refs[m[1]] = (hasDefault || !seen) && m[2] != ""
			}
		}
	}
	walk(doc)
	return refs, nil
}

// TestExampleClassification pins the classification rules on small blocks, so a rule that stops matching (or
// starts matching everything) is noticed without the documentation.
func TestExampleClassification(t *testing.T) {
	for _, c := range []struct {
		name  string
		text  string
		kind  exampleKind
		bases []string
	}{
		{"complete collector configuration", "receivers: {r: {}}\nexporters: {e: {}}\nservice: {}\n", kindCollector, nil},
		{"lone receivers block", "receivers:\n  databricksserving: {}\n", kindCollector, nil},
		{"overlay", "# with the shipped config: otelcol-databricks --config config.yaml --config <this file>\nreceivers: {}\n", kindCollector, []string{"cmd/otelcol-databricks/config.yaml"}},
		{"overlay on both", "# with the shipped configs: otelcol-databricks --config config.yaml --config datadog.yaml --config <this file>\nexporters: {}\n", kindCollector, []string{"cmd/otelcol-databricks/config.yaml", "cmd/otelcol-databricks/datadog.yaml"}},
		{"ocb manifest", "receivers:\n  - gomod: example.com/x v1.0.0\n", kindOCB, nil},
		{"ocb dist", "dist: {name: x}\n", kindOCB, nil},
		{"kubernetes manifest", "apiVersion: v1\nkind: Secret\n", kindKubernetes, nil},
		{"kubernetes excerpt", "# StatefulSet (excerpt)\nspec: {replicas: 3}\n", kindKubernetes, nil},
		{"prometheus rules", "groups: []\n", kindPrometheusRules, nil},
		{"prometheus configuration", "rule_files: [a.yaml]\nalerting: {}\n", kindPrometheusConfig, nil},
		{"datadog check", "instances: [{}]\n", kindDatadogCheck, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			kind, bases, err := classifyExample(c.text)
			require.NoError(t, err)
			assert.Equal(t, c.kind, kind)
			assert.Equal(t, c.bases, bases)
		})
	}
	for name, text := range map[string]string{
		"unknown top-level key":           "receivers: {}\nfoo: 1\n",
		"a spec without the excerpt mark": "spec: {replicas: 3}\n",
		"not a mapping":                   "- a\n- b\n",
		"malformed overlay marker":        "# with the shipped config: otelcol-databricks --config config.yaml --config other.yaml\nreceivers: {}\n",
		"overlay on an unknown file":      "# with the shipped config: otelcol-databricks --config mine.yaml --config <this file>\nreceivers: {}\n",
		"empty":                           "# nothing\n",
	} {
		t.Run("rejects "+name, func(t *testing.T) {
			_, _, err := classifyExample(text)
			assert.Error(t, err)
		})
	}
}

// TestDocumentationExamples checks every YAML example of the documentation by the rules at the top of this file.
// The datadog exporter is created by `validate` (it may try to reach Datadog and cloud metadata services), so
// this runs inside the loopback-only namespace like the rest of the suite.
func TestDocumentationExamples(t *testing.T) {
	requireLoopbackOnly(t)
	t.Parallel()
	collector := filepath.Join(*repoRoot, "bin", "otelcol-databricks")
	if _, err := os.Stat(collector); err != nil {
		t.Fatalf("%s is missing (%v): run `make build` first", collector, err)
	}
	tools := promtools(t)

	counts := map[exampleKind]int{}
	for _, file := range exampleFiles(t) {
		for _, block := range fencedBlocks(t, file) {
			if block.Lang != "yaml" && block.Lang != "yml" {
				continue
			}
			kind, bases, err := classifyExample(block.Text)
			if err != nil {
				t.Errorf("%s: %v", block.where(), err)
				continue
			}
			counts[kind]++
			t.Run(strings.ReplaceAll(block.where(), "/", "_"), func(t *testing.T) {
				t.Parallel()
				switch kind {
				case kindCollector:
					checkCollectorExample(t, collector, block, bases)
				case kindPrometheusConfig:
					checkPrometheusConfigExample(t, tools, block)
				case kindPrometheusRules:
					checkPrometheusRulesExample(t, tools, block)
				case kindKubernetes:
					t.Logf("%s: Kubernetes; decoded strictly by deploy/kubernetes/docs_test.go", block.where())
				case kindOCB:
					t.Logf("%s: ocb manifest; skipped here (built by its own test, e2e/ocbimport)", block.where())
				case kindDatadogCheck:
					t.Logf("%s: Datadog Agent check configuration; recognised, not checked (no Datadog Agent here)", block.where())
				}
			})
		}
	}
	t.Logf("YAML examples by kind: %v", counts)
	assert.Positive(t, counts[kindCollector], "no collector configuration found in the documentation: is the extraction broken?")
}

// checkCollectorExample validates one collector configuration (after the shipped files it names) with the
// distribution, and checks that the extensions its components refer to are enabled.
func checkCollectorExample(t *testing.T, collector string, block fencedBlock, bases []string) {
	dir := t.TempDir()
	example := filepath.Join(dir, "example.yaml")
	require.NoError(t, os.WriteFile(example, []byte(block.Text), 0o644))
	var args []string
	refs := map[string]bool{}
	for _, path := range append(append([]string{}, bases...), "") {
		text := block.Text
		if path != "" {
			raw, err := os.ReadFile(filepath.Join(*repoRoot, path))
			require.NoError(t, err)
			text = string(raw)
			path = filepath.Join(*repoRoot, path)
		} else {
			path = example
		}
		args = append(args, "--config", path)
		fileRefs, err := envReferences(text)
		require.NoError(t, err, path)
		for name, hasDefault := range fileRefs {
			prev, seen := refs[name]
			refs[name] = (prev || !seen) && hasDefault
		}
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "STATE_DIR=" + filepath.Join(dir, "state")}
	for name, hasDefault := range refs {
		if value, ok := exampleEnv[name]; ok {
			env = append(env, name+"="+value)
		} else if !hasDefault && name != "STATE_DIR" {
			t.Errorf("%s reads ${env:%s} without a default: give it a dummy value in exampleEnv (e2e/examples_test.go)", block.where(), name)
		}
	}
	if t.Failed() {
		return
	}
	what := block.where()
	if len(bases) > 0 {
		what += " after " + strings.Join(bases, " and ")
	}
	out, err := runExampleCommand(t, env, collector, append([]string{"validate"}, args...)...)
	if !assert.NoError(t, err, "%s: otelcol-databricks validate fails:\n%s", what, out) {
		return
	}
	out, err = runExampleCommand(t, env, collector, append([]string{"print-config", "--format=json"}, args...)...)
	require.NoError(t, err, "%s: otelcol-databricks print-config:\n%s", what, out)
	var resolved struct {
		Service struct {
			Extensions []string `json:"extensions"`
		} `json:"service"`
	}
	var all map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &resolved), "%s: print-config output", what)
	require.NoError(t, json.Unmarshal([]byte(out), &all))
	for _, ref := range extensionReferences(all) {
		assert.Contains(t, resolved.Service.Extensions, ref.extension,
			"%s: %s names the extension %q, which the resolved service::extensions %v does not enable: the collector would fail at start", what, ref.path, ref.extension, resolved.Service.Extensions)
	}
	checkUnusedExporterNeedsNoEnv(t, collector, env, args, all, what)
	if !t.Failed() {
		t.Logf("%s: validated", what)
	}
}

// checkUnusedExporterNeedsNoEnv validates again without the environment variables that only exporters no pipeline
// uses read: an overlay that replaces the shipped pipelines' exporters (OTLP alone, Datadog alone) leaves the
// shipped remote-write exporter defined but unused, and the documentation promises that its variable may then be
// left unset.
func checkUnusedExporterNeedsNoEnv(t *testing.T, collector string, env, args []string, config map[string]any, what string) {
	t.Helper()
	used := map[string]bool{}
	service, _ := config["service"].(map[string]any)
	pipelines, _ := service["pipelines"].(map[string]any)
	for _, p := range pipelines {
		pipeline, _ := p.(map[string]any)
		exporters, _ := pipeline["exporters"].([]any)
		for _, e := range exporters {
			used[fmt.Sprint(e)] = true
		}
	}
	const unusedVar = "PROMETHEUS_REMOTE_WRITE_ENDPOINT"
	exporters, _ := config["exporters"].(map[string]any)
	if _, defined := exporters["prometheus_remote_write"]; !defined || used["prometheus_remote_write"] {
		return
	}
	var without []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, unusedVar+"=") {
			without = append(without, kv)
		}
	}
	out, err := runExampleCommand(t, without, collector, append([]string{"validate"}, args...)...)
	if assert.NoError(t, err, "%s: no pipeline uses prometheus_remote_write, yet validate fails without %s:\n%s", what, unusedVar, out) {
		t.Logf("%s: validated without %s too (no pipeline uses prometheus_remote_write)", what, unusedVar)
	}
}

type extensionReference struct{ path, extension string }

// extensionReferences finds, in the resolved configuration's components, the values of `storage` and
// `authenticator` keys: extensions that must be enabled for the component to start.
func extensionReferences(config map[string]any) []extensionReference {
	var refs []extensionReference
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				if s, ok := c.(string); ok && s != "" && (k == "storage" || k == "authenticator") {
					refs = append(refs, extensionReference{path + "::" + k, s})
					continue
				}
				walk(c, path+"::"+k)
			}
		case []any:
			for i, c := range v {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		}
	}
	for _, section := range []string{"receivers", "processors", "exporters", "connectors", "extensions"} {
		walk(config[section], section)
	}
	return refs
}

// checkPrometheusConfigExample runs `promtool check config` on a prometheus.yml example, next to the YAML files
// of its Markdown file's folder (the rule files it lists).
func checkPrometheusConfigExample(t *testing.T, tools []promtool, block fencedBlock) {
	dir := t.TempDir()
	siblings, err := filepath.Glob(filepath.Join(*repoRoot, filepath.Dir(block.File), "*.y*ml"))
	require.NoError(t, err)
	for _, s := range siblings {
		raw, readErr := os.ReadFile(s)
		require.NoError(t, readErr)
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Base(s)), raw, 0o644))
	}
	config := filepath.Join(dir, "prometheus-example.yml")
	require.NoError(t, os.WriteFile(config, []byte(block.Text), 0o644))
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(block.Text), &doc))
	for _, tool := range tools {
		if tool.version == "2.42" && slices.ContainsFunc(prometheus3OnlyKeys, func(k string) bool { _, ok := doc[k]; return ok }) {
			t.Logf("%s: for Prometheus 3 only (%v); not checked with promtool 2.42", block.where(), prometheus3OnlyKeys)
			continue
		}
		out, err := runExampleCommand(t, nil, tool.path, "check", "config", config)
		assert.NoError(t, err, "%s: promtool %s check config:\n%s", block.where(), tool.version, out)
		if err == nil {
			t.Logf("%s: promtool %s check config passes", block.where(), tool.version)
		}
	}
}

// prometheus3OnlyKeys are the top-level keys of prometheus.yml that Prometheus 2.42 does not know: an example
// with one of them is for Prometheus 3, and only its promtool checks it.
var prometheus3OnlyKeys = []string{"otlp"}

// checkPrometheusRulesExample checks a block of rules with the promtool of each Prometheus version: the shipped
// alerts must load on both.
func checkPrometheusRulesExample(t *testing.T, tools []promtool, block fencedBlock) {
	rules := filepath.Join(t.TempDir(), "rules.yaml")
	require.NoError(t, os.WriteFile(rules, []byte(block.Text), 0o644))
	for _, tool := range tools {
		out, err := runExampleCommand(t, nil, tool.path, "check", "rules", rules)
		assert.NoError(t, err, "%s: promtool %s check rules:\n%s", block.where(), tool.version, out)
	}
}

// promtool is the promtool of one Prometheus version.
type promtool struct{ version, path string }

// promtools returns Debian's promtool (Prometheus 2.42) and Prometheus 3's, which `make test-e2e` builds next to
// it and passes with -promtool3.
func promtools(t *testing.T) []promtool {
	t.Helper()
	debian, err := exec.LookPath("promtool")
	require.NoError(t, err, "promtool is not installed: run `make deps` (Debian package prometheus)")
	v3 := *promtool3
	if v3 == "" {
		v3 = filepath.Join(*repoRoot, ".tools", "promtool3")
	}
	_, err = os.Stat(v3)
	require.NoError(t, err, "Prometheus 3's promtool is missing: `make test-e2e` builds it (make .tools/promtool3), or pass -promtool3")
	return []promtool{{"2.42", debian}, {"3", v3}}
}

// runExampleCommand runs a short command (env nil: the suite's environment) and returns its combined output.
func runExampleCommand(t *testing.T, env []string, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	if env != nil {
		cmd.Env = env
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}
