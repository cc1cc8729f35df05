package chart

import (
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

const managerName = "taskroute-manager"

func TestHelmLint(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--strict"},
		{"--set", "metrics.serviceMonitor.enabled=true", "--set", "persistence.enabled=false"},
	} {
		out, stderr, err := helm(t, append([]string{"lint", chartDir}, args...)...)
		if err != nil {
			t.Errorf("helm lint %v: %v\n%s%s", args, err, out, stderr)
		}
	}
}

// TestDefaultValuesAreHardened checks what issue 4 asks of the chart's defaults.
func TestDefaultValuesAreHardened(t *testing.T) {
	objs := renderChart(t)
	dep := find[*appsv1.Deployment](t, objs, managerName)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]

	checkHardened(t, dep)

	if c.Image != "ghcr.io/taskroute/taskroute:"+chartAppVersion(t) {
		t.Errorf("image = %q, want the appVersion tag", c.Image)
	}
	wantArgs := []string{
		"--leader-elect",
		"--metrics-bind-address=:8080",
		"--metrics-secure=true",
		"--health-probe-bind-address=:8081",
		"--matching-bind-address=:7233",
		"--matching-address=taskroute-matching.taskroute-system.svc:7233",
		"--data-dir=/var/lib/taskroute",
		"--store-memtable-size=4Mi",
		"--matching-auth=enforce",
		"--matching-tls=self-signed",
		"--matching-service-name=taskroute-matching",
	}
	if !slices.Equal(c.Args, wantArgs) {
		t.Errorf("args = %q, want %q", c.Args, wantArgs)
	}
	for _, a := range c.Args {
		for _, bad := range []string{"insecure", "--dev", "plaintext", "disable-auth", "no-auth", "skip-auth"} {
			if strings.Contains(strings.ToLower(a), bad) {
				t.Errorf("default args must not enable a development or insecure mode: %q", a)
			}
		}
	}
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == "POD_NAMESPACE" && e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace"
	}) {
		t.Error("POD_NAMESPACE must come from the downward API (the CA Secret's namespace)")
	}
	// Self-signed TLS: the only Secret access is the CA Secret, in the release namespace.
	caRole := find[*rbacv1.Role](t, objs, "taskroute-matching-ca")
	for _, r := range caRole.Rules {
		if !slices.Equal(r.Resources, []string{"secrets"}) || (slices.ContainsFunc(r.Verbs, func(v string) bool { return v != "create" }) && !slices.Equal(r.ResourceNames, []string{"taskroute-ca"})) {
			t.Errorf("CA Role rule too wide: %+v", r)
		}
		if slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch") || slices.Contains(r.Verbs, "*") {
			t.Errorf("CA Role must not list or watch Secrets: %+v", r)
		}
	}
	if rb := find[*rbacv1.RoleBinding](t, objs, "taskroute-matching-ca"); rb.RoleRef.Name != caRole.Name || len(rb.Subjects) != 1 || rb.Subjects[0].Name != managerName {
		t.Errorf("CA RoleBinding = %+v", rb)
	}
	// Quota overrides: only ConfigMap taskroute-quotas, by name, in the release namespace.
	for _, r := range find[*rbacv1.Role](t, objs, "taskroute-quotas").Rules {
		if !slices.Equal(r.Resources, []string{"configmaps"}) || !slices.Equal(r.ResourceNames, []string{"taskroute-quotas"}) || !slices.Equal(r.Verbs, []string{"get", "list", "watch"}) {
			t.Errorf("quotas Role rule = %+v", r)
		}
	}
	for _, r := range find[*rbacv1.ClusterRole](t, objs, managerName).Rules {
		if slices.Contains(r.Resources, "configmaps") && (slices.Contains(r.Verbs, "list") || slices.Contains(r.Verbs, "watch")) {
			t.Errorf("the ClusterRole must not list or watch ConfigMaps: %+v", r)
		}
		if slices.Contains(r.Resources, "secrets") {
			t.Errorf("the ClusterRole must grant no Secrets: %+v", r)
		}
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Error("liveness probe must GET /healthz")
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("readiness probe must GET /readyz")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() {
		t.Error("resource requests must be set")
	}
	if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy = %q, want Recreate (ReadWriteOnce store)", dep.Spec.Strategy.Type)
	}
	if got := volumeSource(t, pod, "data"); got.PersistentVolumeClaim == nil || got.PersistentVolumeClaim.ClaimName != "taskroute-data" {
		t.Errorf("data volume = %+v, want the taskroute-data claim", got)
	}
	if !hasMount(c, "data", "/var/lib/taskroute") {
		t.Error("data volume must be mounted at /var/lib/taskroute")
	}
	if pod.ServiceAccountName != managerName {
		t.Errorf("serviceAccountName = %q", pod.ServiceAccountName)
	}

	find[*corev1.ServiceAccount](t, objs, managerName)
	find[*corev1.PersistentVolumeClaim](t, objs, "taskroute-data")
	metrics := find[*corev1.Service](t, objs, "taskroute-metrics")
	if p := metrics.Spec.Ports; len(p) != 1 || p[0].Port != 8080 || p[0].Name != "https-metrics" {
		t.Errorf("metrics service ports = %+v, want https-metrics on 8080", p)
	}
	// Secure metrics: readers need this ClusterRole; it grants nothing but get /metrics.
	reader := find[*rbacv1.ClusterRole](t, objs, "taskroute-metrics-reader")
	if len(reader.Rules) != 1 || !slices.Equal(reader.Rules[0].NonResourceURLs, []string{"/metrics"}) ||
		!slices.Equal(reader.Rules[0].Verbs, []string{"get"}) || len(reader.Rules[0].Resources) != 0 {
		t.Errorf("metrics reader rules = %+v, want only get on /metrics", reader.Rules)
	}
	matching := find[*corev1.Service](t, objs, "taskroute-matching")
	if p := matching.Spec.Ports; len(p) != 1 || p[0].Port != 7233 || p[0].AppProtocol == nil || *p[0].AppProtocol != "grpc" {
		t.Errorf("matching service ports = %+v", p)
	}
	for _, svc := range []*corev1.Service{metrics, matching} {
		if !selects(svc.Spec.Selector, dep.Spec.Template.Labels) {
			t.Errorf("service %s selector %v does not select the manager pods %v", svc.Name, svc.Spec.Selector, dep.Spec.Template.Labels)
		}
	}
	if len(all[*unstructured.Unstructured](objs)) != 0 {
		t.Error("no ServiceMonitor (or other non-core kind) by default")
	}
}

