// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// databricksBodies are the receiver's realistic test bodies in the Prometheus text format.
func databricksBodies(t testing.TB) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "testdata", "scraper", "*.txt"))
	require.NoError(t, err)
	out := map[string][]byte{}
	for _, path := range paths {
		body, err := os.ReadFile(path)
		require.NoError(t, err)
		if !strings.Contains(string(body), "# EOF") {
			out[filepath.Base(path)] = body
		}
	}
	require.NotEmpty(t, out)
	return out
}

func TestFastParserTakesDatabricksBodiesAndAgreesWithExpfmt(t *testing.T) {
	p := NewParser()
	for name, body := range databricksBodies(t) {
		t.Run(name, func(t *testing.T) {
			require.True(t, p.fastParse(body), "the fast parser must handle the bodies Databricks sends, or the receiver falls back to expfmt on every scrape")
			want, err := parseWithExpfmt(body)
			require.NoError(t, err)
			if diff := diffFamilies(p.result(), want); diff != "" {
				t.Fatal(diff)
			}
		})
	}
}

func TestFastParserLeavesTheUnusualToExpfmt(t *testing.T) {
	for name, body := range map[string]string{
		"no trailing newline":             "a 1",
		"escaped label value":             "a{x=\"say \\\"hi\\\"\"} 1\n",
		"quoted metric name":              "{\"a.b\"} 1\n",
		"escaped HELP":                    "# HELP a line\\nbreak\na 1\n",
		"TYPE after samples":              "a 1\n# TYPE a gauge\n",
		"second HELP":                     "# HELP a x\n# HELP a y\na 1\n",
		"gauge histogram":                 "# TYPE q gaugehistogram\nq_bucket{le=\"+Inf\"} 1\n",
		"trailing blank after a value":    "a 1 \n",
		"hexadecimal float":               "a 0x1p3\n",
		"negative bucket":                 "# TYPE h histogram\nh_bucket{le=\"1\"} -1\n",
		"summary line without a quantile": "# TYPE s summary\ns 1\n",
	} {
		t.Run(name, func(t *testing.T) {
			assert.False(t, NewParser().fastParse([]byte(body)))
		})
	}
}

func TestParserReusesItsMemory(t *testing.T) {
	p := NewParser()
	for name, body := range databricksBodies(t) {
		_, err := p.Parse(body, "text/plain; version=0.0.4")
		require.NoError(t, err)
		allocs := testing.AllocsPerRun(20, func() {
			if _, err := p.Parse(body, "text/plain; version=0.0.4"); err != nil {
				t.Fatal(err)
			}
		})
		assert.Zero(t, allocs, "%s: parsing a body of the same shape again allocates nothing", name)
	}
}

// FuzzFastParserMatchesExpfmt holds the fast parser to expfmt: on every body it accepts, expfmt must accept the
// body too and produce the same families. The parser has parsed a realistic body before, so memory it reuses
// must not leak into the next body's result.
func FuzzFastParserMatchesExpfmt(f *testing.F) {
	bodies := databricksBodies(f)
	for _, body := range bodies {
		f.Add(body)
	}
	for _, seed := range []string{
		"# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3 1788718020000\n",
		"# TYPE h histogram\nh_bucket{le=\"1\",a=\"x\"} 1\nh_bucket{a=\"x\",le=\"+Inf\"} 2\nh_count{a=\"x\"} 2\nh_sum{a=\"x\"} 1.5\nh_count 7\n",
		"# HELP c_total Requests.\n# TYPE c_total counter\nc_total{a=\"1\",} 1 -5\nc_total NaN\n",
		"x_count 1\n# TYPE x summary\nx_sum 2\n",
		"# TYPE s summary\ns_bucket 1\ns_count 2\n# TYPE c counter\nc_sum 3\nc_bucket 4\n",
		"#comment\n\t\n  a\t{b = \"c\" }\t+Inf\t12\n",
	} {
		f.Add([]byte(seed))
	}
	var previous []byte
	for _, body := range bodies {
		previous = body
		break
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		p := NewParser()
		require.True(t, p.fastParse(previous))
		if !p.fastParse(body) {
			return
		}
		got := p.result()
		want, err := parseWithExpfmt(body)
		if err != nil {
			t.Fatalf("the fast parser accepted a body expfmt rejects (%v):\n%q", err, body)
		}
		if diff := diffFamilies(got, want); diff != "" {
			t.Fatalf("%s\nbody: %q", diff, body)
		}
	})
}

// diffFamilies describes the first difference between two parses, "" when they are the same.
func diffFamilies(got, want []Family) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d families, want %d: %v vs %v", len(got), len(want), familyNames(got), familyNames(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.Help != w.Help || g.Type != w.Type || len(g.Samples) != len(w.Samples) {
			return fmt.Sprintf("family %d: %q %q %v with %d samples, want %q %q %v with %d", i, g.Name, g.Help, g.Type, len(g.Samples), w.Name, w.Help, w.Type, len(w.Samples))
		}
		for j := range g.Samples {
			if d := diffSample(g.Samples[j], w.Samples[j]); d != "" {
				return fmt.Sprintf("%s sample %d: %s", g.Name, j, d)
			}
		}
	}
	return ""
}

