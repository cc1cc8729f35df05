package server_test

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching/testserver"
)

// BenchmarkStreamDrain measures the service's cost per task on the SDK's default path: adds
// (AddTasks of 1,000, or 16 callers of single AddTask) drained by one worker stream with 64
// credits that completes each pushed message at once, over real gRPC on loopback. One op is
// one task added, pushed, completed and acknowledged; -benchmem gives the allocations per
// task of both sides (the raw stream client is thin, so most are the service's), and
// cpu-µs/task the CPU time of the process (service and client) per task.
//
//	go test ./internal/matching/server -run '^$' -bench StreamDrain -benchmem -benchtime 20000x -count 6
func BenchmarkStreamDrain(b *testing.B) {
	b.Run("batched", func(b *testing.B) { benchStreamDrain(b, addBatches) })
	b.Run("single", func(b *testing.B) { benchStreamDrain(b, addSingles) })
}

func benchStreamDrain(b *testing.B, add func(testing.TB, matchingv1.MatchingServiceClient, int)) {
	svc := testserver.StartService(b, testserver.Options{})
	c := dial(b, svc.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := c.WorkerStream(ctx)
	if err != nil {
		b.Fatal(err)
	}
	open := &matchingv1.PollTasksRequest{Namespace: "default", Queue: "drain", WorkerIdentity: "w1", MaxTasks: 64}
	if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Open: open}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU(b)
	done := make(chan error, 1)
	var msgs int
	go func() {
		var err error
		msgs, err = drainStream(s, b.N)
		done <- err
	}()
	add(b, c, b.N)
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(time.Microsecond)/float64(b.N), "cpu-µs/task")
	_ = s.CloseSend()
	b.ReportMetric(float64(msgs)/float64(b.N), "msgs/task")
}

// drainStream completes every pushed task at once, granting its credit back in the same
// message, until n completions are acknowledged. It returns how many messages the service
// sent meanwhile (pushes and acks).
func drainStream(s matchingv1.MatchingService_WorkerStreamClient, n int) (int, error) {
	acked, seq, msgs := 0, uint64(0), 0
	for acked < n {
		m, err := s.Recv()
		if err != nil {
			return msgs, err
		}
		msgs++
		for _, a := range m.GetAcks() {
			acked += len(a.GetErrors())
		}
		if len(m.GetTasks()) == 0 {
			continue
		}
		seq++
		comps := make([]*matchingv1.CompleteTaskRequest, len(m.GetTasks()))
		for i, t := range m.GetTasks() {
			comps[i] = &matchingv1.CompleteTaskRequest{Namespace: "default", TaskId: t.TaskId, LeaseId: t.LeaseId, WorkerIdentity: "w1"}
		}
		if err := s.Send(&matchingv1.WorkerStreamRequest{Namespace: "default", Credits: int32(len(comps)), Seq: seq, Completions: comps}); err != nil {
			return msgs, err
		}
	}
	return msgs, nil
}

// processCPU is the CPU time (user and system) the process used so far: unlike the wall
// time per op, it does not grow when other processes compete for the cores.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

var drainPayload = bytes.Repeat([]byte("p"), 100)

func drainSpec() *matchingv1.TaskSpec {
	return &matchingv1.TaskSpec{Namespace: "default", Queue: "drain", TaskType: "t", Payload: drainPayload}
}

// addBatches adds n tasks with service-generated ids in AddTasks calls of 1,000.
func addBatches(t testing.TB, c matchingv1.MatchingServiceClient, n int) {
	for from := 0; from < n; from += 1000 {
		specs := make([]*matchingv1.TaskSpec, min(1000, n-from))
		for i := range specs {
			specs[i] = drainSpec()
		}
		if _, err := c.AddTasks(context.Background(), &matchingv1.AddTasksRequest{Tasks: specs}); err != nil {
			t.Error(err)
			return
		}
	}
}

// addSingles adds n tasks with 16 concurrent callers of AddTask.
func addSingles(t testing.TB, c matchingv1.MatchingServiceClient, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if _, err := c.AddTask(context.Background(), &matchingv1.AddTaskRequest{Task: drainSpec()}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
}
