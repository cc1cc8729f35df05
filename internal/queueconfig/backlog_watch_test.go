package queueconfig

import (
	"slices"
	"strings"
	"testing"
)

func sortedKeys(keys []Key) []Key {
	slices.SortFunc(keys, func(x, y Key) int { return strings.Compare(x.String(), y.String()) })
	return keys
}

func signalled(s *WakeSubscription) bool {
	select {
	case <-s.Ready():
		return true
	default:
		return false
	}
}

// TestBacklogWatchCoalescesAndNeverBlocks: many wakes of a queue before Take are one
// signal and one key; Notify never blocks; nothing is kept before anyone subscribes.
func TestBacklogWatchCoalescesAndNeverBlocks(t *testing.T) {
	var w BacklogWatch
	a, b := Key{Namespace: "ns", Name: "a"}, Key{Namespace: "ns", Name: "b"}
	w.Notify(Wake{Key: Key{Namespace: "ns", Name: "before-subscribe"}})
	s := w.Subscribe(WakeFilter{})
	defer s.Stop()
	for range 1000 { // far more than any buffer: Notify must not block
		w.Notify(Wake{Key: a})
	}
	w.Notify(Wake{Key: b})
	if !signalled(s) {
		t.Fatal("Ready did not signal pending queues")
	}
	if got := sortedKeys(s.Take()); !slices.Equal(got, []Key{a, b}) {
		t.Fatalf("Take = %v, want [a b] once each", got)
	}
	if signalled(s) {
		t.Fatal("Ready signalled again with nothing pending")
	}
	if got := s.Take(); len(got) != 0 {
		t.Fatalf("Take after Take = %v", got)
	}
}

// TestBacklogWatchFiltersByScopeAndServes: a subscription gets the wakes of its queue,
// namespace or every queue, narrowed by Serves; others get nothing.
func TestBacklogWatchFiltersByScopeAndServes(t *testing.T) {
	var w BacklogWatch
	q := Key{Namespace: "ml", Name: "embed"}
	other := Key{Namespace: "ml", Name: "other"}
	elsewhere := Key{Namespace: "web", Name: "embed"}
	gpu := []Capability{{Name: "gpu", Value: "a100"}}
	all := w.Subscribe(WakeFilter{})
	ns := w.Subscribe(WakeFilter{Namespace: "ml"})
	queue := w.Subscribe(WakeFilter{Namespace: "ml", Name: "embed"})
	gpuPool := w.Subscribe(WakeFilter{Namespace: "ml", Name: "embed", Serves: func(wk Wake) bool {
		return WorkerProfile{Capabilities: gpu}.Meets(wk.Requires)
	}})
	cpuPool := w.Subscribe(WakeFilter{Namespace: "ml", Name: "embed", Serves: func(wk Wake) bool {
		return WorkerProfile{}.Meets(wk.Requires)
	}})
	for _, s := range []*WakeSubscription{all, ns, queue, gpuPool, cpuPool} {
		defer s.Stop()
	}

	w.Notify(Wake{Key: q, Kind: KindActivity, Priority: 3, Requires: gpu})
	w.Notify(Wake{Key: other, Kind: KindActivity, Priority: 3})
	w.Notify(Wake{Key: elsewhere, Kind: KindActivity, Priority: 3})

	want := map[*WakeSubscription][]Key{
		all:     {q, other, elsewhere},
		ns:      {q, other},
		queue:   {q},
		gpuPool: {q},
		cpuPool: nil, // the only wake of its queue requires a GPU
	}
	names := map[*WakeSubscription]string{all: "all", ns: "namespace", queue: "queue", gpuPool: "gpu pool", cpuPool: "cpu pool"}
	for s, keys := range want {
		if got := signalled(s); got != (len(keys) > 0) {
			t.Errorf("%s: signalled = %v, want %v", names[s], got, len(keys) > 0)
		}
		if got := sortedKeys(s.Take()); !slices.Equal(got, sortedKeys(keys)) {
			t.Errorf("%s: Take = %v, want %v", names[s], got, keys)
		}
	}
}

// TestBacklogWatchStop: a stopped subscription gets nothing, Stop is idempotent, and
// with no subscription left the watch is back on its lock-free path.
func TestBacklogWatchStop(t *testing.T) {
	var w BacklogWatch
	q := Key{Namespace: "ns", Name: "q"}
	a := w.Subscribe(WakeFilter{Namespace: "ns", Name: "q"})
	b := w.Subscribe(WakeFilter{Namespace: "ns", Name: "q"})
	a.Stop()
	a.Stop()
	w.Notify(Wake{Key: q})
	if signalled(a) {
		t.Fatal("a stopped subscription was signalled")
	}
	if !signalled(b) {
		t.Fatal("the subscription still open was not signalled")
	}
	if !w.Subscribed() {
		t.Fatal("Subscribed = false with one subscription open")
	}
	b.Stop()
	if w.Subscribed() {
		t.Fatal("Subscribed = true after every subscription stopped")
	}
	if len(w.subs) != 0 {
		t.Fatalf("subscriptions left after every Stop: %v", w.subs)
	}
}
