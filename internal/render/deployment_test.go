package render

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	appsv1ac "k8s.io/client-go/applyconfigurations/apps/v1"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/pkg/workerenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var testOpts = Options{MatchingAddress: "taskroute-matching.taskroute-system.svc:7233"}

func basePool(mut ...func(*v1alpha1.WorkerPool)) *v1alpha1.WorkerPool {
	p := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Name: "orders", Namespace: "shop", UID: "0b7a2c1e-0000-4000-8000-000000000001", Generation: 1},
		Spec: v1alpha1.WorkerPoolSpec{
			Queue: "orders",
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "worker", Image: "example.com/orders-worker:1.0",
			}}}},
		},
	}
	for _, m := range mut {
		m(p)
	}
	return p
}

// goldenCases are rendered and compared with testdata/<name>.yaml.
var goldenCases = map[string]*v1alpha1.WorkerPool{
	"minimal": basePool(),
	"gpu": basePool(func(p *v1alpha1.WorkerPool) {
		p.Name = "render-gpu"
		p.Spec.Version = "v42"
		p.Spec.Capabilities = []v1alpha1.Capability{{Name: "gpu", Value: "a100"}}
		p.Spec.Limits = &v1alpha1.WorkerLimits{Slots: 2, Sessions: 1, TasksPerSecond: ptr.To(resource.MustParse("500m"))}
		p.Spec.Priorities = []int32{4, 2}
		p.Spec.Replicas = ptr.To[int32](3)
	}),
	"placement": basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Capabilities = []v1alpha1.Capability{
			{Name: "arch", Value: "arm64"},
			{Name: "example.com/fpga", NodeSelection: v1alpha1.FeatureDisabled},
			{Name: "zone", Value: "a", NodeSelector: map[string]string{"topology.kubernetes.io/zone": "eu-1a"}},
		}
		p.Spec.Placement = &v1alpha1.Placement{
			Hosts:        []string{"node-b", "node-a"},
			NodeSelector: map[string]string{"disk": "ssd", "tier": "placement"},
			Tolerations:  []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "orders", Effect: corev1.TaintEffectNoSchedule}},
		}
		p.Spec.Template.Spec.NodeSelector = map[string]string{"tier": "template"}
		p.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: workerenv.Slots, Value: "99"}, {Name: "LOG_LEVEL", Value: "debug"}}
		p.Spec.Template.Spec.Containers = append(p.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "example.com/proxy:1"})
	}),
	"autoscaling": basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Autoscaling = &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: ptr.To[int32](2), MaxReplicas: 5}
	}),
}

func TestDeploymentGolden(t *testing.T) {
	for name, pool := range goldenCases {
		t.Run(name, func(t *testing.T) {
			d, err := Deployment(pool, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := yaml.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", name+".yaml")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/render -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Errorf("rendered Deployment differs from %s (rerun with -update if intended):\n%s", path, got)
			}
		})
	}
}

func firstContainer(t *testing.T, d *appsv1ac.DeploymentApplyConfiguration) corev1ac.ContainerApplyConfiguration {
	t.Helper()
	return d.Spec.Template.Spec.Containers[0]
}

func envValue(c corev1ac.ContainerApplyConfiguration, name string) (corev1ac.EnvVarApplyConfiguration, int) {
	n := 0
	var found corev1ac.EnvVarApplyConfiguration
	for _, e := range c.Env {
		if *e.Name == name {
			found, n = e, n+1
		}
	}
	return found, n
}

func requiredExpressions(d *appsv1ac.DeploymentApplyConfiguration) []corev1ac.NodeSelectorRequirementApplyConfiguration {
	a := d.Spec.Template.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return nil
	}
	var out []corev1ac.NodeSelectorRequirementApplyConfiguration
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		out = append(out, term.MatchExpressions...)
	}
	return out
}

