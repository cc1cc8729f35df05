package matching

import (
	"testing"
	"unsafe"

	"github.com/google/uuid"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestGeneratedIDIsUUIDv7Text: a generated id is the text form of a UUIDv7, as
// uuid.UUID.String writes it, and the key it comes with is the task-table key of the id.
func TestGeneratedIDIsUUIDv7Text(t *testing.T) {
	key, id := newIDBatch(1).keyWithGeneratedID("team-a")
	u, err := uuid.Parse(id)
	if err != nil || u.Version() != 7 || u.String() != id {
		t.Fatalf("id %q: parsed %v (version %d), err %v", id, u, u.Version(), err)
	}
	if key != taskKey("team-a", id) {
		t.Fatalf("key %q; want %q", key, taskKey("team-a", id))
	}
}

// TestDecodedTaskHasItsKey: a task read from its record carries the key it is stored under.
func TestDecodedTaskHasItsKey(t *testing.T) {
	in := newTask(&matchingv1.TaskSpec{Namespace: "ns", Queue: "q", TaskId: "id-1", TaskType: "t"}, *defaultConfig, 1, nil)
	out, err := decodeTask(in.encode(nil))
	if err != nil {
		t.Fatal(err)
	}
	if out.key != taskKey("ns", "id-1") || out.ns != "ns" || out.id != "id-1" || out.queue != "q" {
		t.Fatalf("decoded key %q ns %q id %q queue %q", out.key, out.ns, out.id, out.queue)
	}
}

func TestCompletionKeys(t *testing.T) {
	keys := completionKeys([]*matchingv1.CompleteTaskRequest{{Namespace: "a", TaskId: "1"}, {Namespace: "bb", TaskId: ""}, {Namespace: "", TaskId: "33"}})
	want := []string{taskKey("a", "1"), taskKey("bb", ""), taskKey("", "33")}
	for i := range want {
		if keys[i] != want[i] {
			t.Fatalf("keys %q; want %q", keys, want)
		}
	}
}

// TestTaskFitsItsSizeClass: a task stays in the allocator's 576-byte class (TaskLife
// allocates one per add and per record read).
func TestTaskFitsItsSizeClass(t *testing.T) {
	if n := unsafe.Sizeof(task{}); n > maxTaskSize {
		t.Fatalf("a task is %d bytes, more than the %d-byte size class", n, maxTaskSize)
	}
}

// TestDecodeReusesRecentNames: a record of the same queue and task type as the last one a
// shard decoded reuses their strings (two allocations fewer per record a backlog page
// loads), and a record of another queue or type gets its own.
func TestDecodeReusesRecentNames(t *testing.T) {
	// Names longer than one byte: one-byte strings never allocate.
	rec := newTask(&matchingv1.TaskSpec{Namespace: "ns", Queue: "orders", TaskId: "id-1", TaskType: "charge"}, *defaultConfig, 1, nil).encode(nil)
	var recent recentNames
	if _, err := decodeTaskReusing(rec, &recent); err != nil {
		t.Fatal(err)
	}
	plain := testing.AllocsPerRun(100, func() { _, _ = decodeTask(rec) })
	reusing := testing.AllocsPerRun(100, func() { _, _ = decodeTaskReusing(rec, &recent) })
	if reusing != plain-2 {
		t.Fatalf("decoding allocated %.0f times reusing the recent names, %.0f without; want 2 fewer", reusing, plain)
	}
	other := newTask(&matchingv1.TaskSpec{Namespace: "ns", Queue: "refunds", TaskId: "id-2", TaskType: "refund"}, *defaultConfig, 1, nil).encode(nil)
	got, err := decodeTaskReusing(other, &recent)
	if err != nil || got.queue != "refunds" || got.taskType != "refund" || recent != (recentNames{"refunds", "refund"}) {
		t.Fatalf("decoded queue %q type %q (recent %+v), %v", got.queue, got.taskType, recent, err)
	}
}

// TestGeneratedIDsAreOrdered: the ids of a batch and of the next batch are distinct
// UUIDv7s in increasing order, also past 4,096 ids in one millisecond (the sequence's
// range, whose overflow moves on to the next millisecond as NewV7's does).
func TestGeneratedIDsAreOrdered(t *testing.T) {
	last := ""
	for _, n := range []int{5000, 3} {
		ids := newIDBatch(n)
		for range n {
			_, id := ids.keyWithGeneratedID("ns")
			u, err := uuid.Parse(id)
			if err != nil || u.Version() != 7 || u.Variant() != uuid.RFC4122 || u.String() != id {
				t.Fatalf("id %q: parsed %v (version %d, variant %v), err %v", id, u, u.Version(), u.Variant(), err)
			}
			if id <= last {
				t.Fatalf("id %q after %q", id, last)
			}
			last = id
		}
	}
}