// TestClusterRoleIsGenerated: the chart's ClusterRole has exactly the rules controller-gen
// wrote into config/rbac/role.yaml, and its bindings point at it.
func TestClusterRoleIsGenerated(t *testing.T) {
	objs := renderChart(t)
	generated := find[*rbacv1.ClusterRole](t, decodeFile(t, filepath.Join(repoRoot, "config", "rbac", "role.yaml")), managerName)
	role := find[*rbacv1.ClusterRole](t, objs, managerName)
	if len(role.Rules) == 0 || !equality.Semantic.DeepEqual(role.Rules, generated.Rules) {
		t.Errorf("chart ClusterRole rules differ from config/rbac/role.yaml (run make manifests)\nchart: %+v\nrole.yaml: %+v", role.Rules, generated.Rules)
	}
	for _, r := range role.Rules {
		if slices.Contains(r.Verbs, "*") || slices.Contains(r.Resources, "*") || slices.Contains(r.APIGroups, "*") {
			t.Errorf("wildcard rule in the manager ClusterRole: %+v", r)
		}
	}
	crb := find[*rbacv1.ClusterRoleBinding](t, objs, managerName)
	if crb.RoleRef.Name != managerName || crb.RoleRef.Kind != "ClusterRole" {
		t.Errorf("ClusterRoleBinding roleRef = %+v", crb.RoleRef)
	}
	wantSubject := rbacv1.Subject{Kind: "ServiceAccount", Name: managerName, Namespace: releaseNamespace}
	if !slices.Equal(crb.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("ClusterRoleBinding subjects = %+v", crb.Subjects)
	}
	le := find[*rbacv1.Role](t, objs, "taskroute-leader-election")
	if le.Namespace != releaseNamespace {
		t.Errorf("leader-election Role namespace = %q", le.Namespace)
	}
	leb := find[*rbacv1.RoleBinding](t, objs, "taskroute-leader-election")
	if leb.RoleRef.Name != le.Name || !slices.Equal(leb.Subjects, []rbacv1.Subject{wantSubject}) {
		t.Errorf("leader-election RoleBinding = %+v %+v", leb.RoleRef, leb.Subjects)
	}
}

