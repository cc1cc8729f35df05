package auth

import (
	"context"
	"crypto/sha256"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
)

// SubjectAccessReviewer creates SubjectAccessReviews;
// kubernetes.Interface.AuthorizationV1().SubjectAccessReviews() satisfies it.
type SubjectAccessReviewer interface {
	Create(ctx context.Context, review *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error)
}

// AuthorizerOptions configure an Authorizer. Zero values take the defaults.
type AuthorizerOptions struct {
	// CacheSize bounds the cached decisions (4096).
	CacheSize int
	// AllowTTL and DenyTTL are how long decisions are reused (10 and 5 seconds): a revoked
	// RoleBinding takes effect within AllowTTL.
	AllowTTL time.Duration
	DenyTTL  time.Duration
	Clock    Clock
	Log      logr.Logger
}

// Authorizer decides whether a caller may use queues of a namespace. Its own namespace is
// always allowed; any other needs a SubjectAccessReview allowing the verb on
// queues.matching.taskroute.dev (resource name = the queue, when the request names one).
type Authorizer struct {
	reviewer SubjectAccessReviewer
	opts     AuthorizerOptions
	cache    *cache.LRUExpireCache
}

// NewAuthorizer returns an Authorizer asking reviewer.
func NewAuthorizer(reviewer SubjectAccessReviewer, opts AuthorizerOptions) *Authorizer {
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.AllowTTL <= 0 {
		opts.AllowTTL = 10 * time.Second
	}
	if opts.DenyTTL <= 0 {
		opts.DenyTTL = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	return &Authorizer{
		reviewer: reviewer,
		opts:     opts,
		cache:    cache.NewLRUExpireCacheWithClock(opts.CacheSize, opts.Clock),
	}
}

// CachedEntries is the number of live cached decisions.
func (a *Authorizer) CachedEntries() int { return len(a.cache.Keys()) }

// Authorize returns nil when caller may perform verb on target, PermissionDenied naming
// the namespace when not, Unavailable when the apiserver could not be asked.
func (a *Authorizer) Authorize(ctx context.Context, caller *Caller, verb string, target Target) error {
	if caller.Namespace() != "" && caller.Namespace() == target.Namespace {
		authzResults.WithLabelValues("own_namespace").Inc()
		return nil
	}
	key := decisionKey(caller, verb, target)
	allowed, cached := a.cache.Get(key)
	if !cached {
		var err error
		allowed, err = a.review(ctx, caller, verb, target)
		if err != nil {
			authzResults.WithLabelValues("error").Inc()
			return err
		}
		ttl := a.opts.DenyTTL
		if allowed.(bool) {
			ttl = a.opts.AllowTTL
		}
		a.cache.Add(key, allowed, ttl)
	}
	if allowed.(bool) {
		authzResults.WithLabelValues("allowed").Inc()
		return nil
	}
	authzResults.WithLabelValues("denied").Inc()
	what := "queues"
	if target.Queue != "" {
		what = "queue " + target.Queue
	}
	return status.Errorf(codes.PermissionDenied,
		"%s may not %s %s in namespace %q: grant verb %q on %s.%s in that namespace",
		caller.Username, verb, what, target.Namespace, verb, QueueResource, QueueGroup)
}

func (a *Authorizer) review(ctx context.Context, caller *Caller, verb string, target Target) (bool, error) {
	extra := make(map[string]authorizationv1.ExtraValue, len(caller.Extra))
	for k, v := range caller.Extra {
		extra[k] = v
	}
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   caller.Username,
		UID:    caller.UID,
		Groups: caller.Groups,
		Extra:  extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: target.Namespace,
			Verb:      verb,
			Group:     QueueGroup,
			Resource:  QueueResource,
			Name:      target.Queue,
		},
	}}
	res, err := a.reviewer.Create(ctx, sar, metav1.CreateOptions{})
	if err != nil {
		a.opts.Log.Error(err, "Failed to create SubjectAccessReview", "user", caller.Username, "namespace", target.Namespace)
		return false, status.Error(codes.Unavailable, "access review unavailable")
	}
	a.opts.Log.V(1).Info("Reviewed cross-namespace access", "user", caller.Username, "namespace", target.Namespace,
		"queue", target.Queue, "verb", verb, "allowed", res.Status.Allowed, "reason", res.Status.Reason)
	return res.Status.Allowed && !res.Status.Denied, nil
}

// decisionKey identifies a decision by everything the review depends on; hashed so the
// key stays small whatever the group list.
func decisionKey(c *Caller, verb string, t Target) string {
	h := sha256.New()
	for _, s := range []string{c.Username, c.UID, strings.Join(c.Groups, "\x00"), verb, t.Namespace, t.Queue} {
		h.Write([]byte(s))
		h.Write([]byte{0xff})
	}
	return string(h.Sum(nil))
}
