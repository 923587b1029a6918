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
	"time"
)

// The lifecycle events: the changes a real serving workspace goes through,
// applied to one endpoint by Server.ApplyEvent,
// POST /simulator/endpoints/{name}/events or a schedule (RunSchedule).
const (
	// EventAddEntity adds a served entity <endpoint>-entity-<k>: the first
	// entity's model at the highest version + 1, with the first entity's
	// workload. It takes TrafficPercentage (default 50); the other entities
	// share the rest in proportion to their traffic.
	EventAddEntity = "add_entity"
	// EventRemoveEntity removes Entity (default the last one); the others
	// share its traffic in proportion. The only entity cannot be removed.
	EventRemoveEntity = "remove_entity"
	// EventBumpVersion deploys the next version of Entity's model (default
	// the first entity), under the same served entity name.
	EventBumpVersion = "bump_version"
	// EventResize cycles Entity's workload size (default the first
	// entity): Small, Medium, Large, Small...
	EventResize = "resize"
	// EventRetag sets the tag rollout to r<n>, n counting retags.
	EventRetag = "retag"
	// EventRecreate deletes the endpoint and creates it again, after Gap
	// (default 0), with a new id, default tags and its kind's entities.
	EventRecreate = "recreate"
	// EventHide takes the endpoint out of every workspace API for Gap
	// (required); it comes back unchanged.
	EventHide = "hide"
	// EventFlipType exposes the family custom_score, unknown to receivers,
	// with a type that changes at each flip: gauge, counter, histogram,
	// gauge...
	EventFlipType = "flip_type"
	// EventScaleToZero keeps the endpoint, of any kind, scaled to zero:
	// no resource series, zero request values.
	EventScaleToZero = "scale_to_zero"
	// EventScaleUp ends EventScaleToZero.
	EventScaleUp = "scale_up"
)

// Event is one lifecycle event, the body of
// POST /simulator/endpoints/{name}/events. Name is required; the other
// fields apply to some events only (see the Event constants) and must be
// left zero for the others.
type Event struct {
	Name              string   `json:"event"`
	Entity            string   `json:"entity,omitempty"`
	TrafficPercentage int      `json:"traffic_percentage,omitempty"`
	Gap               Duration `json:"gap,omitempty"`
}

// Event fields, as named in JSON and in schedules.
const (
	fieldEntity            = "entity"
	fieldTrafficPercentage = "traffic_percentage"
	fieldGap               = "gap"
)

// eventSpec is an event name with the fields the event takes.
type eventSpec struct {
	name   string
	fields []string
}

// eventFields lists every event, in documentation order.
var eventFields = []eventSpec{
	{EventAddEntity, []string{fieldTrafficPercentage}},
	{EventRemoveEntity, []string{fieldEntity}},
	{EventBumpVersion, []string{fieldEntity}},
	{EventResize, []string{fieldEntity}},
	{EventRetag, nil},
	{EventRecreate, []string{fieldGap}},
	{EventHide, []string{fieldGap}},
	{EventFlipType, nil},
	{EventScaleToZero, nil},
	{EventScaleUp, nil},
}

// errInvalidEvent marks an event that is unknown, badly formed or does not
// apply to the endpoint; the HTTP API answers 400.
var errInvalidEvent = errors.New("invalid lifecycle event")

const defaultTrafficPercentage = 50

func eventNames() []string {
	names := make([]string, len(eventFields))
	for i, e := range eventFields {
		names[i] = e.name
	}
	return names
}

