// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxServedEntities is the Databricks limit of served entities per
// endpoint; it also bounds endpoints under a repeating add_entity schedule.
const maxServedEntities = 15

// rolloutTag is the tag retag sets.
const rolloutTag = "rollout"

// lifecycleCounters number the lifecycle events of one endpoint name.
type lifecycleCounters struct {
	entities    int // add_entity: the k of <endpoint>-entity-<k>
	rollouts    int // retag: the n of rollout=r<n>
	generations int // recreate: the generation the id derives from
}

// eventChange is what an event makes of a catalog entry.
type eventChange struct {
	ep          *endpoint
	status      endpointStatus
	absentUntil time.Time
}

// planEvent computes what ev makes of old at now, counting in counters. It
// never modifies old: a changed definition is a new endpoint.
func planEvent(cfg Config, old *catalogEntry, ev Event, now time.Time, counters *lifecycleCounters) (eventChange, error) {
	change := eventChange{ep: old.ep, status: old.status, absentUntil: old.absentUntil}
	ep := old.ep
	if ep.kind == kindFoundationModel && ev.Name != EventHide {
		return change, fmt.Errorf("endpoint %s is a pay-per-token Foundation Model API endpoint, owned by Databricks: only %s applies to it", ep.name, EventHide)
	}
	var err error
	switch ev.Name {
	case EventAddEntity:
		counters.entities++
		change.ep, err = addEntity(ep, ev.TrafficPercentage, counters.entities, now)
	case EventRemoveEntity:
		var removed string
		change.ep, removed, err = removeEntity(ep, ev.Entity, now)
		// Forget the removed entity's deployment state, so that an entity
		// of the same name added later starts ready.
		change.status.deployment = maps.Clone(change.status.deployment)
		delete(change.status.deployment, removed)
	case EventBumpVersion:
		change.ep, err = editEntity(ep, ev.Entity, 0, now, bumpVersion)
	case EventResize:
		change.ep, err = editEntity(ep, ev.Entity, 0, now, resize)
	case EventRetag:
		counters.rollouts++
		change.ep = retag(ep, counters.rollouts, now)
	case EventRecreate:
		counters.generations++
		back := now.Add(time.Duration(ev.Gap))
		change.ep = recreate(cfg, ep, counters.generations, back)
		change.status = defaultStatus()
		change.absentUntil = back
	case EventHide:
		if back := now.Add(time.Duration(ev.Gap)); back.After(change.absentUntil) {
			change.absentUntil = back
		}
	case EventFlipType:
		change.ep = ep.clone()
		change.ep.customScoreFlips++
	case EventScaleToZero, EventScaleUp:
		change.ep = ep.clone()
		change.ep.forcedZero = ev.Name == EventScaleToZero
	}
	return change, err
}

func (ep *endpoint) clone() *endpoint {
	c := *ep
	c.tags = slices.Clone(ep.tags)
	c.entities = slices.Clone(ep.entities)
	return &c
}

// revise returns a copy of ep updated at now; a configuration change also
// increments config_version, as a real update does.
func (ep *endpoint) revise(now time.Time, configChange bool) *endpoint {
	c := ep.clone()
	c.updatedMillis = max(ep.updatedMillis, wholeSecondMillis(now))
	if configChange {
		c.configVersion++
	}
	return c
}

// wholeSecondMillis truncates t to the second, like the derived timestamps.
func wholeSecondMillis(t time.Time) int64 {
	return floorDiv(t.UnixMilli(), 1000) * 1000
}

// addEntity adds <endpoint>-entity-<k> with percent of the traffic (0 for
// the default); the existing entities share the rest in proportion.
func addEntity(ep *endpoint, percent, k int, now time.Time) (*endpoint, error) {
	if len(ep.entities) >= maxServedEntities {
		return nil, fmt.Errorf("endpoint %s already serves %d entities, the Databricks limit: remove one first", ep.name, maxServedEntities)
	}
	if percent == 0 {
		percent = defaultTrafficPercentage
	}
	version := 0
	for _, entity := range ep.entities {
		v, err := strconv.Atoi(entity.entityVersion)
		if err != nil {
			return nil, fmt.Errorf("served entity %s has version %q, not a number", entity.name, entity.entityVersion)
		}
		version = max(version, v)
	}
	first := ep.entities[0]
	c := ep.revise(now, true)
	rescaleTraffic(c.entities, 100-percent)
	c.entities = append(c.entities, servedEntity{
		name:              fmt.Sprintf("%s-entity-%d", ep.name, k),
		entityType:        entityTypeUCModel,
		entityName:        first.entityName,
		entityVersion:     strconv.Itoa(version + 1),
		workloadSize:      first.workloadSize,
		workloadType:      first.workloadType,
		scaleToZero:       first.scaleToZero,
		gpus:              first.gpus,
		trafficPercentage: percent,
	})
	return c, nil
}

