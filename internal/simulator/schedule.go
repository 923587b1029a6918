// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// schedulePollInterval bounds each wait of RunSchedule: it compares the
// due time with the server clock after every wait, so a schedule follows a
// clock that a test moves (WithClock) without a wake-up signal.
const schedulePollInterval = 20 * time.Millisecond

// scheduleSyntax is the form of one schedule entry, for error messages.
const scheduleSyntax = "offset=endpoint:event[?key=value&key=value], such as 20s=cpu-endpoint-0:add_entity?traffic_percentage=30"

// ScheduledEvent is a lifecycle event due After the start of a schedule.
type ScheduledEvent struct {
	After    time.Duration
	Endpoint string
	Event    Event
}

// String renders e in the form ParseSchedule reads.
func (e ScheduledEvent) String() string {
	params := url.Values{}
	if e.Event.Entity != "" {
		params.Set(fieldEntity, e.Event.Entity)
	}
	if e.Event.TrafficPercentage != 0 {
		params.Set(fieldTrafficPercentage, strconv.Itoa(e.Event.TrafficPercentage))
	}
	if e.Event.Gap != 0 {
		params.Set(fieldGap, time.Duration(e.Event.Gap).String())
	}
	s := e.After.String() + "=" + e.Endpoint + ":" + e.Event.Name
	if len(params) > 0 {
		s += "?" + params.Encode()
	}
	return s
}

// WithScheduleErrors makes RunSchedule report the events that fail to
// report; by default they go to the standard logger. A failed event does
// not stop the schedule.
func WithScheduleErrors(report func(ScheduledEvent, error)) Option {
	return func(s *Server) { s.scheduleErrors = report }
}

// ParseSchedule reads the command-line form of a schedule: entries
// separated by commas, each offset=endpoint:event with optional parameters
// ?key=value&key=value (entity, traffic_percentage, gap; values may be
// URL-escaped), for example
//
//	20s=cpu-endpoint-0:add_entity,90s=cpu-endpoint-1:recreate?gap=5s
//
// It checks the syntax, the endpoint names and the events, not whether the
// endpoints exist: those created at run time are not known yet. An empty
// text is an empty schedule.
func ParseSchedule(text string) ([]ScheduledEvent, error) {
	if strings.TrimSpace(text) == "" {
		return nil, nil
	}
	var schedule []ScheduledEvent
	for i, raw := range strings.Split(text, ",") {
		entry := strings.TrimSpace(raw)
		ev, err := parseScheduleEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("lifecycle entry %d %q: %w", i+1, entry, err)
		}
		schedule = append(schedule, ev)
	}
	return schedule, nil
}

func parseScheduleEntry(entry string) (ScheduledEvent, error) {
	offset, rest, ok := strings.Cut(entry, "=")
	if !ok {
		return ScheduledEvent{}, errors.New("want " + scheduleSyntax)
	}
	after, err := time.ParseDuration(offset)
	if err != nil || after < 0 {
		return ScheduledEvent{}, fmt.Errorf("invalid offset %q: want a Go duration of at least 0, such as 20s", offset)
	}
	endpoint, eventText, ok := strings.Cut(rest, ":")
	if !ok {
		return ScheduledEvent{}, errors.New("missing :event after the endpoint name: want " + scheduleSyntax)
	}
	if err = validateEndpointName(endpoint); err != nil {
		return ScheduledEvent{}, err
	}
	name, query, _ := strings.Cut(eventText, "?")
	ev, err := parseEventParams(Event{Name: name}, query)
	if err != nil {
		return ScheduledEvent{}, err
	}
	if err := ev.validate(); err != nil {
		return ScheduledEvent{}, err
	}
	return ScheduledEvent{After: after, Endpoint: endpoint, Event: ev}, nil
}

// parseEventParams sets the fields of ev the query names.
func parseEventParams(ev Event, query string) (Event, error) {
	params, err := url.ParseQuery(query)
	if err != nil {
		return Event{}, fmt.Errorf("invalid parameters %q: %w", query, err)
	}
	for _, key := range slices.Sorted(maps.Keys(params)) {
		values := params[key]
		if len(values) > 1 {
			return Event{}, fmt.Errorf("parameter %s given %d times: give it once", key, len(values))
		}
		value := values[0]
		switch key {
		case fieldEntity:
			if value == "" {
				return Event{}, errors.New("empty entity: name a served entity, or leave the parameter out for the default")
			}
			ev.Entity = value
		case fieldTrafficPercentage:
			percent, err := strconv.Atoi(value)
			if err != nil || percent < 1 || percent > 99 {
				return Event{}, fmt.Errorf("invalid traffic_percentage %q: want 1 to 99 (default %d)", value, defaultTrafficPercentage)
			}
			ev.TrafficPercentage = percent
		case fieldGap:
			gap, err := time.ParseDuration(value)
			if err != nil {
				return Event{}, fmt.Errorf("invalid gap %q: want a Go duration such as 5s", value)
			}
			ev.Gap = Duration(gap)
		default:
			return Event{}, fmt.Errorf("unknown parameter %q: want %s, %s or %s", key, fieldEntity, fieldTrafficPercentage, fieldGap)
		}
	}
	return ev, nil
}

// RunSchedule applies each event of schedule After the call, on the server
// clock, and returns when the last one is applied or, when repeat is set,
// runs the schedule again from the last event on, until ctx ends or the
// server closes. Events due at the same offset are applied in the order
// given. A failed event is reported (see WithScheduleErrors) and the
// schedule goes on. A repeating schedule whose events are all at offset 0
// runs once, with an error reported.
func (s *Server) RunSchedule(ctx context.Context, schedule []ScheduledEvent, repeat bool) {
	events := slices.Clone(schedule)
	slices.SortStableFunc(events, func(a, b ScheduledEvent) int { return cmp.Compare(a.After, b.After) })
	if len(events) == 0 {
		return
	}
	period := events[len(events)-1].After
	if repeat && period <= 0 {
		s.reportScheduleError(events[0], errors.New("a repeating schedule needs its last event after 0s: running it once"))
		repeat = false
	}
	for start := s.now(); ; start = start.Add(period) {
		for _, ev := range events {
			if !s.sleepUntil(ctx, start.Add(ev.After)) {
				return
			}
			if err := s.ApplyEvent(ev.Endpoint, ev.Event); err != nil {
				s.reportScheduleError(ev, err)
			}
		}
		if !repeat {
			return
		}
	}
}

// sleepUntil waits until the server clock reaches due; it returns false
// when ctx ends or the server closes first.
func (s *Server) sleepUntil(ctx context.Context, due time.Time) bool {
	return sleepUntil(ctx, s.closing, s.now, due)
}

// sleepUntil waits until the clock now reaches due, looking at it at least
// every schedulePollInterval (a test may move it); it returns false when ctx
// ends or closing closes first. Server and Account schedules share it.
func sleepUntil(ctx context.Context, closing <-chan struct{}, now func() time.Time, due time.Time) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case <-closing:
			return false
		default:
		}
		remaining := due.Sub(now())
		if remaining <= 0 {
			return true
		}
		if waitOrStop(ctx, closing, min(remaining, schedulePollInterval)) != nil {
			return false
		}
	}
}

func (s *Server) reportScheduleError(ev ScheduledEvent, err error) {
	if s.scheduleErrors != nil {
		s.scheduleErrors(ev, err)
		return
	}
	log.Printf("simulator: lifecycle event %s: %v", ev, err)
}
