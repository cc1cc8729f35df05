package client

import (
	"context"
	mrand "math/rand/v2"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// Backoff of retried adds: doubling from addRetryFirst up to addRetryMax, with jitter, and
// never shorter than the delay the service suggests.
const (
	addRetryFirst = 50 * time.Millisecond
	addRetryMax   = 2 * time.Second
)

// retryAfter is the delay the service suggested in a RetryInfo detail of err.
func retryAfter(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

// addRetryable tells whether an add refused with err may be sent again: a quota refusal
// that time lifts (ResourceExhausted with RetryInfo; nothing was written) always, an
// unreachable service (Unavailable: the add may or may not have been written) only when
// every task has its own id, so a repeat is recognised instead of scheduled twice.
func addRetryable(err error, specs []*matchingv1.TaskSpec) bool {
	switch status.Code(err) {
	case codes.ResourceExhausted:
		_, ok := retryAfter(err)
		return ok
	case codes.Unavailable:
		for _, s := range specs {
			if s.GetTaskId() == "" {
				return false
			}
		}
		return true
	}
	return false
}

// retryAdd runs call until it succeeds, fails for good, or the next try could not start
// before ctx's deadline; then it returns the last error of the call (not the deadline's),
// so the caller sees why the add was refused.
func retryAdd(ctx context.Context, specs []*matchingv1.TaskSpec, call func(context.Context) error) error {
	backoff := addRetryFirst
	var refused error // the last refusal, reported if a retry runs into the deadline
	for {
		err := call(ctx)
		if err != nil && ctx.Err() != nil && refused != nil {
			return refused
		}
		if err == nil || ctx.Err() != nil || !addRetryable(err, specs) {
			return err
		}
		refused = err
		wait := backoff/2 + time.Duration(mrand.Int64N(int64(backoff/2)+1))
		if d, ok := retryAfter(err); ok {
			wait = max(wait, d)
		}
		backoff = min(2*backoff, addRetryMax)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}
