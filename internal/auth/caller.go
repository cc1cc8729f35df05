// Package auth authenticates and authorizes callers of the matching service: bearer tokens
// are verified with the Kubernetes TokenReview API, and a caller may use queues of its own
// namespace, or of another namespace when a SubjectAccessReview on the virtual resource
// queues.matching.taskroute.dev allows it. One gRPC interceptor runs both for every call.
package auth

import (
	"context"
	"strings"
)

// Extra keys the apiserver puts into TokenReview results of pod-bound ServiceAccount tokens.
const (
	extraPodName = "authentication.kubernetes.io/pod-name"
	extraPodUID  = "authentication.kubernetes.io/pod-uid"
)

// serviceAccountPrefix starts the username of every ServiceAccount token.
const serviceAccountPrefix = "system:serviceaccount:"

// Caller is an authenticated identity, as TokenReview reported it.
type Caller struct {
	Username string
	UID      string
	Groups   []string
	// Extra is the TokenReview's extra map; SubjectAccessReviews pass it on unchanged.
	Extra map[string][]string

	// ServiceAccountNamespace and ServiceAccountName are set for ServiceAccount tokens.
	// The namespace is the caller's own namespace: its queues need no grant.
	ServiceAccountNamespace string
	ServiceAccountName      string
	// PodName and PodUID are set for pod-bound tokens (the projected token of a pod), so
	// worker-scoped operations can check the worker runs in the pod it claims.
	PodName string
	PodUID  string
}

// Namespace is the caller's own namespace; empty for identities that are not
// ServiceAccounts (users of the CLI), which need a grant for every namespace.
func (c *Caller) Namespace() string { return c.ServiceAccountNamespace }

// newCaller fills the ServiceAccount and pod fields from a TokenReview's user info.
func newCaller(username, uid string, groups []string, extra map[string][]string) *Caller {
	c := &Caller{Username: username, UID: uid, Groups: groups, Extra: extra}
	if rest, ok := strings.CutPrefix(username, serviceAccountPrefix); ok {
		ns, name, found := strings.Cut(rest, ":")
		if found && ns != "" && name != "" && !strings.Contains(name, ":") {
			c.ServiceAccountNamespace, c.ServiceAccountName = ns, name
		}
	}
	if v := extra[extraPodName]; len(v) == 1 {
		c.PodName = v[0]
	}
	if v := extra[extraPodUID]; len(v) == 1 {
		c.PodUID = v[0]
	}
	return c
}

type callerKey struct{}

// WithCaller returns ctx carrying c.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// CallerFrom returns the caller the interceptor authenticated. ok is false when
// authentication is disabled (development mode) or ctx did not pass the interceptor;
// handlers that check ownership must then skip the check only if auth is disabled.
func CallerFrom(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok && c != nil
}
