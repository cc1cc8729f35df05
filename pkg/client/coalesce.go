package client

import (
	"context"
	"runtime"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// DefaultAddSenders is how many AddTasks calls of coalesced AddTask calls a Client keeps in
// flight at most (WithAddSenders). One: the service commits writes in groups, and two
// calls in flight split concurrent callers between two commits (each with half of them)
// where one call carries them all into one. Measured against two senders with 2, 4 and 16
// producer loops (docs/benchmarks.md, "One add sender"): 1.15x the tasks/s at 0.83x the
// CPU per task (medians of 7 pairs). More senders may help callers of large tasks, whose
// batches are bounded by size (1 MiB) rather than by who is waiting.
const DefaultAddSenders = 1

// maxCoalescedBytes bounds the encoded tasks of one coalesced call, well under the 4 MiB
// message size every service accepts, so a batch is never refused for its size alone.
const maxCoalescedBytes = 1 << 20

// addCoalescer lets concurrent AddTask calls share AddTasks calls, like the worker's
// completer does for completions: a call that finds a sender slot free and nothing waiting
// goes out at once, on its own; calls that arrive while every slot is busy wait, and the
// next free slot takes all of them (up to MaxBatch and maxCoalescedBytes) in one call,
// after letting the callers it just answered add again. So a lone call pays no delay, and
// under load one round trip and one synced write carry many tasks. Each caller still gets
// its own result and its own error (see sendBatch).
type addCoalescer struct {
	rpc     matchingv1.MatchingServiceClient
	senders int

	mu      sync.Mutex
	pending []*pendingAdd
	running int // sender slots in use
}

// pendingAdd is one AddTask call waiting for a sender.
type pendingAdd struct {
	ctx  context.Context // the caller's, with the call timeout applied
	spec *matchingv1.TaskSpec
	done chan addOutcome // buffered: a sender never blocks on a caller that left
}

type addOutcome struct {
	res AddResult
	err error
}

func newAddCoalescer(rpc matchingv1.MatchingServiceClient, senders int) *addCoalescer {
	if senders <= 0 {
		return nil
	}
	return &addCoalescer{rpc: rpc, senders: senders}
}

// coalescable tells whether a call may share an AddTasks call with others: not when its
// context carries outgoing metadata of its own, which a shared call could not send.
func coalescable(ctx context.Context) bool {
	_, ok := metadata.FromOutgoingContext(ctx)
	return !ok
}

// add schedules spec, alone or with other waiting calls, and waits for its outcome or for
// ctx to end (then the task may or may not be added, as with a unary call cut short).
func (a *addCoalescer) add(ctx context.Context, spec *matchingv1.TaskSpec) (AddResult, error) {
	a.mu.Lock()
	if a.running < a.senders && len(a.pending) == 0 {
		// A lone call: send it from this goroutine, without a hand-off.
		a.running++
		a.mu.Unlock()
		defer a.release()
		return addOne(ctx, a.rpc, spec)
	}
	p := &pendingAdd{ctx: ctx, spec: spec, done: make(chan addOutcome, 1)}
	a.pending = append(a.pending, p)
	if a.running < a.senders {
		a.running++
		go a.run()
	}
	a.mu.Unlock()
	select {
	case o := <-p.done:
		return o.res, o.err
	case <-ctx.Done():
		return AddResult{}, status.FromContextError(ctx.Err()).Err()
	}
}

// release frees a sender slot, handing it to a new sender when calls are waiting.
func (a *addCoalescer) release() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running--
	if len(a.pending) > 0 && a.running < a.senders {
		a.running++
		go a.run()
	}
}

// run sends what is waiting until nothing is, then frees its slot.
func (a *addCoalescer) run() {
	for {
		batch := a.take()
		if batch == nil {
			return
		}
		a.sendBatch(batch)
		// Let the callers just answered run first: those that add again at once (a
		// producer loop) then join the next batch instead of finding nothing waiting,
		// freeing the slot, and going out one by one. With nothing else to run this
		// returns at once.
		runtime.Gosched()
	}
}

