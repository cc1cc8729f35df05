// Package workerenv is the worker contract: the environment variables the operator injects
// into every worker pod and the SDK reads. Both sides use this package, so they cannot
// drift apart. docs/worker-contract.md documents it for workers written without the SDK.
package workerenv

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Environment variable names.
const (
	Address        = "TASKROUTE_ADDRESS"          // host:port of the matching service
	Namespace      = "TASKROUTE_NAMESPACE"        // the pool's namespace; queues are per namespace
	Queue          = "TASKROUTE_QUEUE"            // the queue to poll
	Pool           = "TASKROUTE_POOL"             // the WorkerPool's name
	Version        = "TASKROUTE_VERSION"          // build id, may be empty
	Capabilities   = "TASKROUTE_CAPABILITIES"     // "gpu=a100,arch=arm64", sorted by name
	Slots          = "TASKROUTE_SLOTS"            // concurrent tasks per worker
	TasksPerSecond = "TASKROUTE_TASKS_PER_SECOND" // per-worker start rate; empty = unlimited
	Sessions       = "TASKROUTE_SESSIONS"         // concurrent sessions per worker
	Priorities     = "TASKROUTE_PRIORITIES"       // "1,2,3"; empty = all levels
	WorkerID       = "TASKROUTE_WORKER_ID"        // the pod's name (downward API)
	NodeName       = "TASKROUTE_NODE_NAME"        // the node's name (downward API)

	// Credentials of the matching service (read by pkg/credentials).
	TokenFile = "TASKROUTE_TOKEN_FILE" // projected ServiceAccount token, audience taskroute.dev/matching
	CAFile    = "TASKROUTE_CA_FILE"    // CA bundle the server's certificate is verified against
	Insecure  = "TASKROUTE_INSECURE"   // "true": plaintext, for a server with --matching-tls=disabled
	// "true" (with Insecure): send the token over plaintext anyway, for a server with
	// --matching-tls=disabled but authentication on. Without it a plaintext client sends no token.
	InsecureToken = "TASKROUTE_INSECURE_TOKEN"
)

// Contract is the parsed worker environment.
type Contract struct {
	Address        string
	Namespace      string
	Queue          string
	Pool           string
	Version        string
	Capabilities   map[string]string
	Slots          int
	TasksPerSecond float64 // 0 = unlimited
	Sessions       int
	Priorities     []int
	WorkerID       string
	NodeName       string
}

// FormatCapabilities renders capabilities in the TASKROUTE_CAPABILITIES syntax, sorted so
// the rendered pod template is stable.
func FormatCapabilities(caps map[string]string) string {
	names := make([]string, 0, len(caps))
	for n := range caps {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + caps[n]
	}
	return strings.Join(parts, ",")
}

// ParseCapabilities parses the TASKROUTE_CAPABILITIES syntax, "name=value,name,...", which
// the CLI's --requires takes too (callers name the source in their errors).
func ParseCapabilities(s string) (map[string]string, error) {
	caps := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return caps, nil
	}
	for _, part := range strings.Split(s, ",") {
		name, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		if name == "" {
			return nil, fmt.Errorf("empty capability name in %q (want name=value or name, comma-separated)", s)
		}
		caps[name] = value
	}
	return caps, nil
}

// FormatPriorities renders priority levels in the TASKROUTE_PRIORITIES syntax.
func FormatPriorities(levels []int32) string {
	parts := make([]string, len(levels))
	for i, l := range levels {
		parts[i] = strconv.Itoa(int(l))
	}
	return strings.Join(parts, ",")
}

// FromEnvironment reads the contract from the process environment. Missing optional
// values get defaults (one slot, no rate limit, no sessions, all priorities).
func FromEnvironment() (Contract, error) {
	return parse(os.Getenv)
}

func parse(get func(string) string) (Contract, error) {
	c := Contract{
		Address:   get(Address),
		Namespace: get(Namespace),
		Queue:     get(Queue),
		Pool:      get(Pool),
		Version:   get(Version),
		WorkerID:  get(WorkerID),
		NodeName:  get(NodeName),
		Slots:     1,
	}
	var err error
	if c.Capabilities, err = ParseCapabilities(get(Capabilities)); err != nil {
		return Contract{}, fmt.Errorf("%s: %w", Capabilities, err)
	}
	if v := get(Slots); v != "" {
		if c.Slots, err = strconv.Atoi(v); err != nil || c.Slots < 1 {
			return Contract{}, fmt.Errorf("%s: want a positive integer, got %q", Slots, v)
		}
	}
	if v := get(TasksPerSecond); v != "" {
		if c.TasksPerSecond, err = strconv.ParseFloat(v, 64); err != nil || c.TasksPerSecond < 0 {
			return Contract{}, fmt.Errorf("%s: want a non-negative number, got %q", TasksPerSecond, v)
		}
	}
	if v := get(Sessions); v != "" {
		if c.Sessions, err = strconv.Atoi(v); err != nil || c.Sessions < 0 {
			return Contract{}, fmt.Errorf("%s: want a non-negative integer, got %q", Sessions, v)
		}
	}
	if v := get(Priorities); v != "" {
		for _, p := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(p))
			if err != nil || n < 1 {
				return Contract{}, fmt.Errorf("%s: want levels like \"1,2\", got %q", Priorities, v)
			}
			c.Priorities = append(c.Priorities, n)
		}
	}
	return c, nil
}
