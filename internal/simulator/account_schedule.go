// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// The actions of an AccountEvent.
const (
	// AccountAdd adds a workspace like AccountConfig.Template: it appears in
	// the lists, RUNNING.
	AccountAdd = "add"
	// AccountStop makes a workspace CANCELLING (Failed in the ARM list): it
	// stays listed, but not as one to scrape, and its server runs on.
	AccountStop = "stop"
	// AccountResume makes a stopped workspace RUNNING again.
	AccountResume = "resume"
	// AccountRemove deletes a workspace: it disappears from the lists and
	// its server stops.
	AccountRemove = "remove"
)

// AccountEvent changes an account's workspaces After the start of a
// schedule (Account.RunSchedule).
type AccountEvent struct {
	After time.Duration
	// Workspace names the workspace the event adds or changes; when several
	// have the name, the oldest is changed.
	Workspace string
	// Action is AccountAdd, AccountStop, AccountResume or AccountRemove.
	Action string
	// CPU, for AccountAdd, is the workspace's number of CPU endpoints when
	// positive; otherwise the Template's.
	CPU int
}

func (e AccountEvent) String() string {
	return fmt.Sprintf("%s %s %q", e.After, e.Action, e.Workspace)
}

func (e AccountEvent) validate() error {
	switch {
	case e.After < 0:
		return fmt.Errorf("account event %s: After must not be negative", e)
	case e.Workspace == "":
		return fmt.Errorf("account event %s: Workspace must name a workspace", e)
	case !slices.Contains([]string{AccountAdd, AccountStop, AccountResume, AccountRemove}, e.Action):
		return fmt.Errorf("account event %s: unknown Action %q: want %s, %s, %s or %s", e, e.Action, AccountAdd, AccountStop, AccountResume, AccountRemove)
	}
	return nil
}

// RunSchedule applies each event After the call, in After order (events due
// together in the order given), and returns when the last one is applied,
// ctx ends or the account closes. It checks every event first and runs none
// when one is invalid. An event that fails (no such workspace) does not
// stop the schedule: the failures are returned together at the end.
func (a *Account) RunSchedule(ctx context.Context, events []AccountEvent) error {
	for _, ev := range events {
		if err := ev.validate(); err != nil {
			return fmt.Errorf("simulator: %w", err)
		}
	}
	events = slices.Clone(events)
	slices.SortStableFunc(events, func(x, y AccountEvent) int { return cmp.Compare(x.After, y.After) })
	start := a.now()
	var errs []error
	for _, ev := range events {
		if !sleepUntil(ctx, a.closing, a.now, start.Add(ev.After)) {
			return errors.Join(errs...)
		}
		if err := a.applyEvent(ev); err != nil {
			errs = append(errs, fmt.Errorf("simulator: account event %s: %w", ev, err))
		}
	}
	return errors.Join(errs...)
}

func (a *Account) applyEvent(ev AccountEvent) error {
	if ev.Action == AccountAdd {
		cfg := a.cfg.Template
		if ev.CPU > 0 {
			cfg.CPU = ev.CPU
		}
		_, err := a.AddWorkspace(ev.Workspace, cfg)
		return err
	}
	id, ok := a.idOf(ev.Workspace)
	if !ok {
		return fmt.Errorf("no workspace named %q", ev.Workspace)
	}
	switch ev.Action {
	case AccountStop:
		return a.SetWorkspaceStatus(id, WorkspaceCancelling)
	case AccountResume:
		return a.SetWorkspaceStatus(id, WorkspaceRunning)
	default:
		return a.RemoveWorkspace(id)
	}
}

// idOf returns the id of the oldest workspace named name.
func (a *Account) idOf(name string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ws := range a.sortedLocked() {
		if ws.Name == name {
			return ws.ID, true
		}
	}
	return "", false
}