// take removes the next batch from the queue; nil (with the slot freed) when none waits.
// Calls whose context already ended are dropped: their callers have returned.
func (a *addCoalescer) take() []*pendingAdd {
	a.mu.Lock()
	defer a.mu.Unlock()
	var batch []*pendingAdd
	size, n := 0, 0
	for _, p := range a.pending {
		if len(batch) == MaxBatch {
			break
		}
		if p.ctx.Err() != nil {
			n++
			continue
		}
		s := proto.Size(p.spec)
		if len(batch) > 0 && size+s > maxCoalescedBytes {
			break
		}
		size += s
		batch = append(batch, p)
		n++
	}
	clear(a.pending[:n])
	a.pending = a.pending[n:]
	if len(batch) == 0 && len(a.pending) == 0 {
		a.running--
		a.pending = nil
		return nil
	}
	return batch
}

// sendBatch sends a batch with AddTask (one call) or AddTasks and answers each call. AddTasks
// is all or nothing, so when it fails each call is sent again on its own where that is
// safe, and gets its own answer: one invalid task fails alone, with the error (and field
// name) a lone AddTask gets.
func (a *addCoalescer) sendBatch(batch []*pendingAdd) {
	if len(batch) == 1 {
		res, err := addOne(batch[0].ctx, a.rpc, batch[0].spec)
		batch[0].done <- addOutcome{res, err}
		return
	}
	specs := make([]*matchingv1.TaskSpec, len(batch))
	for i, p := range batch {
		specs[i] = p.spec
	}
	ctx, cancel := batchContext(batch)
	defer cancel()
	var resp *matchingv1.AddTasksResponse
	err := retryAdd(ctx, specs, func(ctx context.Context) error {
		var err error
		resp, err = a.rpc.AddTasks(ctx, &matchingv1.AddTasksRequest{Tasks: specs})
		return err
	})
	if err == nil && len(resp.GetResults()) != len(batch) {
		err = status.Errorf(codes.Internal, "service answered %d results for %d tasks", len(resp.GetResults()), len(batch))
	}
	if err != nil {
		a.fallBack(batch, err)
		return
	}
	for i, r := range resp.GetResults() {
		batch[i].done <- addOutcome{res: AddResult{ID: r.GetTaskId(), Created: r.GetCreated()}}
	}
}

// fallBack answers the calls of a failed batch. A refused batch wrote nothing, so each call
// is sent again alone; after a failure whose outcome is unknown (the service unreachable,
// the deadline) only calls with a task id are, since the service recognises a repeat of
// those, and the others get the batch's error, as a lone AddTask would.
func (a *addCoalescer) fallBack(batch []*pendingAdd, err error) {
	unknown := outcomeUnknown(err)
	var wg sync.WaitGroup
	for _, p := range batch {
		if p.ctx.Err() != nil || (unknown && p.spec.GetTaskId() == "") {
			p.done <- addOutcome{err: err}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := addOne(p.ctx, a.rpc, p.spec)
			p.done <- addOutcome{res, err}
		}()
	}
	wg.Wait()
}

// outcomeUnknown tells whether a failed add may have been written anyway. Refusals (bad
// input, quota, permission, a failed session) are decided before any write.
func outcomeUnknown(err error) bool {
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Unknown, codes.Internal, codes.Aborted, codes.DataLoss:
		return true
	}
	return false
}

// batchContext bounds a shared call by the latest deadline of its callers (none when one
// of them has none): a caller whose own deadline passes first stops waiting for it.
func batchContext(batch []*pendingAdd) (context.Context, context.CancelFunc) {
	var latest time.Time
	for _, p := range batch {
		dl, ok := p.ctx.Deadline()
		if !ok {
			return context.WithCancel(context.Background())
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	return context.WithDeadline(context.Background(), latest)
}

// addOne sends one task with AddTask, retried like every add.
func addOne(ctx context.Context, rpc matchingv1.MatchingServiceClient, spec *matchingv1.TaskSpec) (AddResult, error) {
	var resp *matchingv1.AddTaskResponse
	err := retryAdd(ctx, []*matchingv1.TaskSpec{spec}, func(ctx context.Context) error {
		var err error
		resp, err = rpc.AddTask(ctx, &matchingv1.AddTaskRequest{Task: spec})
		return err
	})
	if err != nil {
		return AddResult{}, err
	}
	return AddResult{ID: resp.GetTaskId(), Created: resp.GetCreated()}, nil
}
