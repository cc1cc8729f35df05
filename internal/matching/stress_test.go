package matching

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// TestNoTaskLostUnderRacingPollsAndPageIns is a bounded stress test of the dispatch paths
// that can lose a task: batched adds with caller ids (existence checks against evictions),
// a buffer of 8 per level so most of the backlog lives on disk and is paged in while adds
// commit, polls whose deadline or cancel races the hand-over (requeue of claimed and of
// sync-matched tasks), and completions and reads that evict tasks from memory far more
// often than the shards remember. Every added task must end Completed: one left Scheduled
// is stranded in the backlog, one left Started was handed to a poll that did not return it.
// It runs once on the plain partition and once with the tasks spread over fairness keys,
// whose partitions are paged in through the fairness index.
func TestNoTaskLostUnderRacingPollsAndPageIns(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	t.Run("plain", func(t *testing.T) { noTaskLostUnderRacingPollsAndPageIns(t, 0) })
	t.Run("fairness-keys", func(t *testing.T) { noTaskLostUnderRacingPollsAndPageIns(t, 7) })
}

func noTaskLostUnderRacingPollsAndPageIns(t *testing.T, keys int) {
	v := open(t, t.TempDir(), Options{BufferSize: 8})
	e := v.e
	const adders, batches, perBatch = 4, 40, 25
	const total = adders * batches * perBatch
	ids := make([]string, 0, total)
	for a := 0; a < adders; a++ {
		for b := 0; b < batches; b++ {
			for i := 0; i < perBatch; i++ {
				ids = append(ids, fmt.Sprintf("a%d-b%d-%d", a, b, i))
			}
		}
	}
	stop := time.Now().Add(15 * time.Second)
	var completed atomic.Int64
	var wg sync.WaitGroup
	for a := 0; a < adders; a++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := 0; b < batches; b++ {
				specs := make([]*matchingv1.TaskSpec, perBatch)
				for i := range specs {
					specs[i] = tspec(ids[(a*batches+b)*perBatch+i], func(s *matchingv1.TaskSpec) {
						if keys > 0 {
							s.FairnessKey = fmt.Sprint("k", (b*perBatch+i)%keys)
						}
					})
				}
				if _, err := e.AddTasks(context.Background(), specs); err != nil {
					t.Error(err)
					return
				}
				// A repeated batch is idempotent and exercises the existence check.
				if b%5 == 0 {
					if res, err := e.AddTasks(context.Background(), specs); err != nil || res[0].Created {
						t.Errorf("repeated add: created %v, err %v", res != nil && res[0].Created, err)
						return
					}
				}
				time.Sleep(time.Duration(rand.IntN(3)) * time.Millisecond)
			}
		}()
	}
	// Readers load finished tasks into memory and evict them again.
	wg.Add(1)
	go func() {
		defer wg.Done()
		for completed.Load() < total && time.Now().Before(stop) {
			id := ids[rand.IntN(len(ids))]
			if _, err := e.Get(context.Background(), "ns", id, 0); err != nil && !isNotFound(err) {
				t.Error(err)
				return
			}
		}
	}()
	for p := 0; p < 8; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for completed.Load() < total && time.Now().Before(stop) {
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(1+rand.IntN(20))*time.Millisecond)
				if rand.IntN(4) == 0 {
					// Cancel instead of timing out, at a random moment.
					go func() { time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond); cancel() }()
				}
				got, err := e.Poll(ctx, &matchingv1.PollTasksRequest{Namespace: "ns", Queue: "q", WorkerIdentity: fmt.Sprint("w", p), MaxTasks: int32(1 + rand.IntN(10))})
				cancel()
				if err != nil {
					if len(got) != 0 {
						t.Errorf("poll returned %d tasks with error %v", len(got), err)
					}
					continue
				}
				reqs := make([]*matchingv1.CompleteTaskRequest, len(got))
				for i, tk := range got {
					reqs[i] = &matchingv1.CompleteTaskRequest{Namespace: "ns", TaskId: tk.TaskId, LeaseId: tk.LeaseId}
				}
				if len(reqs) == 0 {
					continue
				}
				for i, ie := range e.CompleteManyAs(reqs, "") {
					if ie != nil {
						t.Errorf("complete %s: %v", reqs[i].TaskId, ie.Message)
						continue
					}
					completed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := completed.Load(); n == total {
		return
	}
	states := map[matchingv1.TaskState][]string{}
	for _, id := range ids {
		info, err := e.Get(context.Background(), "ns", id, 0)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		states[info.State] = append(states[info.State], id)
	}
	for st, l := range states {
		if st != matchingv1.TaskState_TASK_STATE_COMPLETED {
			t.Errorf("%d tasks %s, e.g. %v", len(l), st, l[:min(5, len(l))])
		}
	}
	t.Fatalf("completed %d of %d tasks within the bound", completed.Load(), total)
}

func isNotFound(err error) bool { return status.Code(err) == codes.NotFound }
