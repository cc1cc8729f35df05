package main

import (
	"github.com/spf13/cobra"

	"github.com/taskroute/taskroute/pkg/client"
)

func newDescribeCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe",
		Short: "Show details of a resource",
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "queue QUEUE",
		Aliases: []string{"queues", "q"},
		Short:   "Show a queue's backlog, rates, rate limit and pollers",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				d, err := c.DescribeQueue(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(g.stdout, d)
				}
				return writeQueue(g.stdout, d, g.now())
			})
		},
	})
	return cmd
}

func newListCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List queues, pollers or a queue's tasks",
	}
	var limit int
	queues := &cobra.Command{
		Use:     "queues",
		Aliases: []string{"queue", "q"},
		Short:   "List the namespace's queues that hold tasks, pollers or configuration",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				qs, err := c.ListQueues(cmd.Context(), limit)
				if err != nil {
					return err
				}
				if qs == nil {
					qs = []client.QueueSummary{}
				}
				if g.output == "json" {
					return writeJSON(g.stdout, qs)
				}
				return writeQueueList(g.stdout, qs)
			})
		},
	}
	queues.Flags().IntVar(&limit, "limit", 0, "list at most this many queues (0 = all)")

	var queue string
	pollers := &cobra.Command{
		Use:     "pollers --queue QUEUE",
		Aliases: []string{"poller", "workers"},
		Short:   "List the workers that polled a queue recently",
		Long: "List the workers that started a poll on the queue within the last 2 minutes (or since the idle queue was\n" +
			"last loaded). LAST ACCESS is when a worker's latest poll started: a healthy idle worker's grows up to its\n" +
			"poll length (60s by default), and a killed worker stays listed until it is forgotten, so this is not a\n" +
			"liveness view.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				d, err := c.DescribeQueue(cmd.Context(), queue)
				if err != nil {
					return err
				}
				if g.output == "json" {
					return writeJSON(g.stdout, d.Pollers)
				}
				return writePollers(g.stdout, d.Pollers, g.now())
			})
		},
	}
	pollers.Flags().StringVarP(&queue, "queue", "q", "", "queue name (required)")
	_ = pollers.MarkFlagRequired("queue")
	cmd.AddCommand(queues, pollers, newListTasksCommand(g))
	return cmd
}
