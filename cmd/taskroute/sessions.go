package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskroute/taskroute/pkg/client"
)

func newCreateCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "create", Short: "Create a resource"}
	var (
		queue, kind, requires string
		opts                  client.SessionOptions
	)
	session := &cobra.Command{
		Use:   "session --queue QUEUE [--id ID] [--requires NAME=VALUE,...]",
		Short: "Open a session: bind it to one live worker with a free session slot",
		Long: `Open a session on a queue. The service binds it to one live worker process of the
queue that declared session slots (WorkerPool limits.sessions, worker.Options.Sessions)
and has the required capabilities; tasks added with "add --session ID" run only on that
worker. The session fails, and its waiting tasks fail with SessionFailed, when that
worker is gone. ResourceExhausted when no such worker has a free slot.`,
		Example: `  taskroute create session --queue uploads --id upload-42
  taskroute add --queue uploads --type chunk --session upload-42 --payload part-1
  taskroute complete session upload-42`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var err error
			if opts.Kind, err = kindFlag(kind); err != nil {
				return err
			}
			if opts.Requires, err = requiresFlag(requires); err != nil {
				return err
			}
			return g.withClient(cmd, func(c *client.Client) error {
				s, err := c.CreateSession(cmd.Context(), queue, opts)
				if err != nil {
					return err
				}
				return g.printSession(s)
			})
		},
	}
	f := session.Flags()
	f.StringVarP(&queue, "queue", "q", "", "queue name (required)")
	f.StringVar(&opts.ID, "id", "", "session id (generated when empty)")
	f.StringVar(&kind, "kind", "activity", "kind of the session's tasks: activity or workflow")
	f.StringVar(&requires, "requires", "", "capabilities the session's worker must have: NAME=VALUE,... (NAME alone or NAME= for any value)")
	_ = session.MarkFlagRequired("queue")
	cmd.AddCommand(session)
	return cmd
}

func newCompleteCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "complete", Short: "Complete a resource"}
	cmd.AddCommand(&cobra.Command{
		Use:   "session SESSION_ID",
		Short: "Complete a session: release its slot (its tasks already added still run on its worker)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				s, err := c.CompleteSession(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.printSession(s)
			})
		},
	})
	return cmd
}

func newGetSessionCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "session SESSION_ID",
		Short: "Show a session's state and worker",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				s, err := c.GetSession(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				return g.printSession(s)
			})
		},
	}
}

func (g *globals) printSession(s *client.Session) error {
	if g.output == "json" {
		return writeJSON(g.stdout, s)
	}
	tw := newTable(g.stdout)
	fmt.Fprintf(tw, "Session:\t%s\n", s.ID)
	fmt.Fprintf(tw, "Queue:\t%s/%s (%s)\n", s.Namespace, s.Queue, s.Kind)
	fmt.Fprintf(tw, "State:\t%s\n", s.State)
	fmt.Fprintf(tw, "Worker:\t%s (process %s)\n", s.WorkerIdentity, s.WorkerProcess)
	if len(s.Requires) > 0 {
		fmt.Fprintf(tw, "Requires:\t%s\n", s.Requires)
	}
	if s.CreateTime != nil {
		fmt.Fprintf(tw, "Created:\t%s\n", s.CreateTime.Format(time.RFC3339))
	}
	if s.CloseTime != nil {
		fmt.Fprintf(tw, "Closed:\t%s\n", s.CloseTime.Format(time.RFC3339))
	}
	if s.Failure != "" {
		fmt.Fprintf(tw, "Failure:\t%s\n", s.Failure)
	}
	return tw.Flush()
}
