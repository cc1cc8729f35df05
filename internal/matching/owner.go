package matching

import (
	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Owner is who holds a task's lease: the authenticated principal of the poll that started
// the attempt (empty when authentication is disabled) and the worker identity it declared.
// It is persisted with the lease, so ownership survives a restart.
type Owner struct {
	// Principal is the authenticated caller, e.g. "system:serviceaccount:ns:sa/pod-name".
	Principal string
	// Identity is the worker_identity of the request.
	Identity string
}

// permits reports whether a lease call made by `by` may act on a lease held by o. With
// authentication the principal decides (another principal is refused even inside the same
// namespace); without it, a non-empty worker identity must match the one that polled. An
// empty side means "unknown" (a trusted internal call, or a lease started before the owner
// was recorded) and does not refuse.
func (o Owner) permits(by Owner) bool {
	if by.Principal != "" && o.Principal != "" {
		return by.Principal == o.Principal
	}
	if by.Identity != "" && o.Identity != "" {
		return by.Identity == o.Identity
	}
	return true
}

func leasedToAnother(id string) error {
	return status.Errorf(codes.PermissionDenied, "task %q is leased to another worker", id)
}

type principalKey struct{}

// WithPrincipal returns ctx carrying the authenticated principal of a call; Poll records it
// as the owner of the leases it hands out.
func WithPrincipal(ctx context.Context, principal string) context.Context {
	if principal == "" {
		return ctx
	}
	return context.WithValue(ctx, principalKey{}, principal)
}

func principalFrom(ctx context.Context) string {
	p, _ := ctx.Value(principalKey{}).(string)
	return p
}

// The lease calls without an owner are trusted internal calls (tests, tools): no ownership
// check. The gRPC handler always uses the *As variants.

// Complete ends a started attempt successfully (no ownership check).
func (e *Engine) Complete(ns, id, leaseID string, result []byte) error {
	return e.CompleteAs(ns, id, leaseID, Owner{}, result)
}

// CompleteMany completes a batch in one durable write (no ownership check).
func (e *Engine) CompleteMany(reqs []*matchingv1.CompleteTaskRequest) []*matchingv1.ItemError {
	return e.CompleteManyAs(reqs, "")
}

// Fail ends an attempt with a failure (no ownership check).
func (e *Engine) Fail(ns, id, leaseID string, f *matchingv1.Failure) (*matchingv1.FailTaskResponse, error) {
	return e.FailAs(ns, id, leaseID, Owner{}, f)
}

// Heartbeat records details of a running attempt (no ownership check).
func (e *Engine) Heartbeat(ns, id, leaseID string, details []byte) (bool, error) {
	return e.HeartbeatAs(ns, id, leaseID, Owner{}, details)
}

// ReportCanceled ends a started task whose cancellation was requested (no ownership check).
func (e *Engine) ReportCanceled(ns, id, leaseID string, details []byte) error {
	return e.ReportCanceledAs(ns, id, leaseID, Owner{}, details)
}

// Release hands a started task back to the queue (no ownership check).
func (e *Engine) Release(ns, id, leaseID string) error {
	return e.ReleaseAs(ns, id, leaseID, Owner{})
}
