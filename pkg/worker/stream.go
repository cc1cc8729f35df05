package worker

import (
	"context"
	"sync"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/pkg/client"
)

// streamer runs the DispatchStream path: one WorkerStream at a time (reopened when it
// breaks), carrying credits, completions and failures out and tasks and acks in.
// Completions and failures are queued when a handler returns and resolved when the service
// acknowledges them; those of a stream that breaks before its acks come are reported again
// with CompleteTasks and FailTask, so no outcome is lost (a repeat of one that did reach
// the service is refused as stale and counts as done).
type streamer struct {
	w     *Worker
	queue chan *completion // completions and failures not yet sent
	unary sync.WaitGroup   // reports of failures a service did not acknowledge on the stream

	closing   chan struct{} // Stop reached close: send what is queued, then end the stream
	closeOnce sync.Once
	done      chan struct{} // run returned

	dispatchOnce sync.Once // marks the end of dispatch for Stop (pollWG)

	// polling: the service has no WorkerStream (Unimplemented); the worker fell back to
	// DispatchPoll, whose completer then reports results.
	polling atomic.Bool
}

func startStreamer(w *Worker) *streamer {
	s := &streamer{
		w:       w,
		queue:   make(chan *completion, 4*w.opts.MaxCompletionBatch),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	w.pollWG.Add(1)
	go s.run()
	return s
}

// dispatchEnded tells Stop that no more tasks come (what a returned poll tells it on the
// poll path).
func (s *streamer) dispatchEnded() { s.dispatchOnce.Do(s.w.pollWG.Done) }

// complete queues a completion; it is reported on the stream and resolved asynchronously.
// True when it took the task's slot on (see enqueue).
func (s *streamer) complete(item *completion) bool {
	if s.polling.Load() {
		if err := s.w.completer.complete(item); err != nil {
			s.w.log.Error(err, "Failed to complete task", "taskID", item.req().GetTaskId())
		}
		return false
	}
	item.slot = true
	return s.enqueue(item) // done is made only for a unary report
}

// enqueue queues a completion or failure for the stream. The item holds its task's slot:
// the message that carries it grants that slot again as a credit, so a busy worker sends
// one message per outcome batch instead of a credit message as well. True when it is
// queued; else the caller frees the slot.
func (s *streamer) enqueue(item *completion) bool {
	select {
	case s.queue <- item: // sent on the stream, or with a unary call once it is gone
		return true
	case <-s.done:
		// Only a handler that ignored its cancellation gets here, after Stop.
		s.resolve(item, status.Error(codes.Canceled, "worker stopped before the result was reported"))
		return false
	}
}

// freeSlot frees the slot an outcome holds that no credit took on.
func (s *streamer) freeSlot(item *completion) {
	if item.slot {
		item.slot = false
		s.w.releaseSlots(1)
	}
}

// resolve ends a completion's or failure's life, logging a failure to report it.
func (s *streamer) resolve(item *completion, err error) {
	switch {
	case err == nil:
	case item.failure != nil:
		s.w.log.Error(err, "Failed to report task failure", "taskID", item.failure.GetTaskId())
	default:
		s.w.log.Error(err, "Failed to complete task", "taskID", item.req().GetTaskId())
	}
}

// close reports every queued completion, waits for their acks and ends the stream. When
// ctx ends first (the service does not answer), the stream is cut and what it had not
// acknowledged is reported with CompleteTasks, retried up to ReportRetryTimeout.
func (s *streamer) close(ctx context.Context) {
	s.closeOnce.Do(func() { close(s.closing) })
	select {
	case <-s.done:
	case <-ctx.Done():
		s.w.callCancel()
		<-s.done
	}
	if s.polling.Load() {
		s.w.completer.close()
	}
}

// run opens streams until the worker stops, then reports leftovers with unary calls.
func (s *streamer) run() {
	defer close(s.done)
	defer s.unary.Wait()
	defer s.dispatchEnded()
	b := newBackoff()
	for s.w.pollCtx.Err() == nil {
		err := s.session()
		if status.Code(err) == codes.Unimplemented {
			s.fallBackToPolling()
			break
		}
		if err == nil {
			b.reset()
			continue
		}
		if s.w.pollCtx.Err() != nil {
			break
		}
		d := b.next()
		if client.IsRetryable(err) {
			s.w.log.V(1).Info("Worker stream failed", "queue", s.w.opts.Queue, "error", err.Error(), "retryIn", d)
		} else {
			s.w.log.Error(err, "Worker stream refused", "queue", s.w.opts.Queue, "retryIn", d)
		}
		sleepCtx(s.w.pollCtx, d)
	}
	s.dispatchEnded()
	s.drainUnary()
}

// fallBackToPolling switches to DispatchPoll for a service without WorkerStream (an older
// service during a rolling upgrade): the stream delivered nothing, so nothing is lost.
func (s *streamer) fallBackToPolling() {
	w := s.w
	w.log.Info("Polling instead: the service has no worker stream", "queue", w.opts.Queue)
	w.completer = newCompleter(w) // before polling is set: complete reads it after
	s.polling.Store(true)
	for i := 0; i < w.opts.Pollers; i++ {
		w.pollWG.Add(1) // the streamer's own count is still held: Stop is not past Wait
		go w.pollLoop()
	}
}

// drainUnary reports completions queued after the last stream ended, until close.
func (s *streamer) drainUnary() {
	for {
		select {
		case item := <-s.queue:
			s.freeSlot(item)
			s.reportUnary([]*completion{item})
		case <-s.closing:
			for {
				select {
				case item := <-s.queue:
					s.freeSlot(item)
					s.reportUnary([]*completion{item})
				default:
					return
				}
			}
		}
	}
}

// reportUnary reports completions and failures whose stream is gone with CompleteTask(s)
// and FailTask. One that reached the service before its stream broke is refused as stale:
// it is done.
func (s *streamer) reportUnary(batch []*completion) {
	completions := make([]*completion, 0, len(batch))
	for _, item := range batch {
		item.done = make(chan error, 1)
		if item.failure != nil {
			item.done <- s.w.failUnary(item.failure)
			continue
		}
		completions = append(completions, item)
	}
	if len(completions) > 0 {
		s.w.completeUnary(completions)
	}
	for _, item := range batch {
		err := <-item.done
		if status.Code(err) == codes.FailedPrecondition {
			s.w.log.V(1).Info("Outcome reported again was already recorded", "taskID", item.taskID())
			err = nil
		}
		s.resolve(item, err)
	}
}

// openSlots waits for the free slots of a stream's open message, as acquireSlots does. A
// queued outcome holds its task's slot until a stream message grants it again; while no
// stream runs, one that comes while no slot is free is reported with a unary call and
// frees its slot, else the stream would wait for a slot that waits for the stream.
func (s *streamer) openSlots() (int, bool) {
	w := s.w
	for {
		select {
		case w.slots <- struct{}{}: // a free slot first: queued outcomes go on the stream
			return 1 + w.moreFreeSlots(), true
		default:
		}
		select {
		case w.slots <- struct{}{}:
			return 1 + w.moreFreeSlots(), true
		case item := <-s.queue:
			s.freeSlot(item)
			s.reportUnaryAsync([]*completion{item})
		case <-w.pollCtx.Done():
			return 0, false
		}
	}
}

// session runs one stream until it ends: nil when it ended normally (the worker closed it
// or the service ended dispatch), the error when it broke.
func (s *streamer) session() error {
	w := s.w
	n, ok := s.openSlots()
	if !ok {
		return nil
	}
	if n, ok = w.acquireTokens(w.pollCtx, n); !ok {
		return nil
	}
	ctx, cancel := context.WithCancel(w.callCtx)
	defer cancel()
	ss := &session{s: s, outstanding: n, pending: map[uint64][]*completion{}, emptyc: make(chan struct{}, 1), finish: make(chan struct{})}
	defer ss.releaseOutstanding()
	stream, err := w.rpc.WorkerStream(ctx)
	if err != nil {
		return err
	}
	ss.stream = stream
	if err := ss.send(&matchingv1.WorkerStreamRequest{Namespace: w.client.Namespace(), Open: w.pollRequest(n)}); err != nil {
		_, err = stream.Recv() // the status the service ended the stream with
		return err
	}
	stopWatch := context.AfterFunc(w.pollCtx, ss.checkDrained)
	defer stopWatch()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); ss.grantCredits(ctx) }()
	go func() { defer wg.Done(); ss.sendCompletions(ctx) }()
	err = ss.receive()
	cancel()
	wg.Wait()
	ss.reportPendingUnary()
	return err
}
