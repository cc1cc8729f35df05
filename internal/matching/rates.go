package matching

import "time"

// rateWindow counts adds and dispatches per second over the last rateWindowSeconds, so the
// rates a queue reports are those of the last few seconds, not of a window that closed long
// ago. Guarded by its queue's lock.
type rateWindow struct {
	since      int64 // when counting began (the queue was loaded), unix nanos
	second     int64 // unix second of the current bucket
	adds       [rateWindowSeconds]int32
	dispatches [rateWindowSeconds]int32
}

// rateWindowSeconds is the window of the add and dispatch rates (documented in
// docs/matching.md).
const rateWindowSeconds = 10

func (r *rateWindow) begin(now int64) {
	r.since = now
	r.second = now / int64(time.Second)
}

// roll moves the current bucket to now's second, zeroing the seconds in between.
func (r *rateWindow) roll(now int64) {
	sec := now / int64(time.Second)
	if sec <= r.second {
		return
	}
	if sec-r.second >= rateWindowSeconds {
		r.adds, r.dispatches = [rateWindowSeconds]int32{}, [rateWindowSeconds]int32{}
	} else {
		for s := r.second + 1; s <= sec; s++ {
			r.adds[s%rateWindowSeconds], r.dispatches[s%rateWindowSeconds] = 0, 0
		}
	}
	r.second = sec
}

func (r *rateWindow) countAdd(now int64) {
	r.roll(now)
	r.adds[r.second%rateWindowSeconds]++
}

func (r *rateWindow) countDispatch(now int64) {
	r.roll(now)
	r.dispatches[r.second%rateWindowSeconds]++
}

// rates returns adds and dispatches per second over the window ending now: the counts of
// the last rateWindowSeconds seconds (the current one included) divided by the time they
// cover, which is shorter for a queue loaded less than a window ago.
func (r *rateWindow) rates(now int64) (add, dispatch float64) {
	r.roll(now)
	var a, d int64
	for i := range r.adds {
		a += int64(r.adds[i])
		d += int64(r.dispatches[i])
	}
	// The window covers the full seconds before the current one plus the current one so far.
	span := time.Duration(rateWindowSeconds-1)*time.Second + time.Duration(now%int64(time.Second))
	if age := time.Duration(now - r.since); age < span {
		span = age
	}
	if span < time.Second {
		span = time.Second // a young queue does not report a burst as a huge rate
	}
	sec := span.Seconds()
	return float64(a) / sec, float64(d) / sec
}
