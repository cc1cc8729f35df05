package server

import (
	"context"

	"github.com/taskroute/taskroute/internal/auth"
	"github.com/taskroute/taskroute/internal/matching"
)

// principal is the authenticated caller of a call as the lease owner: its username plus the
// pod of a pod-bound token, so two pods sharing a ServiceAccount do not own each other's
// leases. Empty when authentication is disabled.
func principal(ctx context.Context) string {
	c, ok := auth.CallerFrom(ctx)
	if !ok {
		return ""
	}
	if c.PodName != "" {
		return c.Username + "/" + c.PodName
	}
	return c.Username
}

// owner is who makes a lease call: the principal and the request's worker identity.
func owner(ctx context.Context, workerIdentity string) matching.Owner {
	return matching.Owner{Principal: principal(ctx), Identity: workerIdentity}
}
