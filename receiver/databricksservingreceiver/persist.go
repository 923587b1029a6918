// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

// Persisted state: restart-safe totals.
//
// With `storage:` naming a storage extension (file_storage), the receiver saves what it needs to go on counting
// after a restart as if it had not stopped: per endpoint, for every cumulative series, the newest window counted,
// the running total, the start timestamp and the last timestamp written (stale markers included), and the newest
// window seen (for missed windows). It is saved at the end of every cycle, before the cycle's metrics go down
// the pipeline, and only for the endpoints whose state changed, in one storage transaction:
//
//   - a crash before the save loses nothing: the cycle's metrics were not delivered either, and the next
//     collector counts those windows (they are newer than what was saved);
//   - a crash after the save and before the metrics reach the exporters' queues: the next collector's first
//     point of each series is the saved total, which counted that cycle's windows, so Prometheus gets them (at
//     that point's timestamp) and Datadog, whose exporter takes that first point as its baseline, does not.
//     Nothing is counted twice.
//
// On start with state, nothing is a baseline: every series goes on under its start timestamp (Prometheus sees
// one continuous counter), the first point of each is its saved total (the Datadog exporter's delta baseline),
// and minutes that passed while no collector ran are counted as missed. State older than stateMaxAge, saved for
// another workspace or by another format version, or unreadable, is discarded with one log line: then the
// baseline rule of a first start applies. The state of one endpoint that does not decode is discarded alone.

import (
	"bytes"
	"compress/flate"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/xextension/storage"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.uber.org/zap"
)

const (
	// stateFormatVersion is the version of the saved form; state of another version is discarded.
	stateFormatVersion = 1
	// stateMaxAge is how old saved state may be: the receiver forgets what it has not seen for as long.
	stateMaxAge        = idleSeriesLifetime
	stateMetaKey       = "state"
	stateEndpointKey   = "endpoint/"
	endpointStateMagic = "dbs1"
	// maxEndpointStateBytes bounds one endpoint's state when it is read back (a realistic one is about a
	// kilobyte).
	maxEndpointStateBytes = 16 << 20
)

// stateMeta is the state's table of contents, saved with every cycle.
type stateMeta struct {
	Version       int      `json:"version"`
	WorkspaceHost string   `json:"workspace_host"`
	SavedAtMillis int64    `json:"saved_at_ms"`
	Endpoints     []string `json:"endpoints"`
	// Complete says that every endpoint whose minutes were counted is in the state: the receiver that saved it
	// discovered the workspace, or restored complete state. A receiver stopped before its first discovery saves
	// state that is not complete: the next one takes the first start's baseline for the endpoints it lacks.
	Complete bool `json:"complete"`
	// Selection identifies which endpoints the receiver that saved the state scraped (shard, filters, static
	// endpoints). When it differs at the next start, an endpoint the state lacks may have been counted by
	// another collector: it starts with a baseline.
	Selection string `json:"selection"`
	// WrittenUpToNanos is the latest timestamp any point of the receiver had when the state was saved (stale
	// markers and scrape health included): the next collector starts no series of the metrics the receiver
	// computes at or before it. (The series of Databricks' samples start after their own endpoint's mark, see
	// encodeEndpointState: an endpoint's entry is rewritten whenever that mark moves, while the receiver's clock
	// moves on every cycle, and it must not delay a minute's samples.)
	WrittenUpToNanos uint64 `json:"written_up_to_ns"`
}

// stateStore saves and loads the receiver's state through a storage client.
type stateStore struct {
	client storage.Client
	id     component.ID // the storage extension, for messages
	logger *zap.Logger
	host   string
	// saved lists the endpoints whose state the storage holds, with the time they had left the list when it
	// was saved (zero while listed).
	saved map[string]time.Time
	// failing is set while saving fails, so a lasting failure is reported once.
	failing bool
	// buf and deflater are reused from one endpoint to the next: saving runs on one goroutine.
	buf      []byte
	deflater *flate.Writer
	// selection is stateMeta.Selection of this receiver; restoredAt is when the restored state was saved, which
	// the state keeps until the receiver has discovered the workspace itself (a receiver that never got that far
	// must not make old state look new).
	selection  string
	restoredAt time.Time
}

