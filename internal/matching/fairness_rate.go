package matching

import "time"

// The per-key rate limit of fairness (fairness.go): every key has a token bucket of the
// queue's fairness_key_rate_limit and burst, charged by sync matches too.

// syncKey returns the state a task matched straight to a poll is charged to: its key's,
// if the key has one or the queue limits each key's rate (then it is created), else nil.
func (sq *subqueue) syncKey(t *task, now int64) *fairKey {
	if t.fairKey == "" {
		return &sq.fairDefault
	}
	if k := sq.fairKeys[t.fairKey]; k != nil || sq.q.cfg.FairnessKeyRateLimit == 0 {
		return k
	}
	k := &fairKey{name: t.fairKey}
	if sq.fairKeys == nil {
		sq.fairKeys = map[string]*fairKey{}
	}
	sq.fairKeys[t.fairKey] = k
	sq.noteKeyChurn(now)
	return k
}

// keyTokenLocked reports whether t's key may dispatch one more task now (sync match).
func (sq *subqueue) keyTokenLocked(t *task, now int64) bool {
	k := sq.syncKey(t, now)
	if k == nil {
		return true
	}
	ok, _ := sq.keyAllows(k, now)
	return ok
}

// chargeSync charges a task matched straight to a poll to its key.
func (sq *subqueue) chargeSync(t *task, now int64) {
	if k := sq.syncKey(t, now); k != nil {
		sq.charge(k, t.priority, t.fairWeight, now)
	}
}

// keyAllows reports whether the queue's per-key rate limit lets k dispatch one more task
// now; when not, it returns how long until a token returns.
func (sq *subqueue) keyAllows(k *fairKey, now int64) (bool, time.Duration) {
	cfg := sq.q.cfg
	k.bucket.configure(cfg.FairnessKeyRateLimit, cfg.FairnessKeyBurst, now)
	if k.bucket.available(now) >= 1 {
		return true, 0
	}
	return false, max(k.bucket.wait(now), time.Millisecond)
}

// armKeyRateLocked wakes dispatch when a key skipped for its rate gets a token back, if
// nothing else was picked meanwhile (sq.rateWait was set by the last pick).
func (sq *subqueue) armKeyRateLocked() {
	if sq.rateWait == 0 || sq.rateTimer != nil {
		return
	}
	q, kind := sq.q, sq.kind
	sq.rateTimer = q.e.clock.AfterFunc(sq.rateWait, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		sq.rateTimer = nil
		if !q.unloaded {
			q.dispatchWaitingLocked(kind)
		}
	})
}
