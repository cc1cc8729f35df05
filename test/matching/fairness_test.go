package matching

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// addKeyed adds n echo tasks of one fairness key to queue, in batches, and returns their ids.
func addKeyed(t testing.TB, c *client.Client, queue, key string, n int) []string {
	t.Helper()
	ids := make([]string, 0, n)
	for len(ids) < n {
		var batch []client.Task
		for i := len(ids); i < min(n, len(ids)+500); i++ {
			id := fmt.Sprintf("%s-%05d", key, i)
			batch = append(batch, client.Task{ID: id, Queue: queue, Type: "echo", FairnessKey: key})
		}
		if _, err := c.AddTasks(context.Background(), batch); err != nil {
			t.Fatal(err)
		}
		for _, tk := range batch {
			ids = append(ids, tk.ID)
		}
	}
	return ids
}

// executionOrder reads the worker's execution log and returns the task ids in the order
// they ran.
func executionOrder(t testing.TB, w *workerProc) []string {
	t.Helper()
	f, err := os.Open(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	type run struct {
		at int64
		id string
	}
	var runs []run
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 3 {
			at, _ := strconv.ParseInt(fields[0], 10, 64)
			runs = append(runs, run{at, fields[1]})
		}
	}
	slices.SortStableFunc(runs, func(a, b run) int { return int(a.at - b.at) })
	ids := make([]string, len(runs))
	for i, r := range runs {
		ids[i] = r.id
	}
	return ids
}

// TestFairnessFloodingTenant: one tenant floods a queue with 3,000 tasks before another
// adds 20; a real worker process serves the two keys in turn, so the small tenant's tasks
// run among the first executions instead of after the flood.
func TestFairnessFloodingTenant(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	addKeyed(t, c, "fair", "flood", 3000)
	small := addKeyed(t, c, "fair", "small", 20)
	w := startWorker(t, s.addr, workerConfig{queue: "fair", types: "echo", slots: 4, id: "fair-worker"})
	waitAll(t, c, small, 60*time.Second)
	w.terminate(10 * time.Second)

	order := executionOrder(t, w)
	last := -1
	for i, id := range order {
		if strings.HasPrefix(id, "small-") {
			last = i
		}
	}
	// Served in turn, the 20 small tasks are done within about 40 executions; a slot's
	// worth of tasks per poll of slack on top.
	if last < 0 || last >= 48 {
		t.Fatalf("the last small task ran as execution %d of %d, want within the first 48", last+1, len(order))
	}
	t.Logf("the last of 20 small tasks ran as execution %d, with 3,000 flood tasks queued ahead of them", last+1)
}

// TestFairnessInvalidInput: fairness keys over 64 bytes, negative or too large weights and
// bad queue fairness settings get InvalidArgument naming the field, over real gRPC.
func TestFairnessInvalidInput(t *testing.T) {
	s := startServer(t, "")
	c := s.client()
	defer c.Close()
	rpc := c.Service()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	check := func(name string, err error, field string) {
		t.Helper()
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), field) {
			t.Errorf("%s: got %s %q; want InvalidArgument naming %q", name, st.Code(), st.Message(), field)
		}
	}
	add := func(mut func(*matchingv1.TaskSpec)) error {
		sp := &matchingv1.TaskSpec{Namespace: "e2e", Queue: "fair", TaskType: "echo"}
		mut(sp)
		_, err := rpc.AddTask(ctx, &matchingv1.AddTaskRequest{Task: sp})
		return err
	}
	check("key of 65 bytes", add(func(s *matchingv1.TaskSpec) { s.FairnessKey = strings.Repeat("k", 65) }), "task.fairness_key")
	check("key with a control character", add(func(s *matchingv1.TaskSpec) { s.FairnessKey = "a\x1eb" }), "task.fairness_key")
	check("negative weight", add(func(s *matchingv1.TaskSpec) { s.FairnessWeight = -1 }), "task.fairness_weight")
	check("weight over 1000", add(func(s *matchingv1.TaskSpec) { s.FairnessWeight = 1001 }), "task.fairness_weight")
	if err := add(func(s *matchingv1.TaskSpec) { s.FairnessKey = strings.Repeat("k", 64); s.FairnessWeight = 1000 }); err != nil {
		t.Errorf("a key of 64 bytes with weight 1000 was refused: %v", err)
	}

	set := func(cfg *matchingv1.QueueConfig, paths ...string) error {
		_, err := rpc.SetQueueConfig(ctx, &matchingv1.SetQueueConfigRequest{Namespace: "e2e", Queue: "fair", Config: cfg,
			UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		return err
	}
	check("override weight 0", set(&matchingv1.QueueConfig{FairnessWeightOverrides: map[string]int32{"a": 0}}, "fairness_weight_overrides"),
		"config.fairness_weight_overrides")
	check("override key of 65 bytes", set(&matchingv1.QueueConfig{FairnessWeightOverrides: map[string]int32{strings.Repeat("k", 65): 2}}, "fairness_weight_overrides"),
		"config.fairness_weight_overrides")
	check("key rate without burst", set(&matchingv1.QueueConfig{FairnessKeyRateLimit: 5}, "fairness_key_rate_limit"), "config.fairness_key_burst")
	check("negative key rate", set(&matchingv1.QueueConfig{FairnessKeyRateLimit: -1}, "fairness_key_rate_limit"), "config.fairness_key_rate_limit")
	if err := set(&matchingv1.QueueConfig{FairnessKeyRateLimit: 5, FairnessKeyBurst: 2, FairnessWeightOverrides: map[string]int32{"gold": 5}},
		"fairness_key_rate_limit", "fairness_key_burst", "fairness_weight_overrides"); err != nil {
		t.Fatalf("valid fairness settings refused: %v", err)
	}
	cfg, err := c.GetQueueConfig(ctx, "fair")
	if err != nil || cfg.FairnessKeyRateLimit != 5 || cfg.FairnessKeyBurst != 2 || cfg.FairnessWeightOverrides["gold"] != 5 {
		t.Fatalf("queue config after set = %+v, %v", cfg, err)
	}
}
