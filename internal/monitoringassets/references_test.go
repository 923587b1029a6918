// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package monitoringassets

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// assetsDir holds the shipped Datadog dashboard and monitors, relative to this package.
var assetsDir = filepath.Join("..", "..", "deploy", "datadog")

// documentedMetrics are the Datadog metric names of docs/metrics.md.
var documentedMetrics = []string{
	"databricks.serving.account.up",
	"databricks.serving.account.workspaces",
	"databricks.serving.cpu.utilization",
	"databricks.serving.endpoint.config_update.state",
	"databricks.serving.endpoint.state",
	"databricks.serving.gpu.memory.utilization",
	"databricks.serving.gpu.utilization",
	"databricks.serving.limit.exceeded",
	"databricks.serving.memory.utilization",
	"databricks.serving.provisioned_concurrency",
	"databricks.serving.request.count",
	"databricks.serving.request.error.count",
	"databricks.serving.request.latency",
	"databricks.serving.request.queue_time",
	"databricks.serving.scrape.duration",
	"databricks.serving.scrape.samples",
	"databricks.serving.scrape.up",
	"databricks.serving.served_entity.deployment.state",
	"databricks.serving.windows.missed",
	"databricks.serving.workspace.endpoints",
	"databricks.serving.workspace.up",
	// The collector's own metrics, as the datadog exporter names what the prometheus/self receiver scrapes.
	"otelcol_exporter_queue_capacity",
	"otelcol_exporter_queue_size",
	"otelcol_exporter_send_failed_metric_points",
	"otelcol_exporter_sent_metric_points",
	"otelcol_process_cpu_seconds",
	"otelcol_process_memory_rss",
	"otelcol_receiver_refused_metric_points",
}

// documentedTagKeys are the Datadog tag keys of docs/metrics.md that queries may filter or group by.
var documentedTagKeys = []string{
	"databricks.account.host",
	"databricks.account.id",
	"databricks.serving.endpoint.name",
	"databricks.serving.served_entity.name",
	"databricks.serving.shard",
	"databricks.workspace.host",
	"error.type",
	"exporter",
	"gpu",
	"limit",
	"receiver",
	"selection",
	"served_entity_name",
	"service",
	"service.instance.id",
	"state",
	"status_class",
}

