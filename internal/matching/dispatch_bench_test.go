package matching

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// BenchmarkRoutedDispatch compares dispatch through the matcher for a plain queue and for
// a queue whose tasks each require one of 100 capability sets, with 1,000 waiting pollers
// (10 per set), in one process (engine only: no gRPC). It reports dispatched tasks/s and
// the p99 from the start of the add to the poll's return.
//
//	go test ./internal/matching -run '^$' -bench RoutedDispatch -benchtime 20000x
func BenchmarkRoutedDispatch(b *testing.B) {
	for _, sets := range []int{0, 100} {
		name := "plain"
		if sets > 0 {
			name = fmt.Sprintf("%d-capability-sets", sets)
		}
		b.Run(name, func(b *testing.B) { benchDispatch(b, sets, 1000) })
	}
}

func benchDispatch(b *testing.B, sets, pollers int) {
	v := openUnchecked(b, b.TempDir(), Options{})
	e := v.e
	capsOf := func(i int) []*matchingv1.Capability {
		if sets == 0 {
			return nil
		}
		return []*matchingv1.Capability{{Name: "pool", Value: fmt.Sprint(i % sets)}}
	}
	var mu sync.Mutex
	added := map[string]time.Time{}
	latencies := make([]time.Duration, 0, b.N)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	var got sync.WaitGroup
	got.Add(b.N)
	var wg sync.WaitGroup
	for p := range pollers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w", p), MaxTasks: 10, Capabilities: capsOf(p)}
			for ctx.Err() == nil {
				pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
				tasks, _ := e.Poll(pctx, req)
				pcancel()
				now := time.Now()
				mu.Lock()
				for _, t := range tasks {
					latencies = append(latencies, now.Sub(added[t.TaskId]))
				}
				mu.Unlock()
				for range tasks {
					got.Done()
				}
			}
		}()
	}
	go func() { got.Wait(); close(done) }()
	// Time from when every poller is listed (it polled; it parks right after).
	for deadline := time.Now().Add(time.Minute); len(e.Describe("ns", "q").Pollers) < pollers; {
		if time.Now().After(deadline) {
			b.Fatal("pollers did not all poll within a minute")
		}
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	start := time.Now()
	const batch = 100
	for i := 0; i < b.N; i += batch {
		specs := make([]*matchingv1.TaskSpec, 0, batch)
		mu.Lock()
		for j := i; j < min(i+batch, b.N); j++ {
			id := fmt.Sprint("t", j)
			specs = append(specs, tspec(id, func(s *matchingv1.TaskSpec) { s.Requires = capsOf(j) }))
			added[id] = time.Now()
		}
		mu.Unlock()
		if _, err := e.AddTasks(context.Background(), specs); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatal("not every task was dispatched within 2 minutes")
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	wg.Wait()
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "tasks/s")
	b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds()), "p50-µs")
}
