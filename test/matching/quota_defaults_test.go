package matching

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestStandaloneHasNoAddRateQuotaByDefault: 20,000 tasks added at once (twice the
// cluster default burst) are all accepted by a standalone service, and the same load is
// throttled when --quota-add-rate is given, which shows the load reaches the quota.
func TestStandaloneHasNoAddRateQuotaByDefault(t *testing.T) {
	if refused := addAtOnce(t, startServer(t, "")); refused != 0 {
		t.Errorf("standalone default refused %d of 20 batches", refused)
	}
	if refused := addAtOnce(t, startServer(t, "", "--quota-add-rate=5000", "--quota-add-burst=10000")); refused == 0 {
		t.Errorf("--quota-add-rate=5000 refused nothing: the load does not reach the quota")
	}
}

// addAtOnce adds 20 batches of 1,000 tasks concurrently and returns how many batches
// were refused with ResourceExhausted. It calls the service directly, so no SDK retry
// hides a refusal.
func addAtOnce(t *testing.T, s *server) (refused int) {
	t.Helper()
	c := s.client()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var (
		wg sync.WaitGroup
		mu sync.Mutex
	)
	for b := range 20 {
		req := &matchingv1.AddTasksRequest{}
		for i := range 1000 {
			req.Tasks = append(req.Tasks, &matchingv1.TaskSpec{Namespace: "e2e", Queue: "bulk", TaskType: "echo", TaskId: fmt.Sprintf("b%d-%d", b, i)})
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Service().AddTasks(ctx, req)
			mu.Lock()
			defer mu.Unlock()
			switch status.Code(err) {
			case codes.OK:
			case codes.ResourceExhausted:
				refused++
			default:
				t.Errorf("batch %d: %v", b, err)
			}
		}()
	}
	wg.Wait()
	return refused
}