// TestCRDsMatchGenerated: the chart installs exactly the CRDs of config/crd/bases, marked to
// be kept on uninstall.
func TestCRDsMatchGenerated(t *testing.T) {
	crds := all[*apiextensionsv1.CustomResourceDefinition](renderChart(t))
	generated := generatedCRDs(t)
	if len(crds) != len(generated) || len(crds) < 2 {
		t.Fatalf("chart renders %d CRDs, config/crd/bases has %d", len(crds), len(generated))
	}
	for _, crd := range crds {
		want, ok := generated[crd.Name]
		if !ok {
			t.Errorf("chart CRD %s is not in config/crd/bases", crd.Name)
			continue
		}
		if !equality.Semantic.DeepEqual(crd.Spec, want.Spec) {
			t.Errorf("chart CRD %s differs from config/crd/bases (run make manifests)", crd.Name)
		}
		if crd.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Errorf("chart CRD %s lacks helm.sh/resource-policy=keep", crd.Name)
		}
	}
}

func TestValueSets(t *testing.T) {
	cases := []struct {
		name  string
		args  []string
		check func(t *testing.T, objs []runtime.Object)
	}{{
		name: "crds skipped",
		args: []string{"--set", "crds.install=false"},
		check: func(t *testing.T, objs []runtime.Object) {
			if n := len(all[*apiextensionsv1.CustomResourceDefinition](objs)); n != 0 {
				t.Errorf("crds.install=false still renders %d CRDs", n)
			}
			find[*appsv1.Deployment](t, objs, managerName)
		},
	}, {
		name: "crds not kept",
		args: []string{"--set", "crds.keep=false"},
		check: func(t *testing.T, objs []runtime.Object) {
			for _, crd := range all[*apiextensionsv1.CustomResourceDefinition](objs) {
				if _, ok := crd.Annotations["helm.sh/resource-policy"]; ok {
					t.Errorf("crds.keep=false: %s still has the keep policy", crd.Name)
				}
			}
		},
	}, {
		name: "quota overrides",
		args: []string{"--set", "quotas.default.addRate=1000", "--set", "quotas.team-a.maxBacklog=5000000", "--set", "quotas.team-a.maxPayloadBytes=2048"},
		check: func(t *testing.T, objs []runtime.Object) {
			cm := find[*corev1.ConfigMap](t, objs, "taskroute-quotas")
			want := map[string]string{"default": `{"addRate":1000}`, "team-a": `{"maxBacklog":5000000,"maxPayloadBytes":2048}`}
			if cm.Namespace != releaseNamespace || !maps.Equal(cm.Data, want) {
				t.Errorf("quota ConfigMap %s/%s data = %q, want %q", cm.Namespace, cm.Name, cm.Data, want)
			}
		},
	}, {
		name: "persistence off",
		args: []string{"--set", "persistence.enabled=false", "--set", "replicaCount=2"},
		check: func(t *testing.T, objs []runtime.Object) {
			if n := len(all[*corev1.PersistentVolumeClaim](objs)); n != 0 {
				t.Errorf("persistence off still renders %d PVCs", n)
			}
			dep := find[*appsv1.Deployment](t, objs, managerName)
			if v := volumeSource(t, dep.Spec.Template.Spec, "data"); v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil {
				t.Errorf("data volume = %+v, want a size-limited emptyDir", v)
			}
			if *dep.Spec.Replicas != 2 {
				t.Errorf("replicas = %d", *dep.Spec.Replicas)
			}
		},
	}, {
		name: "existing claim",
		args: []string{"--set", "persistence.existingClaim=my-store", "--set", "persistence.storageClassName=fast"},
		check: func(t *testing.T, objs []runtime.Object) {
			if n := len(all[*corev1.PersistentVolumeClaim](objs)); n != 0 {
				t.Errorf("existingClaim still renders %d PVCs", n)
			}
			dep := find[*appsv1.Deployment](t, objs, managerName)
			if v := volumeSource(t, dep.Spec.Template.Spec, "data"); v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != "my-store" {
				t.Errorf("data volume = %+v, want claim my-store", v)
			}
		},
	}, {
		name: "storage class and size",
		args: []string{"--set", "persistence.storageClassName=fast", "--set", "persistence.size=20Gi"},
		check: func(t *testing.T, objs []runtime.Object) {
			pvc := find[*corev1.PersistentVolumeClaim](t, objs, "taskroute-data")
			if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "fast" {
				t.Errorf("storageClassName = %v", pvc.Spec.StorageClassName)
			}
			if got := pvc.Spec.Resources.Requests.Storage().String(); got != "20Gi" {
				t.Errorf("size = %s", got)
			}
			if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Error("the store's claim must survive uninstall")
			}
		},
	}, {
		name: "service monitor on",
		args: []string{"--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.serviceMonitor.labels.release=prom"},
		check: func(t *testing.T, objs []runtime.Object) {
			var sm *unstructured.Unstructured
			for _, u := range all[*unstructured.Unstructured](objs) {
				if u.GetKind() == "ServiceMonitor" {
					sm = u
				}
			}
			if sm == nil {
				t.Fatal("no ServiceMonitor rendered")
			}
			if sm.GetAPIVersion() != "monitoring.coreos.com/v1" || sm.GetLabels()["release"] != "prom" {
				t.Errorf("ServiceMonitor %s labels %v", sm.GetAPIVersion(), sm.GetLabels())
			}
			eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(eps) != 1 || eps[0].(map[string]any)["port"] != "https-metrics" || eps[0].(map[string]any)["scheme"] != "https" ||
				eps[0].(map[string]any)["bearerTokenFile"] != "/var/run/secrets/kubernetes.io/serviceaccount/token" {
				t.Errorf("endpoints = %v, want the https-metrics port, scheme https and Prometheus' token", eps)
			}
			sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
			svc := find[*corev1.Service](t, objs, "taskroute-metrics")
			if !selects(sel, svc.Labels) {
				t.Errorf("ServiceMonitor selector %v does not select the metrics service %v", sel, svc.Labels)
			}
		},
	}, {
		name: "client CA for KEDA",
		args: []string{"--set", "matching.clientCA.configMap=keda-client-ca"},
		check: func(t *testing.T, objs []runtime.Object) {
			spec := find[*appsv1.Deployment](t, objs, managerName).Spec.Template.Spec
			if args := spec.Containers[0].Args; !slices.Contains(args, "--matching-client-ca-file=/var/run/taskroute/client-ca/ca.crt") {
				t.Errorf("args = %q, want --matching-client-ca-file", args)
			}
			if v := volumeSource(t, spec, "matching-client-ca"); v.ConfigMap == nil || v.ConfigMap.Name != "keda-client-ca" {
				t.Errorf("client CA volume = %+v, want ConfigMap keda-client-ca", v)
			}
			if !slices.ContainsFunc(spec.Containers[0].VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == "matching-client-ca" && m.MountPath == "/var/run/taskroute/client-ca"
			}) {
				t.Errorf("mounts = %+v, want the client CA at /var/run/taskroute/client-ca", spec.Containers[0].VolumeMounts)
			}
		},
	}, {
		name: "grafana dashboard on",
		args: []string{"--set", "metrics.grafanaDashboard.enabled=true"},
		check: func(t *testing.T, objs []runtime.Object) {
			cm := find[*corev1.ConfigMap](t, objs, "taskroute-dashboards")
			if cm.Namespace != releaseNamespace || cm.Labels["grafana_dashboard"] != "1" {
				t.Errorf("dashboard ConfigMap %s/%s labels %v, want the sidecar label grafana_dashboard=1", cm.Namespace, cm.Name, cm.Labels)
			}
			if !json.Valid([]byte(cm.Data["taskroute-queues.json"])) {
				t.Errorf("dashboard ConfigMap data keys %v, want valid JSON in taskroute-queues.json", slices.Collect(maps.Keys(cm.Data)))
			}
		},
	}, {
		name: "grafana dashboard off by default",
		check: func(t *testing.T, objs []runtime.Object) {
			for _, cm := range all[*corev1.ConfigMap](objs) {
				if cm.Name == "taskroute-dashboards" {
					t.Error("the dashboard ConfigMap is rendered by default")
				}
			}
		},
	}, {
		name: "metrics not secure",
		args: []string{"--set", "metrics.secure=false", "--set", "metrics.serviceMonitor.enabled=true"},
		check: func(t *testing.T, objs []runtime.Object) {
			args := find[*appsv1.Deployment](t, objs, managerName).Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, "--metrics-secure=false") {
				t.Errorf("args = %q, want --metrics-secure=false", args)
			}
			if p := find[*corev1.Service](t, objs, "taskroute-metrics").Spec.Ports; len(p) != 1 || p[0].Name != "http-metrics" {
				t.Errorf("metrics service ports = %+v, want http-metrics", p)
			}
			for _, r := range all[*rbacv1.ClusterRole](objs) {
				if r.Name == "taskroute-metrics-reader" {
					t.Error("the metrics reader ClusterRole has no use with plain metrics")
				}
			}
			for _, u := range all[*unstructured.Unstructured](objs) {
				eps, _, _ := unstructured.NestedSlice(u.Object, "spec", "endpoints")
				if len(eps) != 1 || eps[0].(map[string]any)["port"] != "http-metrics" || eps[0].(map[string]any)["scheme"] != nil {
					t.Errorf("ServiceMonitor endpoints = %v, want plain http-metrics", eps)
				}
			}
		},
	}, {
		name: "leader election off, no rbac, external service account",
		args: []string{"--set", "leaderElection.enabled=false", "--set", "rbac.create=false",
			"--set", "serviceAccount.create=false", "--set", "serviceAccount.name=ops"},
		check: func(t *testing.T, objs []runtime.Object) {
			if n := len(all[*rbacv1.Role](objs)) + len(all[*rbacv1.ClusterRole](objs)) + len(all[*corev1.ServiceAccount](objs)); n != 0 {
				t.Errorf("rendered %d RBAC objects or service accounts, want none", n)
			}
			dep := find[*appsv1.Deployment](t, objs, managerName)
			if slices.Contains(dep.Spec.Template.Spec.Containers[0].Args, "--leader-elect") {
				t.Error("--leader-elect still passed")
			}
			if dep.Spec.Template.Spec.ServiceAccountName != "ops" {
				t.Errorf("serviceAccountName = %q", dep.Spec.Template.Spec.ServiceAccountName)
			}
		},
	}, {
		name: "scheduling, image digest and extra args",
		args: []string{
			"--set", "nodeSelector.kubernetes\\.io/os=linux",
			"--set", "tolerations[0].key=dedicated,tolerations[0].operator=Exists,tolerations[0].effect=NoSchedule",
			"--set", "image.digest=sha256:" + strings.Repeat("ab", 32),
			"--set", "extraArgs[0]=--zap-log-level=debug",
			"--set", "matching.address=matching.example.internal:443",
			"--set", "fullnameOverride=tr",
		},
		check: func(t *testing.T, objs []runtime.Object) {
			dep := find[*appsv1.Deployment](t, objs, "tr-manager")
			pod := dep.Spec.Template.Spec
			if pod.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Tolerations) != 1 || pod.Tolerations[0].Key != "dedicated" {
				t.Errorf("nodeSelector %v tolerations %+v", pod.NodeSelector, pod.Tolerations)
			}
			c := pod.Containers[0]
			if !strings.HasSuffix(c.Image, "@sha256:"+strings.Repeat("ab", 32)) {
				t.Errorf("image = %q, want the digest", c.Image)
			}
			if c.Args[len(c.Args)-1] != "--zap-log-level=debug" || !slices.Contains(c.Args, "--matching-address=matching.example.internal:443") {
				t.Errorf("args = %q", c.Args)
			}
			find[*corev1.Service](t, objs, "tr-matching")
			find[*rbacv1.ClusterRoleBinding](t, objs, "tr-manager")
		},
	}, {
		name: "tls from cert-manager",
		args: []string{"--set", "matching.tls.mode=cert-manager"},
		check: func(t *testing.T, objs []runtime.Object) {
			kinds := map[string]int{}
			var serving *unstructured.Unstructured
			for _, u := range all[*unstructured.Unstructured](objs) {
				kinds[u.GetKind()]++
				if u.GetKind() == "Certificate" && u.GetName() == "taskroute-matching-tls" {
					serving = u
				}
			}
			if kinds["Issuer"] != 2 || kinds["Certificate"] != 2 || serving == nil {
				t.Fatalf("want 2 Issuers and 2 Certificates (CA, serving), got %v", kinds)
			}
			names, _, _ := unstructured.NestedStringSlice(serving.Object, "spec", "dnsNames")
			if !slices.Contains(names, "taskroute-matching.taskroute-system.svc") {
				t.Errorf("serving dnsNames = %v", names)
			}
			dep := find[*appsv1.Deployment](t, objs, managerName)
			checkTLSFromSecret(t, dep, "cert-manager", "taskroute-matching-tls")
			for _, r := range all[*rbacv1.Role](objs) {
				for _, rule := range r.Rules {
					if slices.Contains(rule.Resources, "secrets") {
						t.Errorf("Role %s grants Secrets; want no CA Secret access: %+v", r.Name, rule)
					}
				}
			}
		},
	}, {
		name: "tls from files",
		args: []string{"--set", "matching.tls.mode=files", "--set", "matching.tls.secretName=my-tls"},
		check: func(t *testing.T, objs []runtime.Object) {
			checkTLSFromSecret(t, find[*appsv1.Deployment](t, objs, managerName), "files", "my-tls")
		},
	}, {
		name: "development mode",
		args: []string{"--set", "matching.tls.mode=disabled", "--set", "matching.auth=disabled"},
		check: func(t *testing.T, objs []runtime.Object) {
			args := find[*appsv1.Deployment](t, objs, managerName).Spec.Template.Spec.Containers[0].Args
			if !slices.Contains(args, "--matching-tls=disabled") || !slices.Contains(args, "--matching-auth=disabled") {
				t.Errorf("args = %q", args)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { tc.check(t, renderChart(t, tc.args...)) })
	}
}