// openStateStore gets the receiver's storage client from the extension named by `storage:`; name tells the
// clients of several workspaces of one receiver apart ("" for a receiver of one workspace).
func openStateStore(ctx context.Context, host component.Host, id component.ID, receiverID component.ID, name, workspaceHost, selection string, logger *zap.Logger) (*stateStore, error) {
	ext, ok := host.GetExtensions()[id]
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not configured: add it under extensions: and service::extensions", id)
	}
	storageExt, ok := ext.(storage.Extension)
	if !ok {
		return nil, fmt.Errorf("storage: extension %q is not a storage extension (use file_storage)", id)
	}
	client, err := storageExt.GetClient(ctx, component.KindReceiver, receiverID, name)
	switch {
	case err != nil && isLockTimeout(err):
		return nil, fmt.Errorf("storage: opening the receiver's state in %q: %w (is another collector using the same directory? two collectors must never share one state: give each its own directory or volume)", id, err)
	case err != nil:
		// A corrupt or unreadable state file must not stop the collector: it runs as without storage.
		logger.Error("Could not open the receiver's saved state; running without it (the first minute of every endpoint is a baseline, and a restart resets counters). If the state file is corrupt, remove it from the storage extension's directory",
			zap.Stringer("storage", id), zap.Error(err))
		return nil, nil
	}
	return newStateStore(client, id, workspaceHost, selection, logger), nil
}

// isLockTimeout reports whether opening storage failed because another process holds it: file_storage (bbolt)
// answers "timeout" when its file lock is not released within its timeout. (Another storage extension's timeout
// fails the start too, naming the likeliest cause: better than running without the state it was told to keep.)
func isLockTimeout(err error) bool {
	return strings.Contains(err.Error(), "timeout")
}

func newStateStore(client storage.Client, id component.ID, workspaceHost, selection string, logger *zap.Logger) *stateStore {
	deflater, _ := flate.NewWriter(io.Discard, flate.BestSpeed) // only an invalid level is an error
	return &stateStore{
		client: client, id: id, logger: logger, host: workspaceHost, selection: selection,
		saved: map[string]time.Time{}, deflater: deflater,
	}
}

// restoredState is what a load yields.
type restoredState struct {
	endpoints map[string]*endpointState
	removedAt map[string]time.Time // endpoints that had left the list when the state was saved
	// valid is true when the state was usable and complete: endpoints it does not hold were never counted, but
	// for those in discarded, whose own state could not be read.
	valid     bool
	discarded map[string]bool
}

// load reads saved state. Whatever is unusable is discarded with one log line (and deleted from storage).
func (st *stateStore) load(ctx context.Context, now time.Time) restoredState {
	out := restoredState{endpoints: map[string]*endpointState{}, removedAt: map[string]time.Time{}, discarded: map[string]bool{}}
	raw, err := st.client.Get(ctx, stateMetaKey)
	if err != nil || raw == nil {
		if err != nil {
			st.logger.Warn("Could not read the receiver's saved state; starting without it", zap.Stringer("storage", st.id), zap.Error(err))
		}
		return out
	}
	var meta stateMeta
	if reason := st.check(raw, &meta, now); reason != "" {
		st.logger.Warn("Discarding the receiver's saved state: "+reason+"; the first minute of every endpoint is a baseline",
			zap.Stringer("storage", st.id))
		st.discard(ctx, meta.Endpoints)
		return out
	}
	out.valid = meta.Complete && meta.Selection == st.selection
	if meta.Selection != st.selection {
		st.logger.Info("The endpoints this receiver scrapes changed since its state was saved (shard or filters); endpoints the state lacks start with a baseline",
			zap.Stringer("storage", st.id))
	}
	st.restoredAt = time.UnixMilli(meta.SavedAtMillis)
	clockMark := pcommon.Timestamp(meta.WrittenUpToNanos)
	for _, name := range meta.Endpoints {
		raw, err := st.client.Get(ctx, stateEndpointKey+name)
		ep, removedAt, decodeErr := decodeEndpointState(name, raw, now, clockMark)
		if err != nil || decodeErr != nil {
			st.logger.Warn("Discarding the saved state of a serving endpoint that could not be read; its first minute is a baseline",
				zap.String("endpoint", name), zap.Error(errors.Join(err, decodeErr)))
			out.discarded[name] = true
			continue
		}
		st.saved[name] = removedAt
		out.endpoints[name] = ep
		if !removedAt.IsZero() {
			out.removedAt[name] = removedAt
		}
	}
	st.logger.Info("Restored the receiver's saved state", zap.Int("endpoints", len(out.endpoints)),
		zap.Duration("age", now.Sub(time.UnixMilli(meta.SavedAtMillis)).Round(time.Second)))
	return out
}

