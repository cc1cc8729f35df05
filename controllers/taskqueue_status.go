package controllers

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Condition reasons of TaskQueue.
const (
	ReasonConfigApplied    = "ConfigApplied"
	ReasonInvalidSpec      = "InvalidSpec"
	ReasonConfigFailed     = "ApplyFailed"
	ReasonTaskTypesMatch   = "TaskTypesMatch"
	ReasonNoPollers        = "NoPollers"
	ReasonTaskTypeMismatch = "TaskTypeMismatch"
)

// Status list limits, equal to the CRD's MaxItems.
const (
	maxPollers   = 50
	maxBacklog   = 20
	maxTaskTypes = 256
	maxUnknown   = 20
	maxMessage   = 1024
)

// queueObservation is everything one reconcile learned about a queue.
type queueObservation struct {
	config   queueconfig.Config
	specErr  error
	applyErr error
	stats    queueconfig.Stats
	statsErr error
}

// setQueueStatus computes the queue's status from an observation.
func setQueueStatus(q *v1alpha1.TaskQueue, obs queueObservation) {
	st := &q.Status
	gen := q.Generation
	set := func(t string, status metav1.ConditionStatus, reason, msg string) {
		meta.SetStatusCondition(&st.Conditions, metav1.Condition{Type: t, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen})
	}

	switch {
	case obs.specErr != nil:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonInvalidSpec, obs.specErr.Error())
	case obs.applyErr != nil:
		set(v1alpha1.ConditionReady, metav1.ConditionFalse, ReasonConfigFailed, obs.applyErr.Error())
	default:
		set(v1alpha1.ConditionReady, metav1.ConditionTrue, ReasonConfigApplied, "The matching service applies this configuration")
		st.ObservedGeneration = gen
	}
	setSpecHonored(&st.Conditions, gen, unhonouredQueueFields(&q.Spec))

	if obs.statsErr != nil {
		return // keep the last statistics rather than report zeros
	}
	s := obs.stats
	setBacklog(st, s.Backlog)
	if msg := unroutableMessage(s.Backlog); msg != "" {
		set(v1alpha1.ConditionRoutable, metav1.ConditionFalse, v1alpha1.ReasonNoCapableWorkers, msg)
	} else {
		set(v1alpha1.ConditionRoutable, metav1.ConditionTrue, v1alpha1.ReasonTasksRoutable, "Every waiting task can go to a connected worker")
	}
	st.AddRate, st.DispatchRate = rate(s.AddRate), rate(s.DispatchRate)
	st.RateLimit = rateLimitState(s.RateLimitState, obs.config)

	pollers := slices.SortedFunc(slices.Values(s.Pollers), func(a, b queueconfig.Poller) int { return cmp.Compare(a.Identity, b.Identity) })
	st.PollerCount = int32(min(len(pollers), math.MaxInt32))
	st.Pollers = nil
	for _, p := range pollers[:min(len(pollers), maxPollers)] {
		ps := v1alpha1.PollerStatus{Identity: truncate(p.Identity, 256), Version: p.Version}
		if !p.LastAccess.IsZero() {
			// Whole seconds, as the API stores them, so an unchanged value compares equal.
			ps.LastAccessTime = &metav1.Time{Time: p.LastAccess.UTC().Truncate(time.Second)}
		}
		st.Pollers = append(st.Pollers, ps)
	}

	st.RunningTasks = s.Running
	st.UnknownTaskTypes = unknownTaskTypes(s.UnknownTaskTypes)

	types, groups := taskTypeGroups(pollers)
	st.RegisteredTaskTypes = types
	switch {
	case len(groups) == 0:
		set(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionTrue, ReasonNoPollers, "No worker has registered task types")
	case len(groups) == 1:
		set(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionTrue, ReasonTaskTypesMatch, "All workers register the same task types")
	default:
		set(v1alpha1.ConditionTaskTypesConsistent, metav1.ConditionFalse, ReasonTaskTypeMismatch, mismatchMessage(groups))
	}
}

// setBacklog fills the backlog totals and the per kind and priority breakdown. The
// registry reports each requirement set separately; the status adds them up per kind and
// priority (the Routable condition tells about requirement sets).
func setBacklog(st *v1alpha1.TaskQueueStatus, backlog []queueconfig.Backlog) {
	st.BacklogCount, st.OldestBacklogAge, st.Backlog = 0, nil, nil
	var oldest time.Duration
	for _, b := range backlogByKindAndPriority(backlog) {
		st.BacklogCount += b.Count
		oldest = max(oldest, b.OldestAge)
		if len(st.Backlog) < maxBacklog {
			bs := v1alpha1.BacklogStatus{Kind: v1alpha1.TaskKind(b.Kind), Priority: int32(b.Priority), Count: b.Count}
			if b.OldestAge > 0 {
				bs.OldestAge = &metav1.Duration{Duration: b.OldestAge.Truncate(time.Second)}
			}
			st.Backlog = append(st.Backlog, bs)
		}
	}
	if oldest > 0 {
		st.OldestBacklogAge = &metav1.Duration{Duration: oldest.Truncate(time.Second)}
	}
}

