// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"encoding/json"
	"fmt"
)

// The JSON shapes below follow the fields a real workspace returns for
// GET /api/2.0/serving-endpoints (summary) and GET .../{name} (detailed).
// Detail-only fields are omitted from the summary, as in the real API.

type listResponse struct {
	Endpoints []endpointResource `json:"endpoints"`
}

type endpointResource struct {
	Name                 string         `json:"name"`
	ID                   string         `json:"id,omitempty"`
	Creator              string         `json:"creator,omitempty"`
	CreationTimestamp    int64          `json:"creation_timestamp"`
	LastUpdatedTimestamp int64          `json:"last_updated_timestamp"`
	State                endpointState  `json:"state"`
	Config               endpointConfig `json:"config"`
	EndpointType         string         `json:"endpoint_type,omitempty"`
	Task                 string         `json:"task,omitempty"`
	Tags                 []tagResource  `json:"tags,omitempty"`
	PermissionLevel      string         `json:"permission_level"`
}

type endpointState struct {
	Ready        string `json:"ready"`
	ConfigUpdate string `json:"config_update"`
}

type endpointConfig struct {
	ServedEntities []servedEntityResource `json:"served_entities"`
	ConfigVersion  int                    `json:"config_version,omitempty"`
	TrafficConfig  *trafficConfig         `json:"traffic_config,omitempty"`
}

type servedEntityResource struct {
	Name               string                   `json:"name"`
	EntityName         string                   `json:"entity_name,omitempty"`
	EntityVersion      string                   `json:"entity_version,omitempty"`
	Type               string                   `json:"type"`
	FoundationModel    *foundationModelResource `json:"foundation_model,omitempty"`
	WorkloadSize       string                   `json:"workload_size,omitempty"`
	WorkloadType       string                   `json:"workload_type,omitempty"`
	ScaleToZeroEnabled *bool                    `json:"scale_to_zero_enabled,omitempty"`
	State              *servedEntityState       `json:"state,omitempty"`
}

type foundationModelResource struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
}

type servedEntityState struct {
	Deployment             string `json:"deployment"`
	DeploymentStateMessage string `json:"deployment_state_message"`
}

type trafficConfig struct {
	Routes []trafficRoute `json:"routes"`
}

type trafficRoute struct {
	ServedEntityName  string `json:"served_entity_name"`
	TrafficPercentage int    `json:"traffic_percentage"`
}

type tagResource struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

type apiError struct {
	ErrorCode string `json:"error_code"`
	Message   string `json:"message"`
}

const (
	errorCodeNotFound        = "RESOURCE_DOES_NOT_EXIST"
	errorCodeNoSuchAPI       = "ENDPOINT_NOT_FOUND"
	errorCodeUnauthenticated = "UNAUTHENTICATED"
	errorCodeUnavailable     = "TEMPORARILY_UNAVAILABLE"
)

func endpointNotFoundMessage(name string) string {
	return fmt.Sprintf("Serving endpoint with name %s not found", name)
}

// noMetricsMessage answers /metrics of an endpoint a test made metric-less
// (PATCH metrics_status 404), like a workspace does for an endpoint whose
// metrics export is unavailable.
func noMetricsMessage(name string) string {
	return fmt.Sprintf("Serving endpoint %s has no metrics", name)
}

func metricsUnavailableMessage(name string) string {
	return fmt.Sprintf("Metrics are not available for serving endpoint %s: pay-per-token Foundation Model API endpoints do not export metrics", name)
}

// newEndpointResource renders ep with its status; detailed selects the
// GET {name} shape.
func newEndpointResource(ep *endpoint, status endpointStatus, detailed bool) endpointResource {
	res := endpointResource{
		Name:                 ep.name,
		ID:                   ep.id,
		Creator:              ep.creator,
		CreationTimestamp:    ep.createdMillis,
		LastUpdatedTimestamp: ep.updatedMillis,
		State:                endpointState{Ready: status.ready, ConfigUpdate: status.configUpdate},
		EndpointType:         ep.endpointType,
		Task:                 ep.task,
		PermissionLevel:      ep.permissionLevel,
	}
	for _, t := range ep.tags {
		res.Tags = append(res.Tags, tagResource{Key: t.key, Value: t.value})
	}
	for i := range ep.entities {
		res.Config.ServedEntities = append(res.Config.ServedEntities, newServedEntityResource(&ep.entities[i], status, detailed))
	}
	if detailed {
		res.Config.ConfigVersion = ep.configVersion
		res.Config.TrafficConfig = &trafficConfig{}
		for _, entity := range ep.entities {
			res.Config.TrafficConfig.Routes = append(res.Config.TrafficConfig.Routes, trafficRoute{
				ServedEntityName:  entity.name,
				TrafficPercentage: entity.trafficPercentage,
			})
		}
	}
	return res
}

func newServedEntityResource(entity *servedEntity, status endpointStatus, detailed bool) servedEntityResource {
	res := servedEntityResource{
		Name:          entity.name,
		EntityName:    entity.entityName,
		EntityVersion: entity.entityVersion,
		Type:          entity.entityType,
	}
	if fm := entity.foundationModel; fm != nil {
		res.FoundationModel = &foundationModelResource{Name: fm.name, DisplayName: fm.displayName}
	}
	if !detailed {
		return res
	}
	deployment := status.deploymentOf(entity.name)
	res.State = &servedEntityState{Deployment: deployment, DeploymentStateMessage: deploymentMessages[deployment]}
	if entity.workloadType != "" {
		// Only provisioned (non pay-per-token) entities have a workload.
		scaleToZero := entity.scaleToZero
		res.WorkloadSize = entity.workloadSize
		res.WorkloadType = entity.workloadType
		res.ScaleToZeroEnabled = &scaleToZero
	}
	return res
}

// renderEndpoint renders ep's list item and detail body. They change only
// with the status, so requests only copy bytes.
func renderEndpoint(ep *endpoint, status endpointStatus) (summary, detail []byte, err error) {
	summary, err = json.Marshal(newEndpointResource(ep, status, false))
	if err != nil {
		return nil, nil, fmt.Errorf("marshal endpoint %s: %w", ep.name, err)
	}
	detail, err = json.Marshal(newEndpointResource(ep, status, true))
	if err != nil {
		return nil, nil, fmt.Errorf("marshal endpoint %s: %w", ep.name, err)
	}
	return summary, detail, nil
}

// renderList joins the rendered list items into a listResponse body: the
// same bytes json.Marshal would produce, without re-encoding every endpoint
// on each change.
func renderList(entries []*catalogEntry) []byte {
	const prefix, suffix = `{"endpoints":[`, `]}`
	size := len(prefix) + len(suffix) + len(entries)
	for _, entry := range entries {
		size += len(entry.summary)
	}
	body := make([]byte, 0, size)
	body = append(body, prefix...)
	for i, entry := range entries {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, entry.summary...)
	}
	return append(body, suffix...)
}
