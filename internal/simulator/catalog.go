// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package simulator

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
}

// catalogSnapshot is the catalog at one instant. It is never modified.
type catalogSnapshot struct {
	entries []*catalogEntry // in list order
	byName  map[string]*catalogEntry
	// listBody is the GET /api/2.0/serving-endpoints body, rendered once per
	// change so that list requests only copy bytes.
	listBody []byte
}

// catalogEntry is one endpoint with its current status and its rendered
// list item and detail body.
type catalogEntry struct {
	ep      *endpoint
	status  endpointStatus
	summary []byte
	detail  []byte
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
	c := &catalog{cfg: cfg}
	c.publishLocked(entries)
	return c, nil
}

func newCatalogEntry(ep *endpoint, status endpointStatus) (*catalogEntry, error) {
	summary, detail, err := renderEndpoint(ep, status)
	if err != nil {
		return nil, err
	}
	return &catalogEntry{ep: ep, status: status, summary: summary, detail: detail}, nil
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
	}
	c.current.Store(snap)
}

func (c *catalog) snapshot() *catalogSnapshot {
	return c.current.Load()
}

func (c *catalog) entry(name string) (*catalogEntry, bool) {
	entry, ok := c.snapshot().byName[name]
	return entry, ok
}

func (c *catalog) lookup(name string) (*endpoint, bool) {
	entry, ok := c.entry(name)
	if !ok {
		return nil, false
	}
	return entry.ep, true
}

func (c *catalog) names() []string {
	entries := c.snapshot().entries
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
	entry, err := newCatalogEntry(old.ep, status)
	if err != nil {
		return nil, err
	}
	entries := slices.Clone(snap.entries)
	entries[slices.Index(entries, old)] = entry
	c.publishLocked(entries)
	return entry, nil
}