func TestGPUCapabilityDefaults(t *testing.T) {
	d, err := Deployment(goldenCases["gpu"], testOpts)
	if err != nil {
		t.Fatal(err)
	}
	exprs := requiredExpressions(d)
	if len(exprs) != 1 || *exprs[0].Key != "capabilities.taskroute.dev/gpu" || exprs[0].Values[0] != "a100" {
		t.Errorf("affinity = %+v, want capabilities.taskroute.dev/gpu In [a100]", exprs)
	}
	tol := d.Spec.Template.Spec.Tolerations
	if len(tol) != 1 || *tol[0].Key != "nvidia.com/gpu" || *tol[0].Operator != corev1.TolerationOpExists {
		t.Errorf("tolerations = %+v, want nvidia.com/gpu Exists", tol)
	}
	c := firstContainer(t, d)
	req, lim := (*c.Resources.Requests)[NvidiaGPU], (*c.Resources.Limits)[NvidiaGPU]
	if req.Cmp(resource.MustParse("1")) != 0 || lim.Cmp(resource.MustParse("1")) != 0 {
		t.Errorf("gpu request/limit = %s/%s, want 1/1", req.String(), lim.String())
	}
	if *d.Spec.Replicas != 3 {
		t.Errorf("replicas = %d, want 3", *d.Spec.Replicas)
	}
	for name, want := range map[string]string{
		workerenv.Capabilities: "gpu=a100", workerenv.Slots: "2", workerenv.Sessions: "1",
		workerenv.TasksPerSecond: "0.5", workerenv.Priorities: "2,4", workerenv.Version: "v42",
		workerenv.Address: testOpts.MatchingAddress, workerenv.Pool: "render-gpu", workerenv.Namespace: "shop",
	} {
		e, n := envValue(c, name)
		if n != 1 || e.Value == nil || *e.Value != want {
			t.Errorf("%s = %v (%d times), want %q once", name, e.Value, n, want)
		}
	}
	if e, _ := envValue(c, workerenv.WorkerID); e.ValueFrom == nil || *e.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("%s must come from metadata.name", workerenv.WorkerID)
	}
	if e, _ := envValue(c, workerenv.NodeName); e.ValueFrom == nil || *e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("%s must come from spec.nodeName", workerenv.NodeName)
	}
}

func TestExplicitGPUResourcesAndTolerationsWin(t *testing.T) {
	pool := basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Capabilities = []v1alpha1.Capability{{
			Name: "gpu", Value: "h100",
			Resources:   corev1.ResourceList{"amd.com/gpu": resource.MustParse("2")},
			Tolerations: []corev1.Toleration{{Key: "gpu-vendor", Operator: corev1.TolerationOpEqual, Value: "amd"}},
		}}
	})
	d, err := Deployment(pool, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	c := firstContainer(t, d)
	if _, ok := (*c.Resources.Limits)[NvidiaGPU]; ok {
		t.Error("nvidia.com/gpu must not be added when resources are given")
	}
	if q := (*c.Resources.Limits)["amd.com/gpu"]; q.Value() != 2 {
		t.Errorf("amd.com/gpu limit = %s, want 2", q.String())
	}
	if tol := d.Spec.Template.Spec.Tolerations; len(tol) != 1 || *tol[0].Key != "gpu-vendor" {
		t.Errorf("tolerations = %+v, want only gpu-vendor", tol)
	}
}

func TestPlacementAndUserOverrides(t *testing.T) {
	d, err := Deployment(goldenCases["placement"], testOpts)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range requiredExpressions(d) {
		got[*e.Key] = string(*e.Operator) + " " + strings.Join(e.Values, ",")
	}
	want := map[string]string{
		"capabilities.taskroute.dev/arch": "In arm64",
		"topology.kubernetes.io/zone":     "In eu-1a",
		"kubernetes.io/hostname":          "In node-a,node-b",
	}
	if len(got) != len(want) {
		t.Errorf("affinity = %v, want %v (fpga has nodeSelection Disabled)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("affinity[%s] = %q, want %q", k, got[k], v)
		}
	}
	ns := d.Spec.Template.Spec.NodeSelector
	if ns["tier"] != "template" || ns["disk"] != "ssd" {
		t.Errorf("nodeSelector = %v, want template's tier and placement's disk", ns)
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		e, n := envValue(c, workerenv.Slots)
		if *c.Name == "worker" && (n != 1 || *e.Value != "99") {
			t.Errorf("user's %s must win: got %v (%d times)", workerenv.Slots, e.Value, n)
		}
		if _, n := envValue(c, workerenv.Queue); n != 1 {
			t.Errorf("container %s: %s injected %d times, want 1", *c.Name, workerenv.Queue, n)
		}
	}
}

