package poolmetrics

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/server"
)

const dashboardDir = "../../charts/taskroute/dashboards"

// TestDashboardQueriesNameExportedMetrics: every PromQL expression of the shipped Grafana
// dashboards (panels and variables) parses, and every metric it selects is one the
// manager exports, gathered from the real registries after the matching service and this
// collector ran a little traffic (a sync match, a backlog, a poller of a pool).
func TestDashboardQueriesNameExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	files, err := os.ReadDir(dashboardDir)
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in %s: %v", dashboardDir, err)
	}
	for _, f := range files {
		for _, expr := range dashboardQueries(t, dashboardDir+"/"+f.Name()) {
			names, err := metricNames(expr)
			if err != nil {
				t.Errorf("%s: %q: %v", f.Name(), expr, err)
				continue
			}
			if len(names) == 0 {
				t.Errorf("%s: %q selects no metric", f.Name(), expr)
			}
			for _, n := range names {
				if !exported[n] {
					t.Errorf("%s: %q names %s, which the manager does not export", f.Name(), expr, n)
				}
			}
		}
	}
}

func TestMetricNamesOfPromQL(t *testing.T) {
	names, err := metricNames(`sum by (namespace) (rate(a_total{ns=~"$namespace", q="x(y"}[$__rate_interval])) / on (namespace) group_left b > bool 0.5`)
	if err != nil || strings.Join(names, ",") != "a_total,b" {
		t.Fatalf("names = %v, %v; want a_total and b", names, err)
	}
	for _, bad := range []string{`sum(a`, `a{b="c"`, `a]`, `a{b="c}`, `a # b`} {
		if _, err := metricNames(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if q := templateQuery(`label_values(a{ns=~"$namespace"}, queue)`); q != `a{ns=~"$namespace"}` {
		t.Errorf("template query = %q", q)
	}
}

// dashboardQueries returns every PromQL expression of a dashboard.
func dashboardQueries(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct {
				Type  string
				Query json.RawMessage
			}
		}
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var exprs []string
	for _, p := range d.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("%s: panel %q has no query", path, p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		var q struct{ Query string }
		if err := json.Unmarshal(v.Query, &q); err != nil {
			t.Fatalf("%s: variable query: %v", path, err)
		}
		exprs = append(exprs, templateQuery(q.Query))
	}
	return exprs
}

// exportedMetrics starts the matching service and this collector on a registry as the
// manager does, runs traffic so every labelled series exists, lets the reconcilers scale an
// autoscaled pool, and returns the names gathered from it and from controller-runtime's
// registry (histograms with their series suffixes).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	ns := cluster.NewNamespace(t, "dashboard")
	reg := prometheus.NewRegistry()
	svc, err := server.Open(server.Config{Address: "127.0.0.1:0", DataDir: t.TempDir(), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = svc.Start(t.Context()) }()
	t.Cleanup(svc.Stop)
	reg.MustRegister(New(cluster.Client, svc.Engine(), logr.Discard()))
	newPool(t, ns, "pool", "q", "v1", nil)
	runTraffic(t, svc.Addr(), ns)
	runAutoscaler(t, svc.Engine(), ns)

	exported := map[string]bool{}
	for _, g := range []prometheus.Gatherer{reg, ctrlmetrics.Registry} {
		families, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range families {
			exported[f.GetName()] = true
			if f.GetType().String() == "HISTOGRAM" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					exported[f.GetName()+s] = true
				}
			}
		}
	}
	return exported
}

// runTraffic: a worker of the pool waits, a task is sync-matched to it, a second task
// waits in the backlog.
func runTraffic(t *testing.T, addr, ns string) {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	mc := matchingv1.NewMatchingServiceClient(conn)
	polled := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		_, err := mc.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: ns, Queue: "q", Pool: "pool", WorkerIdentity: "w", MaxTasks: 1})
		polled <- err
	}()
	add := func() {
		if _, err := mc.AddTask(t.Context(), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: ns, Queue: "q", TaskType: "t"}}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(describe(t, mc, ns).GetPollers()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the poll did not arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	add()
	if err := <-polled; err != nil {
		t.Fatal(err)
	}
	add()
}

func describe(t *testing.T, mc matchingv1.MatchingServiceClient, ns string) *matchingv1.DescribeQueueResponse {
	t.Helper()
	d, err := mc.DescribeQueue(t.Context(), &matchingv1.DescribeQueueRequest{Namespace: ns, Queue: "q"})
	if err != nil {
		t.Fatal(err)
	}
	return d
}
