package matching

import (
	"fmt"
	"slices"

	"google.golang.org/protobuf/types/known/durationpb"

	matchingv1 "github.com/taskroute/taskroute/api/matching/v1"
)

// maxKeyedRows bounds the backlog rows of fairness keys DescribeQueue shows per kind: a
// queue may have many thousands of keys.
const maxKeyedRows = 100

// otherKeys is the fairness key of the row that sums the keyed rows beyond maxKeyedRows.
const otherKeys = "*"

// boundKeyedRows keeps the rows of the default key and the maxKeyedRows keyed rows with the
// largest counts among rows (the rows of one kind), and sums the others into one row per
// priority and requirement set whose fairness key is otherKeys (the oldest age among
// them), so counts by priority and requirements stay exact. The kept rows stay in order.
func boundKeyedRows(rows []*matchingv1.BacklogStats) []*matchingv1.BacklogStats {
	var keyed []*matchingv1.BacklogStats
	for _, r := range rows {
		if r.FairnessKey != "" {
			keyed = append(keyed, r)
		}
	}
	if len(keyed) <= maxKeyedRows {
		return rows
	}
	slices.SortStableFunc(keyed, func(a, b *matchingv1.BacklogStats) int { return int(b.Count - a.Count) })
	dropped := make(map[*matchingv1.BacklogStats]bool, len(keyed)-maxKeyedRows)
	for _, r := range keyed[maxKeyedRows:] {
		dropped[r] = true
	}
	out := make([]*matchingv1.BacklogStats, 0, len(rows)-len(dropped)+1)
	rest := map[string]*matchingv1.BacklogStats{}
	var restOrder []*matchingv1.BacklogStats
	for _, r := range rows {
		if !dropped[r] {
			out = append(out, r)
			continue
		}
		group := fmt.Sprint(r.Priority, "/", r.Requires)
		sum := rest[group]
		if sum == nil {
			sum = &matchingv1.BacklogStats{Kind: r.Kind, Priority: r.Priority, FairnessKey: otherKeys, Requires: r.Requires,
				Routable: r.Routable, Unmet: r.Unmet, OldestAge: durationpb.New(0)}
			rest[group] = sum
			restOrder = append(restOrder, sum)
		}
		sum.Count += r.Count
		if r.OldestAge.AsDuration() > sum.OldestAge.AsDuration() {
			sum.OldestAge = r.OldestAge
		}
	}
	return append(out, restOrder...)
}

// boundKeyedRowsByKind applies boundKeyedRows to the rows of each kind in resp.
func boundKeyedRowsByKind(resp *matchingv1.DescribeQueueResponse) {
	var out []*matchingv1.BacklogStats
	for _, kind := range [...]matchingv1.TaskKind{kindProto(kindActivity), kindProto(kindWorkflow)} {
		var rows []*matchingv1.BacklogStats
		for _, r := range resp.Backlog {
			if r.Kind == kind {
				rows = append(rows, r)
			}
		}
		out = append(out, boundKeyedRows(rows)...)
	}
	resp.Backlog = out
}
