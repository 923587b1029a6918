// Copyright The otelcol-databricks Authors
// SPDX-License-Identifier: Apache-2.0

// Package kubernetes tests the plain manifests in this folder: every document decodes strictly into its
// k8s.io/api type (a misspelled or unknown field fails), and the settings that matter are what they should be.
package kubernetes

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

const (
	namespace   = "otelcol-databricks"
	image       = "ghcr.io/otelcol-databricks/otelcol-databricks:0.1.0"
	healthPort  = 13133
	runAsUser   = int64(10001)
	configDir   = "/etc/otelcol-databricks/"
	shardEnvVar = "SHARD_INDEX"
	podIndexRef = "metadata.labels['apps.kubernetes.io/pod-index']"
)

// manifests holds every object of every *.yaml file in this folder, by kind.
type manifests struct {
	namespaces   []*corev1.Namespace
	secrets      []*corev1.Secret
	configMaps   []*corev1.ConfigMap
	services     []*corev1.Service
	deployments  []*appsv1.Deployment
	statefulSets []*appsv1.StatefulSet
	policies     []*networkingv1.NetworkPolicy
}

// newObject returns an empty object of the k8s.io/api type for apiVersion and kind.
func newObject(apiVersion, kind string) (any, error) {
	switch apiVersion + "/" + kind {
	case "v1/Namespace":
		return &corev1.Namespace{}, nil
	case "v1/Secret":
		return &corev1.Secret{}, nil
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}, nil
	case "v1/Service":
		return &corev1.Service{}, nil
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}, nil
	case "apps/v1/StatefulSet":
		return &appsv1.StatefulSet{}, nil
	case "networking.k8s.io/v1/NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, nil
	}
	return nil, fmt.Errorf("unexpected apiVersion %q kind %q", apiVersion, kind)
}

// decodeStrict decodes one YAML document into its k8s.io/api type, rejecting unknown and duplicate fields.
func decodeStrict(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	obj, err := newObject(tm.APIVersion, tm.Kind)
	if err != nil {
		return nil, err
	}
	// YAMLToJSONStrict rejects duplicate keys. sigs.k8s.io/json (the decoder of the API server) then rejects
	// unknown fields and, unlike encoding/json (and so yaml.UnmarshalStrict), fields whose case differs:
	// `stringdata` is not `stringData`.
	j, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	strict, err := kjson.UnmarshalStrict(j, obj, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tm.Kind, err)
	}
	if len(strict) > 0 {
		return nil, fmt.Errorf("%s: %w", tm.Kind, errors.Join(strict...))
	}
	return obj, nil
}

var separatorRE = regexp.MustCompile(`(?m)^---[ \t]*$`)

