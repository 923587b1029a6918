// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

var (
	errEndpointExists   = errors.New("endpoint already exists")
	errEndpointNotFound = errors.New("endpoint not found")
)

// catalog is the set of endpoints of the simulated workspace. Tests create,
// delete and change endpoints while scrapers read them, so readers load an
// immutable snapshot without locking and writers replace it whole: changes
// are rare, reads are on every request.
type catalog struct {
	cfg Config

	mu      sync.Mutex // serializes writers
	current atomic.Pointer[catalogSnapshot]
	// counters number the lifecycle events per endpoint name. They outlive
	// the entries, so an endpoint recreated or deleted and created again
	// never reuses an id, entity name or rollout tag. Guarded by mu.
	counters map[string]lifecycleCounters
}

// catalogSnapshot is the catalog at one instant. It is never modified.
type catalogSnapshot struct {
	entries []*catalogEntry // in list order
	byName  map[string]*catalogEntry
	// listBody is the GET /api/2.0/serving-endpoints body, rendered once per
	// change so that list requests only copy bytes. It lists absent entries
	// too: listBodyAt leaves them out.
	listBody []byte
	// absentUntil is the latest absentUntil of the entries: from then on
	// listBody is the answer.
	absentUntil time.Time
}

// catalogEntry is one endpoint with its current status and its rendered
// list item and detail body.
type catalogEntry struct {
	ep      *endpoint
	status  endpointStatus
	summary []byte
	detail  []byte
	// history holds ep and the definitions it replaced that may still
	// serve a window, oldest first; see endpointFor.
	history []endpointVersion
	// absentUntil hides the endpoint from every workspace API until then
	// (lifecycle events hide and recreate with a gap). It follows the
	// server clock, so tests move through a gap with WithClock.
	absentUntil time.Time
}

// endpointVersion is one definition of an endpoint and the instant (Unix ms)
// it was applied.
type endpointVersion struct {
	ep          *endpoint
	sinceMillis int64
}

func newCatalog(cfg Config) (*catalog, error) {
	kinds := []struct {
		kind  endpointKind
		count int
	}{
		{kindCPU, cfg.CPU},
		{kindGPU, cfg.GPU},
		{kindMultiEntity, cfg.MultiEntity},
		{kindScaleToZero, cfg.ScaleToZero},
		{kindFoundationModel, cfg.FoundationModel},
	}
	var entries []*catalogEntry
	for _, k := range kinds {
		for ordinal := range k.count {
			entry, err := newCatalogEntry(newEndpoint(cfg, k.kind, ordinal), defaultStatus())
			if err != nil {
				return nil, err
			}
			entries = append(entries, entry)
		}
	}
	c := &catalog{cfg: cfg, counters: make(map[string]lifecycleCounters)}
	c.publishLocked(entries)
	return c, nil
}

// newCatalogEntry builds the entry of an endpoint that serves every window
// with ep.
func newCatalogEntry(ep *endpoint, status endpointStatus) (*catalogEntry, error) {
	return buildEntry(ep, status, []endpointVersion{{ep: ep, sinceMillis: math.MinInt64}}, time.Time{})
}

func buildEntry(ep *endpoint, status endpointStatus, history []endpointVersion, absentUntil time.Time) (*catalogEntry, error) {
	summary, detail, err := renderEndpoint(ep, status)
	if err != nil {
		return nil, err
	}
	return &catalogEntry{ep: ep, status: status, summary: summary, detail: detail, history: history, absentUntil: absentUntil}, nil
}

// absent reports whether the endpoint is out of the workspace APIs at now.
func (e *catalogEntry) absent(now time.Time) bool {
	return now.Before(e.absentUntil)
}

// endpointFor returns the definition that serves window w: the newest one
// applied before the window ended. A completed window is history, so a
// lifecycle event changes /metrics from the window in progress when it is
// applied, and every body served for one window is the same. A window older
// than the history (a clock moved backwards) gets the oldest definition kept.
func (e *catalogEntry) endpointFor(w window) *endpoint {
	for i := len(e.history) - 1; i > 0; i-- {
		if e.history[i].sinceMillis < w.endMillis {
			return e.history[i].ep
		}
	}
	return e.history[0].ep
}

