package worker

import (
	"context"
	"testing"
	"time"
	"unsafe"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// TestPerTaskAllocations guards what a task costs beyond its contexts: a task without
// automatic heartbeats is one allocation (the heartbeat retry channel only with them), and
// an outcome queued for the stream one (its queue item holds its request; the channel that
// answers a unary report only once one is made).
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
	if task := newTask(w, plain); task.beats != nil {
		t.Error("a task without a heartbeat timeout carries heartbeat state before it heartbeats")
	}
	// The heartbeat state lives outside Task so that a Task fits the 448-byte size class
	// (512 with it).
	if size := unsafe.Sizeof(Task{}); size > 448 {
		t.Errorf("a Task is %d bytes; want at most 448", size)
	}
	beating := &matchingv1.Task{TaskId: "id", TaskType: "t", LeaseId: "lease", HeartbeatTimeout: durationpb.New(time.Second)}
	if task := newTask(w, beating); task.retryNow == nil || task.beats == nil {
		t.Error("a task with automatic heartbeats has no retry channel or no heartbeat state")
	}
	w.stream = &streamer{w: w, queue: make(chan *completion, 1), done: make(chan struct{})}
	task := newTask(w, plain)
	if n := testing.AllocsPerRun(100, func() {
		w.complete(task, nil)
		<-w.stream.queue
	}); n != 1 {
		t.Errorf("a completion queued for the stream: %.0f allocations; want 1", n)
	}
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
