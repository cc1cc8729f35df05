package poolmetrics

import (
	"context"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
	"github.com/taskroute/taskroute/internal/testutil"
)

var cluster *testutil.Cluster

func TestMain(m *testing.M) {
	testutil.RunMain(m, func(c *testutil.Cluster) error { cluster = c; return nil })
}

func newPool(t *testing.T, ns, name, queue, version string, prios []int32, caps ...v1alpha1.Capability) {
	t.Helper()
	p := &v1alpha1.WorkerPool{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1alpha1.WorkerPoolSpec{Queue: queue, Version: version, Priorities: prios, Capabilities: caps,
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "example.com/w"}}}}},
	}
	if err := cluster.Client.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

// gather collects c in a fresh registry and returns each series' value by its labels.
func gather(t *testing.T, c prometheus.Collector) map[string]map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]float64{}
	for _, f := range families {
		out[f.GetName()] = map[string]float64{}
		for _, m := range f.GetMetric() {
			out[f.GetName()][labelString(m)] = m.GetGauge().GetValue()
		}
	}
	return out
}

func labelString(m *dto.Metric) string {
	s := ""
	for _, l := range m.GetLabel() {
		if l.GetName() == "namespace" {
			continue
		}
		s += l.GetName() + "=" + l.GetValue() + ","
	}
	return s
}

func TestPoolBacklogIsTheShareEachPoolServes(t *testing.T) {
	ns := cluster.NewNamespace(t, "poolmetrics")
	svc := testserver.StartService(t, testserver.Options{})
	conn, err := grpc.NewClient(svc.Addr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mc := matchingv1.NewMatchingServiceClient(conn)
	add := func(prio int32, requires ...*matchingv1.Capability) {
		if _, err := mc.AddTask(t.Context(), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{
			Namespace: ns, Queue: "media", TaskType: "encode", Priority: prio, Requires: requires}}); err != nil {
			t.Fatal(err)
		}
	}
	a100 := &matchingv1.Capability{Name: "gpu", Value: "a100"}
	add(3, a100)
	add(3, a100)
	add(1, a100)
	add(1)
	newPool(t, ns, "gpu", "media", "v7", []int32{3}, v1alpha1.Capability{Name: "gpu", Value: "a100"})
	newPool(t, ns, "cpu", "media", "v2", nil)
	// A poll at a level with no task waits until shortly before its deadline, then returns
	// empty; the poller stays live for the liveness timeout.
	pollCtx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := mc.PollTasks(pollCtx, &matchingv1.PollTasksRequest{Namespace: ns, Queue: "media", Pool: "cpu", WorkerIdentity: "w1", MaxTasks: 1, Priorities: []int32{2}}); err != nil {
		t.Fatal(err)
	}

	got := gather(t, New(cluster.Client, svc.Engine(), logr.Discard()))
	backlog := got["taskroute_pool_backlog_tasks"]
	want := map[string]float64{
		"kind=Activity,pool=gpu,priority=3,queue=media,version=v7,": 2,
		"kind=Activity,pool=cpu,priority=1,queue=media,version=v2,": 1,
	}
	if len(backlog) != len(want) {
		t.Fatalf("pool backlog series = %v, want %v", backlog, want)
	}
	for k, v := range want {
		if backlog[k] != v {
			t.Errorf("pool backlog %s = %v, want %v (all: %v)", k, backlog[k], v, backlog)
		}
		if age := got["taskroute_pool_backlog_oldest_age_seconds"][k]; age <= 0 {
			t.Errorf("oldest age %s = %v, want > 0", k, age)
		}
	}
	if n := got["taskroute_queue_pollers"]["pool=cpu,queue=media,"]; n != 1 {
		t.Errorf("pollers of pool cpu = %v, want 1 (all: %v)", n, got["taskroute_queue_pollers"])
	}
	if s := got["taskroute_queue_rate_limit_state"]["queue=media,state=Unlimited,"]; s != 1 {
		t.Errorf("rate limit state Unlimited = %v, want 1 (all: %v)", s, got["taskroute_queue_rate_limit_state"])
	}
	if e := got["taskroute_pool_metrics_errors"][""]; e != 0 {
		t.Errorf("errors = %v", e)
	}
}