func readAssets(t *testing.T) (dashboard, monitors []byte) {
	t.Helper()
	dashboard, err := os.ReadFile(filepath.Join(assetsDir, "dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	monitors, err = os.ReadFile(filepath.Join(assetsDir, "monitors.json"))
	if err != nil {
		t.Fatal(err)
	}
	return dashboard, monitors
}

func TestShippedAssetsReferences(t *testing.T) {
	dashboard, monitors := readAssets(t)
	metrics, tagKeys, err := DatadogReferences(dashboard, monitors)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("metrics: %v", metrics)
	t.Logf("tag keys: %v", tagKeys)

	// The dashboard shows every metric the receiver produces, under its documented name.
	if !slices.Equal(metrics, documentedMetrics) {
		t.Errorf("metrics referenced:\n  %v\nwant every documented metric:\n  %v", metrics, documentedMetrics)
	}
	for _, k := range tagKeys {
		if !slices.Contains(documentedTagKeys, k) {
			t.Errorf("tag key %q is not a documented Datadog tag", k)
		}
	}
	for _, k := range []string{
		"databricks.workspace.host", "databricks.serving.endpoint.name", "databricks.serving.served_entity.name",
		"gpu", "state", "status_class", "error.type",
	} {
		if !slices.Contains(tagKeys, k) {
			t.Errorf("tag key %q is not used; got %v", k, tagKeys)
		}
	}

	// Each file alone parses too, and the monitors use a subset of the dashboard's names.
	dashMetrics, _, err := DatadogReferences(dashboard, nil)
	if err != nil {
		t.Fatal(err)
	}
	monMetrics, monTags, err := DatadogReferences(nil, monitors)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range monMetrics {
		if !slices.Contains(dashMetrics, m) {
			t.Errorf("monitor metric %q is not on the dashboard", m)
		}
	}
	for _, k := range []string{"databricks.serving.endpoint.name", "status_class", "state", "error.type"} {
		if !slices.Contains(monTags, k) {
			t.Errorf("monitors do not use tag key %q; got %v", k, monTags)
		}
	}
}

type dashboardDoc struct {
	Title             string `json:"title"`
	LayoutType        string `json:"layout_type"`
	TemplateVariables []struct {
		Name    string `json:"name"`
		Prefix  string `json:"prefix"`
		Default string `json:"default"`
	} `json:"template_variables"`
	Widgets []widget `json:"widgets"`
}

type widget struct {
	Definition struct {
		Type     string   `json:"type"`
		Title    string   `json:"title"`
		Widgets  []widget `json:"widgets"`
		Requests []struct {
			ResponseFormat string `json:"response_format"`
			Queries        []struct {
				DataSource string `json:"data_source"`
				Name       string `json:"name"`
				Query      string `json:"query"`
				Aggregator string `json:"aggregator"`
			} `json:"queries"`
			Formulas []struct {
				Formula string `json:"formula"`
			} `json:"formulas"`
		} `json:"requests"`
	} `json:"definition"`
}

// formulaIdentRE finds identifiers in a formula; those followed by "(" are functions.
var formulaIdentRE = regexp.MustCompile(`[A-Za-z_]\w*(\s*\()?`)

func TestShippedDashboardShape(t *testing.T) {
	dashboard, _ := readAssets(t)
	var d dashboardDoc
	if err := json.Unmarshal(dashboard, &d); err != nil {
		t.Fatal(err)
	}
	if d.Title == "" || d.LayoutType != "ordered" {
		t.Errorf("title %q, layout_type %q; want a title and ordered", d.Title, d.LayoutType)
	}
	wantVars := map[string]string{
		"workspace":     "databricks.workspace.host",
		"endpoint":      "databricks.serving.endpoint.name",
		"served_entity": "databricks.serving.served_entity.name",
	}
	gotVars := map[string]string{}
	for _, tv := range d.TemplateVariables {
		gotVars[tv.Name] = tv.Prefix
	}
	for name, prefix := range wantVars {
		if gotVars[name] != prefix {
			t.Errorf("template variable %q has prefix %q, want %q", name, gotVars[name], prefix)
		}
	}

	var titles []string
	var visit func(ws []widget)
	visit = func(ws []widget) {
		for _, w := range ws {
			def := w.Definition
			switch def.Type {
			case "group":
				visit(def.Widgets)
				continue
			case "timeseries", "query_value":
			default:
				t.Errorf("widget %q: unexpected type %q", def.Title, def.Type)
			}
			titles = append(titles, def.Title)
			if len(def.Requests) == 0 {
				t.Errorf("widget %q has no requests", def.Title)
			}
			for _, req := range def.Requests {
				wantFormat := map[string]string{"timeseries": "timeseries", "query_value": "scalar"}[def.Type]
				if req.ResponseFormat != wantFormat {
					t.Errorf("widget %q: response_format %q, want %q", def.Title, req.ResponseFormat, wantFormat)
				}
				if len(req.Queries) == 0 || len(req.Formulas) == 0 {
					t.Errorf("widget %q: a request needs queries and formulas", def.Title)
				}
				names := map[string]bool{}
				for _, q := range req.Queries {
					if q.DataSource != "metrics" || q.Name == "" || q.Query == "" {
						t.Errorf("widget %q: query %+v needs data_source metrics, a name and a query", def.Title, q)
					}
					if def.Type == "query_value" && q.Aggregator == "" {
						t.Errorf("widget %q: query %q of a query_value needs an aggregator", def.Title, q.Name)
					}
					names[q.Name] = true
				}
				for _, f := range req.Formulas {
					for _, m := range formulaIdentRE.FindAllStringSubmatch(f.Formula, -1) {
						if m[1] == "" && !names[m[0]] {
							t.Errorf("widget %q: formula %q refers to unknown query %q", def.Title, f.Formula, m[0])
						}
					}
				}
			}
		}
	}
	visit(d.Widgets)

	all := strings.ToLower(strings.Join(titles, "\n"))
	for _, view := range []string{
		"p50", "p99", "request rate", "error ratio", "cpu", "memory", "provisioned concurrency", "gpu utilization",
		"gpu memory", "queue time", "endpoint state", "config update state", "deployment state", "scrape up",
	} {
		if !strings.Contains(all, view) {
			t.Errorf("no widget shows %q; titles:\n%s", view, all)
		}
	}
}

type monitorDoc struct {
	Name    string   `json:"name"`
	Type    string   `json:"type"`
	Query   string   `json:"query"`
	Message string   `json:"message"`
	Tags    []string `json:"tags"`
	Options struct {
		Thresholds map[string]float64 `json:"thresholds"`
	} `json:"options"`
}

var (
	byClauseRE = regexp.MustCompile(`by\s*\{([^}]*)\}`)
	// tagVarRE finds tag variables in a message: {{key.name}} or {{[dotted.key].name}}.
	tagVarRE = regexp.MustCompile(`\{\{\s*(?:\[([^\]]+)\]|([\w.]+?))\.name\s*\}\}`)
)

func TestShippedMonitorsShape(t *testing.T) {
	_, monitors := readAssets(t)
	var ms []monitorDoc
	if err := json.Unmarshal(monitors, &ms); err != nil {
		t.Fatal(err)
	}
	if len(ms) < 6 {
		t.Fatalf("%d monitors, want at least 6", len(ms))
	}
	queries := map[string]bool{}
	for _, m := range ms {
		queries[m.Query] = true
		if m.Name == "" || m.Message == "" || len(m.Tags) == 0 {
			t.Errorf("monitor %q needs a name, message and tags", m.Name)
		}
		if m.Type != "query alert" {
			t.Errorf("monitor %q: type %q, want query alert", m.Name, m.Type)
		}
		if _, ok := m.Options.Thresholds["critical"]; !ok {
			t.Errorf("monitor %q: no critical threshold", m.Name)
		}
		// Every tag variable of the message must be a group of the multi-alert, or it renders empty.
		var groups []string
		for _, by := range byClauseRE.FindAllStringSubmatch(m.Query, -1) {
			for _, k := range strings.Split(by[1], ",") {
				groups = append(groups, strings.TrimSpace(k))
			}
		}
		for _, v := range tagVarRE.FindAllStringSubmatch(m.Name+"\n"+m.Message, -1) {
			key := v[1] + v[2]
			if !slices.Contains(groups, key) {
				t.Errorf("monitor %q: message uses {{%s.name}} but the query groups by %v", m.Name, key, groups)
			}
		}
	}
	// The documented "not collected for 5 minutes" alert, verbatim: endpoints that export no metrics (404) are
	// left out, and two workspaces' endpoints of the same name are told apart.
	const notCollected = "max(last_5m):max:databricks.serving.scrape.up{!error.type:not_found} by {databricks.workspace.host,databricks.serving.endpoint.name} < 1"
	if !queries[notCollected] {
		t.Errorf("no monitor with query %q", notCollected)
	}
}

// The monitors mean what the Prometheus rules mean: grouped by account for account metrics, by workspace (and
// endpoint, for endpoint metrics) for the others, and only the monitor for a silent collector alerts on missing
// data, so a deleted endpoint raises nothing.
func TestShippedMonitorsGroupLikeThePrometheusRules(t *testing.T) {
	_, monitors := readAssets(t)
	var ms []struct {
		Name    string `json:"name"`
		Query   string `json:"query"`
		Options struct {
			NotifyNoData bool `json:"notify_no_data"`
		} `json:"options"`
	}
	if err := json.Unmarshal(monitors, &ms); err != nil {
		t.Fatal(err)
	}
	noData := 0
	for _, m := range ms {
		var groups []string
		for _, by := range byClauseRE.FindAllStringSubmatch(m.Query, -1) {
			for _, k := range strings.Split(by[1], ",") {
				groups = append(groups, strings.TrimSpace(k))
			}
		}
		switch {
		case strings.Contains(m.Query, ":databricks.serving.account."):
			if !slices.Equal(groups, []string{"databricks.account.host", "databricks.account.id"}) {
				t.Errorf("monitor %q groups by %v, want the account", m.Name, groups)
			}
		case strings.Contains(m.Query, ":databricks.serving.workspace."):
			if !slices.Equal(groups, []string{"databricks.workspace.host"}) {
				t.Errorf("monitor %q groups by %v, want the workspace", m.Name, groups)
			}
		case strings.Contains(m.Query, ":databricks.serving."):
			if !slices.Contains(groups, "databricks.workspace.host") || !slices.Contains(groups, "databricks.serving.endpoint.name") {
				t.Errorf("monitor %q groups by %v, want the workspace and the endpoint", m.Name, groups)
			}
		default:
			if !slices.Contains(groups, "service.instance.id") {
				t.Errorf("monitor %q groups by %v, want the collector (service.instance.id)", m.Name, groups)
			}
		}
		if m.Options.NotifyNoData {
			noData++
			if !strings.Contains(m.Query, ":databricks.serving.workspace.up{*}") {
				t.Errorf("monitor %q alerts on no data; only the workspace's silence should", m.Name)
			}
		}
		if strings.Contains(m.Query, ":databricks.serving.scrape.up{") && !strings.Contains(m.Query, "error.type:") {
			t.Errorf("monitor %q reads every scrape.up, 404 endpoints included", m.Name)
		}
	}
	if noData != 1 {
		t.Errorf("%d monitors alert on no data, want the one for a silent collector", noData)
	}
}

func TestDatadogReferencesInline(t *testing.T) {
	tests := []struct {
		name       string
		dashboard  string
		monitors   string
		wantMetric []string
		wantTags   []string
	}{
		{
			name: "dashboard formulas and template variables",
			dashboard: `{"title":"t","layout_type":"ordered",
				"template_variables":[{"name":"ws","prefix":"databricks.workspace.host","default":"*"}],
				"widgets":[{"definition":{"type":"group","widgets":[{"definition":{"type":"timeseries","requests":[{
					"queries":[
						{"data_source":"metrics","name":"a","query":"sum:m.errors{$ws,status_class:5xx} by {ep}.as_count()"},
						{"data_source":"metrics","name":"b","query":"sum:m.requests{$ws} by {ep}.as_rate()"},
						{"data_source":"logs","name":"c","query":"service:web status:error"}],
					"formulas":[{"formula":"100 * a / b"}]}]}}]}}]}`,
			wantMetric: []string{"m.errors", "m.requests"},
			wantTags:   []string{"databricks.workspace.host", "ep", "status_class"},
		},
		{
			name:       "legacy q and percentiles",
			dashboard:  `{"widgets":[{"definition":{"type":"timeseries","requests":[{"q":"p99.9:lat.ms{*} by {a,b}"},{"q":"avg:cpu{host:x}.rollup(avg, 60)"}]}}]}`,
			wantMetric: []string{"cpu", "lat.ms"},
			wantTags:   []string{"a", "b", "host"},
		},
		{
			name: "monitors: evaluation window, arithmetic, threshold, suffix without filter",
			monitors: `[
				{"name":"ratio","query":"sum(last_10m):sum:x.err{status_class:5xx} by {ep}.as_count() / sum:x.req{*} by {ep}.as_count() > 0.05"},
				{"name":"pct","query":"percentile(last_5m):p99:x.lat{*} by {ep,ws} > 2000"},
				{"name":"bare","query":"avg(last_1h):max:x.gauge.as_count() > 1"},
				{"name":"ops","query":"max(last_5m):max:x.up{env:prod AND !error.type:auth OR NOT team:a AND region IN (eu, us) AND zone NOT IN (a) AND standalone} by {ep} < 1"}]`,
			wantMetric: []string{"x.err", "x.gauge", "x.lat", "x.req", "x.up"},
			wantTags:   []string{"env", "ep", "error.type", "region", "standalone", "status_class", "team", "ws", "zone"},
		},
		{
			name:       "empty inputs",
			wantMetric: []string{},
			wantTags:   []string{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			metrics, tags, err := DatadogReferences([]byte(tt.dashboard), []byte(tt.monitors))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(metrics, tt.wantMetric) {
				t.Errorf("metrics %v, want %v", metrics, tt.wantMetric)
			}
			if !slices.Equal(tags, tt.wantTags) {
				t.Errorf("tag keys %v, want %v", tags, tt.wantTags)
			}
		})
	}
}

func TestDatadogReferencesErrors(t *testing.T) {
	tests := []struct {
		name, dashboard, monitors, want string
	}{
		{name: "dashboard not JSON", dashboard: `{`, want: "dashboard"},
		{name: "dashboard without widgets", dashboard: `{"title":"x"}`, want: "widgets"},
		{name: "monitors not an array", monitors: `{"query":"avg:x{*}"}`, want: "monitors"},
		{name: "monitor without query", monitors: `[{"name":"n"}]`, want: "no query"},
		{name: "query without metric", monitors: `[{"name":"n","query":"x{*} > 1"}]`, want: "no metric"},
		{name: "unbalanced brace", monitors: `[{"name":"n","query":"avg(last_5m):avg:x{a:b > 1"}]`, want: "unbalanced"},
		{name: "malformed tag key", monitors: `[{"name":"n","query":"avg(last_5m):avg:x{*} by {a b} > 1"}]`, want: "malformed tag key"},
		{
			name:      "undefined template variable",
			dashboard: `{"template_variables":[{"name":"ws","prefix":"w"}],"widgets":[{"definition":{"requests":[{"queries":[{"data_source":"metrics","name":"a","query":"avg:x{$wss}"}]}]}}]}`,
			want:      "undefined template variable $wss",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := DatadogReferences([]byte(tt.dashboard), []byte(tt.monitors))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
