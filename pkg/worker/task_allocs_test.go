package worker

import (
	"context"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestPerTaskAllocations guards what a task costs beyond its contexts: a task without
// automatic heartbeats is one allocation of at most 576 bytes (the heartbeat retry channel
// and the extras only with heartbeats), and its outcome queued for the stream none (it
// lives in the Task and holds its request; the channel that answers a unary report only
// once one is made).
func TestPerTaskAllocations(t *testing.T) {
	c, err := client.Dial(context.Background(), "127.0.0.1:1") // never called: lazy
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	w, err := New(c, Options{Queue: "q", Slots: 1})
	if err != nil {
		t.Fatal(err)
	}
	plain := &matchingv1.Task{TaskId: "id", TaskType: "t", LeaseId: "lease"}
	if n := testing.AllocsPerRun(100, func() { newTask(w, plain) }); n != 1 {
		t.Errorf("a task without heartbeats: %.0f allocations; want 1", n)
	}
	if task := newTask(w, plain); task.extras != nil {
		t.Error("a task without a heartbeat timeout carries extras before it heartbeats")
	}
	// The extras live outside Task so that a Task with its outcome fits the 576-byte size
	// class: 568 bytes and the 8-byte header the runtime adds to an object over 512 bytes
	// with pointers (with the extras inside, a 512-byte Task and a 160-byte outcome).
	if per := bytesPerRun(10000, func() { taskSink = newTask(w, plain) }); per >= 600 {
		t.Errorf("a Task allocates %d bytes; want the 576-byte size class (%d bytes unpadded)", per, unsafe.Sizeof(Task{}))
	}
	beating := &matchingv1.Task{TaskId: "id", TaskType: "t", LeaseId: "lease", HeartbeatTimeout: durationpb.New(time.Second)}
	if task := newTask(w, beating); task.retryNow == nil || task.extras == nil {
		t.Error("a task with automatic heartbeats has no retry channel or no heartbeat state")
	}
	w.stream = &streamer{w: w, queue: make(chan *completion, 1), done: make(chan struct{})}
	task := newTask(w, plain)
	if n := testing.AllocsPerRun(100, func() {
		w.complete(task, nil)
		<-w.stream.queue
	}); n != 0 {
		t.Errorf("a completion queued for the stream: %.0f allocations; want none", n)
	}
}

// taskSink keeps what bytesPerRun's f makes on the heap.
var taskSink any

// bytesPerRun is the heap bytes (size classes, headers included) of one run of f, averaged
// over runs.
func bytesPerRun(runs int, f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / uint64(runs)
}

// BenchmarkNewTask is building the Task of a pushed task without a heartbeat timeout (the
// received message's strings and bytes are taken as they are, not copied).
//
//	go test -run XXX -bench NewTask -benchmem -count 6 ./pkg/worker/
func BenchmarkNewTask(b *testing.B) {
	w := unitWorker(b)
	p := &matchingv1.Task{
		Namespace: "ns", Queue: "q", TaskId: "id", TaskType: "t", LeaseId: "lease", Payload: make([]byte, 100),
		StartToCloseTimeout: durationpb.New(time.Minute), ScheduledTime: timestamppb.Now(), StartedTime: timestamppb.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		newTask(w, p)
	}
}
