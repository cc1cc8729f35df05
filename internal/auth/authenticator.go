package auth

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/cache"
)

// DefaultAudience is the audience worker tokens are bound to. A token minted for the
// apiserver (or any other audience) is rejected, so a stolen kube API token is useless here.
const DefaultAudience = "taskroute.dev/matching"

// maxTokenBytes bounds the token we hash and send to the apiserver.
const maxTokenBytes = 16 << 10

// TokenReviewer creates TokenReviews; kubernetes.Interface.AuthenticationV1().TokenReviews()
// satisfies it.
type TokenReviewer interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// Clock is the time source; tests inject one to expire cache entries and tokens.
type Clock interface{ Now() time.Time }

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// AuthenticatorOptions configure an Authenticator. Zero values take the defaults.
type AuthenticatorOptions struct {
	// Audience the token must be bound to (DefaultAudience).
	Audience string
	// CacheSize bounds the number of cached results (4096).
	CacheSize int
	// TTL caps how long a positive result is trusted (1 minute); an entry never outlives
	// the token's own expiry.
	TTL time.Duration
	// NegativeTTL is how long a rejection is remembered (5 seconds), so a client retrying
	// with a bad token does not turn into a TokenReview per call.
	NegativeTTL time.Duration
	// Clock (real time).
	Clock Clock
	Log   logr.Logger
}

// Authenticator verifies bearer tokens with the TokenReview API and caches the results.
// The cache key is a SHA-256 of the token: tokens themselves are never kept.
type Authenticator struct {
	reviewer TokenReviewer
	opts     AuthenticatorOptions
	cache    *cache.LRUExpireCache
	flight   singleflight.Group
}

// cachedReview is a cache entry: a caller, or the rejection to repeat.
type cachedReview struct {
	caller *Caller
	err    error
}

// NewAuthenticator returns an Authenticator that reviews tokens with reviewer.
func NewAuthenticator(reviewer TokenReviewer, opts AuthenticatorOptions) *Authenticator {
	if opts.Audience == "" {
		opts.Audience = DefaultAudience
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 4096
	}
	if opts.TTL <= 0 {
		opts.TTL = time.Minute
	}
	if opts.NegativeTTL <= 0 {
		opts.NegativeTTL = 5 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = realClock{}
	}
	return &Authenticator{
		reviewer: reviewer,
		opts:     opts,
		cache:    cache.NewLRUExpireCacheWithClock(opts.CacheSize, opts.Clock),
	}
}

// Audience is the audience tokens must be bound to.
func (a *Authenticator) Audience() string { return a.opts.Audience }

// CachedEntries is the number of live cache entries (for tests and metrics).
func (a *Authenticator) CachedEntries() int { return len(a.cache.Keys()) }

// Authenticate returns the caller a token belongs to. Errors are gRPC statuses:
// Unauthenticated for a missing, malformed, expired, forged or wrong-audience token,
// Unavailable when the apiserver could not be asked.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (*Caller, error) {
	if token == "" {
		return nil, status.Error(codes.Unauthenticated, "missing bearer token")
	}
	if len(token) > maxTokenBytes {
		return nil, status.Errorf(codes.Unauthenticated, "bearer token longer than %d bytes", maxTokenBytes)
	}
	now := a.opts.Clock.Now()
	exp, hasExp := unverifiedExpiry(token)
	// An expired token is rejected without asking: the apiserver would refuse it too, and
	// a cached positive result must never outlive the token.
	if hasExp && !now.Before(exp) {
		authResults.WithLabelValues("expired").Inc()
		return nil, status.Error(codes.Unauthenticated, "bearer token expired")
	}
	key := tokenKey(token)
	if v, ok := a.cache.Get(key); ok {
		e := v.(cachedReview)
		authResults.WithLabelValues(resultLabel(e.err) + "_cached").Inc()
		return e.caller, e.err
	}
	// Concurrent calls with one token (a worker's slots starting together) share a review.
	v, err, _ := a.flight.Do(key, func() (any, error) {
		caller, rerr := a.review(ctx, token)
		switch {
		case rerr == nil:
			ttl := a.opts.TTL
			if hasExp && exp.Sub(now) < ttl {
				ttl = exp.Sub(now)
			}
			a.cache.Add(key, cachedReview{caller: caller}, ttl)
		case status.Code(rerr) == codes.Unauthenticated:
			a.cache.Add(key, cachedReview{err: rerr}, a.opts.NegativeTTL)
		}
		return caller, rerr
	})
	authResults.WithLabelValues(resultLabel(err)).Inc()
	if err != nil {
		return nil, err
	}
	return v.(*Caller), nil
}

func (a *Authenticator) review(ctx context.Context, token string) (*Caller, error) {
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{
		Token:     token,
		Audiences: []string{a.opts.Audience},
	}}
	res, err := a.reviewer.Create(ctx, review, metav1.CreateOptions{})
	if err != nil {
		a.opts.Log.Error(err, "Failed to create TokenReview")
		return nil, status.Error(codes.Unavailable, "token review unavailable")
	}
	if !res.Status.Authenticated {
		a.opts.Log.V(1).Info("Rejected token", "reason", res.Status.Error)
		return nil, status.Error(codes.Unauthenticated, "bearer token rejected (invalid, expired, revoked or not for audience "+a.opts.Audience+")")
	}
	// An authenticator that is not audience-aware answers with no audiences; we accept
	// only an explicit confirmation of ours.
	if !slices.Contains(res.Status.Audiences, a.opts.Audience) {
		a.opts.Log.V(1).Info("Rejected token of another audience", "user", res.Status.User.Username, "audiences", res.Status.Audiences)
		return nil, status.Errorf(codes.Unauthenticated, "bearer token is not for audience %s", a.opts.Audience)
	}
	u := res.Status.User
	extra := make(map[string][]string, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = []string(v)
	}
	return newCaller(u.Username, u.UID, u.Groups, extra), nil
}

// tokenKey is the cache key of a token: a hash, so a heap dump does not leak tokens.
func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return string(sum[:])
}

// unverifiedExpiry reads the exp claim of a JWT without verifying it. It is only used to
// reject or forget tokens earlier, never to accept one, so trusting it costs nothing.
func unverifiedExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	secs, err := claims.Exp.Int64()
	if err != nil {
		f, ferr := claims.Exp.Float64()
		if ferr != nil {
			return time.Time{}, false
		}
		secs = int64(f)
	}
	return time.Unix(secs, 0), true
}

func resultLabel(err error) string {
	switch {
	case err == nil:
		return "authenticated"
	case errors.Is(err, context.Canceled):
		return "canceled"
	default:
		return strings.ToLower(fmt.Sprint(status.Code(err)))
	}
}
