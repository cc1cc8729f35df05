package worker

import (
	"context"
	"testing"
	"time"
)

// TestSessionSlotsAreAdvertisedInPolls: Options.Sessions goes out as max_sessions in every
// poll; out-of-range values are refused by New.
func TestSessionSlotsAreAdvertisedInPolls(t *testing.T) {
	f, c := startFake(t)
	w := newTestWorker(t, c, Options{Sessions: 3})
	w.Register("t", func(context.Context, *Task) ([]byte, error) { return nil, nil })
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, 2*time.Second, "a poll", func() bool { return len(f.polls) > 0 })
	f.mu.Lock()
	got := f.polls[0].GetMaxSessions()
	f.mu.Unlock()
	if got != 3 {
		t.Errorf("poll max_sessions = %d, want 3", got)
	}
	for _, n := range []int{-1, maxSessions + 1} {
		if _, err := New(c, Options{Queue: "q", Sessions: n}); err == nil {
			t.Errorf("Sessions %d accepted", n)
		}
	}
}
