package worker

import (
	"math"
	"sync"
	"time"
)

// bucket is the worker's own token bucket for its start rate. Unlike a limiter that only
// reserves, it can take several tokens for one poll and give back those a poll did not
// use, so asking for N tasks costs only the tasks that came.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

// newBucket starts with one token. Its burst is a tenth of a second of rate (at least 1),
// so a worker never starts more than rate*t + burst tasks in any window t.
func newBucket(rate float64, now time.Time) *bucket {
	burst := math.Max(1, math.Floor(rate/10))
	return &bucket{rate: rate, burst: burst, tokens: 1, last: now}
}

func (b *bucket) refill(now time.Time) {
	if now.After(b.last) {
		b.tokens = math.Min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
}

// take removes up to n whole tokens. With none available it returns 0 and how long until
// one is.
func (b *bucket) take(n int, now time.Time) (int, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens < 1 {
		return 0, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	}
	got := int(math.Min(float64(n), math.Floor(b.tokens)))
	b.tokens -= float64(got)
	return got, 0
}

// giveBack returns tokens a poll took but did not use.
func (b *bucket) giveBack(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = math.Min(b.burst, b.tokens+float64(n))
}