// check returns why saved state cannot be used ("" when it can).
func (st *stateStore) check(raw []byte, meta *stateMeta, now time.Time) string {
	if err := json.Unmarshal(raw, meta); err != nil {
		return "it is unreadable (" + err.Error() + ")"
	}
	switch age := now.Sub(time.UnixMilli(meta.SavedAtMillis)); {
	case meta.WrittenUpToNanos > uint64(pcommon.NewTimestampFromTime(now.Add(time.Hour))):
		return "it was written in the future (is a clock wrong?)"
	case meta.Version != stateFormatVersion:
		return fmt.Sprintf("it was saved in format version %d, this receiver reads %d", meta.Version, stateFormatVersion)
	case meta.WorkspaceHost != st.host:
		return fmt.Sprintf("it belongs to the workspace %q, not %q", meta.WorkspaceHost, st.host)
	case age > stateMaxAge:
		return fmt.Sprintf("it is %s old, older than %s", age.Round(time.Second), stateMaxAge)
	}
	return ""
}

func (st *stateStore) discard(ctx context.Context, endpoints []string) {
	ops := []*storage.Operation{storage.DeleteOperation(stateMetaKey)}
	for _, name := range endpoints {
		ops = append(ops, storage.DeleteOperation(stateEndpointKey+name))
	}
	_ = st.client.Batch(ctx, ops...)
}

// save writes the state of the endpoints that changed since the last save, drops the state of endpoints
// forgotten since, and the table of contents, in one transaction. It reports an error once when saving starts
// to fail.
func (st *stateStore) save(ctx context.Context, endpoints map[string]*endpointState, removed map[string]removedEndpoint, discovered, complete bool, now time.Time) error {
	meta := stateMeta{
		Version: stateFormatVersion, WorkspaceHost: st.host, SavedAtMillis: now.UnixMilli(), Complete: complete, Selection: st.selection,
	}
	if !discovered && !st.restoredAt.IsZero() {
		meta.SavedAtMillis = st.restoredAt.UnixMilli()
	}
	var writtenUpTo pcommon.Timestamp
	var ops []*storage.Operation
	var written []*endpointState
	kept := make(map[string]time.Time, len(endpoints)+len(removed))
	add := func(name string, ep *endpointState, removedAt time.Time) {
		meta.Endpoints = append(meta.Endpoints, name)
		kept[name] = removedAt
		samples, all := ep.acc.WrittenUpTo()
		writtenUpTo = max(writtenUpTo, all)
		if savedAt, ok := st.saved[name]; ok && savedAt.Equal(removedAt) && !ep.stateChanged(samples) {
			return
		}
		ops = append(ops, storage.SetOperation(stateEndpointKey+name, st.encodeEndpointState(ep, removedAt)))
		written = append(written, ep)
	}
	for name, ep := range endpoints {
		add(name, ep, time.Time{})
	}
	for name, gone := range removed {
		removedAt := gone.at
		if gone.listed {
			removedAt = time.Time{}
		}
		add(name, gone.state, removedAt)
	}
	slices.Sort(meta.Endpoints)
	for name := range st.saved {
		if _, kept := slices.BinarySearch(meta.Endpoints, name); !kept {
			ops = append(ops, storage.DeleteOperation(stateEndpointKey+name))
		}
	}
	meta.WrittenUpToNanos = uint64(writtenUpTo)
	rawMeta, _ := json.Marshal(meta)
	ops = append(ops, storage.SetOperation(stateMetaKey, rawMeta))
	if err := st.client.Batch(ctx, ops...); err != nil {
		if st.failing {
			return nil
		}
		st.failing = true
		return fmt.Errorf("saving the receiver's state to %q: %w (a restart before the next successful save counts this cycle's windows again)", st.id, err)
	}
	if st.failing {
		st.logger.Info("Saving the receiver's state works again", zap.Stringer("storage", st.id))
	}
	st.failing = false
	st.saved = kept
	for _, ep := range written {
		ep.stateSaved()
	}
	return nil
}

func (st *stateStore) close(ctx context.Context) error { return st.client.Close(ctx) }

// stateChanged reports whether the endpoint's saved state is out of date: it counted something, saw a new minute,
// or wrote a sample (or stale marker) after its saved mark (samplesMark is the mark now). What the metrics the
// receiver computes last wrote is saved with the table of contents on every cycle, see stateMeta.WrittenUpToNanos.
func (ep *endpointState) stateChanged(samplesMark pcommon.Timestamp) bool {
	return ep.acc.Dirty() || ep.windows != ep.savedWindows || ep.baseline != ep.savedBaseline ||
		ep.untimedWindow != ep.savedUntimed || samplesMark != ep.savedMark
}

func (ep *endpointState) stateSaved() {
	ep.acc.ClearDirty()
	ep.savedWindows, ep.savedBaseline, ep.savedUntimed = ep.windows, ep.baseline, ep.untimedWindow
	ep.savedMark, _ = ep.acc.WrittenUpTo()
}