// splitDocuments splits a multi-document YAML file, dropping documents that hold only comments.
func splitDocuments(data []byte) [][]byte {
	var docs [][]byte
	for _, doc := range separatorRE.Split(string(data), -1) {
		empty := true
		for _, line := range strings.Split(doc, "\n") {
			if t := strings.TrimSpace(line); t != "" && !strings.HasPrefix(t, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

func loadManifests(t *testing.T) *manifests {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no *.yaml manifests")
	}
	m := &manifests{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs := splitDocuments(data)
		if len(docs) == 0 {
			t.Errorf("%s: no document", file)
		}
		for i, doc := range docs {
			obj, err := decodeStrict(doc)
			if err != nil {
				t.Errorf("%s, document %d: %v", file, i+1, err)
				continue
			}
			switch o := obj.(type) {
			case *corev1.Namespace:
				m.namespaces = append(m.namespaces, o)
			case *corev1.Secret:
				m.secrets = append(m.secrets, o)
			case *corev1.ConfigMap:
				m.configMaps = append(m.configMaps, o)
			case *corev1.Service:
				m.services = append(m.services, o)
			case *appsv1.Deployment:
				m.deployments = append(m.deployments, o)
			case *appsv1.StatefulSet:
				m.statefulSets = append(m.statefulSets, o)
			case *networkingv1.NetworkPolicy:
				m.policies = append(m.policies, o)
			}
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

func (m *manifests) configMap(t *testing.T, name string) *corev1.ConfigMap {
	t.Helper()
	for _, cm := range m.configMaps {
		if cm.Name == name {
			return cm
		}
	}
	t.Fatalf("no ConfigMap %q", name)
	return nil
}

func (m *manifests) secret(name string) *corev1.Secret {
	for _, s := range m.secrets {
		if s.Name == name {
			return s
		}
	}
	return nil
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	valid := `apiVersion: apps/v1
kind: Deployment
metadata:
  name: x
spec:
  replicas: 1
  selector:
    matchLabels: {app: x}
  template:
    metadata:
      labels: {app: x}
    spec:
      containers:
        - name: x
          image: x
          livenessProbe:
            httpGet: {path: /, port: 13133}
`
	if _, err := decodeStrict([]byte(valid)); err != nil {
		t.Fatalf("valid document rejected: %v", err)
	}
	for name, doc := range map[string]string{
		"misspelled container field": strings.Replace(valid, "livenessProbe:", "livenesProbe:", 1),
		"misspelled spec field":      strings.Replace(valid, "replicas: 1", "replica: 1", 1),
		"unknown metadata field":     strings.Replace(valid, "  name: x\n", "  name: x\n  nmespace: y\n", 1),
		"duplicate field":            strings.Replace(valid, "replicas: 1", "replicas: 1\n  replicas: 2", 1),
		"wrong type":                 strings.Replace(valid, "replicas: 1", "replicas: one", 1),
		"unknown kind":               strings.Replace(valid, "kind: Deployment", "kind: Deploymnet", 1),
		"wrong case of a field":      "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringdata:\n  K: v\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeStrict([]byte(doc)); err == nil {
				t.Errorf("accepted:\n%s", doc)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}

func TestSplitDocuments(t *testing.T) {
	docs := splitDocuments([]byte("# header only\n---\na: 1\n---  \n# c\nb: |\n  --- not a separator\n---\n"))
	if len(docs) != 2 {
		t.Fatalf("%d documents, want 2: %q", len(docs), docs)
	}
}

func TestManifestsInventory(t *testing.T) {
	m := loadManifests(t)
	if len(m.namespaces) != 1 || m.namespaces[0].Name != namespace {
		t.Errorf("want one Namespace %q, got %d", namespace, len(m.namespaces))
	}
	// The single-workspace Deployment and the sharded StatefulSet, and the account-mode Deployment with its own
	// Secret (account.yaml).
	if len(m.deployments) != 2 || len(m.statefulSets) != 1 || len(m.secrets) != 2 {
		t.Errorf("want two Deployments, one StatefulSet and two Secrets; got %d, %d, %d",
			len(m.deployments), len(m.statefulSets), len(m.secrets))
	}
	var metas []metav1.ObjectMeta
	for _, o := range m.secrets {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.configMaps {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.services {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.deployments {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.statefulSets {
		metas = append(metas, o.ObjectMeta)
	}
	for _, o := range m.policies {
		metas = append(metas, o.ObjectMeta)
	}
	for _, meta := range metas {
		if meta.Namespace != namespace {
			t.Errorf("%s: namespace %q, want %q", meta.Name, meta.Namespace, namespace)
		}
	}
}

func TestSecretTemplate(t *testing.T) {
	m := loadManifests(t)
	s := m.secret("otelcol-databricks")
	if s == nil {
		t.Fatal("no Secret otelcol-databricks")
	}
	if len(s.Data) != 0 {
		t.Errorf("the template should use stringData only, got data keys %v", keys(s.Data))
	}
	for _, k := range []string{"DATABRICKS_TOKEN", "DD_API_KEY"} {
		if v, ok := s.StringData[k]; !ok || !strings.Contains(v, "REPLACE_ME") {
			t.Errorf("stringData %s = %q, want a REPLACE_ME placeholder", k, v)
		}
	}
}

// The ConfigMap holds cmd/otelcol-databricks/config.yaml and datadog.yaml verbatim.
func TestConfigMapMatchesShippedConfig(t *testing.T) {
	m := loadManifests(t)
	cm := m.configMap(t, "otelcol-databricks")
	for _, key := range []string{"config.yaml", "datadog.yaml"} {
		text, ok := cm.Data[key]
		if !ok {
			t.Errorf("ConfigMap has no key %q", key)
			continue
		}
		var parsed map[string]any
		if err := yaml.Unmarshal([]byte(text), &parsed); err != nil || len(parsed) == 0 {
			t.Errorf("%s is not a YAML mapping: %v", key, err)
		}
		shipped, err := os.ReadFile(filepath.Join("..", "..", "cmd", "otelcol-databricks", key))
		if err != nil {
			t.Fatal(err)
		}
		if text != string(shipped) {
			t.Errorf("ConfigMap key %s differs from cmd/otelcol-databricks/%s; copy it again", key, key)
		}
	}
}

// workload is what the checks need of a Deployment or a StatefulSet.
type workload struct {
	name     string
	replicas int32
	selector *metav1.LabelSelector
	template corev1.PodTemplateSpec
	claims   []corev1.PersistentVolumeClaim // a StatefulSet's volumeClaimTemplates
}

func (m *manifests) workloads() []workload {
	var ws []workload
	for _, d := range m.deployments {
		ws = append(ws, workload{"Deployment " + d.Name, deref(d.Spec.Replicas), d.Spec.Selector, d.Spec.Template, nil})
	}
	for _, s := range m.statefulSets {
		ws = append(ws, workload{"StatefulSet " + s.Name, deref(s.Spec.Replicas), s.Spec.Selector, s.Spec.Template, s.Spec.VolumeClaimTemplates})
	}
	return ws
}

// stateDir is where the shipped config's file_storage/state keeps the receiver's state when STATE_DIR is unset.
const stateDir = "/var/lib/otelcol-databricks"

// checkStateVolume checks that the receiver's state directory is a writable volume of its own: an emptyDir for the
// Deployment (it survives container restarts), a volume claim for the StatefulSet (it survives rescheduling).
func checkStateVolume(t *testing.T, w workload, c corev1.Container, configs map[string]string) {
	t.Helper()
	if !strings.Contains(configs["config.yaml"], "${env:STATE_DIR:-"+stateDir+"}") {
		t.Fatalf("config.yaml does not keep the state in %s by default", stateDir)
	}
	if envValue(c.Env, "STATE_DIR") != "" {
		t.Fatalf("STATE_DIR is set; the manifests mount the default %s", stateDir)
	}
	var mount *corev1.VolumeMount
	for i, vm := range c.VolumeMounts {
		if vm.MountPath == stateDir {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil || mount.ReadOnly {
		t.Fatalf("no writable volume mounted at %s: %+v", stateDir, c.VolumeMounts)
	}
	if psc := w.template.Spec.SecurityContext; psc == nil || deref(psc.FSGroup) != runAsUser {
		t.Errorf("pod securityContext.fsGroup must be %d so the collector can write its state volume", runAsUser)
	}
	for _, v := range w.template.Spec.Volumes {
		if v.Name == mount.Name {
			if v.EmptyDir == nil || w.claims != nil {
				t.Errorf("volume %q: want an emptyDir in a Deployment, got %+v", v.Name, v.VolumeSource)
			}
			return
		}
	}
	for _, claim := range w.claims {
		if claim.Name == mount.Name {
			if _, ok := claim.Spec.Resources.Requests[corev1.ResourceStorage]; !ok || !slices.Contains(claim.Spec.AccessModes, corev1.ReadWriteOnce) {
				t.Errorf("volume claim %q: want ReadWriteOnce with a storage request, got %+v", claim.Name, claim.Spec)
			}
			return
		}
	}
	t.Errorf("the volume %q mounted at %s is neither a pod volume nor a volume claim template", mount.Name, stateDir)
}

func TestWorkloads(t *testing.T) {
	m := loadManifests(t)
	for _, w := range m.workloads() {
		t.Run(w.name, func(t *testing.T) {
			if w.selector == nil || !labelsMatch(w.selector.MatchLabels, w.template.Labels) {
				t.Errorf("selector %v does not match the pod labels %v", w.selector, w.template.Labels)
			}
			pod := w.template.Spec
			if psc := pod.SecurityContext; psc == nil || deref(psc.RunAsUser) != runAsUser || !deref(psc.RunAsNonRoot) {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser %d", psc, runAsUser)
			}
			if len(pod.Containers) != 1 {
				t.Fatalf("%d containers, want 1", len(pod.Containers))
			}
			c := pod.Containers[0]
			if c.Image != image {
				t.Errorf("image %q, want %q", c.Image, image)
			}
			checkProbe(t, "livenessProbe", c.LivenessProbe)
			checkProbe(t, "readinessProbe", c.ReadinessProbe)
			checkContainerSecurity(t, c.SecurityContext)
			checkResources(t, c.Resources)
			if v := envValue(c.Env, "HEALTH_CHECK_ENDPOINT"); v != fmt.Sprintf("0.0.0.0:%d", healthPort) {
				t.Errorf("HEALTH_CHECK_ENDPOINT = %q, want 0.0.0.0:%d", v, healthPort)
			}
			for _, ef := range c.EnvFrom {
				if ef.SecretRef != nil && m.secret(ef.SecretRef.Name) == nil {
					t.Errorf("envFrom Secret %q is not in the manifests", ef.SecretRef.Name)
				}
			}
			configs := configFiles(t, m, pod, c)
			if len(configs) < 2 {
				t.Errorf("want at least config.yaml and datadog.yaml, got %v", keys(configs))
			}
			checkEnvProvided(t, m, c, configs)
			checkStateVolume(t, w, c, configs)
		})
	}
}

func checkProbe(t *testing.T, name string, p *corev1.Probe) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Errorf("%s: want an httpGet probe, got %+v", name, p)
		return
	}
	if p.HTTPGet.Port.IntValue() != healthPort || p.HTTPGet.Path != "/" {
		t.Errorf("%s: httpGet %s on port %s, want / on %d", name, p.HTTPGet.Path, p.HTTPGet.Port.String(), healthPort)
	}
}

func checkContainerSecurity(t *testing.T, sc *corev1.SecurityContext) {
	t.Helper()
	if sc == nil {
		t.Error("container has no securityContext")
		return
	}
	if deref(sc.RunAsUser) != runAsUser || !deref(sc.RunAsNonRoot) {
		t.Errorf("container runAsUser %d runAsNonRoot %v, want %d and true", deref(sc.RunAsUser), deref(sc.RunAsNonRoot), runAsUser)
	}
	if !deref(sc.ReadOnlyRootFilesystem) {
		t.Error("readOnlyRootFilesystem is not true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation is not false")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
	}
}

func checkResources(t *testing.T, r corev1.ResourceRequirements) {
	t.Helper()
	for _, want := range []struct {
		list  corev1.ResourceList
		where string
		name  corev1.ResourceName
		value string
	}{
		{r.Requests, "requests", corev1.ResourceCPU, "100m"},
		{r.Requests, "requests", corev1.ResourceMemory, "256Mi"}, // measured: 141 MiB steady for 1000 endpoints
		{r.Limits, "limits", corev1.ResourceMemory, "512Mi"},
	} {
		got, ok := want.list[want.name]
		if !ok || got.Cmp(resource.MustParse(want.value)) != 0 {
			t.Errorf("resources.%s.%s = %s, want %s", want.where, want.name, got.String(), want.value)
		}
	}
}

// configFiles resolves each --config=<file> argument through the container's volume mounts to the key of a
// ConfigMap in the manifests, and returns the configurations by file name.
func configFiles(t *testing.T, m *manifests, pod corev1.PodSpec, c corev1.Container) map[string]string {
	t.Helper()
	mountedVolume := ""
	for _, vm := range c.VolumeMounts {
		if strings.TrimSuffix(vm.MountPath, "/")+"/" == configDir {
			mountedVolume = vm.Name
		}
	}
	if mountedVolume == "" {
		t.Fatalf("nothing mounted at %s", configDir)
	}
	// path in the volume -> ConfigMap name and key
	type source struct{ configMap, key string }
	files := map[string]source{}
	addItems := func(cm *corev1.ConfigMapVolumeSource) {
		if len(cm.Items) == 0 {
			for k := range m.configMap(t, cm.Name).Data {
				files[k] = source{cm.Name, k}
			}
		}
		for _, it := range cm.Items {
			files[it.Path] = source{cm.Name, it.Key}
		}
	}
	for _, v := range pod.Volumes {
		if v.Name != mountedVolume {
			continue
		}
		switch {
		case v.ConfigMap != nil:
			addItems(v.ConfigMap)
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					addItems(&corev1.ConfigMapVolumeSource{LocalObjectReference: s.ConfigMap.LocalObjectReference, Items: s.ConfigMap.Items})
				}
			}
		default:
			t.Fatalf("volume %q is neither a ConfigMap nor a projected volume", v.Name)
		}
	}
	configs := map[string]string{}
	for _, arg := range c.Args {
		path, ok := strings.CutPrefix(arg, "--config=")
		if !ok {
			continue
		}
		name, ok := strings.CutPrefix(path, configDir)
		if !ok {
			t.Errorf("--config %s is not under %s", path, configDir)
			continue
		}
		src, ok := files[name]
		if !ok {
			t.Errorf("--config %s: no such file in the mounted volume", path)
			continue
		}
		text, ok := m.configMap(t, src.configMap).Data[src.key]
		if !ok {
			t.Errorf("--config %s: ConfigMap %s has no key %s", path, src.configMap, src.key)
			continue
		}
		var parsed map[string]any
		if err := yaml.Unmarshal([]byte(text), &parsed); err != nil || len(parsed) == 0 {
			t.Errorf("--config %s is not a YAML mapping: %v", path, err)
			continue
		}
		configs[name] = text
	}
	return configs
}

var envRefRE = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}`)

// envRefs returns the ${env:NAME} references in the string values of a collector configuration, and whether
// each has a :-default.
func envRefs(t *testing.T, config string) map[string]bool {
	t.Helper()
	var doc any
	if err := yaml.Unmarshal([]byte(config), &doc); err != nil {
		t.Fatal(err)
	}
	refs := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		case string:
			for _, m := range envRefRE.FindAllStringSubmatch(v, -1) {
				refs[m[1]] = refs[m[1]] || m[2] != ""
			}
		}
	}
	walk(doc)
	return refs
}

// checkEnvProvided checks that every ${env:NAME} without a default is set by the container's env or by a
// Secret or ConfigMap it reads with envFrom.
func checkEnvProvided(t *testing.T, m *manifests, c corev1.Container, configs map[string]string) {
	t.Helper()
	provided := map[string]string{}
	for _, e := range c.Env {
		provided[e.Name] = "env"
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.SecretRef != nil:
			if s := m.secret(ef.SecretRef.Name); s != nil {
				for k := range s.StringData {
					provided[ef.Prefix+k] = "Secret " + s.Name
				}
				for k := range s.Data {
					provided[ef.Prefix+k] = "Secret " + s.Name
				}
			}
		case ef.ConfigMapRef != nil:
			for k := range m.configMap(t, ef.ConfigMapRef.Name).Data {
				provided[ef.Prefix+k] = "ConfigMap " + ef.ConfigMapRef.Name
			}
		}
	}
	var checked []string
	for file, text := range configs {
		for name, hasDefault := range envRefs(t, text) {
			checked = append(checked, name)
			if _, ok := provided[name]; !ok && !hasDefault {
				t.Errorf("%s reads ${env:%s}, which the container does not set and which has no default", file, name)
			}
		}
	}
	for _, want := range []string{"DATABRICKS_HOST", "DATABRICKS_TOKEN", "DD_API_KEY"} {
		if !slices.Contains(checked, want) {
			t.Errorf("the configs do not read %s; checked %v", want, checked)
		}
	}
}

// The account-mode example (account.yaml): a Deployment of one collector whose third --config switches the
// shipped receiver from one workspace to an account, under one service principal whose settings come from a
// Secret template of their own.
func TestAccountModeExample(t *testing.T) {
	m := loadManifests(t)
	var d *appsv1.Deployment
	for _, dep := range m.deployments {
		if dep.Name == "otelcol-databricks-account" {
			d = dep
		}
	}
	if d == nil {
		t.Fatal("no Deployment otelcol-databricks-account")
	}
	if deref(d.Spec.Replicas) != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("replicas %d, strategy %q: want exactly one collector for the account, also during a rollout", deref(d.Spec.Replicas), d.Spec.Strategy.Type)
	}
	c := d.Spec.Template.Spec.Containers[0]
	configs := configFiles(t, m, d.Spec.Template.Spec, c)
	overlay, ok := configs["account.yaml"]
	if !ok {
		t.Fatalf("the account Deployment does not read account.yaml; it reads %v", keys(configs))
	}
	var doc struct {
		Receivers map[string]map[string]any `json:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(overlay), &doc); err != nil {
		t.Fatal(err)
	}
	receiver := doc.Receivers["databricksserving"]
	if receiver == nil {
		t.Fatal("account.yaml does not configure the shipped receiver databricksserving")
	}
	// One of endpoint, account and workspaces; no personal access token; the shipped storage kept (each workspace
	// saves its state apart), and so the state volume that TestWorkloads checks.
	if receiver["endpoint"] != "" || receiver["token"] != "" {
		t.Errorf("endpoint %q and token %q: account.yaml must unset both", receiver["endpoint"], receiver["token"])
	}
	if _, set := receiver["storage"]; set {
		t.Errorf("storage %v: account.yaml must keep the shipped storage", receiver["storage"])
	}
	account, _ := receiver["account"].(map[string]any)
	oauth, _ := receiver["oauth"].(map[string]any)
	if account["cloud"] == nil || account["account_id"] == nil || oauth["client_id"] == nil || oauth["client_secret"] == nil {
		t.Errorf("account %v, oauth %v: want a cloud, an account id and the principal's OAuth credentials", account, oauth)
	}
	secret := m.secret("otelcol-databricks-account")
	if secret == nil {
		t.Fatal("no Secret otelcol-databricks-account")
	}
	for _, k := range []string{"DATABRICKS_ACCOUNT_ID", "DATABRICKS_CLIENT_ID", "DATABRICKS_CLIENT_SECRET"} {
		if v, ok := secret.StringData[k]; !ok || !strings.Contains(v, "REPLACE_ME") {
			t.Errorf("stringData %s = %q, want a REPLACE_ME placeholder", k, v)
		}
	}
}

func TestStatefulSetSharding(t *testing.T) {
	m := loadManifests(t)
	sts := m.statefulSets[0]
	c := sts.Spec.Template.Spec.Containers[0]

	var shardEnv *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == shardEnvVar {
			shardEnv = &c.Env[i]
		}
	}
	if shardEnv == nil || shardEnv.ValueFrom == nil || shardEnv.ValueFrom.FieldRef == nil ||
		shardEnv.ValueFrom.FieldRef.FieldPath != podIndexRef {
		t.Errorf("%s must come from fieldRef %s, got %+v", shardEnvVar, podIndexRef, shardEnv)
	}

	configs := configFiles(t, m, sts.Spec.Template.Spec, c)
	overlay, ok := configs["shard.yaml"]
	if !ok {
		t.Fatalf("no shard.yaml among the --config files %v", keys(configs))
	}
	var shard struct {
		Receivers struct {
			Databricksserving struct {
				Shard struct {
					Count int    `json:"count"`
					Index string `json:"index"`
				} `json:"shard"`
			} `json:"databricksserving"`
		} `json:"receivers"`
	}
	if err := yaml.UnmarshalStrict([]byte(overlay), &shard); err != nil {
		t.Fatalf("shard.yaml: %v", err)
	}
	s := shard.Receivers.Databricksserving.Shard
	if s.Count != int(deref(sts.Spec.Replicas)) || s.Count < 2 {
		t.Errorf("shard.count %d, replicas %d: they must be equal (and above 1)", s.Count, deref(sts.Spec.Replicas))
	}
	if s.Index != "${env:"+shardEnvVar+"}" {
		t.Errorf("shard.index %q, want ${env:%s}", s.Index, shardEnvVar)
	}

	var governing *corev1.Service
	for _, svc := range m.services {
		if svc.Name == sts.Spec.ServiceName {
			governing = svc
		}
	}
	if governing == nil {
		t.Fatalf("no Service %q (the StatefulSet's serviceName)", sts.Spec.ServiceName)
	}
	if governing.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("Service %s: clusterIP %q, want None (headless)", governing.Name, governing.Spec.ClusterIP)
	}
	if !labelsMatch(governing.Spec.Selector, sts.Spec.Template.Labels) {
		t.Errorf("Service selector %v does not match the pod labels %v", governing.Spec.Selector, sts.Spec.Template.Labels)
	}
	// The Deployment and the StatefulSet must not select each other's pods.
	for _, d := range m.deployments {
		if labelsMatch(d.Spec.Selector.MatchLabels, sts.Spec.Template.Labels) ||
			labelsMatch(sts.Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
			t.Errorf("Deployment %s and StatefulSet %s select each other's pods", d.Name, sts.Name)
		}
	}
}

func labelsMatch(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func envValue(env []corev1.EnvVar, name string) string {
	for _, e := range env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func keys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// TestNetworkPolicyAdmitsOnlyTheProbes: the policy selects every collector pod of both workloads, restricts
// ingress, and admits one port, the one the probes use.
func TestNetworkPolicyAdmitsOnlyTheProbes(t *testing.T) {
	m := loadManifests(t)
	if len(m.policies) != 1 {
		t.Fatalf("want one NetworkPolicy, got %d", len(m.policies))
	}
	policy := m.policies[0]
	selector, err := metav1.LabelSelectorAsSelector(&policy.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() {
		t.Error("the NetworkPolicy selects every pod of the namespace; select the collectors")
	}
	var templates []corev1.PodTemplateSpec
	for _, d := range m.deployments {
		templates = append(templates, d.Spec.Template)
	}
	for _, s := range m.statefulSets {
		templates = append(templates, s.Spec.Template)
	}
	for _, tpl := range templates {
		if !selector.Matches(labels.Set(tpl.Labels)) {
			t.Errorf("the NetworkPolicy does not select the pods with labels %v", tpl.Labels)
		}
		for _, c := range tpl.Spec.Containers {
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.IntValue() != healthPort {
					t.Errorf("%s probes port %s, which the NetworkPolicy does not admit", c.Name, probe.HTTPGet.Port.String())
				}
			}
		}
	}
	if !slices.Contains(policy.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) {
		t.Error("the NetworkPolicy does not restrict ingress")
	}
	if len(policy.Spec.Ingress) != 1 {
		t.Fatalf("want one ingress rule, got %d", len(policy.Spec.Ingress))
	}
	rule := policy.Spec.Ingress[0]
	if len(rule.Ports) != 1 || rule.Ports[0].Port == nil || rule.Ports[0].Port.IntValue() != healthPort ||
		rule.Ports[0].Protocol == nil || *rule.Ports[0].Protocol != corev1.ProtocolTCP {
		t.Errorf("the ingress rule must admit TCP %d alone, got %+v", healthPort, rule.Ports)
	}
}
