// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package exposition

import (
	"sort"
	"testing"
)

// BenchmarkParse compares the receiver's parser, reused from body to body as the receiver does, with expfmt's
// TextParser (the fallback, and what the receiver used before) on the realistic bodies of the receiver's
// testdata.
func BenchmarkParse(b *testing.B) {
	bodies := databricksBodies(b)
	names := make([]string, 0, len(bodies))
	for name := range bodies {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		body := bodies[name]
		b.Run(name+"/parser", func(b *testing.B) {
			p := NewParser()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Parse(body, "text/plain; version=0.0.4"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(name+"/expfmt", func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := parseWithExpfmt(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
