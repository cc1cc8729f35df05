package chart

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

func distObjects(t *testing.T) []runtime.Object {
	t.Helper()
	return decodeFile(t, filepath.Join(repoRoot, "dist", "install.yaml"))
}

// TestDistInstall: dist/install.yaml is a complete install (namespace first, the generated
// CRDs, RBAC, the hardened manager, its services and volume) in typed, strict form.
func TestDistInstall(t *testing.T) {
	objs := distObjects(t)
	if len(objs) == 0 {
		t.Fatal("dist/install.yaml is empty")
	}
	if ns, ok := objs[0].(*corev1.Namespace); !ok || ns.Name != releaseNamespace {
		t.Errorf("first object must be the %s Namespace (applied before what lives in it), got %s", releaseNamespace, objectKey(objs[0]))
	} else if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
		t.Errorf("namespace labels = %v, want Pod Security restricted enforced", ns.Labels)
	}

	crds := all[*apiextensionsv1.CustomResourceDefinition](objs)
	generated := generatedCRDs(t)
	if len(crds) != len(generated) {
		t.Errorf("dist has %d CRDs, config/crd/bases has %d", len(crds), len(generated))
	}
	for _, crd := range crds {
		if want, ok := generated[crd.Name]; !ok || !equality.Semantic.DeepEqual(crd.Spec, want.Spec) {
			t.Errorf("dist CRD %s differs from config/crd/bases (run make manifests)", crd.Name)
		}
	}

	dep := find[*appsv1.Deployment](t, objs, managerName)
	if dep.Namespace != releaseNamespace {
		t.Errorf("manager namespace = %q", dep.Namespace)
	}
	checkHardened(t, dep)
	if got, want := dep.Spec.Template.Spec.Containers[0].Image, "ghcr.io/taskroute/taskroute:"+chartAppVersion(t); got != want {
		t.Errorf("dist image = %q, want %q (config/manager/kustomization.yaml tag must equal the chart appVersion)", got, want)
	}

	role := find[*rbacv1.ClusterRole](t, objs, managerName)
	generatedRole := find[*rbacv1.ClusterRole](t, decodeFile(t, filepath.Join(repoRoot, "config", "rbac", "role.yaml")), managerName)
	if !equality.Semantic.DeepEqual(role.Rules, generatedRole.Rules) {
		t.Error("dist ClusterRole rules differ from config/rbac/role.yaml (run make manifests)")
	}
	crb := find[*rbacv1.ClusterRoleBinding](t, objs, managerName)
	if !slices.Equal(crb.Subjects, []rbacv1.Subject{{Kind: "ServiceAccount", Name: managerName, Namespace: releaseNamespace}}) {
		t.Errorf("ClusterRoleBinding subjects = %+v", crb.Subjects)
	}
	for _, o := range objs {
		if _, isNS := o.(*corev1.Namespace); isNS {
			continue
		}
		if _, isCRD := o.(*apiextensionsv1.CustomResourceDefinition); isCRD {
			continue
		}
		m := o.(interface{ GetNamespace() string })
		_, clusterScoped := o.(*rbacv1.ClusterRole)
		_, clusterScopedBinding := o.(*rbacv1.ClusterRoleBinding)
		if (clusterScoped || clusterScopedBinding) != (m.GetNamespace() == "") {
			t.Errorf("%s: wrong scope", objectKey(o))
		}
		if !clusterScoped && !clusterScopedBinding && m.GetNamespace() != releaseNamespace {
			t.Errorf("%s is outside %s", objectKey(o), releaseNamespace)
		}
	}
}

// TestChartMatchesKustomize: the chart with default values, released as "taskroute" in
// taskroute-system, installs the same objects as config/default (dist/install.yaml), with
// the same manager pod, services, volume and RBAC. Labels may differ (Helm adds its own).
func TestChartMatchesKustomize(t *testing.T) {
	dist := distObjects(t)
	chart := renderChart(t)

	keys := func(objs []runtime.Object) []string {
		var out []string
		for _, o := range objs {
			if _, isNS := o.(*corev1.Namespace); isNS { // helm install --create-namespace
				continue
			}
			out = append(out, objectKey(o))
		}
		slices.Sort(out)
		return out
	}
	if d, c := keys(dist), keys(chart); !slices.Equal(d, c) {
		t.Errorf("objects differ:\n  kustomize: %s\n  chart:     %s", strings.Join(d, ", "), strings.Join(c, ", "))
	}

	dd, cd := find[*appsv1.Deployment](t, dist, managerName), find[*appsv1.Deployment](t, chart, managerName)
	if !equality.Semantic.DeepEqual(dd.Spec.Template.Spec, cd.Spec.Template.Spec) {
		t.Errorf("manager pod spec differs between kustomize and chart:\nkustomize: %+v\nchart:     %+v", dd.Spec.Template.Spec, cd.Spec.Template.Spec)
	}
	if !equality.Semantic.DeepEqual(dd.Spec.Strategy, cd.Spec.Strategy) || *dd.Spec.Replicas != *cd.Spec.Replicas {
		t.Error("manager strategy or replicas differ between kustomize and chart")
	}
	for _, name := range []string{"taskroute-metrics", "taskroute-matching"} {
		ds, cs := find[*corev1.Service](t, dist, name), find[*corev1.Service](t, chart, name)
		if !equality.Semantic.DeepEqual(ds.Spec.Ports, cs.Spec.Ports) || ds.Spec.Type != cs.Spec.Type {
			t.Errorf("service %s differs: %+v vs %+v", name, ds.Spec.Ports, cs.Spec.Ports)
		}
	}
	dp, cp := find[*corev1.PersistentVolumeClaim](t, dist, "taskroute-data"), find[*corev1.PersistentVolumeClaim](t, chart, "taskroute-data")
	if !equality.Semantic.DeepEqual(dp.Spec, cp.Spec) {
		t.Errorf("data claim differs: %+v vs %+v", dp.Spec, cp.Spec)
	}
	if !equality.Semantic.DeepEqual(find[*rbacv1.Role](t, dist, "taskroute-leader-election").Rules,
		find[*rbacv1.Role](t, chart, "taskroute-leader-election").Rules) {
		t.Error("leader-election rules differ between kustomize and chart")
	}
	if !equality.Semantic.DeepEqual(find[*rbacv1.ClusterRole](t, dist, managerName).Rules,
		find[*rbacv1.ClusterRole](t, chart, managerName).Rules) {
		t.Error("manager ClusterRole rules differ between kustomize and chart")
	}
}
