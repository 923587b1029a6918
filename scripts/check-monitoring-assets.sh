#!/usr/bin/env bash
# Checks the monitoring assets under deploy/:
#   - deploy/prometheus/alerts.yaml passes `promtool check rules` and its unit tests (alerts_test.yaml);
#   - deploy/grafana/databricks-serving.json parses, every panel has targets and no target expression is empty;
#   - every dashboard expression (panels[].targets[].expr, and the selector of each label_values() variable
#     query) is valid PromQL once $workspace, $endpoint, $served_entity are replaced by .* and
#     $__rate_interval by 1m: they are wrapped as recording rules in a temporary file for `promtool check rules`.
# Needs promtool (Debian: apt-get install prometheus) and jq or python3; a missing tool fails the check. Whether
# the metric and label names exist is checked against real data by the end-to-end suite (e2e/assets_test.go).
set -euo pipefail

cd "$(dirname "$0")/.."
RULES=deploy/prometheus/alerts.yaml
TESTS=deploy/prometheus/alerts_test.yaml
DASHBOARD=deploy/grafana/databricks-serving.json

fail() {
	echo "check-monitoring-assets: $*" >&2
	exit 1
}

PROMTOOL=${PROMTOOL:-$(command -v promtool || true)}
[ -n "$PROMTOOL" ] || fail "promtool not found (Debian: apt-get install prometheus, or set PROMTOOL)"
for f in "$RULES" "$TESTS" "$DASHBOARD"; do
	[ -f "$f" ] || fail "$f is missing"
done

echo "== promtool check rules $RULES"
"$PROMTOOL" check rules "$RULES" || fail "$RULES: promtool check rules failed"

echo "== promtool test rules $TESTS"
"$PROMTOOL" test rules "$TESTS" || fail "$TESTS: promtool test rules failed"

echo "== dashboard $DASHBOARD"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
exprs=$tmp/dashboard-rules.json

if command -v jq >/dev/null; then
	jq -e . "$DASHBOARD" >/dev/null || fail "$DASHBOARD is not valid JSON"
	# Panels, including those inside collapsed rows.
	panels='def panels: [.panels[]?, .panels[]?.panels[]?] | map(select(.type != "row"));'
	problems=$(jq -r "$panels"'
		panels[] | . as $p |
		if ((.targets // []) | length) == 0 then "panel \($p.id) \"\($p.title)\": no targets"
		else .targets[] | select((.expr // "") | test("^\\s*$")) |
			"panel \($p.id) \"\($p.title)\": target \(.refId // "?") has an empty expr" end' "$DASHBOARD")
	[ -z "$problems" ] || fail "$DASHBOARD:"$'\n'"$problems"
	[ "$(jq '.schemaVersion' "$DASHBOARD")" = 39 ] || fail "$DASHBOARD: schemaVersion is not 39"
	for v in datasource workspace endpoint served_entity; do
		jq -e --arg v "$v" '.templating.list | any(.name == $v)' "$DASHBOARD" >/dev/null ||
			fail "$DASHBOARD: template variable $v is missing"
	done
	# Every expression as a recording rule (JSON is YAML, so promtool reads it as is).
	jq "$panels"'
		def subst: gsub("\\$__rate_interval"; "1m") | gsub("\\$(workspace|endpoint|served_entity)"; ".*");
		[ (panels[] | .targets[] | .expr),
		  (.templating.list[] | select(.type == "query") | .query | (if type == "object" then .query else . end) |
			capture("^label_values\\((?<sel>.+),\\s*[a-zA-Z_][a-zA-Z0-9_]*\\)$") | .sel)
		] | {groups: [{name: "dashboard", rules: [to_entries[] | {record: "dashboard_expr_\(.key)", expr: (.value | subst)}]}]}
	' "$DASHBOARD" >"$exprs" || fail "$DASHBOARD: cannot extract the expressions"
	leftover=$(jq -r '.groups[].rules[] | select(.expr | test("\\$")) | .expr' "$exprs")
	count=$(jq '.groups[].rules | length' "$exprs")
elif command -v python3 >/dev/null; then
	python3 - "$DASHBOARD" "$exprs" <<-'EOF' || fail "$DASHBOARD: see above"
		import json, re, sys
		try:
		    d = json.load(open(sys.argv[1]))
		except ValueError as e:
		    sys.exit("%s is not valid JSON: %s" % (sys.argv[1], e))
		panels = [p for top in d.get("panels", []) for p in [top] + top.get("panels", []) if p.get("type") != "row"]
		problems, exprs = [], []
		for p in panels:
		    if not p.get("targets"):
		        problems.append('panel %s "%s": no targets' % (p.get("id"), p.get("title")))
		    for t in p.get("targets", []):
		        if not (t.get("expr") or "").strip():
		            problems.append('panel %s "%s": target %s has an empty expr' % (p.get("id"), p.get("title"), t.get("refId")))
		        exprs.append(t.get("expr") or "")
		if d.get("schemaVersion") != 39:
		    problems.append("schemaVersion is not 39")
		names = {v.get("name") for v in d.get("templating", {}).get("list", [])}
		problems += ["template variable %s is missing" % v for v in ("datasource", "workspace", "endpoint", "served_entity") if v not in names]
		for v in d.get("templating", {}).get("list", []):
		    q = v.get("query")
		    q = q.get("query") if isinstance(q, dict) else q
		    m = re.match(r"^label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\)$", q or "") if v.get("type") == "query" else None
		    if m:
		        exprs.append(m.group(1))
		if problems:
		    sys.exit("\n".join(problems))
		sub = lambda e: re.sub(r"\$(workspace|endpoint|served_entity)", ".*", e.replace("$__rate_interval", "1m"))
		rules = [{"record": "dashboard_expr_%d" % i, "expr": sub(e)} for i, e in enumerate(exprs)]
		json.dump({"groups": [{"name": "dashboard", "rules": rules}]}, open(sys.argv[2], "w"))
	EOF
	leftover=$(python3 -c 'import json,sys; print("\n".join(r["expr"] for r in json.load(open(sys.argv[1]))["groups"][0]["rules"] if "$" in r["expr"]))' "$exprs")
	count=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["groups"][0]["rules"]))' "$exprs")
else
	# Without a JSON parser nothing above can be checked: passing would report assets OK that were never read.
	fail "neither jq nor python3 is installed: cannot parse $DASHBOARD (Debian: apt-get install jq)"
fi

[ -z "$leftover" ] || fail "$DASHBOARD: expressions with an unknown \$variable:"$'\n'"$leftover"
[ "$count" -gt 0 ] || fail "$DASHBOARD: no expressions found"
"$PROMTOOL" check rules "$exprs" >/dev/null 2>"$tmp/err" || {
	cat "$tmp/err" >&2
	fail "$DASHBOARD: an expression is not valid PromQL (variables substituted; see above)"
}
echo "  SUCCESS: $count dashboard expressions are valid PromQL"
echo "monitoring assets OK"
