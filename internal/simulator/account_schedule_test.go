// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// statusOf is the workspace_status of the workspace named name, or "" when the account has none.
func statusOf(a *Account, name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ws := range a.sortedLocked() {
		if ws.Name == name {
			return ws.status
		}
	}
	return ""
}

// TestAccountScheduleAddsStopsAndRemovesWorkspaces: a workspace appears, stops, runs again and disappears on
// schedule; an event on a workspace that does not exist is reported without stopping the others.
func TestAccountScheduleAddsStopsAndRemovesWorkspaces(t *testing.T) {
	template := workspaceConfig(nil)
	template.GPU, template.MultiEntity, template.ScaleToZero, template.FoundationModel = 0, 0, 0, 0
	acc, _ := newTestAccount(t, AccountConfig{AccountID: "acc-1", Template: template})
	_, err := acc.AddWorkspace("old", template)
	require.NoError(t, err)

	const step = 500 * time.Millisecond
	done := make(chan error, 1)
	started := time.Now()
	go func() {
		done <- acc.RunSchedule(context.Background(), []AccountEvent{
			{After: 3 * step, Workspace: "new", Action: AccountResume},
			{After: 0, Workspace: "new", Action: AccountAdd, CPU: 3},
			{After: step, Workspace: "old", Action: AccountRemove},
			{After: 2 * step, Workspace: "new", Action: AccountStop},
			{After: 2 * step, Workspace: "missing", Action: AccountStop},
			{After: 4 * step, Workspace: "new", Action: AccountRemove},
		})
	}()
	waitFor := func(name, status, why string) {
		t.Helper()
		require.Eventually(t, func() bool { return statusOf(acc, name) == status }, 3*step, 5*time.Millisecond, why)
	}
	waitFor("new", WorkspaceRunning, "added at 0")
	var added *AccountWorkspace
	for _, ws := range acc.Workspaces() {
		if ws.Name == "new" {
			added = ws
		}
	}
	require.NotNil(t, added)
	assert.Len(t, added.Server.Endpoints(), 3, "with the event's CPU endpoints")
	assert.Equal(t, WorkspaceRunning, statusOf(acc, "old"), "not yet removed")
	waitFor("old", "", "removed at one step")
	waitFor("new", WorkspaceCancelling, "stopped at two steps")
	resp, err := http.Get(added.URL + "/simulator/stats")
	require.NoError(t, err, "a stopped workspace's server runs on")
	_ = resp.Body.Close()
	waitFor("new", WorkspaceRunning, "resumed at three steps")
	waitFor("new", "", "removed at four steps")

	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the schedule did not end")
	}
	require.Error(t, err)
	assert.Contains(t, err.Error(), `no workspace named "missing"`)
	assert.GreaterOrEqual(t, time.Since(started), 4*step, "events wait for their offset")
	assert.Empty(t, acc.Workspaces())
	_, err = http.Get(added.URL + "/simulator/stats")
	assert.Error(t, err, "a removed workspace's server is stopped")
}

func TestAccountScheduleChecksEveryEventFirstAndStopsWithTheAccount(t *testing.T) {
	acc, _ := newTestAccount(t, AccountConfig{AccountID: "acc-1", Template: workspaceConfig(nil)})
	err := acc.RunSchedule(context.Background(), []AccountEvent{
		{Workspace: "a", Action: AccountAdd},
		{After: time.Second, Workspace: "a", Action: "pause"},
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown Action "pause"`)
	assert.Empty(t, acc.Workspaces(), "nothing ran")
	for _, bad := range []AccountEvent{{After: -time.Second, Workspace: "a", Action: AccountAdd}, {Action: AccountAdd}} {
		assert.Error(t, acc.RunSchedule(context.Background(), []AccountEvent{bad}), bad.String())
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, acc.RunSchedule(ctx, []AccountEvent{{After: time.Hour, Workspace: "a", Action: AccountAdd}}), "an ended context ends the schedule")

	closing, err := NewAccount(AccountConfig{AccountID: "acc-2", Template: workspaceConfig(nil)})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() {
		done <- closing.RunSchedule(context.Background(), []AccountEvent{{After: time.Hour, Workspace: "a", Action: AccountAdd}})
	}()
	require.NoError(t, closing.Close())
	select {
	case err = <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the schedule")
	}
	_, err = closing.AddWorkspace("late", workspaceConfig(nil))
	assert.Error(t, err, "no workspace is added to a closed account")
}
