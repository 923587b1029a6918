// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package discovery // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"

import (
	"path"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// Selected reports whether the endpoint passes the name and tag filters.
func (c *Config) Selected(ep workspace.Endpoint) bool {
	if len(c.Include) > 0 && !matchesAny(c.Include, ep.Name) {
		return false
	}
	if matchesAny(c.Exclude, ep.Name) {
		return false
	}
	for key, glob := range c.IncludeTags {
		if !hasTag(ep.Tags, key, glob) {
			return false
		}
	}
	for key, glob := range c.ExcludeTags {
		if hasTag(ep.Tags, key, glob) {
			return false
		}
	}
	return true
}

func matchesAny(globs []string, name string) bool {
	for _, g := range globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func hasTag(tags []workspace.Tag, key, valueGlob string) bool {
	for _, t := range tags {
		if t.Key == key {
			if ok, _ := path.Match(valueGlob, t.Value); ok {
				return true
			}
		}
	}
	return false
}
