package server_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

var polls atomic.Int64

// runWorkers polls queue with `workers` goroutines (max tasks each) and completes tasks in
// batches until total tasks completed; it returns when done.
func runWorkers(b *testing.B, c matchingv1.MatchingServiceClient, queue string, workers int, max int32, total int64, done *atomic.Int64) *sync.WaitGroup {
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for done.Load() < total {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				resp, err := c.PollTasks(ctx, &matchingv1.PollTasksRequest{Namespace: "default", Queue: queue, WorkerIdentity: fmt.Sprint("w", w), MaxTasks: max})
				cancel()
				polls.Add(1)
				if err != nil || len(resp.Tasks) == 0 {
					continue
				}
				comps := make([]*matchingv1.CompleteTaskRequest, len(resp.Tasks))
				for i, t := range resp.Tasks {
					comps[i] = &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: t.TaskId, LeaseId: t.LeaseId}
				}
				if _, err := c.CompleteTasks(context.Background(), &matchingv1.CompleteTasksRequest{Completions: comps}); err != nil {
					b.Error(err)
					return
				}
				done.Add(int64(len(comps)))
			}
		}(w)
	}
	return &wg
}

// BenchmarkEndToEndBatched: add in batches of 100 -> poll up to 100 -> complete in batches,
// all synced, over real gRPC on loopback. Reports tasks/s.
func BenchmarkEndToEndBatched(b *testing.B) {
	svc := testserver.StartService(b, testserver.Options{})
	addr := svc.Addr()
	defer func() {
		commits, muts := svc.Engine().CommitStats()
		b.Logf("%d tasks: %d synced commits, %.1f mutations per commit", b.N, commits, float64(muts)/float64(max(commits, 1)))
	}()
	c := dial(b, addr)
	total := int64(b.N)
	var done atomic.Int64
	start := time.Now()
	wg := runWorkers(b, c, "bench", 4, 100, total, &done)
	var aw sync.WaitGroup
	const adders, batch = 4, 100
	var next atomic.Int64
	for a := 0; a < adders; a++ {
		aw.Add(1)
		go func() {
			defer aw.Done()
			for {
				from := next.Add(batch) - batch
				if from >= total {
					return
				}
				n := min(int64(batch), total-from)
				specs := make([]*matchingv1.TaskSpec, n)
				for i := range specs {
					specs[i] = &matchingv1.TaskSpec{Namespace: "default", Queue: "bench", TaskType: "t", TaskId: fmt.Sprint(from + int64(i)), Payload: []byte("0123456789abcdef")}
				}
				if _, err := c.AddTasks(context.Background(), &matchingv1.AddTasksRequest{Tasks: specs}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	aw.Wait()
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "tasks/s")
	b.ReportMetric(float64(total)/float64(polls.Load()), "tasks/poll")
}

// BenchmarkEndToEndSingle: 64 concurrent callers each add one task per call.
func BenchmarkEndToEndSingle(b *testing.B) {
	addr, _ := testserver.Start(b, testserver.Options{})
	c := dial(b, addr)
	total := int64(b.N)
	var done atomic.Int64
	start := time.Now()
	wg := runWorkers(b, c, "bench", 4, 100, total, &done)
	var aw sync.WaitGroup
	var next atomic.Int64
	for a := 0; a < 64; a++ {
		aw.Add(1)
		go func() {
			defer aw.Done()
			for {
				i := next.Add(1) - 1
				if i >= total {
					return
				}
				if _, err := c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "default", Queue: "bench", TaskType: "t", TaskId: fmt.Sprint(i), Payload: []byte("0123456789abcdef")}}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	aw.Wait()
	wg.Wait()
	b.ReportMetric(float64(total)/time.Since(start).Seconds(), "tasks/s")
}

// BenchmarkSyncMatchLatency: one worker waits in a poll; the time from calling AddTask to
// the task being in the worker's hands (poll returned), p50 and p99.
func BenchmarkSyncMatchLatency(b *testing.B) {
	addr, _ := testserver.Start(b, testserver.Options{})
	c := dial(b, addr)
	lat := make([]time.Duration, 0, b.N)
	for i := 0; i < b.N; i++ {
		got := make(chan time.Time, 1)
		go func() {
			resp, err := c.PollTasks(context.Background(), &matchingv1.PollTasksRequest{Namespace: "default", Queue: "lat", WorkerIdentity: "w", MaxTasks: 1})
			if err != nil || len(resp.Tasks) != 1 {
				b.Error("poll", err)
			}
			got <- time.Now()
			if len(resp.GetTasks()) == 1 {
				_, _ = c.CompleteTask(context.Background(), &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: resp.Tasks[0].TaskId, LeaseId: resp.Tasks[0].LeaseId})
			}
		}()
		// Wait until the poll is registered as waiting.
		for {
			d, _ := c.DescribeQueue(context.Background(), &matchingv1.DescribeQueueRequest{Namespace: "default", Queue: "lat"})
			if len(d.GetPollers()) > 0 && waiting(c) {
				break
			}
		}
		start := time.Now()
		go func() {
			_, _ = c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: &matchingv1.TaskSpec{Namespace: "default", Queue: "lat", TaskType: "t", TaskId: fmt.Sprint("l", i)}})
		}()
		lat = append(lat, (<-got).Sub(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// waiting gives the poll goroutine time to reach the server and wait.
func waiting(matchingv1.MatchingServiceClient) bool {
	time.Sleep(2 * time.Millisecond)
	return true
}
