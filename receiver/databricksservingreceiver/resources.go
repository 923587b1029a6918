// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

package databricksservingreceiver // import "github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver"

import (
	"hash/fnv"
	"sort"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/exposition"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/metadata"
	"github.com/otelcol-databricks/otelcol-databricks/receiver/databricksservingreceiver/internal/workspace"
)

// endpointTagAttributePrefix names one attribute per endpoint tag (see the databricks.serving.endpoint.tags
// resource attribute in metadata.yaml).
const endpointTagAttributePrefix = "databricks.serving.endpoint.tag."

// resourceTemplate is the resource of one endpoint or of one of its served entities.
type resourceTemplate struct {
	// key is a 64-bit hash of the attributes' fingerprint (resourceKeyLength bytes). It is part of the key of
	// every output stream of the resource, so a change of metadata (a new version, a new tag) starts new streams
	// with their own start instead of continuing old totals under new labels, which Datadog would count again
	// from zero. Which windows were counted is remembered apart from it (see the accumulator package), so a new
	// stream never counts a window the old one counted. A hash, not the fingerprint itself: every stream key
	// carries it, and the fingerprint of a served entity runs to hundreds of bytes.
	key      string
	resource pcommon.Resource
	// entity is the served entity's name ("" for the endpoint's own resource).
	entity string
}

// resourceKeyLength is the length of resourceTemplate.key.
const resourceKeyLength = 8

// endpointResources are the resources an endpoint's metrics are grouped into: one per served entity, and the
// endpoint's own for samples that name no served entity (and for scrape health and endpoint state).
type endpointResources struct {
	endpoint *resourceTemplate
	// entities are the described served entities by name: those of the endpoint's configuration, then those
	// of a configuration update in progress.
	entities map[string]*resourceTemplate
	// provisional are served entities that the metrics name but no description does yet, by name (see
	// attribution.go). They carry the endpoint's attributes and the entity's name.
	provisional map[string]*resourceTemplate
	cfg         metadata.ResourceAttributesConfig
	workspace   workspaceIdentity
	// tagKeys are the attribute names of the endpoint's tags (nil with tags disabled), built once and shared by
	// every resource of the endpoint, rather than once per served entity.
	tagKeys []string
}

func newEndpointResources(cfg metadata.ResourceAttributesConfig, ws workspaceIdentity, ep workspace.Endpoint) endpointResources {
	rb := metadata.NewResourceBuilder(cfg)
	setEndpointAttributes(rb, ws, ep)
	keys := tagAttributeKeys(cfg, ep)
	out := endpointResources{
		endpoint: newTemplateWithKeys(rb.Emit(), ep, keys), entities: map[string]*resourceTemplate{},
		provisional: map[string]*resourceTemplate{}, cfg: cfg, workspace: ws, tagKeys: keys,
	}
	for _, config := range []workspace.EndpointConfig{ep.Config, ep.PendingConfig} {
		for _, entity := range config.ServedEntities {
			if _, known := out.entities[entity.Name]; entity.Name == "" || known {
				continue
			}
			setEndpointAttributes(rb, ws, ep)
			setEntityAttributes(rb, entity)
			out.entities[entity.Name] = newTemplateWithKeys(rb.Emit(), ep, keys)
			out.entities[entity.Name].entity = entity.Name
		}
	}
	return out
}

// workspaceIdentity is what the resources of a workspace say about it: its host always, and in account mode what
// the account's listing says (id, name, cloud, region). An empty field is left out of the resource.
type workspaceIdentity struct {
	host, id, name, cloud, region string
}

// setAttributes sets the workspace's attributes on rb.
func (w workspaceIdentity) setAttributes(rb *metadata.ResourceBuilder) {
	rb.SetDatabricksWorkspaceHost(w.host)
	if w.id != "" {
		rb.SetDatabricksWorkspaceID(w.id)
	}
	if w.name != "" {
		rb.SetDatabricksWorkspaceName(w.name)
	}
	if w.cloud != "" {
		rb.SetCloudProvider(w.cloud)
	}
	if w.region != "" {
		rb.SetCloudRegion(w.region)
	}
}

func setEndpointAttributes(rb *metadata.ResourceBuilder, ws workspaceIdentity, ep workspace.Endpoint) {
	ws.setAttributes(rb)
	rb.SetDatabricksServingEndpointName(ep.Name)
	if ep.ID != "" {
		rb.SetDatabricksServingEndpointID(ep.ID)
	}
	if ep.Task != "" {
		rb.SetDatabricksServingEndpointTask(ep.Task)
	}
	if ep.EndpointType != "" {
		rb.SetDatabricksServingEndpointType(ep.EndpointType)
	}
}