// TestSchemaRejectsBadValues: values.schema.json is strict and names the offending key.
func TestSchemaRejectsBadValues(t *testing.T) {
	cases := []struct {
		name, values, wantInError string
	}{
		{"negative replicas", "replicaCount: -1\n", "replicaCount"},
		{"unknown top-level key", "replicas: 2\n", "replicas"},
		{"unknown nested key", "persistence:\n  sise: 5Gi\n", "sise"},
		{"two replicas on one store", "replicaCount: 2\n", "replicaCount"},
		{"bad pull policy", "image:\n  pullPolicy: Sometimes\n", "pullPolicy"},
		{"port out of range", "matching:\n  port: 70000\n", "port"},
		{"string for a bool", "crds:\n  install: \"yes\"\n", "install"},
		{"bad size", "persistence:\n  size: lots\n", "size"},
		{"bad auth mode", "matching:\n  auth: off\n", "auth"},
		{"bad tls mode", "matching:\n  tls:\n    mode: insecure\n", "mode"},
		{"unknown quota field", "quotas:\n  team-a:\n    maxBacklogg: 1\n", "maxBacklogg"},
		{"negative quota", "quotas:\n  team-a:\n    maxQueues: -1\n", "maxQueues"},
		{"quota key not a namespace", "quotas:\n  Team_A:\n    maxQueues: 1\n", "Team_A"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "values.yaml")
			if err := os.WriteFile(file, []byte(tc.values), 0o600); err != nil {
				t.Fatal(err)
			}
			out, stderr, err := helm(t, "template", releaseName, chartDir, "-n", releaseNamespace, "-f", file)
			if err == nil {
				t.Fatalf("helm template accepted %q:\n%.300s", tc.values, out)
			}
			if !strings.Contains(stderr, "schema") || !strings.Contains(stderr, tc.wantInError) {
				t.Errorf("error does not name %q as a schema violation:\n%s", tc.wantInError, stderr)
			}
		})
	}
}

