package kedascaler_test

import (
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	esv1 "github.com/taskroute/taskroute/api/externalscaler/v1alpha1"
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

const ns = "ml"

// clients dials a real matching service on loopback with both protocols: KEDA's, as KEDA's
// external scaler client calls it, and the matching protocol to add and take tasks.
func clients(t *testing.T, recheck time.Duration) (esv1.ExternalScalerClient, matchingv1.MatchingServiceClient) {
	t.Helper()
	addr, _ := testserver.Start(t, testserver.Options{ScalerRecheck: recheck})
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return esv1.NewExternalScalerClient(conn), matchingv1.NewMatchingServiceClient(conn)
}

func ref(md map[string]string) *esv1.ScaledObjectRef {
	return &esv1.ScaledObjectRef{Name: "embedder", Namespace: ns, ScalerMetadata: md}
}

func add(t *testing.T, mc matchingv1.MatchingServiceClient, queue string, priority int32, requires ...*matchingv1.Capability) {
	t.Helper()
	_, err := mc.AddTask(t.Context(), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{
		Namespace: ns, Queue: queue, TaskType: "embed", Priority: priority, Requires: requires}})
	if err != nil {
		t.Fatal(err)
	}
}

func gpu(value string) *matchingv1.Capability {
	return &matchingv1.Capability{Name: "gpu", Value: value}
}

