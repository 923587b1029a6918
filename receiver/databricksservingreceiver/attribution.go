// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

// Attribution of samples to served entities.
//
// A sample belongs to the served entity whose name one of its labels carries. The endpoint descriptions come
// from discovery, refreshed every few minutes, so a model rollout (a new served entity taking part of the
// traffic) shows up in the metrics before the receiver's description has it. The rule:
//
//  1. When a body carries, under a label that names served entities, a name the description lacks, the
//     endpoint is described again (one GET) before the body is converted. The served entities of a
//     configuration update in progress (pending_config) count as described. An endpoint is described this way
//     at most once every redescribeInterval, and not while its description waits out a Retry-After or the
//     backoff after a failed describe (discovery.Discoverer.Describe): the refresh and this path share that wait.
//  2. If the description still lacks it, the samples go to a provisional resource: the endpoint's attributes
//     and the entity's name, not the endpoint's own resource (whose series would then mix entities). When a
//     description names the entity, its samples move to the full resource.
//
// Moving never counts a window twice: which windows were counted is remembered per Databricks series, not per
// resource (see the accumulator package); the old stream gets a stale marker and the new one starts from zero.
//
// The labels that name served entities are served_entity_name and served_model_name, and any label whose
// value once matched a described entity's name (Databricks does not document the key).

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/discovery"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
)

// redescribeInterval bounds how often one endpoint is described again because its metrics name an entity the
// description lacks: a minute is Databricks' window, so a new entity is attributed from its first window while
// an endpoint whose description lags costs at most one extra GET a minute.
const redescribeInterval = time.Minute

// knownEntityLabels are the label keys that name served entities in Databricks' exposition.
var knownEntityLabels = []string{"served_entity_name", "served_model_name"}

// isEntityLabel reports whether a label key names served entities: a known key, or the one learned from the
// endpoint's samples.
func isEntityLabel(key, learned string) bool {
	if key == learned && learned != "" {
		return true
	}
	for _, k := range knownEntityLabels {
		if key == k {
			return true
		}
	}
	return false
}

// unknownEntities returns the served entity names a body's samples carry that the endpoint's description lacks,
// in order of appearance, at most limit of them (a hostile body may name thousands, and each name is looked up
// in the list found so far). It allocates nothing when there are none.
func (ep *endpointState) unknownEntities(families []exposition.Family, limit int) []string {
	var unknown []string
	for i := range families {
		for j := range families[i].Samples {
			for _, l := range families[i].Samples[j].Labels {
				if !isEntityLabel(l.Name, ep.entityLabel) || l.Value == "" {
					continue
				}
				if _, described := ep.resources.entities[l.Value]; described || containsString(unknown, l.Value) {
					continue
				}
				if len(unknown) == limit {
					return unknown
				}
				unknown = append(unknown, l.Value)
			}
		}
	}
	return unknown
}

func containsString(values []string, v string) bool {
	for _, s := range values {
		if s == v {
			return true
		}
	}
	return false
}

// redescribe describes the endpoint again and applies the description, and reports whether it did. While the
// endpoint's description waits out a Retry-After or a backoff, Describe sends nothing and describedAt stays: the
// wait, not redescribeInterval, then bounds how often the endpoint is asked, and the first scrape after it asks.
// The endpoint keeps its description (and the entities their provisional resources) meanwhile.
func (s *servingScraper) redescribe(ctx context.Context, ep *endpointState, c *converter, now time.Time) bool {
	desc, err := s.finder.Describe(ctx, ep.name, now)
	var waiting *discovery.ThrottledError
	if errors.As(err, &waiting) {
		return false
	}
	ep.describedAt = now
	if err != nil {
		s.logger.Debug("Could not describe a serving endpoint whose metrics name a new served entity",
			zap.String("endpoint", ep.name), zap.Error(err))
		return false
	}
	if desc.Name != ep.name {
		return false
	}
	ep.setDescription(desc, s.newResources(desc), c.stale)
	s.finder.Remember(desc)
	return true
}

// attribute makes sure every served entity a body names has a resource before the body is converted: it
// describes the endpoint again when the description lacks one (at most once every redescribeInterval, and not
// while its description backs off), and gives the entities still unknown a provisional resource.
func (s *servingScraper) attribute(ctx context.Context, ep *endpointState, c *converter, families []exposition.Family, now time.Time) {
	// One more than the cap allows: enough to tell that a body names too many.
	limit := s.cfg.Limits.MaxServedEntities + 1
	unknown := ep.unknownEntities(families, limit)
	if len(unknown) == 0 {
		return
	}
	if now.Sub(ep.describedAt) >= redescribeInterval && s.redescribe(ctx, ep, c, now) {
		unknown = ep.unknownEntities(families, limit)
	}
	// Provisional resources count towards limits.max_served_entities with the described ones: each carries the
	// endpoint's tags, and they are kept while the endpoint is. The samples of the entities refused stay on the
	// endpoint's resource.
	room := s.cfg.Limits.MaxServedEntities - len(ep.resources.entities) - len(ep.resources.provisional)
	for _, name := range unknown {
		if _, known := ep.resources.provisional[name]; !known {
			if room <= 0 {
				c.entitiesRefused++
				continue
			}
			room--
		}
		ep.resources.provisionalFor(name, ep.description)
	}
}