func diffSample(g, w Sample) string {
	switch {
	case fmt.Sprint(g.Labels) != fmt.Sprint(w.Labels):
		return fmt.Sprintf("labels %v, want %v", g.Labels, w.Labels)
	case !sameFloat(g.Value, w.Value):
		return fmt.Sprintf("value %v, want %v", g.Value, w.Value)
	case g.HasTimestamp != w.HasTimestamp || g.TimestampMs != w.TimestampMs:
		return fmt.Sprintf("timestamp %v/%d, want %v/%d", g.HasTimestamp, g.TimestampMs, w.HasTimestamp, w.TimestampMs)
	case !sameFloat(g.Histogram.Sum, w.Histogram.Sum) || !sameFloat(g.Histogram.Count, w.Histogram.Count) || len(g.Histogram.Buckets) != len(w.Histogram.Buckets):
		return fmt.Sprintf("histogram %+v, want %+v", g.Histogram, w.Histogram)
	case !sameFloat(g.Summary.Sum, w.Summary.Sum) || !sameFloat(g.Summary.Count, w.Summary.Count) || len(g.Summary.Quantiles) != len(w.Summary.Quantiles):
		return fmt.Sprintf("summary %+v, want %+v", g.Summary, w.Summary)
	}
	for k := range g.Histogram.Buckets {
		gb, wb := g.Histogram.Buckets[k], w.Histogram.Buckets[k]
		if !sameFloat(gb.UpperBound, wb.UpperBound) || !sameFloat(gb.CumulativeCount, wb.CumulativeCount) {
			return fmt.Sprintf("bucket %d %+v, want %+v", k, gb, wb)
		}
	}
	for k := range g.Summary.Quantiles {
		gq, wq := g.Summary.Quantiles[k], w.Summary.Quantiles[k]
		if !sameFloat(gq.Quantile, wq.Quantile) || !sameFloat(gq.Value, wq.Value) {
			return fmt.Sprintf("quantile %d %+v, want %+v", k, gq, wq)
		}
	}
	return ""
}

// sameFloat is == except that NaN equals NaN (both parsers read "NaN" the same way).
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func familyNames(fs []Family) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// agreesOnTheFastPath requires the fast parser to take body and to produce what expfmt produces.
func agreesOnTheFastPath(t *testing.T, body string) {
	t.Helper()
	p := NewParser()
	require.True(t, p.fastParse([]byte(body)), "the fast parser must take %q", body)
	want, err := parseWithExpfmt([]byte(body))
	require.NoError(t, err)
	if diff := diffFamilies(p.result(), want); diff != "" {
		t.Fatalf("%s\nbody: %q", diff, body)
	}
}

// Every character a name may have, at the start and after it, is taken by the fast path: a name that falls back
// to expfmt costs the receiver an object per token on every scrape.
func TestFastParserTakesEveryNameCharacter(t *testing.T) {
	for _, body := range []string{
		"a 1\n", "z 1\n", "A 1\n", "Z 1\n", "_ 1\n", ": 1\n",
		"az:AZ_09 1\n", "a0 1\n", "a9 1\n",
		"m{a=\"1\",z=\"2\",A=\"3\",Z=\"4\",_=\"5\"} 1\n",
		"m{aAzZ_09=\"1\"} 1\n", "m{a0=\"1\",b9=\"2\"} 1\n",
	} {
		t.Run(body, func(t *testing.T) { agreesOnTheFastPath(t, body) })
	}
}

// The edges of a line's syntax stay on the fast path: an empty label value, an empty label set, blank lines first,
// a summary count of zero, a family named like a suffix.
func TestFastParserTakesTheEdgesOfTheSyntax(t *testing.T) {
	for name, body := range map[string]string{
		"empty label value":       "a{x=\"\"} 1\n",
		"empty label set":         "a{} 1\n",
		"one label":               "a{x=\"1\"} 2\n",
		"blank line first":        "\na 1\n",
		"summary count of zero":   "# TYPE s summary\ns{quantile=\"0.5\"} 0\ns_sum 0\ns_count 0\n",
		"whole summary count":     "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 5\n",
		"a name that is a suffix": "# TYPE _sum gauge\n_sum 1\n",
	} {
		t.Run(name, func(t *testing.T) { agreesOnTheFastPath(t, body) })
	}
}

// What the fast parser cannot reproduce exactly goes to expfmt, and a line that ends early never reads past its
// end.
func TestFastParserRefusesWhatItCannotReproduce(t *testing.T) {
	for name, body := range map[string]string{
		"HELP starting with an escape":        "# HELP a \\n starts\na 1\n",
		"label value starting with an escape": "a{x=\"\\\"quoted\\\"\"} 1\n",
		"fractional summary count":            "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_count 1.5\n",
		"name starting with a digit":          "0a 1\n",
		"label name starting with a digit":    "a{0x=\"1\"} 1\n",
		"a name without a value":              "a\n",
		"a name and blanks without a value":   "a \t\n",
		"label value that is an escape":       "a{x=\"\\\\\"} 1\n",
		"a label name at the end of the line": "a{x\n",
	} {
		t.Run(name, func(t *testing.T) {
			p := NewParser()
			if p.fastParse([]byte(body)) {
				want, err := parseWithExpfmt([]byte(body))
				require.NoError(t, err, "the fast parser took a body expfmt refuses")
				if diff := diffFamilies(p.result(), want); diff != "" {
					t.Fatal(diff)
				}
			}
		})
	}
}

// The interned strings are capped: a body of ever new label values cannot grow the parser's memory.
func TestInternedStringsAreCapped(t *testing.T) {
	p := NewParser()
	for i := range maxInterned + 1 {
		p.str([]byte(fmt.Sprint(i)))
		require.LessOrEqual(t, len(p.interned), maxInterned)
	}
	assert.Equal(t, 1, len(p.interned), "the cache starts over when full")
}