// TestSchemaDocumentsEveryValue: every key in values.yaml has a description in the schema.
func TestSchemaDocumentsEveryValue(t *testing.T) {
	var schema map[string]any
	readYAML(t, filepath.Join(chartDir, "values.schema.json"), &schema)
	var values map[string]any
	readYAML(t, filepath.Join(chartDir, "values.yaml"), &values)
	var walk func(path string, v map[string]any, s map[string]any)
	walk = func(path string, v map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		for k, val := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("%s%s is in values.yaml but not in values.schema.json", path, k)
				continue
			}
			if d, _ := ps["description"].(string); d == "" {
				t.Errorf("%s%s has no description in values.schema.json", path, k)
			}
			if sub, ok := val.(map[string]any); ok && ps["properties"] != nil {
				walk(path+k+".", sub, ps)
			}
		}
	}
	walk("", values, schema)
}

// checkHardened asserts the manager pod meets the restricted Pod Security Standard and
// issue 4's hardening: non-root, read-only root filesystem, no capabilities, seccomp.
func checkHardened(t *testing.T, dep *appsv1.Deployment) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot must be true")
	}
	if psc == nil || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Error("pod securityContext.runAsUser must be a non-zero uid")
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Error("pod seccompProfile must be RuntimeDefault")
	}
	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("container securityContext is missing")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem must be true")
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation must be false")
	}
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("container runAsNonRoot must be true")
	}
	if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
		t.Errorf("capabilities must drop ALL and add none, got %+v", sc.Capabilities)
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("container must not be privileged")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("no host namespaces")
	}
}

