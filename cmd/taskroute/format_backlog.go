package main

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/taskroute/taskroute/pkg/client"
)

// writeBacklog shows a queue's backlog, a row per kind, priority, fairness key and
// requirement set. The KEY, REQUIRES, PREFERS and ROUTABLE columns appear only when some
// row has a fairness key, requirements or preferences: a plain queue keeps a plain table.
func writeBacklog(w io.Writer, rows []client.Backlog) error {
	if len(rows) == 0 {
		fmt.Fprintln(w, "Backlog: empty")
		return nil
	}
	backlog := append([]client.Backlog(nil), rows...)
	sort.SliceStable(backlog, func(i, j int) bool {
		if backlog[i].Kind != backlog[j].Kind {
			return backlog[i].Kind < backlog[j].Kind
		}
		return backlog[i].Priority > backlog[j].Priority
	})
	keyed, requires, prefers := keyedBacklog(backlog), false, false
	for _, b := range backlog {
		requires = requires || len(b.Requires) > 0
		prefers = prefers || len(b.Prefers) > 0
	}
	header := []string{"KIND", "PRIORITY"}
	if keyed {
		header = append(header, "KEY")
	}
	if requires {
		header = append(header, "REQUIRES")
	}
	if prefers {
		header = append(header, "PREFERS")
	}
	header = append(header, "TASKS", "OLDEST")
	if requires {
		header = append(header, "ROUTABLE")
	}
	tw := newTable(w)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, b := range backlog {
		row := []string{string(b.Kind), fmt.Sprint(b.Priority)}
		if keyed {
			row = append(row, backlogKeyCell(b))
		}
		if requires {
			row = append(row, dash(b.Requires.String()))
		}
		if prefers {
			row = append(row, dash(b.Prefers.String()))
		}
		oldest := "-"
		if b.Count > 0 {
			oldest = humanDuration(b.OldestAge)
		}
		row = append(row, thousands(b.Count), oldest)
		if requires {
			row = append(row, routableCell(b))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// routableCell says whether a live worker can run the row's tasks, and if not, which
// requirements no live worker has.
func routableCell(b client.Backlog) string {
	switch {
	case len(b.Requires) == 0:
		return "-"
	case b.Routable:
		return "yes"
	case len(b.Unmet) > 0:
		return "no: no live worker has " + b.Unmet.String()
	default:
		return "no: no live worker has all of them"
	}
}
