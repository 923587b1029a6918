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
// are immutable, so each is rendered once however many scrapers ask.
type bodyCache struct {
	endpoints int

	mu       sync.Mutex
	byWindow map[int64][]*cachedBody // indexed by endpoint position
}

type cachedBody struct {
	once sync.Once
	body []byte
}

func newBodyCache(endpoints int) *bodyCache {
	return &bodyCache{endpoints: endpoints, byWindow: make(map[int64][]*cachedBody)}
}

// get returns the body of the endpoint at position for windowIndex, calling
// render at most once per cached entry; concurrent callers wait for it.
func (c *bodyCache) get(windowIndex int64, position int, render func() []byte) []byte {
	c.mu.Lock()
	bodies, ok := c.byWindow[windowIndex]
	if !ok {
		bodies = make([]*cachedBody, c.endpoints)
		c.byWindow[windowIndex] = bodies
		c.evictLocked()
	}
	entry := bodies[position]
	if entry == nil {
		entry = &cachedBody{}
		bodies[position] = entry
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
