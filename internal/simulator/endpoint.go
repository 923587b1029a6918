// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// endpointKind is the shape of a simulated endpoint; it decides the served
// entities, the workload and which metric families the endpoint exposes.
type endpointKind int

const (
	kindCPU endpointKind = iota
	kindGPU
	kindMultiEntity
	kindScaleToZero
	kindFoundationModel
)

func (k endpointKind) namePrefix() string {
	switch k {
	case kindGPU:
		return "gpu-endpoint"
	case kindMultiEntity:
		return "multi-entity-endpoint"
	case kindScaleToZero:
		return "scale-to-zero-endpoint"
	case kindFoundationModel:
		return "databricks-fmapi-endpoint"
	default:
		return "cpu-endpoint"
	}
}

// kindNames are the kind names of the control API (POST /simulator/endpoints);
// they match the command-line flags that count endpoints of each kind.
var kindNames = map[string]endpointKind{
	"cpu":           kindCPU,
	"gpu":           kindGPU,
	"multi-entity":  kindMultiEntity,
	"scale-to-zero": kindScaleToZero,
	"fmapi":         kindFoundationModel,
}

func parseKind(name string) (endpointKind, error) {
	kind, ok := kindNames[name]
	if !ok {
		return 0, fmt.Errorf("unknown endpoint kind %q: want one of cpu, gpu, multi-entity, scale-to-zero, fmapi", name)
	}
	return kind, nil
}

