package matching

import "time"

// tokenBucket is a token bucket that may go into debt: take always succeeds once allowed
// was checked, and a debt delays later dispatch, so the long-run rate holds even when a
// batch takes more than the bucket held. Not safe for concurrent use (callers lock).
type tokenBucket struct {
	rate   float64 // tokens per second; 0 means unlimited
	burst  float64
	tokens float64
	last   int64 // unix nanos of the last refill
}

func (b *tokenBucket) configure(rate float64, burst int, now int64) {
	if b.rate == rate && b.burst == float64(burst) {
		return
	}
	b.rate, b.burst = rate, float64(max(burst, 1))
	b.tokens, b.last = b.burst, now
}

func (b *tokenBucket) refill(now int64) {
	if b.rate == 0 {
		return
	}
	// Callers pass times that may be a little older than the last refill (a sync match
	// uses its add's time): such a time adds nothing and must not move last back, or the
	// same interval would be credited again.
	if now > b.last {
		b.tokens += float64(now-b.last) * b.rate / 1e9
		if b.tokens > b.burst {
			b.tokens = b.burst
		}
		b.last = now
	}
}

// available returns how many whole tokens can be taken now (a large number when unlimited).
func (b *tokenBucket) available(now int64) int {
	if b.rate == 0 {
		return 1 << 30
	}
	b.refill(now)
	if b.tokens < 1 {
		return 0
	}
	return int(b.tokens)
}

func (b *tokenBucket) take(n int) {
	if b.rate != 0 {
		b.tokens -= float64(n)
	}
}

// waitFor is how long until n tokens are available; 0 when they are now or never will be
// (n above the burst, or no limit).
func (b *tokenBucket) waitFor(n int, now int64) time.Duration {
	if b.rate == 0 || float64(n) > b.burst {
		return 0
	}
	b.refill(now)
	if b.tokens >= float64(n) {
		return 0
	}
	return time.Duration((float64(n) - b.tokens) / b.rate * 1e9)
}

// wait is how long until one token is available.
func (b *tokenBucket) wait(now int64) time.Duration {
	if b.rate == 0 {
		return 0
	}
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / b.rate * 1e9)
}
