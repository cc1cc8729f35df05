package matching

import (
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// CheckSessionTask returns the open session a task spec names (field is the spec's field
// path, for messages): NotFound for an unknown session, InvalidArgument naming the field
// when the session is on another queue or kind or the task requires another process,
// FailedPrecondition when it is completed or failed.
func (e *Engine) CheckSessionTask(field string, spec *matchingv1.TaskSpec) (session, error) {
	id := spec.GetSessionId()
	s, ok := e.sessions.get(spec.GetNamespace(), id)
	if !ok {
		return s, status.Errorf(codes.NotFound, "%s.session_id: session %s not found in namespace %s", field, id, spec.GetNamespace())
	}
	kind := kindActivity
	if spec.GetKind() == matchingv1.TaskKind_TASK_KIND_WORKFLOW {
		kind = kindWorkflow
	}
	switch {
	case s.Queue != spec.GetQueue():
		return s, status.Errorf(codes.InvalidArgument, "%s.session_id: session %s is on queue %s, not %s", field, id, s.Queue, spec.GetQueue())
	case s.Kind != kind:
		return s, status.Errorf(codes.InvalidArgument, "%s.session_id: session %s is of kind %s, not %s", field, id, kindProto(s.Kind), kindProto(kind))
	case s.State != sessionOpen:
		return s, status.Errorf(codes.FailedPrecondition, "%s.session_id: session %s is %s", field, id, matchingv1.SessionState(s.State))
	}
	for _, r := range spec.GetRequires() {
		if r.GetName() == capabilityProcess && r.GetValue() != s.Process {
			return s, status.Errorf(codes.InvalidArgument, "%s.requires: %s=%s conflicts with session %s, which runs in process %s",
				field, capabilityProcess, r.GetValue(), id, s.Process)
		}
	}
	return s, nil
}

// bindSessionTasks routes the tasks that name a session to the session's worker process:
// they require its process capability, so they share that process's backlog partition and
// fail (as SessionFailed) when it is gone.
func (e *Engine) bindSessionTasks(specs []*matchingv1.TaskSpec, tasks []*task) error {
	for i, spec := range specs {
		if spec.GetSessionId() == "" {
			continue
		}
		s, err := e.CheckSessionTask("task", spec)
		if err != nil {
			return err
		}
		t := tasks[i]
		t.session = s.ID
		reqs := capabilitiesProto(t.requires)
		if capabilitySet(t.requires).value(capabilityProcess) == "" {
			reqs = append(reqs, &matchingv1.Capability{Name: capabilityProcess, Value: s.Process})
		}
		t.setRoute(reqs, spec.GetPrefers())
	}
	return nil
}
