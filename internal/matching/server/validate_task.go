package server

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// checkTask validates the task a request holds at index i, named in errors by name(i)
// ("task", "tasks[3]"). The checks name each field relative to the task, and the task's
// name is put in front only when one fails: building every field's full name for every
// task of a batch cost a formatted string and about ten concatenations per task.
func (l Limits) checkTask(name func(int) string, i int, t *matchingv1.TaskSpec, levels priorityLevels) error {
	if t == nil {
		return invalid(name(i), "must be set")
	}
	if err := l.checkTaskFields(t, levels); err != nil {
		return underField(name(i), err)
	}
	return nil
}

// underField puts parent in front of the field an InvalidArgument error names.
func underField(parent string, err error) error {
	st := status.Convert(err)
	return status.Error(codes.InvalidArgument, parent+"."+st.Message())
}

// checkTaskFields validates a task; errors name fields relative to the task.
func (l Limits) checkTaskFields(t *matchingv1.TaskSpec, levels priorityLevels) error {
	if err := checkQueueAndKind(t.GetNamespace(), t.GetQueue(), t.GetKind()); err != nil {
		return err
	}
	if err := checkName("task_id", t.GetTaskId(), l.MaxNameLength, false); err != nil {
		return err
	}
	if err := checkName("task_type", t.GetTaskType(), l.MaxNameLength, true); err != nil {
		return err
	}
	if err := checkBytes("payload", t.GetPayload(), l.MaxPayloadBytes); err != nil {
		return err
	}
	if err := checkCapabilities("requires", t.GetRequires(), maxRequirements); err != nil {
		return err
	}
	if err := checkPreferences("prefers", t.GetPrefers(), t.GetRequires()); err != nil {
		return err
	}
	if err := checkTaskFairness(t); err != nil {
		return err
	}
	if p := t.GetPriority(); p != 0 {
		n := levels(t.GetNamespace(), t.GetQueue())
		if p < 1 || int(p) > n {
			return invalid("priority", "must be 0 (the queue's default) or 1..%d, got %d", n, p)
		}
	}
	if err := checkTaskTimeouts(t); err != nil {
		return err
	}
	if err := l.checkRetryPolicy(t.GetRetryPolicy()); err != nil {
		return err
	}
	return l.checkHeaders(t.GetHeaders())
}

func checkTaskTimeouts(t *matchingv1.TaskSpec) error {
	if err := checkDuration("schedule_to_start_timeout", t.GetScheduleToStartTimeout()); err != nil {
		return err
	}
	if err := checkDuration("start_to_close_timeout", t.GetStartToCloseTimeout()); err != nil {
		return err
	}
	return checkDuration("heartbeat_timeout", t.GetHeartbeatTimeout())
}

func (l Limits) checkRetryPolicy(r *matchingv1.RetryPolicy) error {
	if r == nil {
		return nil
	}
	if err := checkDuration("retry_policy.initial_interval", r.GetInitialInterval()); err != nil {
		return err
	}
	if err := checkDuration("retry_policy.maximum_interval", r.GetMaximumInterval()); err != nil {
		return err
	}
	if c := r.GetBackoffCoefficient(); c != 0 && !(c >= 1 && c <= 1000) {
		return invalid("retry_policy.backoff_coefficient", "must be 0 (default) or 1..1000, got %v", c)
	}
	if r.GetMaximumAttempts() < 0 {
		return invalid("retry_policy.maximum_attempts", "must not be negative, got %d", r.GetMaximumAttempts())
	}
	for i, s := range r.GetNonRetryableErrorTypes() {
		if checkName("", s, l.MaxNameLength, true) != nil {
			// Checked again only to name the element.
			return checkName(fmt.Sprintf("retry_policy.non_retryable_error_types[%d]", i), s, l.MaxNameLength, true)
		}
	}
	return nil
}

func (l Limits) checkHeaders(h map[string]string) error {
	size := 0
	for k, v := range h {
		if err := checkName("headers", k, l.MaxNameLength, true); err != nil {
			return err
		}
		size += len(k) + len(v)
	}
	if size > l.MaxHeaderBytes {
		return invalid("headers", "must total at most %d bytes, got %d", l.MaxHeaderBytes, size)
	}
	return nil
}
