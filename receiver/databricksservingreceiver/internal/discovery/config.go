// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package discovery decides which serving endpoints a receiver scrapes: it lists the workspace's endpoints on its
// own interval, applies the name and tag filters and the shard assignment, and keeps each selected endpoint's
// detailed description (served entities, workload, state) for the metadata attributes.
package discovery // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"

import (
	"errors"
	"fmt"
	"hash/fnv"
	"path"
	"time"
)

// Config selects endpoints. Names and tag values are matched with shell-style globs (Go's path.Match: *, ?,
// [a-z]); globs need no anchoring or escaping of the '-' and '_' that endpoint names are made of, which is what
// makes them easier to get right than regular expressions here.
type Config struct {
	// RefreshInterval is how often the endpoint list and descriptions are fetched again. Scrapes in between use
	// the last list, so a new endpoint is picked up within this interval.
	RefreshInterval time.Duration `mapstructure:"refresh_interval"`
	// Include keeps only endpoints whose name matches one of these globs (all endpoints when empty).
	Include []string `mapstructure:"include"`
	// Exclude drops endpoints whose name matches one of these globs; it wins over Include.
	Exclude []string `mapstructure:"exclude"`
	// IncludeTags keeps only endpoints that have every one of these tags, each value matching its glob ("*" for
	// any value).
	IncludeTags map[string]string `mapstructure:"include_tags"`
	// ExcludeTags drops endpoints that have any of these tags with a matching value.
	ExcludeTags map[string]string `mapstructure:"exclude_tags"`
	_           struct{}
}

// DefaultRefreshInterval lists the workspace every few minutes: endpoints come and go on a scale of minutes to
// days, and the list and per-endpoint calls are the most expensive part of a cycle.
const DefaultRefreshInterval = 5 * time.Minute

// Validate checks the globs and the interval.
func (c *Config) Validate() error {
	var errs []error
	if c.RefreshInterval <= 0 {
		errs = append(errs, fmt.Errorf("discovery.refresh_interval must be positive, got %s", c.RefreshInterval))
	}
	for field, globs := range map[string][]string{"include": c.Include, "exclude": c.Exclude} {
		for _, g := range globs {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("discovery.%s: %q is not a valid glob: %w", field, g, err))
			}
		}
	}
	for field, tags := range map[string]map[string]string{"include_tags": c.IncludeTags, "exclude_tags": c.ExcludeTags} {
		for key, g := range tags {
			if _, err := path.Match(g, ""); err != nil {
				errs = append(errs, fmt.Errorf("discovery.%s.%s: %q is not a valid glob: %w", field, key, g, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ShardConfig splits a workspace's endpoints between collectors: each endpoint belongs to exactly one shard, by a
// stable hash of (workspace key, endpoint name). The key is the workspace host, or in account mode the workspace
// id, so that the endpoints of a whole account are split over the collectors. The assignment depends only on the count, so a shard that stops
// changes nothing for the others; changing the count re-shards every collector at its next start.
type ShardConfig struct {
	// Count is the number of collectors sharing the workspace (1: no sharding).
	Count int `mapstructure:"count"`
	// Index is this collector's shard, 0 to Count-1, e.g. a StatefulSet pod's ordinal.
	Index int `mapstructure:"index"`
	_     struct{}
}

// Validate checks 0 <= index < count.
func (s *ShardConfig) Validate() error {
	if s.Count < 1 {
		return fmt.Errorf("shard.count must be at least 1, got %d", s.Count)
	}
	if s.Index < 0 || s.Index >= s.Count {
		return fmt.Errorf("shard.index must be between 0 and shard.count-1 (%d), got %d", s.Count-1, s.Index)
	}
	return nil
}

// Owns reports whether the endpoint belongs to this shard.
func (s ShardConfig) Owns(workspaceKey, endpoint string) bool {
	if s.Count <= 1 {
		return true
	}
	return StableHash(workspaceKey, endpoint)%uint64(s.Count) == uint64(s.Index)
}

// StableHash is an endpoint's hash, the same in every collector and every run: the basis of shard assignments
// and of each endpoint's start offset within a cycle.
func StableHash(workspaceKey, endpoint string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(workspaceKey))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(endpoint))
	return h.Sum64()
}
