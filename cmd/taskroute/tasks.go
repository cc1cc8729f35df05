package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/pkg/client"
)

func newAddCommand(g *globals) *cobra.Command {
	var (
		t           client.Task
		kind        string
		payload     string
		payloadFile string
		headers     []string
		wait        bool
		retry       client.RetryPolicy
		prefers     []string
	)
	cmd := &cobra.Command{
		Use:   "add --queue QUEUE --type TYPE [--payload DATA]",
		Short: "Add a task to a queue (and optionally wait for its outcome)",
		Example: `  taskroute add --queue images --type resize --payload '{"url":"..."}'
  taskroute add --queue images --type resize --id resize-42 --priority 5 --wait
  taskroute add --queue images --type resize --prefer zone=eu:10 --prefer ssd:5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			k, ok := client.ParseKind(kind)
			if !ok {
				return fmt.Errorf("--kind: want activity or workflow, got %q", kind)
			}
			t.Kind = k
			switch {
			case payload != "" && payloadFile != "":
				return fmt.Errorf("--payload and --payload-file: give one, not both")
			case payloadFile == "-":
				b, err := readAll(os.Stdin)
				if err != nil {
					return fmt.Errorf("--payload-file: %w", err)
				}
				t.Payload = b
			case payloadFile != "":
				b, err := os.ReadFile(payloadFile)
				if err != nil {
					return fmt.Errorf("--payload-file: %w", err)
				}
				t.Payload = b
			case payload != "":
				t.Payload = []byte(payload)
			}
			if len(headers) > 0 {
				t.Headers = map[string]string{}
				for _, h := range headers {
					k, v, ok := strings.Cut(h, "=")
					if !ok || k == "" {
						return fmt.Errorf("--header: want KEY=VALUE, got %q", h)
					}
					t.Headers[k] = v
				}
			}
			for _, s := range prefers {
				p, err := client.ParsePreference(s)
				if err != nil {
					return fmt.Errorf("--prefer: %w", err)
				}
				t.Prefers = append(t.Prefers, p)
			}
			if cmd.Flags().Changed("retry-max-attempts") || cmd.Flags().Changed("retry-initial-interval") ||
				cmd.Flags().Changed("retry-backoff") || cmd.Flags().Changed("retry-max-interval") || cmd.Flags().Changed("non-retryable") {
				t.Retry = &retry
			}
			ctx := cmd.Context()
			c, err := g.dial(ctx)
			if err != nil {
				return err
			}
			defer c.Close()
			res, err := c.AddTask(ctx, t)
			if err != nil {
				return err
			}
			if !wait {
				return g.printAdded(res)
			}
			if g.output == "table" {
				if err := g.printAdded(res); err != nil {
					return err
				}
			}
			return g.waitAndPrint(ctx, c, res.ID, &res.Created)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&t.Queue, "queue", "q", "", "queue name (required)")
	f.StringVarP(&t.Type, "type", "t", "", "task type: the handler a worker runs (required)")
	f.StringVar(&t.ID, "id", "", "task id, the idempotency key (generated when empty)")
	f.StringVar(&t.SessionID, "session", "", "add the task to this open session (create session): it runs only on the session's worker")
	f.StringVar(&kind, "kind", "activity", "task kind: activity or workflow")
	f.StringVarP(&payload, "payload", "p", "", "payload as a string")
	f.StringVar(&payloadFile, "payload-file", "", "read the payload from a file ('-' for stdin)")
	f.IntVar(&t.Priority, "priority", 0, "priority level, 1 (lowest) up to the queue's levels (0 = queue default)")
	f.StringVar(&t.FairnessKey, "fairness-key", "", "fairness key (a tenant): within a priority the queue serves its keys in turn, by weight (up to 64 bytes)")
	f.IntVar(&t.FairnessWeight, "fairness-weight", 0, "weight of the fairness key, 1..1000 (0 = 1; a queue's weight override wins)")
	f.DurationVar(&t.ScheduleToStartTimeout, "schedule-to-start-timeout", 0, "end the task as TimedOut if not started within this (0 = queue default)")
	f.DurationVar(&t.StartToCloseTimeout, "start-to-close-timeout", 0, "longest time one attempt may run (0 = queue default)")
	f.DurationVar(&t.HeartbeatTimeout, "heartbeat-timeout", 0, "retry an attempt that does not heartbeat within this (0 = queue default)")
	f.StringArrayVar(&headers, "header", nil, "header KEY=VALUE passed to the worker (repeatable)")
	f.StringArrayVar(&prefers, "prefer", nil, "preferred worker capability NAME[=VALUE]:WEIGHT, weight 1..100 (repeatable): the waiting worker meeting the most weight gets the task")
	f.BoolVarP(&wait, "wait", "w", false, "wait for the task's outcome (bounded by --timeout)")
	f.IntVar(&retry.MaximumAttempts, "retry-max-attempts", 0, "most attempts, the first included (0 = queue default)")
	f.DurationVar(&retry.InitialInterval, "retry-initial-interval", 0, "wait before the first retry (0 = queue default)")
	f.Float64Var(&retry.BackoffCoefficient, "retry-backoff", 0, "factor the wait grows by per retry (0 = queue default)")
	f.DurationVar(&retry.MaximumInterval, "retry-max-interval", 0, "longest wait between retries (0 = queue default)")
	f.StringSliceVar(&retry.NonRetryableErrorTypes, "non-retryable", nil, "error types that end the task Failed without retry (comma-separated or repeated)")
	_ = cmd.MarkFlagRequired("queue")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func (g *globals) printAdded(res client.AddResult) error {
	if g.output == "json" {
		return writeJSON(g.stdout, res)
	}
	if res.Created {
		fmt.Fprintf(g.stdout, "Added task %s\n", res.ID)
	} else {
		fmt.Fprintf(g.stdout, "Task %s already existed; nothing new was scheduled\n", res.ID)
	}
	return nil
}

func newGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get TASK_ID",
		Short: "Show a task's state and outcome",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				info, err := c.GetTask(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.printTask(info)
			})
		},
	}
}

func newWaitCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "wait TASK_ID",
		Short: "Wait for a task to finish and show its outcome",
		Long: `Wait blocks until the task is Completed, Failed, Canceled, TimedOut or Terminated,
or until --timeout (0 waits forever). It exits 0 when the task Completed, 1 when it ended
otherwise, and 2 when the wait timed out.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				return g.waitAndPrint(cmd.Context(), c, args[0], nil)
			})
		},
	}
}

