// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"maps"
	"slices"
	"sync"
)

// cachedWindows is how many windows the body cache keeps: the current one
// and the previous one, for scrapes that straddle a window boundary.
const cachedWindows = 2

// bodyCache keeps rendered /metrics bodies per (window, endpoint). Bodies
// are immutable, so each is rendered once however many scrapers ask. It is
// keyed by the endpoint itself, not its name: an endpoint deleted and
// created again under the same name may be of another kind.
type bodyCache struct {
	mu       sync.Mutex
	byWindow map[int64]map[*endpoint]*cachedBody
}

type cachedBody struct {
	once sync.Once
	body []byte
}

func newBodyCache() *bodyCache {
	return &bodyCache{byWindow: make(map[int64]map[*endpoint]*cachedBody)}
}

// get returns the body of ep for windowIndex, calling render at most once
// per cached entry; concurrent callers wait for it.
func (c *bodyCache) get(windowIndex int64, ep *endpoint, render func() []byte) []byte {
	c.mu.Lock()
	bodies, ok := c.byWindow[windowIndex]
	if !ok {
		bodies = make(map[*endpoint]*cachedBody)
		c.byWindow[windowIndex] = bodies
		c.evictLocked()
	}
	entry := bodies[ep]
	if entry == nil {
		entry = &cachedBody{}
		bodies[ep] = entry
	}
	c.mu.Unlock()

	entry.once.Do(func() { entry.body = render() })
	return entry.body
}

// evictLocked drops every window older than the newest cachedWindows. A
// request for an older window (a clock moved backwards) still gets its body;
// it just is not kept.
func (c *bodyCache) evictLocked() {
	if len(c.byWindow) <= cachedWindows {
		return
	}
	newest := slices.Max(slices.Collect(maps.Keys(c.byWindow)))
	for index := range c.byWindow {
		if index <= newest-cachedWindows {
			delete(c.byWindow, index)
		}
	}
}

// len reports how many windows are cached; tests use it to check the bound.
func (c *bodyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.byWindow)
}
