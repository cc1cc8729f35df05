package worker

import (
	"context"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// completer coalesces completions of many slots into CompleteTasks calls. A few senders
// each take the first waiting completion plus whatever else is already waiting (up to
// MaxCompletionBatch), so a lone completion goes out at once, and under load completions
// that arrive while calls are in flight share the next call: batches grow with load
// without a fixed delay.
type completer struct {
	w     *Worker
	queue chan *completion
	wg    sync.WaitGroup
	stop  chan struct{}
	once  sync.Once
}

// completion is one outcome to report: a completed attempt (req) or a failed one
// (failure). It holds its request by value, and a Task holds its completion, so that a
// handler's outcome is no allocation of its own; no pointer to the request is kept (req
// gives it), which keeps a Task with its outcome in the 576-byte size class.
type completion struct {
	failure *matchingv1.FailTaskRequest // instead of the request: a failed attempt (stream path)
	done    chan error                  // answers a unary report (on the stream path made only for one)
	slot    bool                        // holds its task's slot until a credit takes it on (stream path)
	reqMsg  matchingv1.CompleteTaskRequest
}

// req is the request of a completed attempt.
func (c *completion) req() *matchingv1.CompleteTaskRequest { return &c.reqMsg }

// newCompletion makes the completion of a task's attempt with its request, in the Task
// (its outcome): a Task reports one outcome, and stays alive until it is resolved.
func newCompletion(w *Worker, t *Task, result []byte) *completion {
	item := &t.outcome
	m := &item.reqMsg
	m.Namespace, m.TaskId, m.LeaseId, m.Result, m.WorkerIdentity = t.Namespace, t.ID, t.LeaseID, result, w.identity
	return item
}

func newCompleter(w *Worker) *completer {
	c := &completer{w: w, queue: make(chan *completion, 4*w.opts.MaxCompletionBatch), stop: make(chan struct{})}
	for i := 0; i < w.opts.CompletionSenders; i++ {
		c.wg.Add(1)
		go c.send()
	}
	return c
}

// complete queues a completion and waits for its outcome.
func (c *completer) complete(item *completion) error {
	item.done = make(chan error, 1)
	select {
	case c.queue <- item:
	case <-c.stop:
		return status.Error(codes.Canceled, "worker stopped before the result was reported")
	}
	return <-item.done
}

// close stops the senders once nothing is queued. Callers of complete are gone by then
// (Stop waited for the tasks), except for handlers that ignored cancellation.
func (c *completer) close() {
	c.once.Do(func() { close(c.stop) })
	c.wg.Wait()
	// Anything queued after the senders stopped is answered, not left hanging.
	for {
		select {
		case item := <-c.queue:
			item.done <- status.Error(codes.Canceled, "worker stopped before the result was reported")
		default:
			return
		}
	}
}

func (c *completer) send() {
	defer c.wg.Done()
	max := c.w.opts.MaxCompletionBatch
	batch := make([]*completion, 0, max)
	for {
		var first *completion
		select {
		case first = <-c.queue:
		case <-c.stop:
			// Drain what is already queued before leaving.
			select {
			case first = <-c.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		batch = c.gather(batch, max)
		c.flush(batch)
	}
}

// gather adds completions already waiting, and with a linger those arriving within it.
func (c *completer) gather(batch []*completion, max int) []*completion {
	for len(batch) < max {
		select {
		case item := <-c.queue:
			batch = append(batch, item)
			continue
		default:
		}
		break
	}
	if linger := c.w.opts.CompletionLinger; linger > 0 && len(batch) < max {
		ctx, cancel := context.WithTimeout(context.Background(), linger)
		defer cancel()
		for len(batch) < max {
			select {
			case item := <-c.queue:
				batch = append(batch, item)
				continue
			case <-ctx.Done():
			}
			break
		}
	}
	return batch
}

func (c *completer) flush(batch []*completion) { c.w.completeUnary(batch) }

// completeUnary reports a batch with CompleteTask or CompleteTasks, retrying while the
// service is unreachable, and answers each item's done.
func (w *Worker) completeUnary(batch []*completion) {
	if len(batch) == 1 {
		err := w.retryReport(func(ctx context.Context) error {
			_, err := w.rpc.CompleteTask(ctx, batch[0].req())
			return err
		})
		batch[0].done <- err
		return
	}
	req := &matchingv1.CompleteTasksRequest{Completions: make([]*matchingv1.CompleteTaskRequest, len(batch))}
	for i, item := range batch {
		req.Completions[i] = item.req()
	}
	var resp *matchingv1.CompleteTasksResponse
	err := w.retryReport(func(ctx context.Context) error {
		var err error
		resp, err = w.rpc.CompleteTasks(ctx, req)
		return err
	})
	errs := resp.GetErrors()
	for i, item := range batch {
		switch {
		case err != nil:
			item.done <- err
		case i < len(errs):
			item.done <- statusOf(errs[i])
		default:
			item.done <- nil
		}
	}
}
