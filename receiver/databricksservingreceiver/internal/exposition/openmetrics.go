// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// openMetricsToText rewrites an OpenMetrics 1.0 text body into the Prometheus text format that expfmt parses.
// prometheus/common v0.69.0 (the version the collector v0.155.0 train pins) has no OpenMetrics parser, and the
// two formats differ only in a few places that matter here:
//   - timestamps are float seconds instead of integer milliseconds;
//   - a counter family "x" has samples "x_total" (and "x_created");
//   - "# UNIT", "# EOF", exemplars ("# {...} v ts") and the unknown/info/stateset types do not exist in text 0.0.4;
//   - "_created" samples carry a creation time, which says nothing about Databricks' per-minute windows.
func openMetricsToText(body []byte) ([]byte, error) {
	out := make([]byte, 0, len(body))
	// OpenMetrics allows "# HELP" before "# TYPE", so learn every family's type first.
	declared := declaredFamilies(body)
	lineNo := 0
	for len(body) > 0 {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		lineNo++
		if len(line) == 0 {
			continue
		}
		if line[0] == '#' {
			rewritten, keep := rewriteOpenMetricsComment(string(line), declared)
			if keep {
				out = append(out, rewritten...)
				out = append(out, '\n')
			}
			continue
		}
		rewritten, keep, err := rewriteOpenMetricsSample(string(line), declared)
		if err != nil {
			return nil, fmt.Errorf("OpenMetrics line %d: %w", lineNo, err)
		}
		if keep {
			out = append(out, rewritten...)
			out = append(out, '\n')
		}
	}
	return out, nil
}

// declaredFamilies maps each family named by a "# TYPE" line to its type, lower-cased.
func declaredFamilies(body []byte) map[string]string {
	declared := map[string]string{}
	typeLine := []byte("# TYPE ")
	for len(body) > 0 {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		if !bytes.HasPrefix(line, typeLine) {
			continue
		}
		if fields := strings.Fields(string(line)); len(fields) >= 4 {
			declared[fields[2]] = strings.ToLower(fields[3])
		}
	}
	return declared
}

// rewriteOpenMetricsComment handles "# TYPE", "# HELP", "# UNIT" and "# EOF" lines.
func rewriteOpenMetricsComment(line string, declared map[string]string) (string, bool) {
	fields := strings.Fields(line)
	if len(fields) < 3 {
		return "", false // "# EOF" and bare comments carry nothing the text parser needs.
	}
	keyword, name := fields[1], fields[2]
	switch keyword {
	case "TYPE":
		if len(fields) < 4 {
			return "", false
		}
		switch strings.ToLower(fields[3]) {
		case "counter":
			return "# TYPE " + name + "_total counter", true
		case "unknown":
			return "# TYPE " + name + " untyped", true
		case "info":
			// Info and stateset families are sets of 0/1 (or constant 1) samples: a gauge is their faithful
			// text-format shape. Info samples are named "<name>_info".
			return "# TYPE " + name + "_info gauge", true
		case "stateset":
			return "# TYPE " + name + " gauge", true
		default:
			return line, true
		}
	case "HELP":
		// Rebuild the line: the help text follows the name, and the name must follow the sample names.
		help := strings.TrimPrefix(line, "# HELP "+name)
		switch declared[name] {
		case "counter":
			return "# HELP " + name + "_total" + help, true
		case "info":
			return "# HELP " + name + "_info" + help, true
		}
		return line, true
	default:
		return "", false // UNIT: the unit is already part of OpenMetrics names.
	}
}

// rewriteOpenMetricsSample strips exemplars, drops "_created" samples and converts the timestamp to milliseconds.
func rewriteOpenMetricsSample(line string, declared map[string]string) (string, bool, error) {
	if i := exemplarStart(line); i >= 0 {
		line = strings.TrimRight(line[:i], " ")
	}
	name := line
	if i := strings.IndexAny(line, "{ "); i >= 0 {
		name = line[:i]
	}
	if _, isFamily := declared[name]; strings.HasSuffix(name, "_created") && !isFamily {
		return "", false, nil
	}
	// A gauge histogram's count and sum are "_gcount" and "_gsum" in OpenMetrics; expfmt knows them as "_count"
	// and "_sum" of a family typed gaugehistogram.
	rest := line[len(name):]
	if base, ok := strings.CutSuffix(name, "_gcount"); ok && declared[base] == "gaugehistogram" {
		name = base + "_count"
	} else if base, ok := strings.CutSuffix(name, "_gsum"); ok && declared[base] == "gaugehistogram" {
		name = base + "_sum"
	}
	// The sample is "<name>[{labels}] <value> [<timestamp>]"; labels may contain spaces inside quotes.
	labels := ""
	if strings.HasPrefix(rest, "{") {
		end := closingBrace(rest)
		if end < 0 {
			return "", false, fmt.Errorf("unterminated label set in %q", line)
		}
		labels, rest = rest[:end+1], rest[end+1:]
	}
	fields := strings.Fields(rest)
	switch len(fields) {
	case 1:
		return name + labels + " " + fields[0], true, nil
	case 2:
		seconds, err := strconv.ParseFloat(fields[1], 64)
		if err != nil || math.IsNaN(seconds) || math.IsInf(seconds, 0) {
			return "", false, fmt.Errorf("invalid timestamp %q", fields[1])
		}
		millis := int64(math.Round(seconds * 1000))
		return name + labels + " " + fields[0] + " " + strconv.FormatInt(millis, 10), true, nil
	default:
		return "", false, fmt.Errorf("expected a value and an optional timestamp in %q", line)
	}
}

// exemplarStart returns the index of " # " that starts an exemplar outside quoted label values, or -1.
func exemplarStart(line string) int {
	inQuotes := false
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case '\\':
			if inQuotes {
				i++
			}
		case '"':
			inQuotes = !inQuotes
		case '#':
			if !inQuotes && i > 0 && line[i-1] == ' ' {
				return i - 1
			}
		}
	}
	return -1
}

// closingBrace returns the index of the '}' that closes the label set starting at s[0], honouring quotes.
func closingBrace(s string) int {
	inQuotes := false
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if inQuotes {
				i++
			}
		case '"':
			inQuotes = !inQuotes
		case '}':
			if !inQuotes {
				return i
			}
		}
	}
	return -1
}
