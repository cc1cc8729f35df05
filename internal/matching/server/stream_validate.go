package server

import (
	"fmt"

	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Bounds of a worker stream's flow control: credits come in per message as slots free up,
// and the credits granted but not yet used are bounded so a stream cannot claim a queue.
const (
	maxCreditsPerMessage = 1000
	maxStreamCredits     = 10000
)

// checkStreamOpen validates the first message of a WorkerStream: it must open the stream.
func (s *Server) checkStreamOpen(m *matchingv1.WorkerStreamRequest) error {
	open := m.GetOpen()
	if open == nil {
		return invalid("open", "must be set in the first message of a stream")
	}
	if err := s.limits.checkPoll(open, s.levels); err != nil {
		return prefixed("open", err)
	}
	if m.GetNamespace() != open.GetNamespace() {
		return invalid("namespace", "must be the namespace of open (%q), got %q", open.GetNamespace(), m.GetNamespace())
	}
	if m.GetCredits() != 0 {
		return invalid("credits", "must be 0 in the first message (open.max_tasks is the initial credit), got %d", m.GetCredits())
	}
	return s.checkStreamCompletions(m)
}

// checkStreamMessage validates a later message of a stream opened for namespace ns, with
// outstanding credits granted and not yet used.
func (s *Server) checkStreamMessage(m *matchingv1.WorkerStreamRequest, ns string, outstanding int) error {
	if m.GetOpen() != nil {
		return invalid("open", "must be set only in the first message of a stream")
	}
	if m.GetNamespace() != ns {
		return invalid("namespace", "must be the namespace of the stream (%q), got %q", ns, m.GetNamespace())
	}
	c := int(m.GetCredits())
	if c < 0 || c > maxCreditsPerMessage {
		return invalid("credits", "must be 0..%d, got %d", maxCreditsPerMessage, c)
	}
	if outstanding+c > maxStreamCredits {
		return invalid("credits", "would leave %d credits unused, more than %d", outstanding+c, maxStreamCredits)
	}
	return s.checkStreamCompletions(m)
}

func (s *Server) checkStreamCompletions(m *matchingv1.WorkerStreamRequest) error {
	cs, fs := m.GetCompletions(), m.GetFailures()
	if len(cs) == 0 && len(fs) == 0 {
		return nil
	}
	if len(cs)+len(fs) > s.limits.MaxBatch {
		return invalid("completions", "must hold at most %d completions and failures together, got %d", s.limits.MaxBatch, len(cs)+len(fs))
	}
	if m.GetSeq() == 0 {
		return invalid("seq", "must be set (non-zero) when completions or failures are")
	}
	if err := s.checkCompletions(cs); err != nil {
		return err
	}
	for i, f := range fs {
		if err := s.checkStreamFailure(f); err != nil {
			return prefixed(fmt.Sprintf("failures[%d]", i), err)
		}
	}
	return nil
}

// checkStreamFailure validates a failure as FailTask validates its request.
func (s *Server) checkStreamFailure(f *matchingv1.FailTaskRequest) error {
	if f == nil {
		return invalid("", "must be set")
	}
	if err := s.limits.checkAttempt(f.GetNamespace(), f.GetTaskId(), f.GetLeaseId(), f.GetWorkerIdentity()); err != nil {
		return err
	}
	return s.limits.checkFailure(f.GetFailure())
}

// prefixed puts a message field's name before the field a validation error names.
func prefixed(field string, err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), field+"."+st.Message())
}
