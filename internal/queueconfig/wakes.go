package queueconfig

import "sync"

// Wakes collects the queues whose backlog gained tasks while it was empty, for the
// autoscaler to wake pools at zero without polling. Notify never blocks and coalesces:
// many notifications of one queue before the consumer takes them are one. The zero value
// is ready to use.
type Wakes struct {
	mu      sync.Mutex
	pending map[Key]struct{}
	ready   chan struct{}
}

// Notify records that key's backlog gained tasks and signals Ready.
func (w *Wakes) Notify(key Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending == nil {
		w.pending = map[Key]struct{}{}
	}
	w.pending[key] = struct{}{}
	select {
	case w.readyLocked() <- struct{}{}:
	default: // a signal is already pending; Take returns this key with the others
	}
}

// Ready receives a value when keys are pending.
func (w *Wakes) Ready() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.readyLocked()
}

func (w *Wakes) readyLocked() chan struct{} {
	if w.ready == nil {
		w.ready = make(chan struct{}, 1)
	}
	return w.ready
}

// Take returns the pending keys and forgets them.
func (w *Wakes) Take() []Key {
	w.mu.Lock()
	defer w.mu.Unlock()
	keys := make([]Key, 0, len(w.pending))
	for k := range w.pending {
		keys = append(keys, k)
	}
	clear(w.pending)
	return keys
}

// BacklogNotifier is implemented by a Registry that reports backlogs gaining tasks
// (the matching engine, and Memory for tests).
type BacklogNotifier interface {
	// BacklogWakes returns the registry's wakes: a queue is notified when a task goes
	// to a backlog level (kind, priority, requirement set) that was empty, that is when
	// no waiting poll took it.
	BacklogWakes() *Wakes
}
