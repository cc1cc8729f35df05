package auth

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc/codes"
	authorizationv1 "k8s.io/api/authorization/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type countingSAR struct {
	next  SubjectAccessReviewer
	calls atomic.Int32
}

func (c *countingSAR) Create(ctx context.Context, r *authorizationv1.SubjectAccessReview, o metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	c.calls.Add(1)
	return c.next.Create(ctx, r, o)
}

// callerOf authenticates a fresh token of ns/sa, so authorization sees the real user info.
func callerOf(t *testing.T, ns, sa string) *Caller {
	t.Helper()
	a := NewAuthenticator(kube.AuthenticationV1().TokenReviews(), AuthenticatorOptions{})
	c, err := a.Authenticate(context.Background(), requestToken(t, ns, sa, DefaultAudience, nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuthorizeOwnNamespaceWithoutReview(t *testing.T) {
	a := cluster.NewNamespace(t, "authz-a")
	newServiceAccount(t, a, "worker")
	caller := callerOf(t, a, "worker")
	r := &countingSAR{next: kube.AuthorizationV1().SubjectAccessReviews()}
	z := NewAuthorizer(r, AuthorizerOptions{})
	for _, verb := range []string{VerbAdd, VerbPoll, VerbGet, VerbList, VerbCancel, VerbUpdate, VerbUse} {
		if err := z.Authorize(context.Background(), caller, verb, Target{Namespace: a, Queue: "q"}); err != nil {
			t.Fatalf("%s in own namespace: %v", verb, err)
		}
	}
	if r.calls.Load() != 0 {
		t.Fatal("own namespace needed a SubjectAccessReview")
	}
}

func TestAuthorizeOtherNamespaceNeedsGrant(t *testing.T) {
	a, b := cluster.NewNamespace(t, "authz-a"), cluster.NewNamespace(t, "authz-b")
	newServiceAccount(t, a, "worker")
	caller := callerOf(t, a, "worker")
	ctx := context.Background()

	z := NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), AuthorizerOptions{})
	err := z.Authorize(ctx, caller, VerbPoll, Target{Namespace: b, Queue: "q1"})
	wantCode(t, err, codes.PermissionDenied, fmt.Sprintf("namespace %q", b))

	// Grant poll on queue q1 only, to that ServiceAccount.
	grantQueues(t, b, []string{VerbPoll}, []string{"q1"}, serviceAccountSubject(a, "worker"))
	eventually(t, func() error {
		return NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), AuthorizerOptions{}).
			Authorize(ctx, caller, VerbPoll, Target{Namespace: b, Queue: "q1"})
	})
	z = NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), AuthorizerOptions{})
	wantCode(t, z.Authorize(ctx, caller, VerbPoll, Target{Namespace: b, Queue: "q2"}), codes.PermissionDenied, "q2")
	wantCode(t, z.Authorize(ctx, caller, VerbAdd, Target{Namespace: b, Queue: "q1"}), codes.PermissionDenied, "add")

	// A grant to the group of all ServiceAccounts of namespace a also counts, so groups
	// from the TokenReview reach the SubjectAccessReview.
	c := cluster.NewNamespace(t, "authz-c")
	grantQueues(t, c, []string{VerbAdd}, nil, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: "system:serviceaccounts:" + a})
	eventually(t, func() error {
		return NewAuthorizer(kube.AuthorizationV1().SubjectAccessReviews(), AuthorizerOptions{}).
			Authorize(ctx, caller, VerbAdd, Target{Namespace: c, Queue: "any"})
	})
}

func TestAuthorizeCacheIsBounded(t *testing.T) {
	a := cluster.NewNamespace(t, "authz-a")
	newServiceAccount(t, a, "worker")
	caller := callerOf(t, a, "worker")
	r := &countingSAR{next: kube.AuthorizationV1().SubjectAccessReviews()}
	z := NewAuthorizer(r, AuthorizerOptions{CacheSize: 2})
	for i := range 5 {
		_ = z.Authorize(context.Background(), caller, VerbGet, Target{Namespace: "elsewhere", Queue: fmt.Sprint("q", i)})
	}
	if n := z.CachedEntries(); n != 2 {
		t.Fatalf("want 2 cached decisions, got %d", n)
	}
	before := r.calls.Load()
	_ = z.Authorize(context.Background(), caller, VerbGet, Target{Namespace: "elsewhere", Queue: "q4"})
	if r.calls.Load() != before {
		t.Fatal("a recent decision was not cached")
	}
}
