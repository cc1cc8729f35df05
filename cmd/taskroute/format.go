package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/taskroute/taskroute/pkg/client"
)

// Output for people: aligned columns, short human durations ("3s", "4m10s", "2h5m",
// "3d4h"), rates with sensible precision, and "-" for empty cells. Output for scripts
// (-o json): the SDK's types, indented, stable field names.

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
}

// humanDuration renders d with at most two units, rounded down.
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = -d
	}
	switch {
	case d == 0:
		return "0s"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d/time.Microsecond)
	case d < time.Second:
		return fmt.Sprintf("%dms", d/time.Millisecond)
	case d < time.Minute:
		s := d.Seconds()
		if s < 10 && d%time.Second != 0 {
			return strconv.FormatFloat(math.Floor(s*10)/10, 'f', -1, 64) + "s"
		}
		return fmt.Sprintf("%ds", int(s))
	case d < time.Hour:
		return twoUnits(int(d/time.Minute), "m", int(d%time.Minute/time.Second), "s")
	case d < 48*time.Hour:
		return twoUnits(int(d/time.Hour), "h", int(d%time.Hour/time.Minute), "m")
	default:
		return twoUnits(int(d/(24*time.Hour)), "d", int(d%(24*time.Hour)/time.Hour), "h")
	}
}

func twoUnits(a int, ua string, b int, ub string) string {
	if b == 0 {
		return fmt.Sprintf("%d%s", a, ua)
	}
	return fmt.Sprintf("%d%s%d%s", a, ua, b, ub)
}

// ago renders a time relative to now ("5s ago"); zero is "-".
func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if t.After(now) {
		return "in " + humanDuration(t.Sub(now))
	}
	return humanDuration(now.Sub(t)) + " ago"
}

func agoPtr(t *time.Time, now time.Time) string {
	if t == nil {
		return "-"
	}
	return fmt.Sprintf("%s (%s)", t.Local().Format(time.DateTime), ago(*t, now))
}

// humanRate renders tasks per second: "0/s", "0.25/s", "12.5/s", "1,234/s".
func humanRate(r float64) string {
	switch {
	case r == 0:
		return "0/s"
	case r < 10:
		return strconv.FormatFloat(math.Round(r*100)/100, 'f', -1, 64) + "/s"
	case r < 1000:
		return strconv.FormatFloat(math.Round(r*10)/10, 'f', -1, 64) + "/s"
	default:
		return thousands(int64(math.Round(r))) + "/s"
	}
}

