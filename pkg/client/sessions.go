package client

import (
	"context"
	"time"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// ErrorTypeSessionFailed is the error type of a session's task that failed because the
// session's worker is gone (the session failed).
const ErrorTypeSessionFailed = "SessionFailed"

// SessionState is a session's lifecycle: Open, then Completed or Failed.
type SessionState string

// Session states.
const (
	SessionOpen      SessionState = "Open"
	SessionCompleted SessionState = "Completed"
	SessionFailed    SessionState = "Failed"
)

// SessionOptions are the optional settings of CreateSession.
type SessionOptions struct {
	// ID names the session (1..256 characters); generated when empty. Creating an ID that
	// exists returns that session with Created false.
	ID string
	// Kind of the tasks the session takes; "" means Activity.
	Kind Kind
	// Requires is the capabilities the session's worker must have.
	Requires Capabilities
}

// Session is a session's state: the worker it is bound to, and why it failed if it did.
type Session struct {
	Namespace string       `json:"namespace"`
	Queue     string       `json:"queue"`
	Kind      Kind         `json:"kind"`
	ID        string       `json:"id"`
	State     SessionState `json:"state"`
	// WorkerIdentity and WorkerProcess name the worker process the session runs on.
	WorkerIdentity string       `json:"workerIdentity"`
	WorkerProcess  string       `json:"workerProcess"`
	Requires       Capabilities `json:"requires,omitempty"`
	CreateTime     *time.Time   `json:"createTime,omitempty"`
	CloseTime      *time.Time   `json:"closeTime,omitempty"`
	Failure        string       `json:"failure,omitempty"`
	// Created is false when CreateSession found the session already existing.
	Created bool `json:"created,omitempty"`
}

// CreateSession opens a session on queue: the service binds it to one live worker process
// of the queue that has a free session slot (worker.Options.Sessions) and the required
// capabilities. Tasks added with Task.SessionID set to the session's ID run only on that
// worker. ResourceExhausted when no such worker has a free slot.
func (c *Client) CreateSession(ctx context.Context, queue string, opts SessionOptions) (*Session, error) {
	if queue == "" {
		return nil, invalid("queue", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.CreateSession(ctx, &matchingv1.CreateSessionRequest{
		Namespace: c.namespace, Queue: queue, Kind: KindToProto(opts.Kind), SessionId: opts.ID, Requires: opts.Requires.Proto(),
	})
	if err != nil {
		return nil, err
	}
	s := SessionFromProto(resp.GetSession())
	s.Created = resp.GetCreated()
	return s, nil
}

// CompleteSession ends a session and frees its slot on the worker. Its tasks already
// added still run there; adding more is refused (FailedPrecondition). NotFound for an
// unknown ID.
func (c *Client) CompleteSession(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, invalid("session_id", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.CompleteSession(ctx, &matchingv1.CompleteSessionRequest{Namespace: c.namespace, SessionId: id})
	if err != nil {
		return nil, err
	}
	return SessionFromProto(resp.GetSession()), nil
}

// GetSession returns a session's state; NotFound for an unknown ID.
func (c *Client) GetSession(ctx context.Context, id string) (*Session, error) {
	if id == "" {
		return nil, invalid("session_id", "must not be empty")
	}
	ctx, cancel := c.callContext(ctx)
	defer cancel()
	resp, err := c.rpc.GetSession(ctx, &matchingv1.GetSessionRequest{Namespace: c.namespace, SessionId: id})
	if err != nil {
		return nil, err
	}
	return SessionFromProto(resp.GetSession()), nil
}

var sessionStates = map[matchingv1.SessionState]SessionState{
	matchingv1.SessionState_SESSION_STATE_OPEN:      SessionOpen,
	matchingv1.SessionState_SESSION_STATE_COMPLETED: SessionCompleted,
	matchingv1.SessionState_SESSION_STATE_FAILED:    SessionFailed,
}

// SessionFromProto converts a protocol SessionInfo.
func SessionFromProto(s *matchingv1.SessionInfo) *Session {
	if s == nil {
		return nil
	}
	return &Session{
		Namespace: s.GetNamespace(), Queue: s.GetQueue(), Kind: KindFromProto(s.GetKind()), ID: s.GetSessionId(),
		State: sessionStates[s.GetState()], WorkerIdentity: s.GetWorkerIdentity(), WorkerProcess: s.GetWorkerProcess(),
		Requires: CapabilitiesFromProto(s.GetRequires()), CreateTime: timeOrNil(s.GetCreateTime()),
		CloseTime: timeOrNil(s.GetCloseTime()), Failure: s.GetFailure(),
	}
}
