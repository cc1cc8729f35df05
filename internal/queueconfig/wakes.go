package queueconfig

import "sync"

// Wakes collects the queues whose backlog gained tasks while it was empty, for the
// autoscaler to wake pools at zero without polling. Notify never blocks and coalesces:
// many notifications of one queue before the consumer takes them are one. Nothing is
// recorded until a consumer listens, so a matching service without the operator
// (standalone) keeps no set of queues. The zero value is ready to use.
type Wakes struct {
	mu        sync.Mutex
	listening bool
	pending   map[Key]struct{}
	ready     chan struct{}
}

// Notify records that key's backlog gained tasks and signals the listener, if any.
func (w *Wakes) Notify(key Key) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.listening {
		return
	}
	if w.pending == nil {
		w.pending = map[Key]struct{}{}
	}
	w.pending[key] = struct{}{}
	select {
	case w.readyLocked() <- struct{}{}:
	default: // a signal is already pending; Take returns this key with the others
	}
}

// Listen starts recording notifications and returns a channel that receives a value
// when keys are pending (the same channel on every call).
func (w *Wakes) Listen() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.listening = true
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