func TestAffinityIsANDedIntoEveryUserTerm(t *testing.T) {
	pool := basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Capabilities = []v1alpha1.Capability{{Name: "arch", Value: "arm64"}}
		p.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}},
				{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"b"}}}},
			}},
		}}
	})
	d, err := Deployment(pool, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	terms := d.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) != 2 {
		t.Fatalf("terms = %d, want the user's 2", len(terms))
	}
	for i, term := range terms {
		if len(term.MatchExpressions) != 2 || *term.MatchExpressions[1].Key != "capabilities.taskroute.dev/arch" {
			t.Errorf("term %d = %+v, want the user's expression AND arch", i, term.MatchExpressions)
		}
	}
	if pool.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions[0].Key != "zone" ||
		len(pool.Spec.Template.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms[0].MatchExpressions) != 1 {
		t.Error("rendering must not modify the WorkerPool")
	}
}

func TestReplicas(t *testing.T) {
	backlog := func(min *int32, max int32) *v1alpha1.Autoscaling {
		return &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingBacklog, MinReplicas: min, MaxReplicas: max}
	}
	for _, tc := range []struct {
		name string
		spec *int32
		as   *v1alpha1.Autoscaling
		want int32
	}{
		{name: "default", want: 1},
		{name: "explicit", spec: ptr.To[int32](7), want: 7},
		{name: "zero", spec: ptr.To[int32](0), want: 0},
		{name: "backlog raises to min", spec: ptr.To[int32](1), as: backlog(ptr.To[int32](2), 5), want: 2},
		{name: "backlog keeps what the scaler wrote", spec: ptr.To[int32](4), as: backlog(ptr.To[int32](2), 5), want: 4},
		{name: "backlog clamps to max", spec: ptr.To[int32](9), as: backlog(ptr.To[int32](2), 5), want: 5},
		{name: "backlog default min is 1", spec: ptr.To[int32](0), as: backlog(nil, 5), want: 1},
		{name: "backlog scaled to zero", spec: ptr.To[int32](0), as: backlog(ptr.To[int32](0), 5), want: 0},
		{name: "disabled uses spec", spec: ptr.To[int32](3), as: &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingDisabled, MinReplicas: ptr.To[int32](1), MaxReplicas: 2}, want: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := basePool(func(p *v1alpha1.WorkerPool) { p.Spec.Replicas, p.Spec.Autoscaling = tc.spec, tc.as })
			if got := Replicas(p); got != tc.want {
				t.Errorf("Replicas = %d, want %d", got, tc.want)
			}
		})
	}
}

func TestSelectorStableAndHashTracksSpec(t *testing.T) {
	a, b := basePool(), basePool(func(p *v1alpha1.WorkerPool) {
		p.Spec.Version = "v2"
		p.Spec.Replicas = ptr.To[int32](4)
	})
	da, _ := Deployment(a, testOpts)
	db, _ := Deployment(b, testOpts)
	if Selector(a) != Selector(b) || len(da.Spec.Selector.MatchLabels) != 2 {
		t.Errorf("selector changed with the spec: %q vs %q", Selector(a), Selector(b))
	}
	if Selector(a) != "app.kubernetes.io/name=taskroute-worker,taskroute.dev/pool=orders" {
		t.Errorf("Selector = %q", Selector(a))
	}
	ha, hb := da.Annotations[AnnotationAppliedHash], db.Annotations[AnnotationAppliedHash]
	if ha == "" || ha == hb {
		t.Errorf("hash must change with the spec: %q vs %q", ha, hb)
	}
	again, _ := Deployment(basePool(), testOpts)
	if again.Annotations[AnnotationAppliedHash] != ha {
		t.Error("hash is not stable for equal pools")
	}
}

func TestLongNamesMakeValidLabels(t *testing.T) {
	long := strings.Repeat("q", 70) + ".example"
	p := basePool(func(p *v1alpha1.WorkerPool) { p.Name = strings.Repeat("p", 100); p.Spec.Queue = long })
	d, err := Deployment(p, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range d.Labels {
		if len(v) > 63 {
			t.Errorf("label %s=%q longer than 63", k, v)
		}
	}
	if d.Annotations[AnnotationQueue] != long {
		t.Errorf("queue annotation = %q, want the full name", d.Annotations[AnnotationQueue])
	}
	if LabelValue(long) == LabelValue(long+"x") {
		t.Error("shortened labels of different names collide")
	}
}

func TestRejectsTemplateWithoutContainers(t *testing.T) {
	p := basePool(func(p *v1alpha1.WorkerPool) { p.Spec.Template.Spec.Containers = nil })
	if _, err := Deployment(p, testOpts); err == nil || !strings.Contains(err.Error(), "spec.template.spec.containers") {
		t.Errorf("err = %v, want one naming spec.template.spec.containers", err)
	}
}