// waitAndPrint waits for the outcome, prints it, and turns it into the exit status.
// created is the add's answer for add --wait (nil for wait), so its JSON says whether the
// task already existed.
func (g *globals) waitAndPrint(ctx context.Context, c *client.Client, id string, created *bool) error {
	wctx, cancel := g.callContext(ctx)
	defer cancel()
	info, err := c.WaitForResult(wctx, id)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded {
			state := client.State("unfinished")
			if info != nil {
				_ = g.printTaskAdded(info, created)
				state = info.State
			}
			fmt.Fprintf(g.stderr, "Task %s is still %s after %s\n", id, state, g.timeout)
			return exitCode(2)
		}
		return err
	}
	if err := g.printTaskAdded(info, created); err != nil {
		return err
	}
	if info.State != client.StateCompleted {
		return exitCode(1)
	}
	return nil
}

func newCancelCommand(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "cancel TASK_ID",
		Short: "Request cancellation of a task",
		Long: `A scheduled task ends as Canceled at once; a started one is told through its next
heartbeat and ends as Canceled when its handler returns.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				state, err := c.CancelTask(cmd.Context(), args[0], reason)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(g.stdout, map[string]any{"id": args[0], "state": state})
				}
				fmt.Fprintf(g.stdout, "Requested cancellation of task %s (now %s)\n", args[0], state)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded with the task)")
	return cmd
}

// printTask prints a TaskInfo as key/value lines or JSON.
func (g *globals) printTask(info *client.TaskInfo) error { return g.printTaskAdded(info, nil) }

// printTaskAdded is printTask with the add's "created" in the JSON when created is set.
func (g *globals) printTaskAdded(info *client.TaskInfo, created *bool) error {
	if g.output == "json" {
		v := taskJSON(info)
		v.Created = created
		return writeJSON(g.stdout, v)
	}
	return writeTask(g.stdout, info, g.now())
}

// taskJSONView adds readable forms of the byte fields to the JSON of a TaskInfo: bytes
// that are UTF-8 text are also given as text, so scripts need not decode base64.
type taskJSONView struct {
	*client.TaskInfo
	PayloadText          *string `json:"payloadText,omitempty"`
	ResultText           *string `json:"resultText,omitempty"`
	HeartbeatDetailsText *string `json:"heartbeatDetailsText,omitempty"`
	// Created is add --wait's answer: false when the task id existed already.
	Created *bool `json:"created,omitempty"`
}

func taskJSON(info *client.TaskInfo) taskJSONView {
	v := taskJSONView{TaskInfo: info}
	if s, ok := asText(info.Payload); ok && len(info.Payload) > 0 {
		v.PayloadText = &s
	}
	if s, ok := asText(info.Result); ok && len(info.Result) > 0 {
		v.ResultText = &s
	}
	if s, ok := asText(info.HeartbeatDetails); ok && len(info.HeartbeatDetails) > 0 {
		v.HeartbeatDetailsText = &s
	}
	return v
}

// showBytes renders a payload for a terminal: text as is, else base64, both cut short
// (to 200 characters, followed by the full size).
func showBytes(b []byte) string {
	const max = 200
	if len(b) == 0 {
		return "<none>"
	}
	if s, ok := asText(b); ok {
		if len(s) > max {
			return fmt.Sprintf("%s... (%d bytes)", s[:max], len(b))
		}
		return s
	}
	enc := base64.StdEncoding.EncodeToString(b)
	if len(enc) > max {
		enc = enc[:max] + "..."
	}
	return fmt.Sprintf("base64:%s (%d bytes)", enc, len(b))
}