// validate checks what can be checked without the endpoint: the event name
// and which fields are set, with valid values.
func (ev Event) validate() error {
	i := slices.IndexFunc(eventFields, func(e eventSpec) bool { return e.name == ev.Name })
	if i < 0 {
		return fmt.Errorf("unknown event %q: want one of %s", ev.Name, strings.Join(eventNames(), ", "))
	}
	allowed := eventFields[i].fields
	set := map[string]bool{
		fieldEntity:            ev.Entity != "",
		fieldTrafficPercentage: ev.TrafficPercentage != 0,
		fieldGap:               ev.Gap != 0,
	}
	var errs []error
	for _, field := range slices.Sorted(maps.Keys(set)) {
		if set[field] && !slices.Contains(allowed, field) {
			errs = append(errs, fmt.Errorf("event %s takes no %s: remove it", ev.Name, field))
		}
	}
	if ev.TrafficPercentage < 0 || ev.TrafficPercentage > 99 {
		errs = append(errs, fmt.Errorf("invalid traffic_percentage %d: want 1 to 99 (default %d)", ev.TrafficPercentage, defaultTrafficPercentage))
	}
	if ev.Gap < 0 {
		errs = append(errs, fmt.Errorf("invalid gap %s: must not be negative", time.Duration(ev.Gap)))
	}
	if ev.Name == EventHide && ev.Gap <= 0 {
		errs = append(errs, errors.New(`event hide needs a gap > 0, such as "gap":"5s"`))
	}
	return errors.Join(errs...)
}

// ApplyEvent applies a lifecycle event to the named endpoint at once: the
// list and get APIs show the new definition, and /metrics serves it from
// the window in progress (windows already completed keep the definition
// they had, so their truth never changes). An absent endpoint (after hide
// or recreate with a gap) still takes events. It is the Go form of
// POST /simulator/endpoints/{name}/events and fails, changing nothing, when
// the endpoint does not exist or the event is invalid for it.
func (s *Server) ApplyEvent(endpoint string, ev Event) error {
	if _, err := s.applyEvent(endpoint, ev); err != nil {
		return fmt.Errorf("simulator: apply %s to %s: %w", ev.Name, endpoint, err)
	}
	return nil
}

func (s *Server) applyEvent(name string, ev Event) (*catalogEntry, error) {
	if err := ev.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidEvent, err)
	}
	return s.catalog.applyEvent(name, ev, s.now())
}

// handleEndpointEvent is POST /simulator/endpoints/{name}/events: it answers
// 200 with the endpoint's get body, or 202 without a body while the event
// leaves the endpoint absent.
func (s *Server) handleEndpointEvent(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var ev Event
	if err := decodeControlBody(w, r, &ev); err != nil {
		writeBadRequest(w, err)
		return
	}
	entry, err := s.applyEvent(name, ev)
	switch {
	case errors.Is(err, errEndpointNotFound):
		writeJSON(w, http.StatusNotFound, apiError{ErrorCode: errorCodeNotFound, Message: endpointNotFoundMessage(name)})
	case errors.Is(err, errInvalidEvent):
		writeBadRequest(w, err)
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{ErrorCode: errorCodeInternal, Message: err.Error()})
	case entry.absent(s.now()):
		w.WriteHeader(http.StatusAccepted)
	default:
		writeJSONBytes(w, http.StatusOK, entry.detail)
	}
}

// applyEvent applies ev to the named endpoint at now and publishes the
// result. Nothing changes, counters included, when ev is invalid for it.
func (c *catalog) applyEvent(name string, ev Event, now time.Time) (*catalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.snapshot()
	old, ok := snap.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", errEndpointNotFound, name)
	}
	counters := c.counters[name]
	change, err := planEvent(c.cfg, old, ev, now, &counters)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errInvalidEvent, err)
	}
	history := old.history
	if change.ep != old.ep {
		history = appendVersion(history, change.ep, now, c.cfg.Window)
	}
	entry, err := buildEntry(change.ep, change.status, history, change.absentUntil)
	if err != nil {
		return nil, err
	}
	c.counters[name] = counters
	c.replaceLocked(snap, old, entry)
	return entry, nil
}

// appendVersion returns history with ep applied at now. It drops the
// versions older than the one serving the last completed window: as long
// as the clock does not move backwards, no later request needs them.
func appendVersion(history []endpointVersion, ep *endpoint, now time.Time, length time.Duration) []endpointVersion {
	oldest := lastCompletedWindow(now, length)
	keep := 0
	for i := len(history) - 1; i > 0; i-- {
		if history[i].sinceMillis < oldest.endMillis {
			keep = i
			break
		}
	}
	// Clip so that append copies: the published entry's history is shared.
	return append(slices.Clip(history[keep:]), endpointVersion{ep: ep, sinceMillis: now.UnixMilli()})
}
