package operator

import (
	"maps"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/controllers"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/render"
	taskclient "github.com/taskroute/taskroute/pkg/client"
)

// TestDeletionCostOfExternallyScaledPool: a pool sized by an HPA or KEDA (autoscaling mode
// Disabled) whose workers report to the matching service gets the idle-first deletion
// cost too: the pods whose workers run a task cost 1, the idle one keeps no cost (0 to
// the ReplicaSet controller), and further refreshes that do not change the order write
// nothing.
func TestDeletionCostOfExternallyScaledPool(t *testing.T) {
	ns := cluster.NewNamespace(t, "cost")
	bin := buildWorker(t)
	svc := testserver.StartService(t, testserver.Options{})
	const refresh = 200 * time.Millisecond
	startReconcilers(t, svc.Engine(), refresh)

	pool := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ext"},
		Spec: v1alpha1.WorkerPoolSpec{Queue: "q", Replicas: ptr.To[int32](3),
			Autoscaling: &v1alpha1.Autoscaling{Mode: v1alpha1.AutoscalingDisabled, MaxReplicas: 10},
			Template:    corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/w"}}}}},
	}
	if err := cluster.Client.Create(t.Context(), pool); err != nil {
		t.Fatal(err)
	}
	// envtest runs no ReplicaSet controller: the pods are created as it would, each with
	// a worker process.
	pods := []string{"ext-a", "ext-b", "ext-c"}
	workers := map[string]*worker{}
	for _, name := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: render.WorkerLabels(pool)},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/w"}}}}
		if err := cluster.Client.Create(t.Context(), pod); err != nil {
			t.Fatal(err)
		}
		workers[name] = startPodWorker(t, bin, svc.Addr(), ns, "q", "ext", name)
	}

	caller, err := taskclient.Dial(t.Context(), svc.Addr(), taskclient.WithNamespace(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Close()
	for _, id := range []string{"long-0", "long-1"} {
		if _, err := caller.AddTask(t.Context(), taskclient.Task{ID: id, Queue: "q", Type: "block"}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "two workers running a task", 20*time.Second, func() bool { return len(busyPods(workers)) == 2 })

	want := map[string]string{}
	for _, name := range pods {
		want[name] = "" // idle: no annotation
	}
	for _, name := range busyPods(workers) {
		want[name] = "1"
	}
	var got map[string]string
	waitFor(t, "the busy pods' deletion cost", 20*time.Second, func() bool {
		got = podCosts(t, ns)
		return maps.Equal(costsOnly(got), want)
	})

	// The order does not change: several refreshes later no pod was written.
	before := reconciles(t)
	waitFor(t, "three refreshes", 20*time.Second, func() bool { return reconciles(t) >= before+3 })
	if after := podCosts(t, ns); !maps.Equal(after, got) {
		t.Errorf("pods written without a change of order: %v, then %v", got, after)
	}
}

// busyPods are the pods whose worker started a task.
func busyPods(workers map[string]*worker) []string {
	var busy []string
	for pod, w := range workers {
		if w.ranTask() {
			busy = append(busy, pod)
		}
	}
	return busy
}

// podCosts is each pod's deletion-cost annotation and resourceVersion, "cost@version".
func podCosts(t *testing.T, ns string) map[string]string {
	t.Helper()
	var list corev1.PodList
	if err := cluster.Client.List(t.Context(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.Name] = p.Annotations[controllers.AnnotationPodDeletionCost] + "@" + p.ResourceVersion
	}
	return out
}

// costsOnly drops the resourceVersions of podCosts.
func costsOnly(costs map[string]string) map[string]string {
	out := map[string]string{}
	for pod, c := range costs {
		out[pod], _, _ = strings.Cut(c, "@")
	}
	return out
}

// reconciles is how many WorkerPool reconciles finished, from controller-runtime's metric.
func reconciles(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, f := range families {
		if f.GetName() != "controller_runtime_reconcile_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "controller" && l.GetValue() == "workerpool" {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}
