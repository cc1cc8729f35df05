package matching

import "sync"

// background tracks the engine's short-lived goroutines (backlog page loads), which
// start while requests come in, so Close can wait for them before the store is closed: a
// page load that outlived the engine would read a closed store.
type background struct {
	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// start reports whether a goroutine may start (false once closing); the caller runs it and
// calls done when it ends.
func (b *background) start() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.wg.Add(1)
	return true
}

func (b *background) done() { b.wg.Done() }

// closeAndWait refuses new goroutines and waits for the running ones.
func (b *background) closeAndWait() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.wg.Wait()
}