// endpointNamePattern is Databricks' rule for serving endpoint names.
var endpointNamePattern = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_-]{0,61}[a-zA-Z0-9])?$`)

func validateEndpointName(name string) error {
	if !endpointNamePattern.MatchString(name) {
		return fmt.Errorf("invalid endpoint name %q: must match %s", name, endpointNamePattern)
	}
	return nil
}

// hasMetrics reports whether /metrics answers for the kind: pay-per-token
// Foundation Model API endpoints answer 404, as in a real workspace.
func (k endpointKind) hasMetrics() bool {
	return k != kindFoundationModel
}

const (
	entityTypeUCModel         = "UC_MODEL"
	entityTypeFoundationModel = "FOUNDATION_MODEL"
	endpointTypeFMAPI         = "FOUNDATION_MODEL_API"

	workloadSmall  = "Small"
	workloadMedium = "Medium"
	workloadLarge  = "Large"

	// catalogBaseMillis (2025-01-01T00:00:00Z) anchors the creation
	// timestamps so they look plausible and never depend on the clock.
	catalogBaseMillis = 1735689600000
	dayMillis         = 24 * 60 * 60 * 1000
)

// provisionedConcurrency is the concurrency Databricks provisions for each
// standard workload size.
var provisionedConcurrency = map[string]int{
	workloadSmall:  4,
	workloadMedium: 8,
	workloadLarge:  16,
}

var (
	cpuWorkloadSizes = []string{workloadSmall, workloadMedium, workloadLarge}
	teams            = []string{"ml", "search", "recsys"}
	environments     = []string{"prod", "staging"}
	foundationModels = []foundationModel{
		{name: "system.ai.databricks-meta-llama-3-3-70b-instruct", displayName: "Meta Llama 3.3 70B Instruct"},
		{name: "system.ai.databricks-meta-llama-3-1-8b-instruct", displayName: "Meta Llama 3.1 8B Instruct"},
		{name: "system.ai.databricks-gemma-3-12b", displayName: "Gemma 3 12B"},
	}
)

type foundationModel struct {
	name        string
	displayName string
}

type tag struct {
	key, value string
}

// endpoint is one simulated serving endpoint. It is immutable once built:
// what tests change at run time (readiness, metrics status) lives in
// endpointStatus, and a lifecycle event builds a new endpoint, so caches
// keyed by *endpoint and the truth of windows already served stay valid.
type endpoint struct {
	name string
	kind endpointKind
	// variant picks the team, environment, workload size and foundation
	// model; a recreated endpoint keeps it, so it gets its kind's defaults.
	variant         int
	id              string
	creator         string
	createdMillis   int64
	updatedMillis   int64
	task            string
	endpointType    string
	permissionLevel string
	tags            []tag
	configVersion   int
	entities        []servedEntity

	// forcedZero keeps the endpoint scaled to zero in every window
	// (lifecycle event scale_to_zero), whatever its kind.
	forcedZero bool
	// customScoreFlips counts flip_type events: once positive, the endpoint
	// exposes custom_score with the type customScoreType returns.
	customScoreFlips int
}

// servedEntity is one model deployed behind an endpoint; it is the unit of
// the per-entity metric series.
type servedEntity struct {
	name              string
	entityType        string
	entityName        string
	entityVersion     string
	foundationModel   *foundationModel
	workloadSize      string
	workloadType      string
	scaleToZero       bool
	gpus              int
	trafficPercentage int
}

// variants is how many distinct (team, environment, workload size,
// foundation model) combinations the ordinal cycles through: the least
// common multiple of the lengths of those tables.
const variants = 6

// newEndpoint builds the ordinal-th endpoint of a kind of the initial catalog.
func newEndpoint(cfg Config, kind endpointKind, ordinal int) *endpoint {
	return deriveEndpoint(cfg, kind, fmt.Sprintf("%s-%d", kind.namePrefix(), ordinal), ordinal)
}

// newNamedEndpoint builds an endpoint created at run time. Its variant comes
// from the seed and the name, so the same request always yields the same
// endpoint, like the initial ones.
func newNamedEndpoint(cfg Config, kind endpointKind, name string) *endpoint {
	variant := seededRand(cfg.Seed, name, variantStream, 0).IntN(variants)
	return deriveEndpoint(cfg, kind, name, variant)
}

// deriveEndpoint derives every attribute of an endpoint from (seed, kind,
// name, ordinal) so the catalog is identical across runs with the same seed.
func deriveEndpoint(cfg Config, kind endpointKind, name string, ordinal int) *endpoint {
	rng := seededRand(cfg.Seed, name, catalogStream, 0)
	id := drawID(rng)
	created := catalogBaseMillis + rng.Int64N(180*dayMillis)/1000*1000
	updated := created + rng.Int64N(30*dayMillis)/1000*1000
	version := 1 + rng.IntN(9)
	team := teams[ordinal%len(teams)]

	ep := &endpoint{
		name:            name,
		kind:            kind,
		variant:         ordinal,
		id:              id,
		creator:         team + "-owner@example.com",
		createdMillis:   created,
		updatedMillis:   updated,
		permissionLevel: "CAN_MANAGE",
		tags:            []tag{{key: "team", value: team}, {key: "env", value: environments[ordinal%len(environments)]}},
		configVersion:   1 + rng.IntN(5),
	}
	ucModel := "main." + team + "." + strings.ReplaceAll(name, "-", "_") + "_model"
	single := func(size, workloadType string, scaleToZero bool, gpus int) []servedEntity {
		return []servedEntity{{
			name:              name + "-model-1",
			entityType:        entityTypeUCModel,
			entityName:        ucModel,
			entityVersion:     strconv.Itoa(version),
			workloadSize:      size,
			workloadType:      workloadType,
			scaleToZero:       scaleToZero,
			gpus:              gpus,
			trafficPercentage: 100,
		}}
	}

	switch kind {
	case kindCPU:
		ep.entities = single(cpuWorkloadSizes[ordinal%len(cpuWorkloadSizes)], "CPU", false, 0)
	case kindGPU:
		ep.task = "llm/v1/completions"
		ep.entities = single(workloadSmall, gpuWorkloadType(cfg.GPUsPerEndpoint), false, cfg.GPUsPerEndpoint)
	case kindScaleToZero:
		ep.entities = single(workloadSmall, "CPU", true, 0)
	case kindMultiEntity:
		// A champion/challenger A/B test: two versions of one model behind
		// one endpoint, so every family carries two served_entity_name values.
		ep.entities = []servedEntity{
			{
				name: name + "-champion-1", entityType: entityTypeUCModel, entityName: ucModel,
				entityVersion: strconv.Itoa(version), workloadSize: workloadMedium, workloadType: "CPU",
				trafficPercentage: 80,
			},
			{
				name: name + "-challenger-2", entityType: entityTypeUCModel, entityName: ucModel,
				entityVersion: strconv.Itoa(version + 1), workloadSize: workloadSmall, workloadType: "CPU",
				trafficPercentage: 20,
			},
		}
	case kindFoundationModel:
		// Pay-per-token endpoints are owned by Databricks: no id, no creator,
		// no tags, and the caller may only query them.
		model := foundationModels[ordinal%len(foundationModels)]
		ep.id = ""
		ep.creator = ""
		ep.tags = nil
		ep.task = "llm/v1/chat"
		ep.endpointType = endpointTypeFMAPI
		ep.permissionLevel = "CAN_QUERY"
		ep.configVersion = 1
		ep.entities = []servedEntity{{
			name:              name + "-model-1",
			entityType:        entityTypeFoundationModel,
			entityName:        model.name,
			foundationModel:   &model,
			trafficPercentage: 100,
		}}
	}
	return ep
}

// endpointID is the id of the generation-th incarnation of the named
// endpoint: generation 0 is the one deriveEndpoint builds, each recreate
// makes the next, so no two incarnations of a name share an id.
func endpointID(seed int64, name string, generation int) string {
	return drawID(seededRand(seed, name, catalogStream, int64(generation)))
}

func drawID(rng *rand.Rand) string {
	return fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
}

// gpuWorkloadType names the Databricks GPU workload type whose GPU count
// matches the configured one, so the detail API stays plausible.
func gpuWorkloadType(gpus int) string {
	switch {
	case gpus == 1:
		return "GPU_MEDIUM"
	case gpus <= 4:
		return "MULTIGPU_MEDIUM"
	default:
		return "GPU_MEDIUM_8"
	}
}

func (ep *endpoint) hasEntity(name string) bool {
	for i := range ep.entities {
		if ep.entities[i].name == name {
			return true
		}
	}
	return false
}