// removeEntity removes the named entity (the last one when name is empty)
// and returns the new endpoint with the removed entity's name.
func removeEntity(ep *endpoint, name string, now time.Time) (*endpoint, string, error) {
	i, err := ep.entityIndex(name, len(ep.entities)-1)
	if err != nil {
		return nil, "", err
	}
	removed := ep.entities[i].name
	if len(ep.entities) == 1 {
		return nil, "", fmt.Errorf("cannot remove %s, the only served entity of %s: add another one first, or use %s", removed, ep.name, EventRecreate)
	}
	c := ep.revise(now, true)
	c.entities = slices.Delete(c.entities, i, i+1)
	rescaleTraffic(c.entities, 100)
	return c, removed, nil
}

// editEntity changes the named entity (the defaultIndex-th one when name is
// empty) with edit.
func editEntity(ep *endpoint, name string, defaultIndex int, now time.Time, edit func(*servedEntity) error) (*endpoint, error) {
	i, err := ep.entityIndex(name, defaultIndex)
	if err != nil {
		return nil, err
	}
	c := ep.revise(now, true)
	if err := edit(&c.entities[i]); err != nil {
		return nil, err
	}
	return c, nil
}

func bumpVersion(entity *servedEntity) error {
	v, err := strconv.Atoi(entity.entityVersion)
	if err != nil {
		return fmt.Errorf("served entity %s has version %q, not a number", entity.name, entity.entityVersion)
	}
	entity.entityVersion = strconv.Itoa(v + 1)
	return nil
}

// nextWorkloadSize is the cycle resize follows.
var nextWorkloadSize = map[string]string{
	workloadSmall:  workloadMedium,
	workloadMedium: workloadLarge,
	workloadLarge:  workloadSmall,
}

func resize(entity *servedEntity) error {
	next, ok := nextWorkloadSize[entity.workloadSize]
	if !ok {
		return fmt.Errorf("served entity %s has workload size %q, not Small, Medium or Large", entity.name, entity.workloadSize)
	}
	entity.workloadSize = next
	return nil
}

func (ep *endpoint) entityIndex(name string, defaultIndex int) (int, error) {
	if name == "" {
		return defaultIndex, nil
	}
	for i := range ep.entities {
		if ep.entities[i].name == name {
			return i, nil
		}
	}
	names := make([]string, len(ep.entities))
	for i := range ep.entities {
		names[i] = ep.entities[i].name
	}
	return 0, fmt.Errorf("endpoint %s has no served entity %q: want one of %s", ep.name, name, strings.Join(names, ", "))
}

// rescaleTraffic scales the traffic percentages of entities, in place, to
// add up to total, keeping their proportions as far as whole percentages
// allow; the rounding remainder goes to the first entity. Entities with no
// traffic at all share total equally.
func rescaleTraffic(entities []servedEntity, total int) {
	sum := 0
	for i := range entities {
		sum += entities[i].trafficPercentage
	}
	assigned := 0
	for i := range entities {
		share := total / len(entities)
		if sum > 0 {
			share = entities[i].trafficPercentage * total / sum
		}
		entities[i].trafficPercentage = share
		assigned += share
	}
	entities[0].trafficPercentage += total - assigned
}

// retag sets the tag rollout to r<n>, so the tag set differs after every
// retag.
func retag(ep *endpoint, n int, now time.Time) *endpoint {
	c := ep.revise(now, false)
	value := "r" + strconv.Itoa(n)
	for i := range c.tags {
		if c.tags[i].key == rolloutTag {
			c.tags[i].value = value
			return c
		}
	}
	c.tags = append(c.tags, tag{key: rolloutTag, value: value})
	return c
}

// recreate builds the endpoint created again under old's name at the given
// instant: its kind's defaults, with the id of the generation.
func recreate(cfg Config, old *endpoint, generation int, at time.Time) *endpoint {
	ep := deriveEndpoint(cfg, old.kind, old.name, old.variant)
	ep.id = endpointID(cfg.Seed, old.name, generation)
	ep.createdMillis = wholeSecondMillis(at)
	ep.updatedMillis = ep.createdMillis
	return ep
}
