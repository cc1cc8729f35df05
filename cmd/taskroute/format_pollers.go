package main

import (
	"fmt"
	"io"
	"maps"
	"sort"
	"strings"
	"time"

	"github.com/taskroute/taskroute/pkg/client"
)

// writePollers shows a queue's live workers. HOST (the host its tasks can be routed to,
// Task.SameHost) and CAPABILITIES (what it advertises for routing, without its host and
// process) appear only when some worker has them.
func writePollers(w io.Writer, pollers []client.Poller, now time.Time) error {
	if len(pollers) == 0 {
		fmt.Fprintln(w, "No pollers.")
		return nil
	}
	ps := append([]client.Poller(nil), pollers...)
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].Kind != ps[j].Kind {
			return ps[i].Kind < ps[j].Kind
		}
		return ps[i].Identity < ps[j].Identity
	})
	hosts, caps := false, false
	for _, p := range ps {
		hosts = hosts || p.Capabilities[client.CapabilityHost] != ""
		caps = caps || len(advertised(p.Capabilities)) > 0
	}
	header := []string{"IDENTITY", "KIND", "POOL", "VERSION"}
	if hosts {
		header = append(header, "HOST")
	}
	if caps {
		header = append(header, "CAPABILITIES")
	}
	header = append(header, "RATE", "SESSIONS", "TASK TYPES", "LAST ACCESS")
	tw := newTable(w)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, p := range ps {
		row := []string{p.Identity, string(p.Kind), dash(p.Pool), dash(p.Version)}
		if hosts {
			row = append(row, dash(p.Capabilities[client.CapabilityHost]))
		}
		if caps {
			row = append(row, dash(advertised(p.Capabilities).String()))
		}
		rate, sessions := "-", "-"
		if p.TasksPerSecond > 0 {
			rate = humanRate(p.TasksPerSecond)
		}
		if p.MaxSessions > 0 {
			sessions = fmt.Sprintf("%d/%d", p.OpenSessions, p.MaxSessions)
		}
		row = append(row, rate, sessions, dash(strings.Join(p.TaskTypes, ",")), ago(p.LastAccessTime, now))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// advertised is a worker's capabilities without the host and process ones every worker has.
func advertised(c client.Capabilities) client.Capabilities {
	out := maps.Clone(c)
	delete(out, client.CapabilityHost)
	delete(out, client.CapabilityProcess)
	return out
}
