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
	cs := m.GetCompletions()
	if len(cs) == 0 {
		return nil
	}
	if len(cs) > s.limits.MaxBatch {
		return invalid("completions", "must hold at most %d completions, got %d", s.limits.MaxBatch, len(cs))
	}
	if m.GetSeq() == 0 {
		return invalid("seq", "must be set (non-zero) when completions are")
	}
	for i, c := range cs {
		if err := s.checkCompletion(fmt.Sprintf("completions[%d]", i), c); err != nil {
			return err
		}
	}
	return nil
}

// prefixed puts a message field's name before the field a validation error names.
func prefixed(field string, err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), field+"."+st.Message())
}
