package matching

import (
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
// largest counts among rows (the rows of one kind), and sums the others into one row whose
// fairness key is otherKeys (priority 0: any; the oldest age among them; routable when all
// are). The kept rows stay in their order.
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
	rest := &matchingv1.BacklogStats{Kind: keyed[0].Kind, FairnessKey: otherKeys, Routable: true, OldestAge: durationpb.New(0)}
	for _, r := range keyed[maxKeyedRows:] {
		dropped[r] = true
		rest.Count += r.Count
		rest.Routable = rest.Routable && r.Routable
		if r.OldestAge.AsDuration() > rest.OldestAge.AsDuration() {
			rest.OldestAge = r.OldestAge
		}
	}
	out := rows[:0]
	for _, r := range rows {
		if !dropped[r] {
			out = append(out, r)
		}
	}
	return append(out, rest)
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
