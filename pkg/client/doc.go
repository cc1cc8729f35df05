// Package client is the Go SDK for callers of the taskroute matching service: it adds
// tasks (one at a time or in batches), waits for their outcome, cancels them, reads
// live queue statistics, and runs series of tasks on one worker process in sessions
// (CreateSession, Task.SessionID, CompleteSession).
//
// A Client wraps one gRPC connection and is safe for concurrent use. Every call uses the
// Client's namespace (WithNamespace, else TASKROUTE_NAMESPACE, else "default"). Calls whose
// context has no deadline get the Client's call timeout (WithCallTimeout).
//
// Errors from the service keep their gRPC status, so callers can branch on
// status.Code(err): InvalidArgument for a bad request (the message names the field),
// NotFound for an unknown task id, FailedPrecondition for a stale lease, and so on.
// Requests that the SDK can reject before sending get the same codes.
//
// Workers use package github.com/taskroute/taskroute/pkg/worker, which builds on this one.
package client
