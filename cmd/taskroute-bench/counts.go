package main

import (
	"fmt"

	"github.com/taskroute/taskroute/internal/storage"
)

// printCounts prints, for an in-process run of total tasks, the synced commits (all, and
// by what they carried), the mutations added to them and those that reached the store
// (without those superseded within their commit), and the worker stream's messages per
// task in each direction.
func printCounts(d commitCounts, total int) {
	per := func(n uint64) float64 { return float64(n) / float64(total) }
	ratio := func(a, b uint64) float64 { return float64(a) / float64(max(b, 1)) }
	fmt.Printf("synced commits: %d (%.1f tasks and %.1f mutations per commit, %.1f mutations per task, %.1f of them reached the store)\n",
		d.commits, ratio(uint64(total), d.commits), ratio(d.mutations, d.commits), per(d.mutations), per(d.written))
	c := d.byCauses
	add, out, start := storage.CauseAdd, storage.CauseOutcome, storage.CauseStart
	fmt.Printf("synced commits per task: %.3f with adds (%.3f adds only), %.3f with outcomes (%.3f outcomes only), %.3f with backlog starts only, %.3f other\n",
		per(c[add]+c[add|out]+c[add|start]+c[add|start|out]), per(c[add]),
		per(c[out]+c[add|out]+c[start|out]+c[add|start|out]), per(c[out]), per(c[start]), per(c[storage.CauseOther]))
	s := d.streams
	fmt.Printf("stream messages per task: %.3f service->worker (%.3f pushes of %.1f tasks, %.3f with acks of %.1f outcome messages), %.3f worker->service (%.3f with outcomes, %.1f outcomes each)\n",
		per(s.Responses), per(s.Pushes), ratio(s.Tasks, s.Pushes), per(s.AckMessages), ratio(s.Acks, s.AckMessages),
		per(s.Requests), per(s.Outcomes), ratio(s.Completions, s.Outcomes))
}
