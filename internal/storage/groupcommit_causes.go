package storage

// Cause is why a write joined a commit; a commit carries the union of its writes' causes.
// The counts tell which kinds of write a workload's synced commits serve (benchmarks).
type Cause uint8

const (
	// CauseOther is any write that is not one of the kinds below.
	CauseOther Cause = 0
	// CauseAdd is an add's write, with the starts of the tasks it matched at once.
	CauseAdd Cause = 1
	// CauseStart is the write of starts a poll or stream took from the backlog.
	CauseStart Cause = 2
	// CauseOutcome is the write of completions and failures.
	CauseOutcome Cause = 4

	causeSets = 8
)

// CommitsByCauses returns the synced commits so far by the set of causes they carried:
// index CauseAdd|CauseOutcome counts commits that carried adds and outcomes and nothing
// else counted.
func (c *GroupCommitter) CommitsByCauses() [causeSets]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byCauses
}
