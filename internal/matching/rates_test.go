package matching

import (
	"math"
	"testing"
	"time"
)

func TestRateWindowReportsTheLastSeconds(t *testing.T) {
	start := time.Unix(1_700_000_000, 0).UnixNano()
	var r rateWindow
	r.begin(start)
	at := func(d time.Duration) int64 { return start + int64(d) }
	for i := range 150 { // 150 adds within the first half second
		r.countAdd(at(time.Duration(i) * time.Millisecond))
	}
	add, _ := r.rates(at(500 * time.Millisecond))
	if add != 150 { // younger than a second: counted over one second
		t.Fatalf("rate right after 150 adds = %v, want 150", add)
	}
	// 3 adds/s for 20 s: the rate converges to 3, not to an average since the start.
	for s := 1; s <= 20; s++ {
		for k := range 3 {
			r.countAdd(at(time.Duration(s)*time.Second + time.Duration(k)*100*time.Millisecond))
		}
	}
	add, _ = r.rates(at(20*time.Second + 500*time.Millisecond))
	if math.Abs(add-3) > 0.4 {
		t.Fatalf("rate after 20 s of 3/s = %v, want about 3", add)
	}
	// Silence for longer than the window: zero.
	add, _ = r.rates(at(40 * time.Second))
	if add != 0 {
		t.Fatalf("rate after 20 s of silence = %v", add)
	}
}
