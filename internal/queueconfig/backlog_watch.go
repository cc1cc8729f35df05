package queueconfig

import (
	"sync"
	"sync/atomic"
)

// Wake says that a task went to a backlog level (kind, priority, requirement set) of a
// queue that was empty: no waiting poll took it, so a pool that could serve it may be at
// zero.
type Wake struct {
	Key      Key
	Kind     string // KindActivity or KindWorkflow
	Priority int
	Requires []Capability // sorted by name; empty for tasks that require nothing
}

// WakeFilter selects the wakes a subscription receives: of one queue (Namespace and
// Name), of one namespace (Name empty) or of every queue (Namespace empty), optionally
// narrowed further by Serves (nil: every level), such as to what one pool serves. Serves
// runs on the notifier's path under the watch's lock: it must be quick and must not call
// the watch.
type WakeFilter struct {
	Namespace string
	Name      string
	Serves    func(Wake) bool
}

// BacklogWatch delivers wakes to subscribers: the built-in autoscaler (every queue) and
// KEDA's StreamIsActive (one queue, narrowed to a pool). Notify never blocks and
// coalesces: a subscription has a one-slot ready channel and a set of pending queues, so
// any number of wakes of a queue before the subscriber takes them are one. Nothing is
// recorded without subscribers, and then Notify costs one atomic load. The zero value is
// ready to use.
type BacklogWatch struct {
	subscribed atomic.Int32 // fast path: no subscriber, no lock on the add path
	mu         sync.Mutex
	subs       map[Key]map[*WakeSubscription]struct{} // by the filter's queue, namespace or Key{}
}

// WakeSubscription receives the wakes its filter selects until stopped.
type WakeSubscription struct {
	watch   *BacklogWatch
	filter  WakeFilter
	ready   chan struct{}
	pending map[Key]struct{} // guarded by watch.mu
	stop    sync.Once
}

// Subscribe starts receiving the wakes f selects. Call Stop when done.
func (w *BacklogWatch) Subscribe(f WakeFilter) *WakeSubscription {
	s := &WakeSubscription{watch: w, filter: f, ready: make(chan struct{}, 1), pending: map[Key]struct{}{}}
	scope := f.scope()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.subs == nil {
		w.subs = map[Key]map[*WakeSubscription]struct{}{}
	}
	if w.subs[scope] == nil {
		w.subs[scope] = map[*WakeSubscription]struct{}{}
	}
	w.subs[scope][s] = struct{}{}
	w.subscribed.Add(1)
	return s
}

// Subscribed reports whether anyone subscribes, so a notifier can skip describing a wake
// nobody receives.
func (w *BacklogWatch) Subscribed() bool { return w.subscribed.Load() > 0 }

// Notify delivers wake to the subscriptions that select it.
func (w *BacklogWatch) Notify(wake Wake) {
	if !w.Subscribed() {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	scopes := [...]Key{{}, {Namespace: wake.Key.Namespace}, wake.Key}
	for i, scope := range scopes {
		if i > 0 && scope == scopes[i-1] {
			continue // a wake without a queue name: its queue scope is its namespace's
		}
		for s := range w.subs[scope] {
			s.deliverLocked(wake)
		}
	}
}

// Ready receives a value when queues are pending (the same channel on every call).
func (s *WakeSubscription) Ready() <-chan struct{} { return s.ready }

// Take returns the queues woken since the last Take and forgets them.
func (s *WakeSubscription) Take() []Key {
	s.watch.mu.Lock()
	defer s.watch.mu.Unlock()
	keys := make([]Key, 0, len(s.pending))
	for k := range s.pending {
		keys = append(keys, k)
	}
	clear(s.pending)
	return keys
}

// Stop ends the subscription; it is idempotent.
func (s *WakeSubscription) Stop() {
	s.stop.Do(func() {
		w, scope := s.watch, s.filter.scope()
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.subs[scope], s)
		if len(w.subs[scope]) == 0 {
			delete(w.subs, scope)
		}
		w.subscribed.Add(-1)
	})
}

func (s *WakeSubscription) deliverLocked(wake Wake) {
	if s.filter.Serves != nil && !s.filter.Serves(wake) {
		return
	}
	s.pending[wake.Key] = struct{}{}
	select {
	case s.ready <- struct{}{}:
	default: // a signal is already pending; Take returns this queue with the others
	}
}

// scope is the key a subscription is filed under: the queue, the namespace (Name
// empty) or Key{} for every queue.
func (f WakeFilter) scope() Key {
	if f.Namespace == "" {
		return Key{}
	}
	return Key{Namespace: f.Namespace, Name: f.Name}
}

// BacklogNotifier is implemented by a Registry that reports backlogs gaining tasks
// (the matching engine, and Memory for tests).
type BacklogNotifier interface {
	// BacklogWatch returns the registry's backlog watch: it is notified when a task goes
	// to a backlog level (kind, priority, requirement set) that was empty, that is when
	// no waiting poll took it.
	BacklogWatch() *BacklogWatch
}
