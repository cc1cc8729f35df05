package controllers

import (
	"context"

	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/taskroute/taskroute/api/v1alpha1"
	"github.com/taskroute/taskroute/internal/queueconfig"
)

// watchBacklogWakes wakes the autoscaled pools of a queue when the matching service says
// its backlog gained a task while empty, so a pool at zero scales up without waiting for
// the statistics refresh. A registry that does not report wakes is left to the refresh.
func (r *WorkerPoolReconciler) watchBacklogWakes(b *builder.Builder) *builder.Builder {
	n, ok := r.Registry.(queueconfig.BacklogNotifier)
	if !ok {
		return b
	}
	watch := n.BacklogWatch()
	return b.WatchesRawSource(source.Func(func(ctx context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		go r.forwardWakes(ctx, watch.Subscribe(queueconfig.WakeFilter{}), q)
		return nil
	}))
}

// forwardWakes adds the autoscaled pools of each woken queue (of every queue: the pools
// decide what they serve from the live statistics) to the work queue until ctx ends. The
// work queue merges a pool already waiting there.
func (r *WorkerPoolReconciler) forwardWakes(ctx context.Context, wakes *queueconfig.WakeSubscription, q workqueue.TypedRateLimitingInterface[reconcile.Request]) {
	defer wakes.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wakes.Ready():
		}
		for _, key := range wakes.Take() {
			for _, req := range r.autoscaledPools(ctx, key) {
				q.Add(req)
			}
		}
	}
}

// autoscaledPools lists the pools of a queue with autoscaling mode Backlog.
func (r *WorkerPoolReconciler) autoscaledPools(ctx context.Context, key queueconfig.Key) []reconcile.Request {
	var pools v1alpha1.WorkerPoolList
	if err := r.List(ctx, &pools, client.InNamespace(key.Namespace), client.MatchingFields{IndexPoolQueue: key.Name}); err != nil {
		logf.FromContext(ctx).Error(err, "Failed to list WorkerPools of woken queue", "queue", key.String())
		return nil
	}
	var reqs []reconcile.Request
	for i := range pools.Items {
		if backlogAutoscaled(&pools.Items[i]) {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&pools.Items[i])})
		}
	}
	return reqs
}
