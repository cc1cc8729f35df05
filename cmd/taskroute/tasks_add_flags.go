package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/taskroute/taskroute/pkg/client"
)

// addFlags are the flags of `taskroute add`; task turns them into the task to add.
type addFlags struct {
	t           client.Task // the fields flags set directly
	kind        string
	payload     string
	payloadFile string
	headers     []string
	requires    string
	prefers     []string
	retry       client.RetryPolicy
	wait        bool
}

func (a *addFlags) bind(f *pflag.FlagSet) {
	t := &a.t
	f.StringVarP(&t.Queue, "queue", "q", "", "queue name (required)")
	f.StringVarP(&t.Type, "type", "t", "", "task type: the handler a worker runs (required)")
	f.StringVar(&t.ID, "id", "", "task id, the idempotency key (generated when empty)")
	f.StringVar(&t.SessionID, "session", "", "add the task to this open session (create session): it runs only on the session's worker")
	f.StringVar(&a.kind, "kind", "activity", "task kind: activity or workflow")
	f.StringVarP(&a.payload, "payload", "p", "", "payload as a string")
	f.StringVar(&a.payloadFile, "payload-file", "", "read the payload from a file ('-' for stdin)")
	f.IntVar(&t.Priority, "priority", 0, "priority level, 1 (lowest) up to the queue's levels (0 = queue default)")
	f.StringVar(&t.FairnessKey, "fairness-key", "", "fairness key (a tenant): within a priority the queue serves its keys in turn, by weight (up to 64 bytes)")
	f.IntVar(&t.FairnessWeight, "fairness-weight", 0, "weight of the fairness key, 1..1000 (0 = 1; a queue's weight override wins)")
	f.DurationVar(&t.ScheduleToStartTimeout, "schedule-to-start-timeout", 0, "end the task as TimedOut if not started within this (0 = queue default)")
	f.DurationVar(&t.StartToCloseTimeout, "start-to-close-timeout", 0, "longest time one attempt may run (0 = queue default)")
	f.DurationVar(&t.HeartbeatTimeout, "heartbeat-timeout", 0, "retry an attempt that does not heartbeat within this (0 = queue default)")
	f.StringArrayVar(&a.headers, "header", nil, "header KEY=VALUE passed to the worker (repeatable)")
	f.StringVar(&a.requires, "requires", "", "capabilities a worker must advertise to run the task, NAME[=VALUE],... (all of them; a name alone matches any value; at most 16)")
	f.StringArrayVar(&a.prefers, "prefer", nil, "preferred worker capability NAME[=VALUE]:WEIGHT, weight 1..100 (repeatable): the waiting worker meeting the most weight gets the task")
	f.BoolVarP(&a.wait, "wait", "w", false, "wait for the task's outcome (bounded by --timeout)")
	f.IntVar(&a.retry.MaximumAttempts, "retry-max-attempts", 0, "most attempts, the first included (0 = queue default)")
	f.DurationVar(&a.retry.InitialInterval, "retry-initial-interval", 0, "wait before the first retry (0 = queue default)")
	f.Float64Var(&a.retry.BackoffCoefficient, "retry-backoff", 0, "factor the wait grows by per retry (0 = queue default)")
	f.DurationVar(&a.retry.MaximumInterval, "retry-max-interval", 0, "longest wait between retries (0 = queue default)")
	f.StringSliceVar(&a.retry.NonRetryableErrorTypes, "non-retryable", nil, "error types that end the task Failed without retry (comma-separated or repeated)")
}

// retryFlags set the task's own retry policy when any of them is given.
var retryFlags = []string{"retry-max-attempts", "retry-initial-interval", "retry-backoff", "retry-max-interval", "non-retryable"}

// task is the task the flags describe, or an error naming the flag that is wrong.
func (a *addFlags) task(f *pflag.FlagSet) (client.Task, error) {
	t := a.t
	var err error
	if t.Kind, err = kindFlag(a.kind); err != nil {
		return t, err
	}
	if t.Payload, err = a.readPayload(); err != nil {
		return t, err
	}
	if len(a.headers) > 0 {
		t.Headers = map[string]string{}
		for _, h := range a.headers {
			k, v, ok := strings.Cut(h, "=")
			if !ok || k == "" {
				return t, fmt.Errorf("--header: want KEY=VALUE, got %q", h)
			}
			t.Headers[k] = v
		}
	}
	if t.Requires, err = requiresFlag(a.requires); err != nil {
		return t, err
	}
	for _, s := range a.prefers {
		p, err := client.ParsePreference(s)
		if err != nil {
			return t, fmt.Errorf("--prefer: %w", err)
		}
		t.Prefers = append(t.Prefers, p)
	}
	for _, name := range retryFlags {
		if f.Changed(name) {
			retry := a.retry
			t.Retry = &retry
			break
		}
	}
	return t, nil
}

// readPayload reads --payload or --payload-file ('-' is stdin); nil when neither is given.
func (a *addFlags) readPayload() ([]byte, error) {
	switch {
	case a.payload != "" && a.payloadFile != "":
		return nil, fmt.Errorf("--payload and --payload-file: give one, not both")
	case a.payloadFile == "-":
		b, err := readAll(os.Stdin)
		if err != nil {
			return nil, fmt.Errorf("--payload-file: %w", err)
		}
		return b, nil
	case a.payloadFile != "":
		b, err := os.ReadFile(a.payloadFile)
		if err != nil {
			return nil, fmt.Errorf("--payload-file: %w", err)
		}
		return b, nil
	case a.payload != "":
		return []byte(a.payload), nil
	}
	return nil, nil
}
