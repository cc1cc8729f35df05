package worker

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"

	"github.com/taskroute/taskroute/pkg/client"
)

// routingCapabilities returns the capabilities a worker advertises: the user's plus its
// host and process, which the user may not set.
func routingCapabilities(opts *Options, processID string) (client.Capabilities, error) {
	caps := make(client.Capabilities, len(opts.Capabilities)+2)
	for name, value := range opts.Capabilities {
		if name == client.CapabilityHost || name == client.CapabilityProcess {
			return nil, fmt.Errorf("worker: Options.Capabilities: %s is set by the worker itself (use Options.Host)", name)
		}
		caps[name] = value
	}
	caps[client.CapabilityHost] = opts.Host
	caps[client.CapabilityProcess] = processID
	return caps, nil
}

// defaultHost is the host name, for a worker outside a cluster.
func defaultHost() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return "localhost"
}

// newProcessID is a random id for this worker process (12 hex digits).
func newProcessID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Host is the host this worker advertises (Options.Host).
func (w *Worker) Host() string { return w.opts.Host }

// ProcessID is this worker process's id, as advertised in its polls.
func (w *Worker) ProcessID() string { return w.processID }

// SameHost is the requirement that routes a follow-up task to a worker on the host that
// runs this task: set it as (or merge it into) client.Task.Requires. The follow-up waits in
// the queue until a worker of that host polls it.
func (t *Task) SameHost() client.Capabilities {
	return client.Capabilities{client.CapabilityHost: t.w.opts.Host}
}

// SameProcess is the requirement that routes a follow-up task to this worker process (for
// work that relies on data cached in it). The follow-up waits in the queue until this
// process polls it; a restarted process has a new id and does not get it.
func (t *Task) SameProcess() client.Capabilities {
	return client.Capabilities{client.CapabilityProcess: t.w.processID}
}

// maxSessions bounds Options.Sessions (the service's bound of max_sessions).
const maxSessions = 10000
