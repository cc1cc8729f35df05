package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/taskroute/taskroute/pkg/client"
)

func newAddCommand(g *globals) *cobra.Command {
	var a addFlags
	cmd := &cobra.Command{
		Use:   "add --queue QUEUE --type TYPE [--payload DATA]",
		Short: "Add a task to a queue (and optionally wait for its outcome)",
		Example: `  taskroute add --queue images --type resize --payload '{"url":"..."}'
  taskroute add --queue images --type resize --id resize-42 --priority 5 --wait
  taskroute add --queue images --type resize --prefer zone=eu:10 --prefer ssd:5`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			t, err := a.task(cmd.Flags())
			if err != nil {
				return err
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
			if !a.wait {
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
	a.bind(cmd.Flags())
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
