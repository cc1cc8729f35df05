package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/taskroute/taskroute/pkg/client"
)

// listTasksOptions are the flags of list tasks.
type listTasksOptions struct {
	queue     string
	state     string
	limit     int
	pageToken string
}

func newListTasksCommand(g *globals) *cobra.Command {
	var o listTasksOptions
	cmd := &cobra.Command{
		Use:     "tasks --queue QUEUE [--state STATE] [--limit N] [--page-token TOKEN]",
		Aliases: []string{"task", "t"},
		Short:   "List a queue's tasks in task id order (without payloads and results)",
		Long: `List tasks shows a queue's tasks (both kinds) in task id order: id, type, kind, state,
priority, attempt and when it was scheduled. Payloads, results and details are left out;
"taskroute get ID" shows them.

It lists up to --limit tasks. When there are more, it prints the flag that continues the
listing (--page-token) on stderr, or "nextPageToken" in -o json. Tasks are stored by
namespace, not by queue: the service reads at most 10000 of the namespace's tasks (or
64 MiB of them) per call, so a queue with few tasks in a namespace with many takes
several calls (each bounded by --timeout).`,
		Example: `  taskroute list tasks -q images
  taskroute list tasks -q images --state failed --limit 20
  taskroute list tasks -q images --page-token dGFzay0xMDA`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			state, ok := client.ParseState(o.state)
			if !ok {
				return fmt.Errorf("--state: want one of %s, got %q", stateNames(), o.state)
			}
			if o.limit < 1 {
				return fmt.Errorf("--limit: want at least 1, got %d", o.limit)
			}
			return g.withClient(cmd, func(c *client.Client) error {
				page, err := listTasks(cmd, c, o, state)
				if err != nil {
					return err
				}
				return g.printTaskPage(page)
			})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.queue, "queue", "q", "", "queue name (required)")
	f.StringVar(&o.state, "state", "", "only tasks in this state: "+stateNames())
	f.IntVar(&o.limit, "limit", 100, "list at most this many tasks")
	f.StringVar(&o.pageToken, "page-token", "", "continue a listing where the previous one stopped")
	_ = cmd.MarkFlagRequired("queue")
	return cmd
}

// listTasks follows pages from o.pageToken until it has o.limit tasks or the listing
// ends; the page it returns carries the token that continues after its last task.
func listTasks(cmd *cobra.Command, c *client.Client, o listTasksOptions, state client.State) (*client.TaskPage, error) {
	out := &client.TaskPage{Tasks: []*client.TaskInfo{}, NextPageToken: o.pageToken}
	for {
		page, err := c.ListTasks(cmd.Context(), o.queue, client.ListTasksOptions{
			State: state, PageSize: min(o.limit-len(out.Tasks), 1000), PageToken: out.NextPageToken})
		if err != nil {
			return nil, err
		}
		out.Tasks = append(out.Tasks, page.Tasks...)
		out.NextPageToken = page.NextPageToken
		if out.NextPageToken == "" || len(out.Tasks) >= o.limit {
			return out, nil
		}
	}
}

func stateNames() string {
	return strings.ToLower(strings.Join([]string{string(client.StateScheduled), string(client.StateStarted),
		string(client.StateCompleted), string(client.StateFailed), string(client.StateCanceled),
		string(client.StateTimedOut), string(client.StateTerminated)}, ", "))
}

// printTaskPage prints a page as a table (and how to continue on stderr) or as JSON.
func (g *globals) printTaskPage(page *client.TaskPage) error {
	if g.output == "json" {
		return writeJSON(g.stdout, page)
	}
	if err := writeTaskList(g.stdout, page.Tasks, g.now()); err != nil {
		return err
	}
	if page.NextPageToken != "" {
		fmt.Fprintf(g.stderr, "More tasks: continue with --page-token %s\n", page.NextPageToken)
	}
	return nil
}
