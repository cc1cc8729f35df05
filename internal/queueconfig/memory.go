package queueconfig

import (
	"context"
	"sync"
)

// Memory is an in-memory Registry. It stores configurations and returns statistics that
// tests set, so the reconcilers can be tested without a matching service.
type Memory struct {
	mu      sync.Mutex
	configs map[Key]Config
	stats   map[Key]Stats
	watch   BacklogWatch
}

var _ Registry = (*Memory)(nil)

// NewMemory returns an empty Memory registry.
func NewMemory() *Memory {
	return &Memory{configs: map[Key]Config{}, stats: map[Key]Stats{}}
}

// Apply stores cfg for key.
func (m *Memory) Apply(_ context.Context, key Key, cfg Config) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.configs[key] = cfg
	return nil
}

// Remove forgets the configuration of key.
func (m *Memory) Remove(_ context.Context, key Key) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.configs, key)
	return nil
}

// Stats returns what SetStats stored for key.
func (m *Memory) Stats(_ context.Context, key Key) (Stats, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stats[key], nil
}

// Config returns the configuration applied for key, and whether there is one.
func (m *Memory) Config(key Key) (Config, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.configs[key]
	return c, ok
}

// SetStats sets the statistics Stats returns for key.
func (m *Memory) SetStats(key Key, s Stats) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stats[key] = s
}

// BacklogWatch returns the watch tests notify to stand for the matching engine's.
func (m *Memory) BacklogWatch() *BacklogWatch { return &m.watch }
