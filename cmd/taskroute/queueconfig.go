package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/taskroute/taskroute/pkg/client"
)

// Queue configuration commands: "get queue-config", "set queue-config" and
// "reset queue-config". They work on any queue no TaskQueue object configures (in a
// cluster, edit the object instead; the service refuses and names it).

func newGetQueueConfigCommand(g *globals) *cobra.Command {
	var queue string
	cmd := &cobra.Command{
		Use:   "queue-config --queue QUEUE",
		Short: "Show the configuration in effect for a queue, and the TaskQueue that sets it if any",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				cfg, err := c.GetQueueConfig(cmd.Context(), queue)
				if err != nil {
					return err
				}
				return g.printQueueConfig(c.Namespace(), queue, cfg)
			})
		},
	}
	cmd.Flags().StringVarP(&queue, "queue", "q", "", "queue name (required)")
	_ = cmd.MarkFlagRequired("queue")
	return cmd
}

// queueConfigFlags are the flags of "set queue-config"; only those given are sent.
type queueConfigFlags struct {
	queue                                 string
	rateLimit, retryBackoff               float64
	burst, levels, defaultLevel, attempts int
	scheduleToStart, startToClose         time.Duration
	heartbeat, retention, preferenceWait  time.Duration
	retryInitial, retryMaximum            time.Duration
	nonRetryable                          []string
	fairness                              fairnessFlags
}

func newSetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "set", Short: "Change a setting"}
	var f queueConfigFlags
	qc := &cobra.Command{
		Use:     "queue-config --queue QUEUE [--rate-limit R --burst B ...]",
		Aliases: []string{"queueconfig", "qc"},
		Short:   "Change a queue's configuration: only the flags given change",
		Long: `Change a queue's configuration. Only the flags given change; the others keep their
values. The result is validated as a whole (for example --priority-levels below the
current default priority needs --default-priority too). A queue configured by a TaskQueue
object is refused: edit the object. A zero timeout means no limit; --rate-limit 0 means
unlimited; --non-retryable '' clears the list.`,
		Example: `  taskroute set queue-config -q images --rate-limit 100 --burst 10
  taskroute set queue-config -q images --priority-levels 5 --default-priority 3 \
    --schedule-to-start 1m --start-to-close 5m --heartbeat 30s --retention 24h \
    --retry-initial 1s --retry-backoff 2 --retry-max-interval 1m --retry-max-attempts 5
  taskroute set queue-config -q images --fairness-key-rate-limit 50 --fairness-key-burst 10 \
    --fairness-weights gold=5,silver=2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			u := f.update(cmd)
			if err := f.fairness.apply(cmd.Flags().Changed, &u); err != nil {
				return err
			}
			if u == (client.QueueConfigUpdate{}) {
				return fmt.Errorf("name at least one setting to change, e.g. --rate-limit 100 --burst 10 (see --help)")
			}
			return g.withClient(cmd, func(c *client.Client) error {
				cfg, err := c.SetQueueConfig(cmd.Context(), f.queue, u)
				if err != nil {
					return err
				}
				return g.printQueueConfig(c.Namespace(), f.queue, cfg)
			})
		},
	}
	fs := qc.Flags()
	fs.StringVarP(&f.queue, "queue", "q", "", "queue name (required)")
	fs.Float64Var(&f.rateLimit, "rate-limit", 0, "global dispatch rate in tasks/second across all workers (0 = unlimited)")
	fs.IntVar(&f.burst, "burst", 0, "token bucket size: tasks dispatched at once after a pause (at least 1 with a rate limit)")
	fs.IntVar(&f.levels, "priority-levels", 0, "number of priority levels, 1..10")
	fs.IntVar(&f.defaultLevel, "default-priority", 0, "level of tasks that name none, 1..priority levels")
	fs.DurationVar(&f.scheduleToStart, "schedule-to-start", 0, "default: end a task TimedOut if not started within this (0 = no limit)")
	fs.DurationVar(&f.startToClose, "start-to-close", 0, "default: longest time one attempt may run (0 = no limit)")
	fs.DurationVar(&f.heartbeat, "heartbeat", 0, "default: retry an attempt silent for this long (0 = no heartbeats required)")
	fs.DurationVar(&f.retention, "retention", 0, "how long a finished task's outcome is kept")
	fs.DurationVar(&f.preferenceWait, "preference-wait", 0, "how long a task with preferences waits for a worker meeting one before any capable worker takes it (0..1m; 0 = no wait)")
	fs.DurationVar(&f.retryInitial, "retry-initial", 0, "default retry policy: wait before the first retry")
	fs.Float64Var(&f.retryBackoff, "retry-backoff", 0, "default retry policy: multiplier of the wait after each retry (at least 1)")
	fs.DurationVar(&f.retryMaximum, "retry-max-interval", 0, "default retry policy: cap of the wait (not below --retry-initial)")
	fs.IntVar(&f.attempts, "retry-max-attempts", 0, "default retry policy: most attempts, the first included (0 = unlimited)")
	fs.StringSliceVar(&f.nonRetryable, "non-retryable", nil, "default retry policy: error types that end a task at once (comma-separated; '' clears)")
	f.fairness.register(fs)
	_ = qc.MarkFlagRequired("queue")
	cmd.AddCommand(qc)
	return cmd
}

// update turns the flags the user gave into an update; the others stay nil.
func (f *queueConfigFlags) update(cmd *cobra.Command) client.QueueConfigUpdate {
	given := cmd.Flags().Changed
	var u client.QueueConfigUpdate
	if given("rate-limit") {
		u.RateLimit = &f.rateLimit
	}
	if given("burst") {
		u.Burst = &f.burst
	}
	if given("priority-levels") {
		u.PriorityLevels = &f.levels
	}
	if given("default-priority") {
		u.DefaultPriority = &f.defaultLevel
	}
	if given("schedule-to-start") {
		u.ScheduleToStartTimeout = &f.scheduleToStart
	}
	if given("start-to-close") {
		u.StartToCloseTimeout = &f.startToClose
	}
	if given("heartbeat") {
		u.HeartbeatTimeout = &f.heartbeat
	}
	if given("retention") {
		u.Retention = &f.retention
	}
	if given("preference-wait") {
		u.PreferenceWait = &f.preferenceWait
	}
	if given("retry-initial") {
		u.RetryInitialInterval = &f.retryInitial
	}
	if given("retry-backoff") {
		u.RetryBackoffCoefficient = &f.retryBackoff
	}
	if given("retry-max-interval") {
		u.RetryMaximumInterval = &f.retryMaximum
	}
	if given("retry-max-attempts") {
		u.RetryMaximumAttempts = &f.attempts
	}
	if given("non-retryable") {
		types := nonEmpty(f.nonRetryable)
		u.RetryNonRetryableErrorTypes = &types
	}
	return u
}

func nonEmpty(ss []string) []string {
	out := []string{}
	for _, s := range ss {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func newResetCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "reset", Short: "Return a setting to its defaults"}
	var queue string
	qc := &cobra.Command{
		Use:     "queue-config --queue QUEUE",
		Aliases: []string{"queueconfig", "qc"},
		Short:   "Return a queue to the default configuration (refused for a queue a TaskQueue configures)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.withClient(cmd, func(c *client.Client) error {
				cfg, err := c.ResetQueueConfig(cmd.Context(), queue)
				if err != nil {
					return err
				}
				return g.printQueueConfig(c.Namespace(), queue, cfg)
			})
		},
	}
	qc.Flags().StringVarP(&queue, "queue", "q", "", "queue name (required)")
	_ = qc.MarkFlagRequired("queue")
	cmd.AddCommand(qc)
	return cmd
}

func (g *globals) printQueueConfig(ns, queue string, cfg *client.QueueConfig) error {
	if g.output == "json" {
		return writeJSON(g.stdout, cfg)
	}
	return writeQueueConfig(g.stdout, ns+"/"+queue, cfg)
}

func writeQueueConfig(w io.Writer, name string, c *client.QueueConfig) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Queue", name)
	row("Managed by", dash(c.ManagedBy))
	rl := "unlimited"
	if c.RateLimit > 0 {
		rl = fmt.Sprintf("%s, burst %d", humanRate(c.RateLimit), c.Burst)
	}
	row("Rate limit", rl)
	row("Priorities", fmt.Sprintf("1..%d, default %d", c.PriorityLevels, c.DefaultPriority))
	row("Schedule-to-start", limit(c.ScheduleToStartTimeout))
	row("Start-to-close", limit(c.StartToCloseTimeout))
	row("Heartbeat", limit(c.HeartbeatTimeout))
	r := c.Retry
	attempts := "unlimited"
	if r.MaximumAttempts > 0 {
		attempts = strconv.Itoa(r.MaximumAttempts)
	}
	row("Retry", fmt.Sprintf("initial %s, backoff %s, max interval %s, max attempts %s",
		humanDuration(r.InitialInterval), strconv.FormatFloat(r.BackoffCoefficient, 'f', -1, 64), humanDuration(r.MaximumInterval), attempts))
	row("Non-retryable", dash(strings.Join(r.NonRetryableErrorTypes, ",")))
	row("Retention", humanDuration(c.Retention))
	row("Preference wait", humanDuration(c.PreferenceWait))
	row("Fairness", fairnessRow(c))
	return tw.Flush()
}

// limit renders a timeout where 0 means none.
func limit(d time.Duration) string {
	if d == 0 {
		return "none"
	}
	return humanDuration(d)
}
