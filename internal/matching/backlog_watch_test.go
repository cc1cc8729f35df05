package matching

import (
	"testing"
)

// TestBacklogWatchCoalescesAndStops: tasks entering a queue's backlog leave one token for
// each watcher of that queue (however many tasks), none for other queues' watchers, and a
// stopped watch gets nothing.
func TestBacklogWatchCoalescesAndStops(t *testing.T) {
	v := open(t, t.TempDir(), Options{})
	watched, stop := v.e.WatchBacklog("ns", "q")
	other, stopOther := v.e.WatchBacklog("ns", "other")
	defer stopOther()

	add(t, v.e, tspec("a"), tspec("b"), tspec("c"))
	select {
	case <-watched:
	default:
		t.Fatal("no token after tasks entered the backlog")
	}
	select {
	case <-watched:
		t.Fatal("three tasks left more than one token")
	default:
	}
	select {
	case <-other:
		t.Fatal("a watcher of another queue got a token")
	default:
	}

	stop()
	stop() // idempotent
	add(t, v.e, tspec("d"))
	select {
	case <-watched:
		t.Fatal("a stopped watch got a token")
	default:
	}
	if n := v.e.backlogWatch.watching.Load(); n != 1 {
		t.Fatalf("watching = %d after one of two watches stopped, want 1", n)
	}
}
