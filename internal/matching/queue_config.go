package matching

import (
	"context"
	"encoding/json"
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/internal/queueconfig"
	"github.com/taskroute/taskroute/internal/storage"
)

// configRecord is a queue's configuration as stored (JSON under "c ns 0 queue") and held
// in Engine.configs, with who set it.
type configRecord struct {
	queueconfig.Config
	// SetByAPI is true for a configuration written through SetQueueConfig. False means the
	// TaskQueue reconciler applied it (the queue is managed by that object); records
	// written before this field existed were all applied by the reconciler.
	SetByAPI bool `json:",omitempty"`
}

func (e *Engine) loadConfigs() error {
	var decodeErr error
	err := e.store.ScanConfigs(func(q storage.QueueRef, v []byte) bool {
		// Fields added since the record was written keep their defaults.
		r := configRecord{Config: queueconfig.Default()}
		if err := json.Unmarshal(v, &r); err != nil {
			decodeErr = fmt.Errorf("queue config %s/%s: %w", q.Namespace, q.Queue, err)
			return false
		}
		e.configs[q.Namespace+"\x00"+q.Queue] = r
		return true
	})
	if err != nil {
		return err
	}
	return decodeErr
}

// Apply sets and persists a queue's configuration for its TaskQueue object; it applies to
// every later dispatch. The queue is managed by the object from then on: the API may read
// its configuration but not change it, until Remove.
func (e *Engine) Apply(_ context.Context, key queueconfig.Key, cfg queueconfig.Config) error {
	e.configWrite.Lock()
	defer e.configWrite.Unlock()
	return e.storeConfig(key, &configRecord{Config: cfg})
}

// Remove returns a queue to the default configuration, for a deleted TaskQueue. The queue
// is no longer managed: the API may configure it again.
func (e *Engine) Remove(_ context.Context, key queueconfig.Key) error {
	e.configWrite.Lock()
	defer e.configWrite.Unlock()
	return e.storeConfig(key, nil)
}

// QueueConfig returns the configuration that applies to a queue and whether a TaskQueue
// object manages it.
func (e *Engine) QueueConfig(key queueconfig.Key) (cfg queueconfig.Config, managed bool) {
	e.qmu.Lock()
	defer e.qmu.Unlock()
	r, ok := e.configs[key.Namespace+"\x00"+key.Name]
	if !ok {
		return queueconfig.Default(), false
	}
	return r.Config, !r.SetByAPI
}

// Update changes the configuration of a queue that no TaskQueue manages: change edits a
// copy of the current configuration and returns an error to abandon the update. The
// result is persisted and applies to every later dispatch. A managed queue gets
// FailedPrecondition naming its TaskQueue.
func (e *Engine) Update(_ context.Context, key queueconfig.Key, change func(*queueconfig.Config) error) (queueconfig.Config, error) {
	e.configWrite.Lock()
	defer e.configWrite.Unlock()
	cfg, managed := e.QueueConfig(key)
	if managed {
		return queueconfig.Config{}, errManaged(key)
	}
	if err := change(&cfg); err != nil {
		return queueconfig.Config{}, err
	}
	if err := e.storeConfig(key, &configRecord{Config: cfg, SetByAPI: true}); err != nil {
		return queueconfig.Config{}, status.Error(codes.Unavailable, err.Error())
	}
	return cfg, nil
}

// Reset returns a queue that no TaskQueue manages to the default configuration; a managed
// queue gets FailedPrecondition naming its TaskQueue.
func (e *Engine) Reset(_ context.Context, key queueconfig.Key) (queueconfig.Config, error) {
	e.configWrite.Lock()
	defer e.configWrite.Unlock()
	if _, managed := e.QueueConfig(key); managed {
		return queueconfig.Config{}, errManaged(key)
	}
	if err := e.storeConfig(key, nil); err != nil {
		return queueconfig.Config{}, status.Error(codes.Unavailable, err.Error())
	}
	return queueconfig.Default(), nil
}

func errManaged(key queueconfig.Key) error {
	return status.Errorf(codes.FailedPrecondition, "queue %s is configured by TaskQueue %s; edit that object", key.Name, key)
}

// storeConfig persists r as the queue's record (nil deletes it: the defaults apply) and
// applies it to the loaded queue. Call with configWrite held.
func (e *Engine) storeConfig(key queueconfig.Key, r *configRecord) error {
	ref := storage.QueueRef{Namespace: key.Namespace, Queue: key.Name}
	var write func(storage.Batch)
	if r == nil {
		write = func(b storage.Batch) { b.DeleteConfig(ref) }
	} else {
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		write = func(b storage.Batch) { b.PutConfig(ref, v) }
	}
	if err := e.committer.Write(write).Wait(); err != nil {
		return fmt.Errorf("persisting config of queue %s: %w", key, err)
	}
	e.setConfig(key, r)
	return nil
}

func (e *Engine) setConfig(key queueconfig.Key, r *configRecord) {
	k := key.Namespace + "\x00" + key.Name
	cfg := queueconfig.Default()
	e.qmu.Lock()
	if r != nil {
		e.configs[k] = *r
		cfg = r.Config
	} else {
		delete(e.configs, k)
	}
	q := e.queues[k]
	e.qmu.Unlock()
	if q != nil {
		q.configure(&cfg, e.now().UnixNano())
	}
}

// Config returns the configuration that applies to a queue.
func (e *Engine) Config(ns, queue string) queueconfig.Config { return e.config(ns, queue) }
