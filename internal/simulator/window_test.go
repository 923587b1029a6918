// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestLastCompletedWindow(t *testing.T) {
	tests := []struct {
		name          string
		nowMillis     int64
		length        time.Duration
		wantIndex     int64
		wantEndMillis int64
	}{
		{"inside a window", 1788718020500, 2 * time.Second, 894359009, 1788718020000},
		{"exactly on a boundary", 1788718022000, 2 * time.Second, 894359010, 1788718022000},
		{"just before a boundary", 1788718021999, 2 * time.Second, 894359009, 1788718020000},
		{"one minute windows", 1788718079999, time.Minute, 29811966, 1788718020000},
		{"first window after the epoch", 1500, time.Second, 0, 1000},
		{"before the epoch", -1, time.Second, -2, -1000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := lastCompletedWindow(time.UnixMilli(tt.nowMillis), tt.length)
			assert.Equal(t, tt.wantIndex, w.index)
			assert.Equal(t, tt.wantEndMillis, w.endMillis)
		})
	}
}
