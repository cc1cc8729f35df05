package server

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
)

// WorkerStream serves a worker's long-lived stream: a dispatch loop pushes started tasks up
// to the credits the worker granted (a long poll whose capacity is its credit), a receive
// loop takes credits, completions and failures, a commit loop writes what piled up in one
// group-committed write (and records the failures meanwhile) without waiting for it, and
// an acknowledging loop acknowledges each message once its outcomes are durable. The call
// ends when the worker closes its side (after the last acks) or goes away.
func (s *Server) WorkerStream(ss matchingv1.MatchingService_WorkerStreamServer) error {
	first, err := ss.Recv()
	if err != nil {
		return err
	}
	if err := s.checkStreamOpen(first); err != nil {
		return err
	}
	s.streams.received(len(first.GetCompletions()) + len(first.GetFailures()))
	ctx, cancel := context.WithCancel(matching.WithPrincipal(ss.Context(), principal(ss.Context())))
	defer cancel()
	ws := &workerStream{
		s: s, ss: ss, open: first.GetOpen(), principal: principal(ss.Context()),
		credits: int(first.GetOpen().GetMaxTasks()), creditc: make(chan struct{}, 1),
		batches: make(chan *matchingv1.WorkerStreamRequest, 64),
		written: make(chan *writtenOutcomes, 64),
	}
	if err := ws.send(&matchingv1.WorkerStreamResponse{AcceptsFailures: true}); err != nil {
		return err
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); ws.dispatch(ctx) }()
	go func() { defer wg.Done(); ws.commit() }()
	go func() { defer wg.Done(); ws.acknowledge() }()
	if reports(first) {
		ws.batches <- first
	}
	err = ws.receive()
	close(ws.batches)
	cancel() // the worker is gone or done: stop dispatching
	wg.Wait()
	return err
}

// workerStream is the state of one WorkerStream call.
type workerStream struct {
	s         *Server
	ss        matchingv1.MatchingService_WorkerStreamServer
	open      *matchingv1.PollTasksRequest
	principal string

	sendMu sync.Mutex // gRPC allows one sender at a time

	mu      sync.Mutex
	credits int           // granted and not yet used
	creditc chan struct{} // signalled when credits grow

	batches chan *matchingv1.WorkerStreamRequest // messages with completions or failures, for commit
	written chan *writtenOutcomes                // their writes, for acknowledge
}

// reports tells whether a message carries outcomes to commit and acknowledge.
func reports(m *matchingv1.WorkerStreamRequest) bool {
	return len(m.GetCompletions()) > 0 || len(m.GetFailures()) > 0
}

// receive reads the worker's messages until it closes its side (nil) or fails.
func (ws *workerStream) receive() error {
	ns := ws.open.GetNamespace()
	for {
		m, err := ws.ss.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		ws.s.streams.received(len(m.GetCompletions()) + len(m.GetFailures()))
		ws.mu.Lock()
		err = ws.s.checkStreamMessage(m, ns, ws.credits)
		if err == nil && m.GetCredits() > 0 {
			ws.credits += int(m.GetCredits())
			select {
			case ws.creditc <- struct{}{}:
			default:
			}
		}
		ws.mu.Unlock()
		if err != nil {
			return err
		}
		if reports(m) {
			ws.batches <- m
		}
	}
}

// dispatch polls with the stream's credits and pushes what it gets, until the worker stops
// (ShutdownWorker), the engine closes, or the stream ends.
func (ws *workerStream) dispatch(ctx context.Context) {
	req := ws.open // owned by this loop: only max_tasks changes between polls
	for {
		n, ok := ws.awaitCredits(ctx)
		if !ok {
			return
		}
		req.MaxTasks = int32(min(n, maxCreditsPerMessage))
		tasks, ended, err := ws.s.e.PollStream(ctx, req)
		if err != nil {
			return
		}
		if len(tasks) > 0 {
			ws.useCredits(len(tasks))
			if err := ws.send(&matchingv1.WorkerStreamResponse{Tasks: tasks}); err != nil {
				ws.s.e.ReturnUndelivered(tasks)
				return
			}
		}
		if ended {
			_ = ws.send(&matchingv1.WorkerStreamResponse{DispatchEnded: true})
			return
		}
	}
}

// awaitCredits waits until the worker has granted credits and returns how many.
func (ws *workerStream) awaitCredits(ctx context.Context) (int, bool) {
	for {
		ws.mu.Lock()
		n := ws.credits
		ws.mu.Unlock()
		if n > 0 {
			return n, true
		}
		select {
		case <-ws.creditc:
		case <-ctx.Done():
			return 0, false
		}
	}
}

func (ws *workerStream) useCredits(n int) {
	ws.mu.Lock()
	ws.credits -= n
	ws.mu.Unlock()
}

// commit writes the queued messages' completions, all that piled up in one enqueued write,
// and records their failures, without waiting for them to be durable: the acknowledging
// loop waits. So outcomes that arrive while earlier ones sync join the next group commit
// with the adds and starts written meanwhile, instead of waiting for the earlier
// acknowledgement and syncing on their own after it (a commit per round trip of the
// stream's outcomes when tasks trickle in).
func (ws *workerStream) commit() {
	defer close(ws.written)
	var msgs []*matchingv1.WorkerStreamRequest
	var all []*matchingv1.CompleteTaskRequest
	for m := range ws.batches {
		msgs = append(msgs[:0], m)
		all = append(all[:0], m.GetCompletions()...)
		msgs, all = ws.gather(msgs, all)
		mine := slices.Clone(msgs) // msgs is reused for the next round
		w := &writtenOutcomes{msgs: mine, failed: ws.failAll(mine), hasFailures: anyFailures(mine)}
		if len(all) > 0 {
			w.errs, w.write = ws.s.e.CompleteManyBegin(all, ws.principal)
		}
		ws.written <- w
	}
}

// gather adds the messages already queued, up to one batch of completions.
func (ws *workerStream) gather(msgs []*matchingv1.WorkerStreamRequest, all []*matchingv1.CompleteTaskRequest) ([]*matchingv1.WorkerStreamRequest, []*matchingv1.CompleteTaskRequest) {
	for len(all) < ws.s.limits.MaxBatch {
		select {
		case m, ok := <-ws.batches:
			if !ok {
				return msgs, all
			}
			msgs = append(msgs, m)
			all = append(all, m.GetCompletions()...)
			continue
		default:
		}
		break
	}
	return msgs, all
}

func (ws *workerStream) send(m *matchingv1.WorkerStreamResponse) error {
	ws.s.streams.sent(len(m.GetTasks()), len(m.GetAcks()))
	ws.sendMu.Lock()
	defer ws.sendMu.Unlock()
	return ws.ss.Send(m)
}
