package worker

import (
	"context"
	"errors"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// session is one WorkerStream of a streamer.
type session struct {
	s      *streamer
	stream matchingv1.MatchingService_WorkerStreamClient
	sendMu sync.Mutex // gRPC allows one sender at a time

	mu          sync.Mutex
	outstanding int                      // credits granted, tasks not yet received
	seq         uint64                   // last completion message sent
	pending     map[uint64][]*completion // sent, not yet acknowledged
	emptyc      chan struct{}            // signalled when pending empties
	finish      chan struct{}            // closed when the service ended dispatch on its own
	finishOnce  sync.Once

	acceptsFailures atomic.Bool // the service said it takes failures on this stream
}

func (ss *session) send(m *matchingv1.WorkerStreamRequest) error {
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	return ss.stream.Send(m)
}

// grantCredits grants a credit for every slot that frees up (and rate token), until the
// worker stops or the stream ends. Slots freed by outcomes on the stream are granted in
// their outcomes' message (creditsFrom); this loop grants the others: at the start, those
// of tasks that reported nothing on the stream (released, lease lost, canceled), and
// those that waited for a rate token.
func (ss *session) grantCredits(ctx context.Context) {
	w := ss.s.w
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(w.pollCtx, cancel)
	defer stop()
	for {
		n, ok := w.acquireSlots(cctx)
		if !ok {
			return
		}
		if n, ok = w.acquireTokens(cctx, n); !ok {
			return
		}
		ss.mu.Lock()
		if w.pollCtx.Err() != nil {
			// Stop began: no new credit (checkDrained may have told Stop no task comes).
			ss.mu.Unlock()
			w.releaseSlots(n)
			if w.limiter != nil {
				w.limiter.giveBack(n)
			}
			return
		}
		ss.outstanding += n // released by the session's end if the send fails
		ss.mu.Unlock()
		if ss.send(&matchingv1.WorkerStreamRequest{Namespace: w.client.Namespace(), Credits: int32(n)}) != nil {
			return
		}
	}
}

// checkDrained tells Stop that dispatch ended once the worker stops with no credit
// outstanding: the service holds none either and no task is on its way, so no task can
// come, and a service whose stream waits for credits would never answer ShutdownWorker
// with dispatch_ended.
func (ss *session) checkDrained() {
	ss.mu.Lock()
	drained := ss.outstanding == 0 && ss.s.w.pollCtx.Err() != nil
	ss.mu.Unlock()
	if drained {
		ss.s.dispatchEnded()
	}
}

// releaseOutstanding frees the slots (and rate tokens) of credits no task used.
func (ss *session) releaseOutstanding() {
	w := ss.s.w
	ss.mu.Lock()
	n := ss.outstanding
	ss.outstanding = 0
	ss.mu.Unlock()
	if n <= 0 {
		return
	}
	w.releaseSlots(n)
	if w.limiter != nil {
		w.limiter.giveBack(n)
	}
}

// sendCompletions sends queued completions in batches (what piled up while the last one
// was sent), until the stream ends. When the worker stops, or the service ended dispatch,
// it closes the stream once everything sent is acknowledged.
func (ss *session) sendCompletions(ctx context.Context) {
	s := ss.s
	max := s.w.opts.MaxCompletionBatch
	batch := make([]*completion, 0, max)
	for {
		select {
		case first := <-s.queue:
			// Let the executors that are ready to run finish too, so their outcomes
			// (and freed slots) share this message; with nothing else to run this
			// returns at once, so a lone outcome is not delayed.
			runtime.Gosched()
			if !ss.sendBatch(s.gather(append(batch[:0], first), max)) {
				return
			}
		case <-s.closing:
			// Stop waited for the handlers: what they completed is queued; send it all.
			for {
				select {
				case first := <-s.queue:
					if !ss.sendBatch(s.gather(append(batch[:0], first), max)) {
						return
					}
					continue
				default:
				}
				break
			}
			ss.closeWhenAcked(ctx)
			return
		case <-ss.finish:
			ss.closeWhenAcked(ctx)
			return
		case <-ctx.Done():
			return
		}
	}
}

// sendBatch sends one message of completions and failures, with the credits of the slots
// they free; false when the stream is gone (they are then reported with unary calls).
func (ss *session) sendBatch(batch []*completion) bool {
	m := &matchingv1.WorkerStreamRequest{Namespace: ss.s.w.client.Namespace(), Credits: int32(ss.creditsFrom(batch))}
	if !ss.acceptsFailures.Load() {
		batch = ss.s.failuresUnary(batch)
	}
	if len(batch) > 0 {
		m.Completions, m.Failures = splitOutcomes(batch)
		ss.mu.Lock()
		ss.seq++
		m.Seq = ss.seq
		ss.pending[m.Seq] = append([]*completion(nil), batch...)
		ss.mu.Unlock()
	}
	if m.Credits == 0 && len(batch) == 0 {
		return true
	}
	return ss.send(m) == nil
}

// creditsFrom takes the slots the batch's outcomes hold on as credits (those with a rate
// token; the rest are freed, and the credit loop grants them when tokens come). Once the
// worker stops they are freed instead.
func (ss *session) creditsFrom(batch []*completion) int {
	w := ss.s.w
	n := 0
	for _, item := range batch {
		if item.slot {
			item.slot = false
			n++
		}
	}
	if n == 0 {
		return 0
	}
	got := n
	if w.limiter != nil {
		got, _ = w.limiter.take(n, time.Now())
	}
	ss.mu.Lock()
	stopping := w.pollCtx.Err() != nil // then checkDrained may have told Stop no task comes
	if !stopping {
		ss.outstanding += got // released by the session's end if the send fails
	}
	ss.mu.Unlock()
	if stopping {
		if w.limiter != nil {
			w.limiter.giveBack(got)
		}
		got = 0
	}
	w.releaseSlots(n - got)
	return got
}

// gather adds the completions already queued, up to max.
func (s *streamer) gather(batch []*completion, max int) []*completion {
	for len(batch) < max {
		select {
		case item := <-s.queue:
			batch = append(batch, item)
			continue
		default:
		}
		break
	}
	return batch
}

// closeWhenAcked closes the worker's side once every completion sent is acknowledged; the
// service then ends the call.
func (ss *session) closeWhenAcked(ctx context.Context) {
	for {
		ss.mu.Lock()
		n := len(ss.pending)
		ss.mu.Unlock()
		if n == 0 {
			break
		}
		select {
		case <-ss.emptyc:
		case <-ctx.Done():
			return
		}
	}
	ss.sendMu.Lock()
	defer ss.sendMu.Unlock()
	_ = ss.stream.CloseSend()
}

// receive handles the service's messages until the stream ends. Every message is decoded
// into the same response, whose Tasks and acknowledgements the codec refills
// (internal/protocodec, ResetVT) instead of allocating new ones for every push; nothing
// keeps a part of it past its turn of this loop (deliver takes what Tasks keep).
func (ss *session) receive() error {
	resp := &matchingv1.WorkerStreamResponse{}
	for {
		err := ss.stream.RecvMsg(resp)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if resp.GetAcceptsFailures() {
			ss.acceptsFailures.Store(true)
		}
		ss.deliver(resp.GetTasks())
		for _, a := range resp.GetAcks() {
			ss.ack(a)
		}
		if resp.GetDispatchEnded() {
			if ss.s.w.pollCtx.Err() != nil {
				ss.s.dispatchEnded() // the answer to ShutdownWorker
			} else {
				ss.finishOnce.Do(func() { close(ss.finish) }) // the service stops: reconnect
			}
		}
	}
}

// deliver runs pushed tasks in the slots their credits reserved.
func (ss *session) deliver(tasks []*matchingv1.Task) {
	if len(tasks) == 0 {
		return
	}
	w := ss.s.w
	ss.mu.Lock()
	n := min(len(tasks), max(ss.outstanding, 0))
	ss.outstanding -= n
	ss.mu.Unlock()
	defer ss.checkDrained() // after the tasks are counted in taskWG
	for i, p := range tasks {
		t := takeTask(w, p)
		if i >= n {
			// The service never pushes more than the credits; hand back any surplus.
			go w.release(t)
			continue
		}
		w.taskWG.Add(1)
		w.executors.run(t)
	}
}

// takeTask builds the Task of a pushed task and takes from p the bytes the Task keeps:
// the next push is decoded into p again, and into the buffers its bytes fields still
// hold (strings are immutable, and the decoder replaces the sub-messages it fills).
func takeTask(w *Worker, p *matchingv1.Task) *Task {
	t := newTask(w, p)
	p.Payload, p.HeartbeatDetails = nil, nil
	return t
}

// ack resolves the completions of one acknowledged message.
func (ss *session) ack(a *matchingv1.CompletionAck) {
	ss.mu.Lock()
	batch := ss.pending[a.GetSeq()]
	delete(ss.pending, a.GetSeq())
	empty := len(ss.pending) == 0
	ss.mu.Unlock()
	ss.s.resolveAcked(batch, a)
	if empty {
		select {
		case ss.emptyc <- struct{}{}:
		default:
		}
	}
}

// reportPendingUnary reports the completions the broken stream never acknowledged.
func (ss *session) reportPendingUnary() {
	ss.mu.Lock()
	pending := ss.pending
	ss.pending = map[uint64][]*completion{}
	ss.mu.Unlock()
	for _, batch := range pending {
		ss.s.reportUnary(batch)
	}
}
