package worker

import (
	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// fail queues a failed attempt for the stream, like a completion: it is acknowledged
// later, and reported with FailTask if the stream breaks first. True when it took the
// task's slot on (see enqueue).
func (s *streamer) fail(req *matchingv1.FailTaskRequest) bool {
	if s.polling.Load() {
		if err := s.w.failUnary(req); err != nil {
			s.w.log.Error(err, "Failed to report task failure", "taskID", req.GetTaskId())
		}
		return false
	}
	return s.enqueue(&completion{failure: req, slot: true}) // done is made only for a unary report
}

func (c *completion) taskID() string {
	if c.failure != nil {
		return c.failure.GetTaskId()
	}
	return c.req().GetTaskId()
}

// splitOutcomes separates a batch into the completions and failures of one message, each
// in batch order (the order of their acknowledgements). The slices are made to size, one
// allocation each, and new for every message: gRPC allows no change to a message after
// SendMsg (stats handlers may read it later), so they are not reused.
func splitOutcomes(batch []*completion) ([]*matchingv1.CompleteTaskRequest, []*matchingv1.FailTaskRequest) {
	nfail := 0
	for _, item := range batch {
		if item.failure != nil {
			nfail++
		}
	}
	var reqs []*matchingv1.CompleteTaskRequest
	var fails []*matchingv1.FailTaskRequest
	if n := len(batch) - nfail; n > 0 {
		reqs = make([]*matchingv1.CompleteTaskRequest, 0, n)
	}
	if nfail > 0 {
		fails = make([]*matchingv1.FailTaskRequest, 0, nfail)
	}
	for _, item := range batch {
		if item.failure != nil {
			fails = append(fails, item.failure)
		} else {
			reqs = append(reqs, item.req())
		}
	}
	return reqs, fails
}

// failuresUnary takes the failures out of a batch for a stream whose service did not say it
// takes them, reports them with FailTask (not on the sending loop) and returns the rest.
func (s *streamer) failuresUnary(batch []*completion) []*completion {
	var rest, fails []*completion
	for _, item := range batch {
		if item.failure != nil {
			fails = append(fails, item)
		} else {
			rest = append(rest, item)
		}
	}
	if len(fails) > 0 {
		s.reportUnaryAsync(fails)
	}
	return rest
}

// reportUnaryAsync runs reportUnary on its own goroutine; the streamer's run waits for it.
func (s *streamer) reportUnaryAsync(batch []*completion) {
	s.unary.Add(1)
	go func() { defer s.unary.Done(); s.reportUnary(batch) }()
}

// resolveAcked resolves a message's completions and failures from its acknowledgement. A
// service older than failures on the stream acknowledges the message without
// failure_errors, having ignored its failures: those are reported with FailTask, so none
// is lost.
func (s *streamer) resolveAcked(batch []*completion, a *matchingv1.CompletionAck) {
	errs, ferrs := a.GetErrors(), a.GetFailureErrors()
	var unknown []*completion
	ci, fi := 0, 0
	for _, item := range batch {
		var err error
		if item.failure != nil {
			if fi >= len(ferrs) {
				unknown = append(unknown, item)
				continue
			}
			err = statusOf(ferrs[fi])
			fi++
		} else {
			if ci < len(errs) {
				err = statusOf(errs[ci])
			}
			ci++
		}
		s.resolve(item, err)
	}
	if len(unknown) > 0 {
		s.reportUnaryAsync(unknown) // not on the receive loop, which delivers tasks and acks
	}
}