func metric(t *testing.T, es esv1.ExternalScalerClient, r *esv1.ScaledObjectRef) float64 {
	t.Helper()
	spec, err := es.GetMetricSpec(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	res, err := es.GetMetrics(t.Context(), &esv1.GetMetricsRequest{ScaledObjectRef: r, MetricName: spec.MetricSpecs[0].MetricName})
	if err != nil {
		t.Fatal(err)
	}
	return res.MetricValues[0].MetricValueFloat
}

func active(t *testing.T, es esv1.ExternalScalerClient, r *esv1.ScaledObjectRef) bool {
	t.Helper()
	res, err := es.IsActive(t.Context(), r)
	if err != nil {
		t.Fatal(err)
	}
	return res.Result
}

func TestMetricsOfTheBacklogAPoolServes(t *testing.T) {
	es, mc := clients(t, 0)
	add(t, mc, "embed", 3, gpu("a100"))
	add(t, mc, "embed", 4, gpu("a100"))
	add(t, mc, "embed", 3, gpu("h100")) // another pool's
	add(t, mc, "embed", 1)              // a priority the pool does not poll
	a100 := map[string]string{"queue": "embed", "capabilities": "gpu=a100,arch=amd64", "priorities": "3,4,5", "targetBacklog": "2.5"}

	if got := metric(t, es, ref(a100)); got != 2 {
		t.Fatalf("a100 pool backlog = %v, want 2", got)
	}
	if got := metric(t, es, ref(map[string]string{"queue": "embed"})); got != 4 {
		t.Fatalf("whole queue backlog = %v, want 4", got)
	}
	if got := metric(t, es, ref(map[string]string{"queue": "embed", "capabilities": ""})); got != 1 {
		t.Fatalf("backlog of a pool without capabilities = %v, want 1", got)
	}
	if got := metric(t, es, ref(map[string]string{"queue": "embed", "kind": "Workflow"})); got != 0 {
		t.Fatalf("workflow backlog = %v, want 0", got)
	}
	age := map[string]string{"queue": "embed", "capabilities": "gpu=a100", "metric": "backlogAge", "targetAge": "1m"}
	if got := metric(t, es, ref(age)); got <= 0 || got > 60 {
		t.Fatalf("a100 backlog age = %vs, want a little above 0", got)
	}

	spec, err := es.GetMetricSpec(t.Context(), ref(a100))
	if err != nil {
		t.Fatal(err)
	}
	if s := spec.MetricSpecs[0]; s.MetricName != "taskroute-backlog" || s.TargetSizeFloat != 2.5 || s.TargetSize != 3 {
		t.Fatalf("metric spec = %v", s)
	}
	spec, err = es.GetMetricSpec(t.Context(), ref(age))
	if err != nil {
		t.Fatal(err)
	}
	if s := spec.MetricSpecs[0]; s.MetricName != "taskroute-backlog-age" || s.TargetSizeFloat != 60 {
		t.Fatalf("age metric spec = %v", s)
	}

	if !active(t, es, ref(a100)) {
		t.Fatal("a100 pool with 2 servable tasks is not active")
	}
	if active(t, es, ref(map[string]string{"queue": "embed", "capabilities": "gpu=t4", "priorities": "3"})) {
		t.Fatal("t4 pool, which serves none of the backlog, is active")
	}
	if active(t, es, ref(map[string]string{"queue": "empty"})) {
		t.Fatal("empty queue is active")
	}
}

// recv waits a bounded time for the stream's next activation.
func recv(t *testing.T, stream grpc.ServerStreamingClient[esv1.IsActiveResponse]) bool {
	t.Helper()
	got := make(chan *esv1.IsActiveResponse, 1)
	errc := make(chan error, 1)
	go func() {
		res, err := stream.Recv()
		if err != nil {
			errc <- err
			return
		}
		got <- res
	}()
	select {
	case res := <-got:
		return res.Result
	case err := <-errc:
		t.Fatalf("StreamIsActive: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("StreamIsActive sent nothing within 10s")
	}
	return false
}

func TestStreamIsActivePushesTheFirstTaskAtOnce(t *testing.T) {
	es, mc := clients(t, time.Hour) // no re-check during the test: only the backlog watch can wake the stream
	stream, err := es.StreamIsActive(t.Context(), ref(map[string]string{"queue": "embed", "capabilities": "gpu=a100"}))
	if err != nil {
		t.Fatal(err)
	}
	if recv(t, stream) {
		t.Fatal("first activation of an empty queue is true")
	}
	add(t, mc, "embed", 0, gpu("a100"))
	if !recv(t, stream) {
		t.Fatal("activation after the first task is false")
	}
}

func TestStreamIsActiveReportsDeactivation(t *testing.T) {
	es, mc := clients(t, 20*time.Millisecond)
	add(t, mc, "embed", 0)
	stream, err := es.StreamIsActive(t.Context(), ref(map[string]string{"queue": "embed"}))
	if err != nil {
		t.Fatal(err)
	}
	if !recv(t, stream) {
		t.Fatal("first activation with a task waiting is false")
	}
	res, err := mc.PollTasks(t.Context(), &matchingv1.PollTasksRequest{Namespace: ns, Queue: "embed", WorkerIdentity: "w", MaxTasks: 1})
	if err != nil || len(res.Tasks) != 1 {
		t.Fatalf("poll: %v, %d tasks", err, len(res.GetTasks()))
	}
	if recv(t, stream) {
		t.Fatal("activation after the backlog emptied is true")
	}
}

func TestBadMetadataIsRejectedNamingTheKey(t *testing.T) {
	es, _ := clients(t, 0)
	cases := []struct {
		key string
		md  map[string]string
	}{
		{"queue", map[string]string{}},
		{"kind", map[string]string{"queue": "q", "kind": "Batch"}},
		{"capabilities", map[string]string{"queue": "q", "capabilities": "gpu=a100,=x"}},
		{"priorities", map[string]string{"queue": "q", "priorities": "3,11"}},
		{"priorities", map[string]string{"queue": "q", "priorities": "high"}},
		{"version", map[string]string{"queue": "q", "version": "v7"}},
		{"metric", map[string]string{"queue": "q", "metric": "latency"}},
		{"targetBacklog", map[string]string{"queue": "q", "targetBacklog": "-1"}},
		{"targetAge", map[string]string{"queue": "q", "metric": "backlogAge", "targetAge": "soon"}},
		{"targetAge", map[string]string{"queue": "q", "targetAge": "30s"}},
		{"targetbacklog", map[string]string{"queue": "q", "targetbacklog": "5"}},
	}
	for _, c := range cases {
		r := ref(c.md)
		_, err := es.IsActive(t.Context(), r)
		wantInvalid(t, "IsActive", err, c.key)
		_, err = es.GetMetricSpec(t.Context(), r)
		wantInvalid(t, "GetMetricSpec", err, c.key)
		_, err = es.GetMetrics(t.Context(), &esv1.GetMetricsRequest{ScaledObjectRef: r, MetricName: "taskroute-backlog"})
		wantInvalid(t, "GetMetrics", err, c.key)
		stream, err := es.StreamIsActive(t.Context(), r)
		if err == nil {
			_, err = stream.Recv()
		}
		wantInvalid(t, "StreamIsActive", err, c.key)
	}
	_, err := es.IsActive(t.Context(), &esv1.ScaledObjectRef{ScalerMetadata: map[string]string{"queue": "q"}})
	wantInvalid(t, "IsActive", err, "namespace")
	_, err = es.GetMetrics(t.Context(), &esv1.GetMetricsRequest{ScaledObjectRef: ref(map[string]string{"queue": "q"}), MetricName: "s0-other"})
	wantInvalid(t, "GetMetrics", err, "metricName")
	// KEDA's own trigger keys are passed on by KEDA and accepted.
	if active(t, es, ref(map[string]string{"queue": "q", "scalerAddress": "taskroute:7233", "enableTLS": "true", "unsafeSsl": "false"})) {
		t.Fatal("empty queue is active")
	}
}

func wantInvalid(t *testing.T, rpc string, err error, key string) {
	t.Helper()
	if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), key+":") {
		t.Errorf("%s with bad %s: got %v, want InvalidArgument naming the key", rpc, key, err)
	}
}