// encodeEndpointState is an endpoint's saved form: a magic, flags (bit 0: baseline still pending; bit 1: the mark
// that follows covers the series of samples alone), when it left the list (0 while listed), its window tracker,
// the latest timestamp it wrote to a series of Databricks' samples (stale markers included), the window and hash
// of its last body without timestamps, then its accumulator's state, deflated. (State saved before bit 1 existed
// has the latest timestamp of any series there, as of the entry's last write: the table of contents' mark is
// then the floor of every series, as it was.) The series keys
// repeat the same metric and label names, so deflate saves most of it (measured by TestSavedStateIsSmall).
func (st *stateStore) encodeEndpointState(ep *endpointState, removedAt time.Time) []byte {
	st.buf = ep.acc.AppendState(st.buf[:0])
	var out bytes.Buffer
	out.WriteString(endpointStateMagic)
	out.Write(appendStateHeader(nil, ep, removedAt))
	st.deflater.Reset(&out)
	_, _ = st.deflater.Write(st.buf)
	_ = st.deflater.Close()
	return out.Bytes()
}

func appendStateHeader(b []byte, ep *endpointState, removedAt time.Time) []byte {
	flags := byte(samplesMarkFlag)
	if ep.baseline {
		flags |= 1
	}
	b = append(b, flags)
	var removedMillis uint64
	if !removedAt.IsZero() {
		removedMillis = uint64(removedAt.UnixMilli())
	}
	b = binary.AppendUvarint(b, removedMillis)
	b = binary.AppendUvarint(b, uint64(ep.windows.newest))
	b = binary.AppendUvarint(b, uint64(ep.windows.length))
	samples, _ := ep.acc.WrittenUpTo()
	b = binary.AppendUvarint(b, uint64(samples))
	b = binary.AppendUvarint(b, uint64(ep.untimedWindow))
	return binary.LittleEndian.AppendUint64(b, ep.untimedBodyHash)
}

var errEndpointState = errors.New("not an endpoint's saved state")

// samplesMarkFlag is the flag of an endpoint's saved form whose mark covers the series of samples alone.
const samplesMarkFlag = 2

// decodeEndpointState reads an endpoint's saved form (see encodeEndpointState). clockMark is the table of
// contents' latest timestamp: no metric the receiver computes is written at or before it.
func decodeEndpointState(name string, b []byte, now time.Time, clockMark pcommon.Timestamp) (*endpointState, time.Time, error) {
	if len(b) < len(endpointStateMagic)+1 || string(b[:len(endpointStateMagic)]) != endpointStateMagic {
		return nil, time.Time{}, errEndpointState
	}
	flags := b[len(endpointStateMagic)]
	b = b[len(endpointStateMagic)+1:]
	var fields [5]uint64
	for i := range fields {
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, time.Time{}, errEndpointState
		}
		fields[i], b = v, b[n:]
	}
	if len(b) < 8 {
		return nil, time.Time{}, errEndpointState
	}
	untimedHash := binary.LittleEndian.Uint64(b)
	b = b[8:]
	latest := uint64(pcommon.NewTimestampFromTime(now.Add(time.Hour)))
	if fields[1] > latest || fields[3] > latest || fields[4] > latest {
		return nil, time.Time{}, fmt.Errorf("%w: a timestamp lies in the future", errEndpointState)
	}
	ep := newEndpointState(endpointDescription(name), endpointResources{}, flags&1 != 0)
	// Bounded: a corrupt or hostile value must not inflate without limit.
	inflated, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(b)), maxEndpointStateBytes+1))
	if err != nil || len(inflated) > maxEndpointStateBytes {
		return nil, time.Time{}, errors.Join(errEndpointState, err)
	}
	if err := ep.acc.LoadState(inflated, now); err != nil {
		return nil, time.Time{}, err
	}
	ep.windows = windowTracker{newest: pcommon.Timestamp(fields[1]), length: pcommon.Timestamp(fields[2])}
	ep.gaugeFloor = ep.windows.newest
	samplesMark := pcommon.Timestamp(fields[3])
	if flags&samplesMarkFlag == 0 {
		samplesMark = max(samplesMark, clockMark)
	}
	ep.acc.SetNotBefore(samplesMark, clockMark)
	ep.untimedWindow, ep.untimedBodyHash = pcommon.Timestamp(fields[4]), untimedHash
	ep.stateSaved()
	var removedAt time.Time
	if fields[0] != 0 {
		removedAt = time.UnixMilli(int64(fields[0]))
	}
	return ep, removedAt, nil
}