// thousands groups digits: 1234567 -> "1,234,567".
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// count renders n with its noun, plural unless n is 1: "1 task", "1,512 tasks".
func count(n int64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return thousands(n) + " " + noun + "s"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// asText reports whether b is printable UTF-8 text.
func asText(b []byte) (string, bool) {
	if !utf8.Valid(b) {
		return "", false
	}
	for _, r := range string(b) {
		if r < 0x20 && r != '\n' && r != '\t' && r != '\r' {
			return "", false
		}
	}
	return string(b), true
}

func readAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func writeTask(w io.Writer, t *client.TaskInfo, now time.Time) error {
	tw := newTable(w)
	row := func(k, v string) { fmt.Fprintf(tw, "%s:\t%s\n", k, v) }
	row("Task", t.ID)
	row("Queue", fmt.Sprintf("%s/%s (%s)", t.Namespace, t.Queue, t.Kind))
	row("Type", t.Type)
	row("Payload", showBytes(t.Payload))
	state := string(t.State)
	if t.CancelRequested && !t.State.Final() {
		state += " (cancel requested)"
	}
	row("State", state)
	row("Priority", strconv.Itoa(t.Priority))
	if t.FairnessKey != "" {
		row("Fairness key", fairnessKeyText(t))
	}
	if len(t.Requires) > 0 {
		row("Requires", t.Requires.String())
	}
	if len(t.Prefers) > 0 {
		row("Prefers", t.Prefers.String())
	}
	if t.SessionID != "" {
		row("Session", t.SessionID)
	}
	row("Attempt", strconv.Itoa(t.Attempt))
	row("Scheduled", agoPtr(t.ScheduledTime, now))
	row("Started", agoPtr(t.StartedTime, now))
	row("Closed", agoPtr(t.ClosedTime, now))
	if t.ScheduledTime != nil && t.ClosedTime != nil {
		row("Duration", humanDuration(t.ClosedTime.Sub(*t.ScheduledTime)))
	}
	if len(t.HeartbeatDetails) > 0 {
		row("Heartbeat", showBytes(t.HeartbeatDetails))
	}
	if t.State == client.StateCompleted || len(t.Result) > 0 {
		row("Result", showBytes(t.Result))
	}
	if f := t.Failure; f != nil {
		kind := "retryable"
		if f.NonRetryable {
			kind = "non-retryable"
		}
		row("Failure", fmt.Sprintf("%s: %s (%s)", dash(f.ErrorType), f.Message, kind))
	}
	return tw.Flush()
}

func writeQueue(w io.Writer, d *client.QueueDescription, now time.Time) error {
	tw := newTable(w)
	fmt.Fprintf(tw, "Queue:\t%s/%s\n", d.Namespace, d.Queue)
	fmt.Fprintf(tw, "Backlog:\t%s\n", count(d.BacklogCount(), "task"))
	fmt.Fprintf(tw, "Running:\t%s\n", count(d.RunningTasks, "task"))
	fmt.Fprintf(tw, "Add rate:\t%s\n", humanRate(d.AddRate))
	fmt.Fprintf(tw, "Dispatch rate:\t%s\n", humanRate(d.DispatchRate))
	rl := "unlimited"
	if d.RateLimit.TasksPerSecond > 0 {
		rl = fmt.Sprintf("%s, burst %d", humanRate(d.RateLimit.TasksPerSecond), d.RateLimit.Burst)
	}
	fmt.Fprintf(tw, "Rate limit:\t%s (%s)\n", rl, dash(d.RateLimit.State))
	if d.PriorityLevels > 0 {
		fmt.Fprintf(tw, "Priorities:\t1..%d, default %d\n", d.PriorityLevels, d.DefaultPriority)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if err := writeBacklog(w, d.Backlog); err != nil {
		return err
	}

	if err := writeUnknownTaskTypes(w, d.UnknownTaskTypes, now); err != nil {
		return err
	}

	fmt.Fprintln(w)
	if len(d.Pollers) == 0 {
		fmt.Fprintln(w, "Pollers: none")
		return nil
	}
	return writePollers(w, d.Pollers, now)
}

// writeUnknownTaskTypes shows task types the queue's workers had not registered, if any:
// tasks of such a type fail and end Failed after a few attempts.
func writeUnknownTaskTypes(w io.Writer, types []client.UnknownTaskType, now time.Time) error {
	if len(types) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Unknown task types (failed by workers that did not register them, last hour):")
	tw := newTable(w)
	fmt.Fprintln(tw, "TASK TYPE	FAILED ATTEMPTS	TASKS FAILED	LAST WORKER	LAST SEEN")
	for _, u := range types {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.TaskType, thousands(u.Failures), thousands(u.TasksFailed),
			dash(u.LastWorkerIdentity), ago(u.LastSeenTime, now))
	}
	return tw.Flush()
}

func writeQueueList(w io.Writer, qs []client.QueueSummary) error {
	if len(qs) == 0 {
		fmt.Fprintln(w, "No queues.")
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "NAMESPACE\tQUEUE\tBACKLOG\tPOLLERS")
	for _, q := range qs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", q.Namespace, q.Queue, thousands(q.BacklogCount), q.PollerCount)
	}
	return tw.Flush()
}

func writeTaskList(w io.Writer, tasks []*client.TaskInfo, now time.Time) error {
	if len(tasks) == 0 {
		fmt.Fprintln(w, "No tasks.")
		return nil
	}
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tTYPE\tKIND\tSTATE\tPRIORITY\tATTEMPT\tSCHEDULED")
	for _, t := range tasks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%s\n", t.ID, t.Type, t.Kind, t.State, t.Priority, t.Attempt, scheduledAgo(t, now))
	}
	return tw.Flush()
}

func scheduledAgo(t *client.TaskInfo, now time.Time) string {
	if t.ScheduledTime == nil {
		return "-"
	}
	return ago(*t.ScheduledTime, now)
}