func setEntityAttributes(rb *metadata.ResourceBuilder, entity workspace.ServedEntity) {
	rb.SetDatabricksServingServedEntityName(entity.Name)
	if entity.EntityName != "" {
		rb.SetDatabricksServingServedEntityEntityName(entity.EntityName)
	}
	if entity.EntityVersion != "" {
		rb.SetDatabricksServingServedEntityEntityVersion(entity.EntityVersion)
	}
	if entity.WorkloadType != "" {
		rb.SetDatabricksServingServedEntityWorkloadType(entity.WorkloadType)
	}
	if entity.WorkloadSize != "" {
		rb.SetDatabricksServingServedEntityWorkloadSize(entity.WorkloadSize)
	}
	if entity.ScaleToZeroEnabled != nil {
		rb.SetDatabricksServingServedEntityScaleToZeroEnabled(*entity.ScaleToZeroEnabled)
	}
}

func newTemplate(res pcommon.Resource, cfg metadata.ResourceAttributesConfig, ep workspace.Endpoint) *resourceTemplate {
	return newTemplateWithKeys(res, ep, tagAttributeKeys(cfg, ep))
}

// tagAttributeKeys returns the attribute names of ep's tags when tags are enabled, nil otherwise.
func tagAttributeKeys(cfg metadata.ResourceAttributesConfig, ep workspace.Endpoint) []string {
	if !cfg.DatabricksServingEndpointTags.Enabled {
		return nil
	}
	keys := make([]string, len(ep.Tags))
	for i, tag := range ep.Tags {
		keys[i] = endpointTagAttributePrefix + tag.Key
	}
	return keys
}

// newTemplateWithKeys is newTemplate with the tags' attribute names (tagAttributeKeys) built already.
func newTemplateWithKeys(res pcommon.Resource, ep workspace.Endpoint, tagKeys []string) *resourceTemplate {
	for i, key := range tagKeys[:min(len(tagKeys), len(ep.Tags))] {
		res.Attributes().PutStr(key, ep.Tags[i].Value)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(fingerprint(res.Attributes())))
	return &resourceTemplate{key: string(h.Sum(nil)), resource: res}
}

// fingerprint renders attributes in key order.
func fingerprint(attrs pcommon.Map) string {
	keys := make([]string, 0, attrs.Len())
	for k := range attrs.All() {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		v, _ := attrs.Get(k)
		b.WriteString(k)
		b.WriteByte('\xfe')
		b.WriteString(v.AsString())
		b.WriteByte('\xff')
	}
	return b.String()
}

// keepTemplatesOf makes r use old's template wherever the resource is unchanged, so that a description refresh
// that changes nothing leaves every stream and output group as it was.
func (r *endpointResources) keepTemplatesOf(old endpointResources) {
	if old.endpoint != nil && old.endpoint.key == r.endpoint.key {
		r.endpoint = old.endpoint
	}
	for name, tmpl := range r.entities {
		if prev, ok := old.entities[name]; ok && prev.key == tmpl.key {
			r.entities[name] = prev
		}
	}
	for name, tmpl := range old.provisional {
		if _, described := r.entities[name]; !described {
			r.provisional[name] = tmpl
		}
	}
}

// has reports whether tmpl is one of the endpoint's current resources.
func (r endpointResources) has(tmpl *resourceTemplate) bool {
	if tmpl == r.endpoint {
		return true
	}
	return r.entities[tmpl.entity] == tmpl || r.provisional[tmpl.entity] == tmpl
}

// provisionalFor returns the provisional resource of a served entity that the metrics name and the
// description ep lacks, creating it on first use.
func (r endpointResources) provisionalFor(name string, ep workspace.Endpoint) *resourceTemplate {
	if tmpl, ok := r.provisional[name]; ok {
		return tmpl
	}
	rb := metadata.NewResourceBuilder(r.cfg)
	setEndpointAttributes(rb, r.workspace, ep)
	rb.SetDatabricksServingServedEntityName(name)
	tmpl := newTemplateWithKeys(rb.Emit(), ep, r.tagKeys)
	tmpl.entity = name
	r.provisional[name] = tmpl
	return tmpl
}

// forSample returns the resource a sample belongs to: the served entity whose name one of its labels carries
// (Databricks' label key is not documented, so the receiver matches values, not keys), else a provisional
// served entity (see attribution.go), else the endpoint. matchedKey is the label key that named a described
// entity ("" if none).
func (r endpointResources) forSample(labels []exposition.Label, entityLabel string) (tmpl *resourceTemplate, matchedKey string) {
	if len(r.entities) > 0 {
		for _, l := range labels {
			if tmpl, ok := r.entities[l.Value]; ok {
				return tmpl, l.Name
			}
		}
	}
	if len(r.provisional) > 0 {
		for _, l := range labels {
			if tmpl, ok := r.provisional[l.Value]; ok && isEntityLabel(l.Name, entityLabel) {
				return tmpl, ""
			}
		}
	}
	return r.endpoint, ""
}
