package worker

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// BenchmarkRunTask is the worker's own cost of running a delivered task with a no-op
// handler and a 10-minute start-to-close timeout (its context and deadline, queueing the
// completion for the stream), 64 slots, on the executors. No service: the completions
// are taken off the queue (and their slots freed).
// cpu-ns/op is the process's CPU time per task (it survives a loaded machine better than
// ns/op).
//
//	go test -run XXX -bench RunTask -benchmem -count 6 ./pkg/worker/
func BenchmarkRunTask(b *testing.B) {
	b.Run("executors", func(b *testing.B) {
		benchmarkRunTask(b, func(w *Worker, t *Task) { w.executors.run(t) })
	})
}

func benchmarkRunTask(b *testing.B, run func(*Worker, *Task)) {
	c, err := client.Dial(context.Background(), "127.0.0.1:1") // never called: lazy
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w, err := New(c, Options{Queue: "q", Slots: 64})
	if err != nil {
		b.Fatal(err)
	}
	w.Register("t", func(context.Context, *Task) ([]byte, error) { return nil, nil })
	w.executors = newExecutors(w)
	defer w.executors.close()
	w.stream = &streamer{w: w, queue: make(chan *completion, 1024), done: make(chan struct{})}
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for item := range w.stream.queue {
			w.stream.freeSlot(item)
		}
	}()
	p := &matchingv1.Task{TaskId: "id", TaskType: "t", LeaseId: "lease", StartToCloseTimeout: durationpb.New(10 * time.Minute)}
	b.ReportAllocs()
	cpu0 := ProcessCPU(b)
	for b.Loop() {
		w.slots <- struct{}{}
		w.taskWG.Add(1)
		run(w, newTask(w, p))
	}
	w.taskWG.Wait()
	close(w.stream.queue)
	<-drained
	b.ReportMetric(float64(ProcessCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}
