package matching

import (
	"sync"
	"sync/atomic"
)

// backlogWatch tells watchers of a queue that a task entered its backlog (it found no
// waiting poll), so an external scaler can activate a pool at once instead of at its next
// poll of the stats. A notification is a token in a one-slot channel: sending never
// blocks the task's path and many tasks coalesce into one wake-up. Watchers read the
// stats themselves; a notification carries nothing.
type backlogWatch struct {
	watching atomic.Int32 // fast path: no watcher, no lock on the add path
	mu       sync.Mutex
	watchers map[queueName]map[chan struct{}]struct{}
}

// WatchBacklog returns a channel that receives a token soon after a task enters the
// backlog of queue ns/name, and a function that stops the watch.
func (e *Engine) WatchBacklog(ns, name string) (<-chan struct{}, func()) {
	w := &e.backlogWatch
	ch := make(chan struct{}, 1)
	key := queueName{ns, name}
	w.mu.Lock()
	if w.watchers == nil {
		w.watchers = map[queueName]map[chan struct{}]struct{}{}
	}
	if w.watchers[key] == nil {
		w.watchers[key] = map[chan struct{}]struct{}{}
	}
	w.watchers[key][ch] = struct{}{}
	w.watching.Add(1)
	w.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			w.mu.Lock()
			delete(w.watchers[key], ch)
			if len(w.watchers[key]) == 0 {
				delete(w.watchers, key)
			}
			w.watching.Add(-1)
			w.mu.Unlock()
		})
	}
}

// entered notifies the watchers of a queue that a task entered its backlog.
func (w *backlogWatch) entered(ns, name string) {
	if w.watching.Load() == 0 {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.watchers[queueName{ns, name}] {
		select {
		case ch <- struct{}{}:
		default: // a token is already waiting
		}
	}
}
