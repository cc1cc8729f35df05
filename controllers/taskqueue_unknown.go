package controllers

import (
	"cmp"
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// unknownTaskTypes is the status list of task types workers did not register: the most
// failed first (by name on a tie), at most maxUnknown, so a flood of bad types cannot
// grow the object.
func unknownTaskTypes(in []queueconfig.UnknownTaskType) []v1alpha1.UnknownTaskTypeStatus {
	sorted := slices.SortedFunc(slices.Values(in), func(a, b queueconfig.UnknownTaskType) int {
		return cmp.Or(cmp.Compare(b.Failures, a.Failures), cmp.Compare(a.TaskType, b.TaskType))
	})
	var out []v1alpha1.UnknownTaskTypeStatus
	for _, u := range sorted[:min(len(sorted), maxUnknown)] {
		s := v1alpha1.UnknownTaskTypeStatus{TaskType: truncate(u.TaskType, 256), Failures: u.Failures,
			TasksFailed: u.TasksFailed, LastWorkerIdentity: truncate(u.LastWorker, 256)}
		if !u.LastSeen.IsZero() {
			// Whole seconds, as the API stores them, so an unchanged value compares equal.
			s.LastSeenTime = &metav1.Time{Time: u.LastSeen.UTC().Truncate(time.Second)}
		}
		out = append(out, s)
	}
	return out
}
