// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package monitoringassets

import (
	"fmt"
	"strings"
)

// groupingKeywords take a parenthesised list of label names.
var groupingKeywords = map[string]bool{"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true}

// skippedWords are PromQL keywords, aggregation operators (which may be followed by `by (...)` rather than `(`)
// and literals: never metric names.
var skippedWords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true, "count": true,
	"count_values": true, "bottomk": true, "topk": true, "quantile": true, "limitk": true, "limit_ratio": true,
}

// PromQLReferences returns, sorted and without duplicates, the metric names a PromQL expression selects and the
// label names it relies on: those of its matchers and of its by/without/on/ignoring/group_left/group_right
// lists. A check can then require each to exist in a Prometheus holding real data: a query over a misspelt
// metric is valid PromQL and, behind `or vector(0)`, even returns data, so evaluating it proves nothing.
//
// It is a scanner, not a parser: it relies on what sets names apart in PromQL's grammar (a name followed by `(`
// is a function or aggregation, one in braces or after a grouping keyword is a label, any other is a metric).
// An unterminated string, brace or bracket is an error.
func PromQLReferences(expr string) (metrics, labels []string, err error) {
	ms, ls := map[string]bool{}, map[string]bool{}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			end := stringEnd(expr, i)
			if end < 0 {
				return nil, nil, fmt.Errorf("unterminated string in %q", expr)
			}
			i = end
		case c == '{':
			end := closing(expr[i:], '}')
			if end < 0 {
				return nil, nil, fmt.Errorf("unbalanced '{' in %q", expr)
			}
			if err := matcherLabels(expr[i+1:i+end], ms, ls); err != nil {
				return nil, nil, fmt.Errorf("%w in %q", err, expr)
			}
			i += end + 1
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return nil, nil, fmt.Errorf("unbalanced '[' in %q", expr)
			}
			i += end + 1
		case c >= '0' && c <= '9' || c == '.':
			for i < len(expr) && (isNameChar(expr[i]) || expr[i] == '.') {
				i++ // a number or a duration
			}
		case isNameStart(c):
			start := i
			for i < len(expr) && isNameChar(expr[i]) {
				i++
			}
			word, next := expr[start:i], nextNonSpace(expr, i)
			switch {
			case groupingKeywords[strings.ToLower(word)]:
				if next < len(expr) && expr[next] == '(' {
					end := strings.IndexByte(expr[next:], ')')
					if end < 0 {
						return nil, nil, fmt.Errorf("unbalanced '(' after %s in %q", word, expr)
					}
					for _, l := range strings.Split(expr[next+1:next+end], ",") {
						if l = strings.TrimSpace(l); l != "" {
							ls[l] = true
						}
					}
					i = next + end + 1
				}
			case skippedWords[strings.ToLower(word)], next < len(expr) && expr[next] == '(':
			default:
				ms[word] = true
			}
		default:
			i++
		}
	}
	return sortedKeys(ms), sortedKeys(ls), nil
}

// matcherLabels reads the label names of the matchers `name op "value", ...`; __name__ names a metric.
func matcherLabels(content string, ms, ls map[string]bool) error {
	for i := 0; i < len(content); {
		switch c := content[i]; {
		case c == '"' || c == '\'' || c == '`':
			end := stringEnd(content, i)
			if end < 0 {
				return fmt.Errorf("unterminated string")
			}
			i = end
		case isNameStart(c):
			start := i
			for i < len(content) && isNameChar(content[i]) {
				i++
			}
			name := content[start:i]
			if name != "__name__" {
				ls[name] = true
				continue
			}
			if v := nextNonSpace(content, i); v < len(content) {
				rest := strings.TrimLeft(content[v:], "=!~ ")
				if len(rest) > 1 && rest[0] == '"' {
					if end := strings.IndexByte(rest[1:], '"'); end >= 0 {
						ms[rest[1:1+end]] = true
					}
				}
			}
		default:
			i++
		}
	}
	return nil
}

// closing returns the index in s of the first unquoted delim, or -1.
func closing(s string, delim byte) int {
	for j := 0; j < len(s); j++ {
		switch s[j] {
		case '"', '\'', '`':
			end := stringEnd(s, j)
			if end < 0 {
				return -1
			}
			j = end - 1
		case delim:
			return j
		}
	}
	return -1
}

// stringEnd returns the index just after the string literal opening at i, or -1.
func stringEnd(s string, i int) int {
	quote := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && quote != '`':
			j++
		case s[j] == quote:
			return j + 1
		}
	}
	return -1
}

func nextNonSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isNameStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}
func isNameChar(c byte) bool { return isNameStart(c) || c >= '0' && c <= '9' }
