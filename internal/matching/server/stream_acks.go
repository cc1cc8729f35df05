package server

import (
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
	"github.com/taskroute/taskroute/internal/matching"
)

// writtenOutcomes are the outcomes of some stream messages, written and not yet known
// durable.
type writtenOutcomes struct {
	msgs        []*matchingv1.WorkerStreamRequest
	errs        []*matchingv1.ItemError // of the messages' completions, in order
	write       *matching.PendingWrite  // of the completions; nil when none
	failed      func() [][]*matchingv1.ItemError
	hasFailures bool
}

// durable tells, without blocking, whether acks would not wait.
func (w *writtenOutcomes) durable() bool { return !w.hasFailures && w.write.Durable() }

// appendAcks waits until the outcomes are durable and appends one ack per message.
func (w *writtenOutcomes) appendAcks(acks []*matchingv1.CompletionAck) []*matchingv1.CompletionAck {
	w.write.Wait(w.errs)
	failErrs := w.failed()
	errs := w.errs
	for i, m := range w.msgs {
		n := len(m.GetCompletions())
		acks = append(acks, &matchingv1.CompletionAck{Seq: m.GetSeq(), Errors: errs[:n:n], FailureErrors: failErrs[i]})
		errs = errs[n:]
	}
	return acks
}

// acknowledge sends the acks of the written outcomes in order, each once durable, with
// those after it that are durable by then in the same message. It waits for every write
// (which releases its tasks) even when the worker is gone: it then sends the
// unacknowledged outcomes again on its next stream.
func (ws *workerStream) acknowledge() {
	var next *writtenOutcomes
	for {
		w := next
		if w == nil {
			var ok bool
			if w, ok = <-ws.written; !ok {
				return
			}
		}
		resp := &matchingv1.WorkerStreamResponse{Acks: w.appendAcks(nil)}
		var more bool
		next, more = ws.foldDurable(resp)
		_ = ws.send(resp)
		if !more {
			return
		}
	}
}

// foldDurable adds to resp the acks of the queued writes that are already durable, and
// returns the first queued one that is not (nil if none); more is false once the commit
// loop ended and everything is acknowledged.
func (ws *workerStream) foldDurable(resp *matchingv1.WorkerStreamResponse) (next *writtenOutcomes, more bool) {
	for {
		select {
		case w, ok := <-ws.written:
			if !ok {
				return nil, false
			}
			if !w.durable() {
				return w, true
			}
			resp.Acks = w.appendAcks(resp.Acks)
		default:
			return nil, true
		}
	}
}

func anyFailures(msgs []*matchingv1.WorkerStreamRequest) bool {
	for _, m := range msgs {
		if len(m.GetFailures()) > 0 {
			return true
		}
	}
	return false
}