func chartAppVersion(t *testing.T) string {
	t.Helper()
	var chart struct {
		AppVersion string `json:"appVersion"`
	}
	readYAML(t, filepath.Join(chartDir, "Chart.yaml"), &chart)
	if chart.AppVersion == "" {
		t.Fatal("Chart.yaml has no appVersion")
	}
	return chart.AppVersion
}

func generatedCRDs(t *testing.T) map[string]*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no CRDs in config/crd/bases: %v", err)
	}
	out := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for _, f := range files {
		for _, crd := range all[*apiextensionsv1.CustomResourceDefinition](decodeFile(t, f)) {
			out[crd.Name] = crd
		}
	}
	return out
}

func volumeSource(t *testing.T, pod corev1.PodSpec, name string) corev1.VolumeSource {
	t.Helper()
	for _, v := range pod.Volumes {
		if v.Name == name {
			return v.VolumeSource
		}
	}
	t.Fatalf("pod has no volume %q", name)
	return corev1.VolumeSource{}
}

func hasMount(c corev1.Container, volume, path string) bool {
	for _, m := range c.VolumeMounts {
		if m.Name == volume && m.MountPath == path && !m.ReadOnly {
			return true
		}
	}
	return false
}

// selects reports whether a non-empty selector matches the labels.
func selects(selector, labels map[string]string) bool {
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

// checkTLSFromSecret: the manager reads its certificate from the mounted Secret.
func checkTLSFromSecret(t *testing.T, dep *appsv1.Deployment, mode, secret string) {
	t.Helper()
	pod := dep.Spec.Template.Spec
	c := pod.Containers[0]
	for _, want := range []string{"--matching-tls=" + mode, "--matching-tls-cert-file=/var/run/taskroute/tls/tls.crt",
		"--matching-tls-key-file=/var/run/taskroute/tls/tls.key", "--matching-tls-ca-file=/var/run/taskroute/tls/ca.crt"} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %s", c.Args, want)
		}
	}
	if v := volumeSource(t, pod, "matching-tls"); v.Secret == nil || v.Secret.SecretName != secret {
		t.Errorf("matching-tls volume = %+v, want Secret %s", v, secret)
	}
	if !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
		return m.Name == "matching-tls" && m.MountPath == "/var/run/taskroute/tls" && m.ReadOnly
	}) {
		t.Error("matching-tls not mounted read-only at /var/run/taskroute/tls")
	}
}
