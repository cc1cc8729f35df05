package auth

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// countingReviewer counts the TokenReviews that reach the apiserver.
type countingReviewer struct {
	next  TokenReviewer
	calls atomic.Int32
}

func (c *countingReviewer) Create(ctx context.Context, r *authenticationv1.TokenReview, o metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	c.calls.Add(1)
	return c.next.Create(ctx, r, o)
}

func newCounting() *countingReviewer {
	return &countingReviewer{next: kube.AuthenticationV1().TokenReviews()}
}

func wantCode(t *testing.T, err error, code codes.Code, contains string) {
	t.Helper()
	if status.Code(err) != code {
		t.Fatalf("want %v, got %v", code, err)
	}
	if contains != "" && !strings.Contains(status.Convert(err).Message(), contains) {
		t.Fatalf("want message containing %q, got %q", contains, status.Convert(err).Message())
	}
}

func TestAuthenticatePodBoundToken(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	pod := newPod(t, ns, "worker-0", "worker")
	token := requestToken(t, ns, "worker", DefaultAudience, pod)

	a := NewAuthenticator(kube.AuthenticationV1().TokenReviews(), AuthenticatorOptions{})
	c, err := a.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	if c.Username != "system:serviceaccount:"+ns+":worker" || c.Namespace() != ns || c.ServiceAccountName != "worker" {
		t.Fatalf("unexpected caller %+v", c)
	}
	if c.PodName != "worker-0" || c.PodUID != string(pod.UID) {
		t.Fatalf("pod claims not picked up: %+v", c)
	}
	if c.UID == "" || len(c.Groups) == 0 {
		t.Fatalf("uid/groups missing: %+v", c)
	}
}

func TestAuthenticateRejects(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	newServiceAccount(t, ns, "gone")
	goneToken := requestToken(t, ns, "gone", DefaultAudience, nil)
	if err := kube.CoreV1().ServiceAccounts(ns).Delete(context.Background(), "gone", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	cases := map[string]string{
		"missing":                 "",
		"garbage":                 "not-a-token",
		"forged (other key)":      forgeToken(t, ns, "worker", DefaultAudience),
		"wrong audience":          requestToken(t, ns, "worker", "https://kubernetes.default.svc", nil),
		"deleted service account": goneToken,
		"too long":                strings.Repeat("x", maxTokenBytes+1),
	}
	a := NewAuthenticator(kube.AuthenticationV1().TokenReviews(), AuthenticatorOptions{})
	for name, token := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := a.Authenticate(context.Background(), token)
			wantCode(t, err, codes.Unauthenticated, "")
		})
	}
	// The right audience on the same ServiceAccount passes, so the rejections above are
	// about the tokens, not the account.
	if _, err := a.Authenticate(context.Background(), requestToken(t, ns, "worker", DefaultAudience, nil)); err != nil {
		t.Fatal(err)
	}
}

func TestAuthenticateCustomAudience(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	a := NewAuthenticator(kube.AuthenticationV1().TokenReviews(), AuthenticatorOptions{Audience: "matching.example"})
	if _, err := a.Authenticate(context.Background(), requestToken(t, ns, "worker", "matching.example", nil)); err != nil {
		t.Fatal(err)
	}
	_, err := a.Authenticate(context.Background(), requestToken(t, ns, "worker", DefaultAudience, nil))
	wantCode(t, err, codes.Unauthenticated, "")
}