// publishLocked makes entries the current catalog. c.mu must be held, or c
// not yet shared.
func (c *catalog) publishLocked(entries []*catalogEntry) {
	snap := &catalogSnapshot{
		entries:  entries,
		byName:   make(map[string]*catalogEntry, len(entries)),
		listBody: renderList(entries),
	}
	for _, entry := range entries {
		snap.byName[entry.ep.name] = entry
		if entry.absentUntil.After(snap.absentUntil) {
			snap.absentUntil = entry.absentUntil
		}
	}
	c.current.Store(snap)
}

// listBodyAt is the list API's body at now. Only while an endpoint is
// absent is it rendered per request.
func (snap *catalogSnapshot) listBodyAt(now time.Time) []byte {
	if !now.Before(snap.absentUntil) {
		return snap.listBody
	}
	return renderList(snap.presentEntries(now))
}

func (snap *catalogSnapshot) presentEntries(now time.Time) []*catalogEntry {
	if !now.Before(snap.absentUntil) {
		return snap.entries
	}
	present := make([]*catalogEntry, 0, len(snap.entries))
	for _, entry := range snap.entries {
		if !entry.absent(now) {
			present = append(present, entry)
		}
	}
	return present
}

func (c *catalog) snapshot() *catalogSnapshot {
	return c.current.Load()
}

// entry returns the named endpoint, absent or not: the control API still
// reaches an absent endpoint.
func (c *catalog) entry(name string) (*catalogEntry, bool) {
	entry, ok := c.snapshot().byName[name]
	return entry, ok
}

// presentEntry returns the named endpoint if the workspace APIs show it at
// now.
func (c *catalog) presentEntry(name string, now time.Time) (*catalogEntry, bool) {
	entry, ok := c.entry(name)
	if !ok || entry.absent(now) {
		return nil, false
	}
	return entry, true
}

func (c *catalog) lookup(name string) (*endpoint, bool) {
	entry, ok := c.entry(name)
	if !ok {
		return nil, false
	}
	return entry.ep, true
}

// names lists the endpoints the list API shows at now, in list order.
func (c *catalog) names(now time.Time) []string {
	entries := c.snapshot().presentEntries(now)
	names := make([]string, len(entries))
	for i, entry := range entries {
		names[i] = entry.ep.name
	}
	return names
}

// create adds an endpoint of kind at the end of the list. The caller has
// validated the name.
func (c *catalog) create(kind endpointKind, name string) (*catalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.snapshot()
	if _, exists := snap.byName[name]; exists {
		return nil, fmt.Errorf("%w: %s", errEndpointExists, name)
	}
	entry, err := newCatalogEntry(newNamedEndpoint(c.cfg, kind, name), defaultStatus())
	if err != nil {
		return nil, err
	}
	// Clip so that append copies: the old snapshot must stay untouched.
	c.publishLocked(append(slices.Clip(snap.entries), entry))
	return entry, nil
}

func (c *catalog) remove(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.snapshot()
	if _, ok := snap.byName[name]; !ok {
		return fmt.Errorf("%w: %s", errEndpointNotFound, name)
	}
	c.publishLocked(slices.DeleteFunc(slices.Clone(snap.entries), func(entry *catalogEntry) bool {
		return entry.ep.name == name
	}))
	return nil
}

// update applies patch to the named endpoint's status and returns the new
// entry. An invalid patch changes nothing.
func (c *catalog) update(name string, patch statusPatch) (*catalogEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	snap := c.snapshot()
	old, ok := snap.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", errEndpointNotFound, name)
	}
	status, err := patch.apply(old.ep, old.status)
	if err != nil {
		return nil, err
	}
	entry, err := buildEntry(old.ep, status, old.history, old.absentUntil)
	if err != nil {
		return nil, err
	}
	c.replaceLocked(snap, old, entry)
	return entry, nil
}

// replaceLocked publishes snap with old replaced by entry, in its place in
// the list. c.mu must be held.
func (c *catalog) replaceLocked(snap *catalogSnapshot, old, entry *catalogEntry) {
	entries := slices.Clone(snap.entries)
	entries[slices.Index(entries, old)] = entry
	c.publishLocked(entries)
}
