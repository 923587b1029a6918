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
	// key is a 64-bit hash of the attributes' fingerprint. It prefixes the key of every series of the resource,
	// so a change of metadata (a new version, a new tag) starts new series with their own start instead of
	// continuing old totals under new labels, which Datadog would count again from zero. A hash, not the
	// fingerprint itself: every series key carries it, and the fingerprint of a served entity runs to hundreds
	// of bytes.
	key      string
	resource pcommon.Resource
}

// endpointResources are the resources an endpoint's metrics are grouped into: one per served entity, and the
// endpoint's own for samples that name no served entity (and for scrape health and endpoint state).
type endpointResources struct {
	endpoint *resourceTemplate
	entities map[string]*resourceTemplate // by served entity name
}

func newEndpointResources(cfg metadata.ResourceAttributesConfig, host string, ep workspace.Endpoint) endpointResources {
	rb := metadata.NewResourceBuilder(cfg)
	setEndpointAttributes(rb, host, ep)
	out := endpointResources{endpoint: newTemplate(rb.Emit(), cfg, ep), entities: map[string]*resourceTemplate{}}
	for _, entity := range ep.Config.ServedEntities {
		if entity.Name == "" {
			continue
		}
		setEndpointAttributes(rb, host, ep)
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
		out.entities[entity.Name] = newTemplate(rb.Emit(), cfg, ep)
	}
	return out
}

func setEndpointAttributes(rb *metadata.ResourceBuilder, host string, ep workspace.Endpoint) {
	rb.SetDatabricksWorkspaceHost(host)
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

func newTemplate(res pcommon.Resource, cfg metadata.ResourceAttributesConfig, ep workspace.Endpoint) *resourceTemplate {
	if cfg.DatabricksServingEndpointTags.Enabled {
		for _, tag := range ep.Tags {
			res.Attributes().PutStr(endpointTagAttributePrefix+tag.Key, tag.Value)
		}
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

// forSample returns the resource a sample belongs to: the served entity whose name one of its labels carries
// (Databricks' label key is not documented, so the receiver matches values, not keys), else the endpoint.
func (r endpointResources) forSample(labels []exposition.Label) *resourceTemplate {
	if len(r.entities) > 0 {
		for _, l := range labels {
			if tmpl, ok := r.entities[l.Value]; ok {
				return tmpl
			}
		}
	}
	return r.endpoint
}