func TestAuthenticateCacheExpiresAtTTLAndTokenExpiry(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	token := requestToken(t, ns, "worker", DefaultAudience, nil)
	exp, ok := unverifiedExpiry(token)
	if !ok {
		t.Fatal("token has no exp claim")
	}

	// TTL: a positive result is reused for TTL, then reviewed again.
	clock := testingclock.NewFakeClock(time.Now())
	r := newCounting()
	a := NewAuthenticator(r, AuthenticatorOptions{TTL: time.Minute, Clock: clock})
	for range 3 {
		if _, err := a.Authenticate(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	}
	if got := r.calls.Load(); got != 1 {
		t.Fatalf("want 1 review for 3 calls within the TTL, got %d", got)
	}
	clock.Step(61 * time.Second)
	if _, err := a.Authenticate(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	if got := r.calls.Load(); got != 2 {
		t.Fatalf("want a second review after the TTL, got %d reviews", got)
	}

	// Token expiry: with a long TTL, the entry still ends when the token does, and an
	// expired token is refused without asking the apiserver.
	clock = testingclock.NewFakeClock(exp.Add(-30 * time.Second))
	r = newCounting()
	a = NewAuthenticator(r, AuthenticatorOptions{TTL: time.Hour, Clock: clock})
	if _, err := a.Authenticate(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	clock.Step(20 * time.Second)
	if _, err := a.Authenticate(context.Background(), token); err != nil || a.CachedEntries() != 1 {
		t.Fatalf("want a cached success 10s before expiry, got %v (%d entries)", err, a.CachedEntries())
	}
	clock.Step(11 * time.Second)
	if n := a.CachedEntries(); n != 0 {
		t.Fatalf("cache entry outlived the token: %d entries", n)
	}
	_, err := a.Authenticate(context.Background(), token)
	wantCode(t, err, codes.Unauthenticated, "expired")
	if got := r.calls.Load(); got != 1 {
		t.Fatalf("want 1 review, got %d", got)
	}
}

func TestAuthenticateCachesRejectionsBriefly(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	forged := forgeToken(t, ns, "worker", DefaultAudience)
	clock := testingclock.NewFakeClock(time.Now())
	r := newCounting()
	a := NewAuthenticator(r, AuthenticatorOptions{NegativeTTL: 5 * time.Second, Clock: clock})
	for range 3 {
		_, err := a.Authenticate(context.Background(), forged)
		wantCode(t, err, codes.Unauthenticated, "")
	}
	if got := r.calls.Load(); got != 1 {
		t.Fatalf("want 1 review for a repeated bad token, got %d", got)
	}
	clock.Step(6 * time.Second)
	_, err := a.Authenticate(context.Background(), forged)
	wantCode(t, err, codes.Unauthenticated, "")
	if got := r.calls.Load(); got != 2 {
		t.Fatalf("want the rejection forgotten after NegativeTTL, got %d reviews", got)
	}
}

func TestAuthenticateCacheIsBoundedAndHoldsNoTokens(t *testing.T) {
	ns := cluster.NewNamespace(t, "authn")
	newServiceAccount(t, ns, "worker")
	r := newCounting()
	a := NewAuthenticator(r, AuthenticatorOptions{CacheSize: 3})
	var tokens []string
	for range 5 {
		tok := requestToken(t, ns, "worker", DefaultAudience, nil)
		tokens = append(tokens, tok)
		if _, err := a.Authenticate(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.CachedEntries(); n != 3 {
		t.Fatalf("want the cache capped at 3 entries, got %d", n)
	}
	for _, k := range a.cache.Keys() {
		for _, tok := range tokens {
			if strings.Contains(k.(string), tok) || strings.Contains(tok, k.(string)) {
				t.Fatal("cache key contains the token")
			}
		}
	}
	// The oldest entry was evicted: authenticating it again asks the apiserver.
	before := r.calls.Load()
	if _, err := a.Authenticate(context.Background(), tokens[0]); err != nil {
		t.Fatal(err)
	}
	if r.calls.Load() != before+1 {
		t.Fatal("evicted token was answered from the cache")
	}
}

// failingReviewer stands for an unreachable apiserver.
type failingReviewer struct{}

func (failingReviewer) Create(context.Context, *authenticationv1.TokenReview, metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	return nil, context.DeadlineExceeded
}

func TestAuthenticateUnavailableIsNotCached(t *testing.T) {
	a := NewAuthenticator(failingReviewer{}, AuthenticatorOptions{})
	_, err := a.Authenticate(context.Background(), "some.opaque.token")
	wantCode(t, err, codes.Unavailable, "")
	if a.CachedEntries() != 0 {
		t.Fatal("an apiserver error was cached")
	}
}

// notAudienceAware answers authenticated without audiences, as a legacy authenticator does.
type notAudienceAware struct{}

func (notAudienceAware) Create(_ context.Context, r *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	r.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}
	return r, nil
}

func TestAuthenticateRequiresConfirmedAudience(t *testing.T) {
	a := NewAuthenticator(notAudienceAware{}, AuthenticatorOptions{})
	_, err := a.Authenticate(context.Background(), "opaque")
	wantCode(t, err, codes.Unauthenticated, "audience")
}