// backlogByKindAndPriority merges the requirement sets of each kind and priority, sorted
// by kind, then highest priority first.
func backlogByKindAndPriority(backlog []queueconfig.Backlog) []queueconfig.Backlog {
	type level struct {
		kind     string
		priority int
	}
	merged := map[level]*queueconfig.Backlog{}
	var out []queueconfig.Backlog
	for _, b := range backlog {
		m := merged[level{b.Kind, b.Priority}]
		if m == nil {
			out = append(out, queueconfig.Backlog{Kind: b.Kind, Priority: b.Priority})
			m = &out[len(out)-1]
			merged[level{b.Kind, b.Priority}] = m
		}
		m.Count += b.Count
		m.OldestAge = max(m.OldestAge, b.OldestAge)
	}
	slices.SortFunc(out, func(a, b queueconfig.Backlog) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(b.Priority, a.Priority))
	})
	return out
}

// unroutableMessage names, per requirement set that no connected worker meets, how many
// tasks wait and which capabilities are missing, most tasks first; "" when every waiting
// task is routable.
func unroutableMessage(backlog []queueconfig.Backlog) string {
	type waiting struct {
		requires, unmet string
		count           int64
	}
	sets := map[string]*waiting{}
	for _, b := range backlog {
		if !b.Unroutable() {
			continue
		}
		req := queueconfig.FormatCapabilities(b.Requires)
		if sets[req] == nil {
			sets[req] = &waiting{requires: req, unmet: queueconfig.FormatCapabilities(b.Unmet)}
		}
		sets[req].count += b.Count
	}
	if len(sets) == 0 {
		return ""
	}
	sorted := slices.SortedFunc(maps.Values(sets), func(a, b *waiting) int {
		return cmp.Or(cmp.Compare(b.count, a.count), cmp.Compare(a.requires, b.requires))
	})
	parts := make([]string, len(sorted))
	for i, w := range sorted {
		missing := w.unmet
		if missing == "" {
			missing = "all of them together" // each is met by some worker, none meets all
		}
		parts[i] = fmt.Sprintf("%d %s %s: no connected worker has %s", w.count, tasksRequire(w.count), w.requires, missing)
	}
	return truncate(strings.Join(parts, "; "), maxMessage)
}

func tasksRequire(n int64) string {
	if n == 1 {
		return "task requires"
	}
	return "tasks require"
}

// rate renders tasks per second with millitask precision; nil for no traffic.
func rate(perSecond float64) *resource.Quantity {
	if perSecond <= 0 || math.IsNaN(perSecond) || math.IsInf(perSecond, 0) {
		return nil
	}
	return resource.NewMilliQuantity(int64(math.Round(perSecond*1000)), resource.DecimalSI)
}

func rateLimitState(state string, cfg queueconfig.Config) v1alpha1.RateLimitState {
	switch state {
	case queueconfig.RateLimitUnlimited, queueconfig.RateLimitOpen, queueconfig.RateLimitThrottling:
		return v1alpha1.RateLimitState(state)
	}
	if cfg.RateLimit > 0 {
		return v1alpha1.RateLimitOpen
	}
	return v1alpha1.RateLimitUnlimited
}

// taskTypeGroups returns the union of registered task types and the workers grouped by
// the exact set they register. Workers that registered nothing are not counted: they
// have not told us yet.
func taskTypeGroups(pollers []queueconfig.Poller) ([]string, map[string][]string) {
	union := map[string]bool{}
	groups := map[string][]string{}
	for _, p := range pollers {
		if len(p.TaskTypes) == 0 {
			continue
		}
		set := slices.Clone(p.TaskTypes)
		slices.Sort(set)
		set = slices.Compact(set)
		for _, t := range set {
			union[t] = true
		}
		k := strings.Join(set, ",")
		groups[k] = append(groups[k], p.Identity)
	}
	types := make([]string, 0, len(union))
	for t := range union {
		types = append(types, t)
	}
	slices.Sort(types)
	if len(types) > maxTaskTypes {
		types = types[:maxTaskTypes]
	}
	if len(types) == 0 {
		types = nil
	}
	return types, groups
}

// mismatchMessage names the workers of each task-type set, largest group first.
func mismatchMessage(groups map[string][]string) string {
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(len(groups[b]), len(groups[a])), cmp.Compare(a, b)) })
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		ws := groups[k]
		names := strings.Join(ws[:min(len(ws), 5)], ", ")
		if len(ws) > 5 {
			names += fmt.Sprintf(" and %d more", len(ws)-5)
		}
		parts = append(parts, fmt.Sprintf("%s register [%s]", names, k))
	}
	return truncate("Workers register different task types: "+strings.Join(parts, "; "), maxMessage)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
