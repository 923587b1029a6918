// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
)

// The state values of the real API, as the receiver's state metrics see
// them.
const (
	readyReady    = "READY"
	readyNotReady = "NOT_READY"

	configNotUpdating    = "NOT_UPDATING"
	configInProgress     = "IN_PROGRESS"
	configUpdateFailed   = "UPDATE_FAILED"
	configUpdateCanceled = "UPDATE_CANCELED"

	deploymentReady      = "DEPLOYMENT_READY"
	deploymentCreating   = "DEPLOYMENT_CREATING"
	deploymentRecovering = "DEPLOYMENT_RECOVERING"
	deploymentFailed     = "DEPLOYMENT_FAILED"
	deploymentAborted    = "DEPLOYMENT_ABORTED"
)

var (
	readyStates        = []string{readyReady, readyNotReady}
	configUpdateStates = []string{configNotUpdating, configInProgress, configUpdateFailed, configUpdateCanceled}
	// deploymentMessages maps every deployment state to the
	// deployment_state_message a workspace shows with it.
	deploymentMessages = map[string]string{
		deploymentReady:      "",
		deploymentCreating:   "Served entity creation is in progress.",
		deploymentRecovering: "Served entity is recovering from a failed replica.",
		deploymentFailed:     "Served entity deployment failed: the container exited with a non-zero code.",
		deploymentAborted:    "Served entity deployment was aborted by a newer configuration update.",
	}
	// metricsStatuses are the /metrics answers a test can choose: 404 makes
	// an endpoint that normally exports metrics look like one that has none.
	metricsStatuses = []int{http.StatusOK, http.StatusNotFound}
)

// errInvalidPatch marks a PATCH that names an unknown value or entity.
var errInvalidPatch = errors.New("invalid endpoint patch")

// endpointStatus is what tests change on an endpoint at run time. It is a
// value: a change builds a new status, so readers never see half of one.
type endpointStatus struct {
	ready        string
	configUpdate string
	// deployment holds the served entities whose state is not
	// DEPLOYMENT_READY, by served entity name.
	deployment    map[string]string
	metricsStatus int
	// fault, when set, changes the /metrics answers.
	fault *activeFault
}

func defaultStatus() endpointStatus {
	return endpointStatus{ready: readyReady, configUpdate: configNotUpdating, metricsStatus: http.StatusOK}
}

func (st endpointStatus) deploymentOf(entity string) string {
	if state, ok := st.deployment[entity]; ok {
		return state
	}
	return deploymentReady
}

// statusPatch is the body of PATCH /simulator/endpoints/{name}; absent fields
// keep their value.
type statusPatch struct {
	Ready         *string           `json:"ready"`
	ConfigUpdate  *string           `json:"config_update"`
	Deployment    map[string]string `json:"deployment"`
	MetricsStatus *int              `json:"metrics_status"`
	Fault         faultChange       `json:"fault"`
}

// apply validates p against ep and returns the patched status. Nothing is
// changed when any field is invalid, so a failed PATCH has no effect.
func (p statusPatch) apply(ep *endpoint, st endpointStatus) (endpointStatus, error) {
	var errs []error
	if p.Ready != nil {
		if !slices.Contains(readyStates, *p.Ready) {
			errs = append(errs, enumError("ready", *p.Ready, readyStates))
		}
		st.ready = *p.Ready
	}
	if p.ConfigUpdate != nil {
		if !slices.Contains(configUpdateStates, *p.ConfigUpdate) {
			errs = append(errs, enumError("config_update", *p.ConfigUpdate, configUpdateStates))
		}
		st.configUpdate = *p.ConfigUpdate
	}
	if len(p.Deployment) > 0 {
		deployment := maps.Clone(st.deployment)
		if deployment == nil {
			deployment = make(map[string]string, len(p.Deployment))
		}
		for entity, state := range p.Deployment {
			if !ep.hasEntity(entity) {
				errs = append(errs, fmt.Errorf("endpoint %s has no served entity %q", ep.name, entity))
			}
			if _, ok := deploymentMessages[state]; !ok {
				errs = append(errs, enumError("deployment of "+entity, state, slices.Sorted(maps.Keys(deploymentMessages))))
			}
			deployment[entity] = state
		}
		st.deployment = deployment
	}
	if p.MetricsStatus != nil {
		if !slices.Contains(metricsStatuses, *p.MetricsStatus) {
			errs = append(errs, fmt.Errorf("invalid metrics_status %d: want 200 or 404", *p.MetricsStatus))
		}
		st.metricsStatus = *p.MetricsStatus
	}
	if p.Fault.set {
		st.fault = nil
		if p.Fault.fault != nil {
			if call, ok := callOnlyModes[p.Fault.fault.Mode]; ok {
				errs = append(errs, fmt.Errorf("fault.mode: mode %s changes the %s call, not /metrics: set it with PUT /simulator/faults/%s",
					p.Fault.fault.Mode, call, call))
			}
			fault, err := newActiveFault(p.Fault.fault)
			if err != nil {
				errs = append(errs, err)
			}
			st.fault = fault
		}
	}
	if len(errs) > 0 {
		return endpointStatus{}, fmt.Errorf("%w: %w", errInvalidPatch, errors.Join(errs...))
	}
	return st, nil
}

func enumError(field, value string, allowed []string) error {
	return fmt.Errorf("invalid %s %q: want one of %s", field, value, strings.Join(allowed, ", "))
}
