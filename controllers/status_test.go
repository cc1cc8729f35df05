package controllers

import (
	"errors"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// Pure tests of the status planners; the envtest suite covers them end to end.

func deployment(gen, observed, replicas, updated, ready int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: int64(gen)},
		Status: appsv1.DeploymentStatus{ObservedGeneration: int64(observed), Replicas: replicas,
			UpdatedReplicas: updated, ReadyReplicas: ready, Conditions: conds},
	}
}

func TestSetPoolStatusConditions(t *testing.T) {
	found := queueResolution{found: true, levels: 5}
	for _, tc := range []struct {
		name                                string
		priorities                          []int32
		obs                                 poolObservation
		ready, progressing, degraded, queue string
		wantObservedGeneration              bool
	}{
		{name: "all ready", obs: poolObservation{queue: found, desiredReplicas: 2, deployment: deployment(3, 3, 2, 2, 2)},
			ready: ReasonWorkersReady, progressing: ReasonComplete, degraded: ReasonAsExpected, queue: ReasonTaskQueueFound, wantObservedGeneration: true},
		{name: "scaled to zero", obs: poolObservation{queue: found, desiredReplicas: 0, deployment: deployment(1, 1, 0, 0, 0)},
			ready: ReasonScaledToZero, progressing: ReasonComplete, degraded: ReasonAsExpected, queue: ReasonTaskQueueFound, wantObservedGeneration: true},
		{name: "rollout not observed", obs: poolObservation{queue: found, desiredReplicas: 2, deployment: deployment(4, 3, 2, 2, 2)},
			ready: ReasonWorkersNotReady, progressing: ReasonRollingOut, degraded: ReasonAsExpected, queue: ReasonTaskQueueFound, wantObservedGeneration: true},
		{name: "old pods remain", obs: poolObservation{queue: found, desiredReplicas: 2, deployment: deployment(2, 2, 3, 2, 3)},
			ready: ReasonWorkersReady, progressing: ReasonRollingOut, degraded: ReasonAsExpected, queue: ReasonTaskQueueFound, wantObservedGeneration: true},
		{name: "replica failure", obs: poolObservation{queue: found, desiredReplicas: 2, deployment: deployment(1, 1, 0, 0, 0,
			appsv1.DeploymentCondition{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue, Message: "quota exceeded"})},
			ready: ReasonWorkersNotReady, progressing: ReasonRollingOut, degraded: ReasonReplicaFailure, queue: ReasonTaskQueueFound, wantObservedGeneration: true},
		{name: "apply failed", obs: poolObservation{queue: found, desiredReplicas: 1, applyErr: errors.New("boom")},
			ready: ReasonDeploymentMissing, progressing: ReasonDeploymentMissing, degraded: ReasonApplyFailed, queue: ReasonTaskQueueFound},
		{name: "invalid template", obs: poolObservation{queue: found, renderErr: errors.New("spec.template.spec.containers: required")},
			ready: ReasonDeploymentMissing, progressing: ReasonDeploymentMissing, degraded: ReasonInvalidTemplate, queue: ReasonTaskQueueFound},
		{name: "queue missing", obs: poolObservation{queue: queueResolution{levels: 5}, desiredReplicas: 1, deployment: deployment(1, 1, 1, 1, 1)},
			ready: ReasonWorkersReady, progressing: ReasonComplete, degraded: ReasonAsExpected, queue: ReasonTaskQueueNotFound, wantObservedGeneration: true},
		{name: "priority out of range", priorities: []int32{2, 7}, obs: poolObservation{queue: found, desiredReplicas: 1, deployment: deployment(1, 1, 1, 1, 1)},
			ready: ReasonWorkersReady, progressing: ReasonComplete, degraded: ReasonPriorityOutOfRange, queue: ReasonPriorityOutOfRange, wantObservedGeneration: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := &v1alpha1.WorkerPool{ObjectMeta: metav1.ObjectMeta{Name: "p", Generation: 9}, Spec: v1alpha1.WorkerPoolSpec{Queue: "q", Priorities: tc.priorities}}
			setPoolStatus(pool, tc.obs)
			for typ, want := range map[string]string{
				v1alpha1.ConditionReady: tc.ready, v1alpha1.ConditionProgressing: tc.progressing,
				v1alpha1.ConditionDegraded: tc.degraded, v1alpha1.ConditionQueueResolved: tc.queue,
			} {
				c := meta.FindStatusCondition(pool.Status.Conditions, typ)
				if c == nil || c.Reason != want || c.ObservedGeneration != 9 {
					t.Errorf("%s = %+v, want reason %s at generation 9", typ, c, want)
				}
			}
			if got := pool.Status.ObservedGeneration == 9; got != tc.wantObservedGeneration {
				t.Errorf("observedGeneration = %d, want current: %v", pool.Status.ObservedGeneration, tc.wantObservedGeneration)
			}
		})
	}
}

func TestTaskTypeGroupsIgnoresOrderAndSilentWorkers(t *testing.T) {
	types, groups := taskTypeGroups([]queueconfig.Poller{
		{Identity: "a", TaskTypes: []string{"x", "y"}},
		{Identity: "b", TaskTypes: []string{"y", "x", "x"}},
		{Identity: "c"}, // registered nothing yet
	})
	if len(groups) != 1 || strings.Join(types, ",") != "x,y" {
		t.Errorf("groups = %v, types = %v; want one group and types x,y", groups, types)
	}
}

func TestUnroutableMessageGroupsRequirementSetsMostTasksFirst(t *testing.T) {
	gpu := []queueconfig.Capability{{Name: "gpu", Value: "a100"}}
	armGPU := []queueconfig.Capability{{Name: "arch", Value: "arm64"}, {Name: "gpu"}}
	got := unroutableMessage([]queueconfig.Backlog{
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 1, Requires: armGPU}, // each met by some worker
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 30, Requires: gpu, Unmet: gpu},
		{Kind: queueconfig.KindActivity, Priority: 5, Count: 12, Requires: gpu, Unmet: gpu},
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 500},                                    // requires nothing
		{Kind: queueconfig.KindWorkflow, Priority: 3, Count: 9, Requires: gpu[:1:1], Routable: true}, // a worker has it
	})
	want := "42 tasks require gpu=a100: no connected worker has gpu=a100; " +
		"1 task requires arch=arm64,gpu: no connected worker has all of them together"
	if got != want {
		t.Errorf("unroutableMessage =\n%q\nwant\n%q", got, want)
	}
	if msg := unroutableMessage([]queueconfig.Backlog{{Count: 3}}); msg != "" {
		t.Errorf("tasks that require nothing: %q, want no message", msg)
	}
}

func TestBacklogStatusAddsUpRequirementSetsPerLevel(t *testing.T) {
	var st v1alpha1.TaskQueueStatus
	setBacklog(&st, []queueconfig.Backlog{
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 2},
		{Kind: queueconfig.KindActivity, Priority: 3, Count: 5, Requires: []queueconfig.Capability{{Name: "gpu"}}},
	})
	if st.BacklogCount != 7 || len(st.Backlog) != 1 || st.Backlog[0].Count != 7 {
		t.Errorf("status backlog = %d %+v, want 7 in one entry for Activity/3", st.BacklogCount, st.Backlog)
	}
}
