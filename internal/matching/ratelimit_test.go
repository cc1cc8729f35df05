package matching

import (
	"testing"
	"time"
)

// TestBucketCreditsAnIntervalOnce: a refill with a time older than the last one (a sync
// match passes its add's time) adds nothing and does not move the bucket back, so the
// interval up to the newer time is not credited twice.
func TestBucketCreditsAnIntervalOnce(t *testing.T) {
	var b tokenBucket
	start := time.Unix(1_700_000_000, 0).UnixNano()
	b.configure(50, 10, start)
	b.take(10)
	now := start + int64(time.Second)
	if got := b.available(now); got != 10 {
		t.Fatalf("after 1s at 50/s with burst 10: %d tokens, want 10", got)
	}
	b.take(10)
	if got := b.available(now - int64(500*time.Millisecond)); got != 0 {
		t.Fatalf("an older time gave %d tokens, want 0", got)
	}
	if got := b.available(now); got != 0 {
		t.Fatalf("the same interval was credited again: %d tokens, want 0", got)
	}
}
